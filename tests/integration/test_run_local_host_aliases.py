"""The Clusterfile's hostAliases in /etc/hosts, written by the real prepare role on this machine
(ansible_connection=local) into a fake /etc/hosts, as tests/integration/test_run_local_prepare.py does."""

from __future__ import annotations

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError

from .test_run_local import CLUSTERFILE
from .test_run_local_prepare import FakeHost, request_for, run_checked

pytestmark = [pytest.mark.integration]

TAGS = ("validate", "prepare-hosts")
ALIASES = """\
  hostAliases:
    - ip: 10.0.0.7
      hostnames: [db.internal, db]
    - ip: fd00::9
      hostnames: [v6.internal]
"""


def block(text: str) -> list[str]:
    """The lines of this cluster's /etc/hosts block."""
    start = text.index("# BEGIN sealer_runner cluster local\n")
    end = text.index("# END sealer_runner cluster local\n")
    return text[start:end].splitlines()[1:]


def test_host_aliases_are_written_once_and_kept_apart_from_the_users_lines(tmp_path):
    host = FakeHost(tmp_path / "host")
    host.path("etc/hosts").write_text("127.0.0.1 localhost\n192.168.9.9 users-own\n")
    request = request_for(tmp_path, host, ALIASES, tags=TAGS)
    first, _ = run_checked(request)
    assert first.ok, first.failures
    text = host.text("etc/hosts")
    assert block(text) == ["127.0.0.1 sea.hub", "10.0.0.7 db.internal db", "fd00::9 v6.internal"]
    assert text.startswith("127.0.0.1 localhost\n192.168.9.9 users-own\n"), "the user's lines stay, first"

    again, _ = run_checked(request)
    assert again.ok and again.changed == 0, "a re-run changes nothing"
    assert host.text("etc/hosts") == text


def test_a_changed_alias_list_replaces_the_old_entries(tmp_path):
    host = FakeHost(tmp_path / "host")
    assert run_checked(request_for(tmp_path, host, ALIASES, tags=TAGS))[0].ok
    fewer = "  hostAliases:\n    - {ip: 10.0.0.8, hostnames: [db.internal]}\n"
    result, _ = run_checked(request_for(tmp_path, host, fewer, tags=TAGS))
    assert result.ok and result.changed == 1
    text = host.text("etc/hosts")
    assert block(text) == ["127.0.0.1 sea.hub", "10.0.0.8 db.internal"]
    assert "10.0.0.7" not in text and "v6.internal" not in text
    none, _ = run_checked(request_for(tmp_path, host, "", tags=TAGS))
    assert none.ok and block(host.text("etc/hosts")) == ["127.0.0.1 sea.hub"], "no aliases: none left behind"


@pytest.mark.parametrize("alias", [
    "{ip: 10.0.0.7, hostnames: ['db 1.2.3.4']}",  # a space would add a name
    "{ip: 10.0.0.7, hostnames: [\"db\\n1.2.3.4 evil\"]}",  # a newline would add a line
    "{ip: '10.0.0.7 evil', hostnames: [db]}",
    "{ip: 10.0.0.7, hostnames: []}",
])
def test_an_alias_that_would_write_another_line_or_name_is_refused_before_any_host(tmp_path, alias):
    with pytest.raises(InputError, match="hostAliases"):
        load_clusterfile(CLUSTERFILE.format(data_root=tmp_path) + f"  hostAliases:\n    - {alias}\n")
