"""ensure_files (collection/plugins/module_utils/_hostfiles.py), behind the host_files module: content and
mode made as asked, in one pass, reporting exactly the paths it changed; check mode changes nothing."""

from __future__ import annotations

import os
import stat

import pytest

from .conftest import load

hostfiles = load("module_utils", "_hostfiles")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_run_makes_everything_and_the_second_changes_nothing(tmp_path):
    conf = tmp_path / "etc" / "registry"
    dirs = [{"path": str(conf), "mode": "0700"}]
    files = [{"path": str(conf / "config.yml"), "content": "version: 0.1\n", "mode": "0600", "state": "present"},
             {"path": str(tmp_path / "units" / "registry.service"), "content": "[Unit]\n", "mode": "0644"},
             {"path": str(conf / "htpasswd"), "state": "absent"}]
    assert hostfiles.ensure_files(dirs, files) == [str(conf), str(conf / "config.yml"),
                                                   str(tmp_path / "units" / "registry.service")]
    assert (conf / "config.yml").read_text() == "version: 0.1\n"
    assert _mode(conf) == 0o700 and _mode(conf / "config.yml") == 0o600
    assert _mode(tmp_path / "units" / "registry.service") == 0o644
    assert hostfiles.ensure_files(dirs, files) == []


def test_a_changed_content_mode_or_stale_file_is_reported_by_path(tmp_path):
    key = tmp_path / "registry.key"
    key.write_text("old")
    key.chmod(0o644)
    stale = tmp_path / "htpasswd"
    stale.write_text("user:hash\n")
    files = [{"path": str(key), "content": "new", "mode": "0600"}, {"path": str(stale), "state": "absent"}]
    assert hostfiles.ensure_files([], files, check_mode=True) == [str(key), str(stale)]
    assert key.read_text() == "old" and _mode(key) == 0o644 and stale.exists(), "check mode changes nothing"
    assert hostfiles.ensure_files([], files) == [str(key), str(stale)]
    assert key.read_text() == "new" and _mode(key) == 0o600 and not stale.exists()
    key.chmod(0o640)
    assert hostfiles.ensure_files([], files) == [str(key)], "a mode alone is a change"
    assert _mode(key) == 0o600


@pytest.mark.parametrize(("dirs", "files", "message"), [
    ([], [{"path": "{tmp}/x", "content": "", "mode": "0999"}], "not an octal number"),
    ([], [{"path": "{tmp}/x", "content": "", "mode": "17777"}], "out of range"),
    ([], [{"path": "{tmp}", "content": ""}], "is a directory, not a file"),
    ([{"path": "{tmp}/file", "mode": "0755"}], [], "in the way of a directory"),
    ([], [{"path": "{tmp}/x", "mode": "0644"}], "content is required"),
])
def test_what_cannot_be_made_is_an_error_naming_the_path(tmp_path, dirs, files, message):
    (tmp_path / "file").write_text("")
    fill = [{**e, "path": e["path"].format(tmp=tmp_path)} for e in dirs + files]
    with pytest.raises(hostfiles.HostFileError, match=message):
        hostfiles.ensure_files(fill[:len(dirs)], fill[len(dirs):])


def test_crlf_and_non_utf8_files_compare_as_bytes(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n")
    files = [{"path": str(ca), "content": "-----BEGIN CERTIFICATE-----\r\nMIIB\r\n", "mode": "0644"}]
    assert hostfiles.ensure_files([], files) == [], "CRLF content that is already there is no change"
    latin = tmp_path / "legacy.conf"
    latin.write_bytes(b"caf\xe9\n")
    assert hostfiles.ensure_files([], [{"path": str(latin), "content": "cafe\n", "mode": "0644"}]) == [str(latin)]
    assert latin.read_bytes() == b"cafe\n"


def test_an_unquoted_yaml_mode_is_the_number_it_already_is(tmp_path):
    path = tmp_path / "x"
    assert hostfiles.ensure_files([], [{"path": str(path), "content": "", "mode": 0o600}]) == [str(path)]
    assert _mode(path) == 0o600


def test_a_root_takes_every_path_inside_it_and_refuses_one_that_leaves(tmp_path):
    root = tmp_path / "render" / "10.0.0.2"
    files = [{"path": "/etc/containerd/config.toml", "content": "version = 2\n", "mode": "0600"}]
    dirs = [{"path": "/etc/containerd/certs.d", "mode": "0755"}]
    assert hostfiles.ensure_files(dirs, files, root=str(root)) == ["/etc/containerd/certs.d",
                                                                   "/etc/containerd/config.toml"]
    assert (root / "etc/containerd/config.toml").read_text() == "version = 2\n"
    assert _mode(root / "etc/containerd/config.toml") == 0o600
    assert hostfiles.ensure_files(dirs, files, root=str(root)) == []
    with pytest.raises(hostfiles.HostFileError, match="leaves the root"):
        hostfiles.ensure_files([], [{"path": "/../../escaped", "content": "x"}], root=str(root))
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(hostfiles.HostFileError, match="not an absolute path"):
        hostfiles.ensure_files([], [{"path": "relative", "content": "x"}], root=str(root))
