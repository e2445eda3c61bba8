"""plugin_utils/_config_data.py: merges and processors, resolved on the controller."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from .conftest import load

cd = load("plugin_utils", "_config_data")

IMAGE_FILE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  labels: {tier: web}
data:
  replicas: 1
  hosts: [a, b]
  keep: yes-kept
---
apiVersion: v1
kind: Service
metadata:
  name: app
"""


def config(data: str, path: str = "etc/app.yaml", strategy: str = "merge", process=(), name: str = "c"):
    return {"name": name, "path": path, "data": data, "strategy": strategy, "process": list(process)}


def test_merge_deep_merges_every_document_config_values_win_lists_replaced():
    out = cd.merge("c", "etc/app.yaml", IMAGE_FILE,
                   "metadata:\n  labels: {env: prod}\ndata:\n  replicas: 3\n  hosts: [c]\n  extra: null\n")
    docs = list(yaml.safe_load_all(out))
    assert docs[0] == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "app", "labels": {"tier": "web", "env": "prod"}},
        "data": {"replicas": 3, "hosts": ["c"], "keep": "yes-kept", "extra": None},
    }
    assert docs[1] == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app", "labels": {"env": "prod"}},
                       "data": {"replicas": 3, "hosts": ["c"], "extra": None}}, "sealer merges into each document"
    assert list(docs[0]) == ["apiVersion", "kind", "metadata", "data"], "the file's key order is kept"


def test_a_mapping_replaces_a_scalar_and_a_scalar_replaces_a_mapping():
    assert yaml.safe_load(cd.merge("c", "p", "a: 1\nb: {x: 1}\n", "a: {y: 2}\nb: 0\n")) == {"a": {"y": 2}, "b": 0}


def test_merging_again_changes_nothing():
    data = "metadata:\n  labels: {env: prod}\ndata:\n  script: |\n    line one\n    line two\n  hosts: [c]\n"
    once = cd.merge("c", "p", IMAGE_FILE, data)
    assert cd.merge("c", "p", once, data) == once, "the rootfs holds merged text; merging it again is a no-op"
    assert "script: |" in once, "multi-line strings stay readable blocks"


def test_anchors_are_expanded_not_emitted():
    out = cd.merge("c", "p", "base: &b {x: 1}\nother: *b\n", "other: {y: 2}\n")
    assert "&" not in out and "*" not in out
    assert yaml.safe_load(out) == {"base": {"x": 1}, "other": {"x": 1, "y": 2}}


def test_empty_documents_are_dropped_and_an_empty_file_takes_the_data():
    assert list(yaml.safe_load_all(cd.merge("c", "p", "a: 1\n---\n", "b: 2\n"))) == [{"a": 1, "b": 2}]
    assert yaml.safe_load(cd.merge("c", "p", "# only a comment\n", "b: 2\n")) == {"b": 2}


@pytest.mark.parametrize(
    ("base", "data", "message"),
    [
        ("a: 1\n", "- x\n", r"^Config c: strategy merge: data must be a YAML mapping, not list"),
        ("a: 1\n", "a: 1\n---\nb: 2\n", r"data must be one YAML document, not 2"),
        ("a: 1\n", "a: [1\n", r"^Config c: strategy merge: data is not YAML"),
        ("a: [1\n", "a: 1\n", r"^Config c: strategy merge: etc/x.yaml is not YAML"),
        ("a: 1\n---\n- x\n", "a: 1\n", r"document 2 of etc/x.yaml is a list, not a mapping"),
    ],
)
def test_merge_errors_name_the_config(base, data, message):
    with pytest.raises(cd.ConfigDataError, match=message):
        cd.merge("c", "etc/x.yaml", base, data)


def test_resolve_writes_data_as_it_is_when_the_file_is_absent():
    (out,) = cd.resolve([config("b: 2\n")], {"etc/app.yaml": None})
    assert out == {"name": "c", "path": "etc/app.yaml", "data": "b: 2\n", "strategy": "overwrite"}


def test_resolve_chains_configs_on_one_path_in_order():
    configs = [config("a: 1\nb: 1\n", strategy="overwrite", name="first"), config("b: 2\n", name="second")]
    first, second = cd.resolve(configs, {"etc/app.yaml": "image: true\n"})
    assert first["data"] == "a: 1\nb: 1\n"
    assert yaml.safe_load(second["data"]) == {"a": 1, "b": 2}, "the merge starts from what the first wrote"
    assert {first["strategy"], second["strategy"]} == {"overwrite"}


def test_processors_whole_text():
    assert json.loads(cd.process("c", "b: [1, 2]\na: x\n", ["toJson"])) == {"a": "x", "b": [1, 2]}
    assert base64.b64decode(cd.process("c", "raw text\n", ["toBase64"])).decode() == "raw text\n"


def test_processors_per_value():
    data = "config:\n  username: root\n  passwd: xxx\nplain: text\n"
    as_json = yaml.safe_load(cd.process("c", data, ["value", "toJson"]))
    assert json.loads(as_json["config"]) == {"username": "root", "passwd": "xxx"}
    assert as_json["plain"] == '"text"'
    both = yaml.safe_load(cd.process("c", data, ["value", "toJson", "toBase64"]))
    assert json.loads(base64.b64decode(both["config"])) == {"username": "root", "passwd": "xxx"}
    only = yaml.safe_load(cd.process("c", "user: root\nport: 22\n", ["value", "toBase64"]))
    assert only == {"user": base64.b64encode(b"root").decode(), "port": base64.b64encode(b"22").decode()}
    with pytest.raises(cd.ConfigDataError, match="the value of config must be text"):
        cd.process("c", data, ["value", "toBase64"])


def test_to_secret_fills_the_secret_in_the_file():
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata:\n  old: b2xk\n"
    (out,) = cd.resolve([config("password: s3cret\n", path="m/secret.yaml", strategy="overwrite",
                                process=["toSecret"])], {"m/secret.yaml": secret})
    doc = yaml.safe_load(out["data"])
    assert doc["kind"] == "Secret" and doc["data"]["old"] == "b2xk"
    assert base64.b64decode(doc["data"]["password"]) == b"s3cret"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (config("- a\n"), r"^Config c: strategy merge: data must be a YAML mapping, not list"),
        (config("a: [1\n", strategy="overwrite", process=["toJson"]), r"^Config c: toJson: data is not YAML"),
        (config("x\n", strategy="overwrite", process=["toSecret"]), r"^Config c: toSecret: data must be a YAML mapping"),
        (config("a: 1\n", process=["toBase64"]), r"strategy merge: data must be a YAML mapping, not str"),
        (config("a: {b: 1}\n", strategy="overwrite", process=["value", "toBase64"]), r"the value of a must be text"),
    ],
)
def test_check_finds_data_that_cannot_be_resolved_whatever_the_file(cfg, message):
    with pytest.raises(cd.ConfigDataError, match=message):
        cd.check(cfg)


def test_check_accepts_what_resolves():
    for good in (config("a: 1\n"), config("anything: [at all\n", strategy="overwrite"),
                 config("a: {b: 1}\n", process=["value", "toJson", "toBase64"]),
                 config("k: v\n", strategy="overwrite", process=["toSecret"])):
        cd.check(good)
