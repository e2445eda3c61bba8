"""The extra-vars and inventory the front end writes hold data, never templates: every string is ``!unsafe``,
and Ansible (2.19) loads it, as it loads ``-e @file`` and a YAML inventory, untrusted and byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from sealer_runner.run.runner import dump_ansible_data
from sealer_runner.run.vault import OneTimeVault
from sealer_runner.util.secret import Secret

PAYLOADS = [
    "{{ lookup('pipe', 'touch CANARY') }}",
    "{% for x in [1] %}{{ lookup('pipe', 'touch CANARY') }}{% endfor %}",
    "replicas: {{ .Values.replicas }}\n",
    "{# comment #}{{",
    "line one\n  {{ lookup('pipe', 'touch CANARY') }}\n\n",
    "trailing spaces  \n\tand a tab\r\nand CRLF",
    "\nleading newline",
    "ünïcode ✓ \u2028 separator",
    "",
    " ",
    "null",
    "true",
    "0x1F",
    "yes",
    "2001-12-14",
    "1e3",
    "~",
    "!unsafe not a tag",
    "'quoted' \"double\" \\backslash",
]


def _load_like_ansible(tmp_path: Path, text: str) -> Any:
    """As ansible-playbook loads ``-e @file`` and the YAML inventory plugin its file: trusted as a template
    unless tagged otherwise (ansible/utils/vars.py, ansible/plugins/inventory/yaml.py)."""
    from ansible.parsing.dataloader import DataLoader

    path = tmp_path / "vars.yml"
    path.write_text(text, encoding="utf-8")
    return DataLoader().load_from_file(str(path), cache="none", trusted_as_template=True)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _nested(payload: str) -> dict[str, Any]:
    return {"top": payload, "list": [payload, {"deep": [payload, {payload: payload}]}], payload: {"k": payload},
            "ints": [1, 2.5, True, None]}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_string_is_unsafe_and_comes_back_byte_for_byte(tmp_path, payload):
    from ansible.template import is_trusted_as_template

    data = _nested(payload)
    loaded = _load_like_ansible(tmp_path, dump_ansible_data(data))
    assert loaded == data
    trusted = [s for s in _strings(loaded) if is_trusted_as_template(s)]
    # strings YAML would read as null, a bool, a number or a date are written quoted and untagged (Ansible's
    # !unsafe would turn them into those): none can hold a template
    assert all(yaml.safe_load(s) != s and "{" not in s for s in trusted), f"trusted as templates: {trusted!r}"
    if "{" in payload:
        assert not trusted


def test_non_strings_keep_their_types(tmp_path):
    text = dump_ansible_data({"port": 22, "become": True, "ratio": 0.5, "none": None, "hosts": {"10.0.0.1": None}})
    assert "!unsafe 22" not in text and "!unsafe true" not in text
    loaded = _load_like_ansible(tmp_path, text)
    assert loaded == {"port": 22, "become": True, "ratio": 0.5, "none": None, "hosts": {"10.0.0.1": None}}
    assert isinstance(loaded["port"], int) and loaded["become"] is True


def test_plain_yaml_would_be_templated(tmp_path):
    """The control: what safe_dump wrote before is trusted, i.e. a template Ansible would run."""
    from ansible.template import is_trusted_as_template

    loaded = _load_like_ansible(tmp_path, yaml.safe_dump({"x": PAYLOADS[0]}))
    assert is_trusted_as_template(loaded["x"])


def test_templating_the_loaded_vars_runs_nothing(tmp_path):
    """What a task does with the vars: a template naming them gets the text, and no lookup runs."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    canary = tmp_path / "canary"
    payload = f"{{{{ lookup('pipe', 'touch {canary}') }}}}{{% if true %}}x{{% endif %}}"
    loaded = _load_like_ansible(tmp_path, dump_ansible_data({"cfg": [{"data": payload}], "env": {"A": payload}}))
    templar = Templar(loader=DataLoader(), variables=loaded)
    assert templar.template(trust_as_template("{{ cfg[0].data }}")) == payload
    assert templar.template(trust_as_template("{{ cfg }}")) == [{"data": payload}]
    assert templar.template(trust_as_template("{{ env | combine({'B': 'b'}) }}")) == {"A": payload, "B": "b"}
    assert not canary.exists()


def test_vaulted_values_stay_vault_tagged(tmp_path):
    vault = OneTimeVault.new()
    text = dump_ansible_data({"sealer_registry_password": vault.encrypt(Secret("{{ p }}")), "user": "u"})
    assert "'sealer_registry_password': !vault |" in text and "'user': !unsafe 'u'" in text
