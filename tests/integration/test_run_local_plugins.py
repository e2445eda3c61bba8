"""LABEL and TAINT plugins through the real playbook, on this machine (ansible_connection=local): the
Clusterfile's and the image's plugins/*.yaml, merged; kubectl on master0 only for what differs; nothing
at all when the image has no cluster runtime.

kubectl is a *test stand-in* (written below into a temporary directory put first in PATH): it keeps one
node in a JSON file, applies label/taint commands to it, and records every call.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sealer_runner.cli.run_display import notes
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import build_request
from sealer_runner.run.runner import run

from .test_run_local import CLUSTERFILE, build

pytestmark = [pytest.mark.integration]

KUBECTL_STAND_IN = '''#!{python}
"""Test stand-in for kubectl: one node kept in {state}; every call is recorded in {log}."""
import json, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(" ".join(args) + "\\n")
if args[:1] == ["--kubeconfig"]:
    args = args[2:]
with open({state!r}) as f:
    node = json.load(f)
if args[:2] == ["get", "nodes"]:
    print(json.dumps({{"kind": "NodeList", "items": [node]}}))
    sys.exit(0)
verb, _kind, _name, *rest = args
rest = [a for a in rest if not a.startswith("--")]
taints = node["spec"].setdefault("taints", [])
for arg in rest:
    if verb == "label":
        key, _, value = arg.partition("=")
        node["metadata"]["labels"][key] = value
    elif arg.endswith("-"):
        key, _, effect = arg[:-1].partition(":")
        taints[:] = [t for t in taints if not (t["key"] == key and effect in ("", t["effect"]))]
    else:
        body, _, effect = arg.rpartition(":")
        key, _, value = body.partition("=")
        taints[:] = [t for t in taints if not (t["key"] == key and t["effect"] == effect)]
        taints.append({{"key": key, "value": value, "effect": effect}} if value else {{"key": key, "effect": effect}})
with open({state!r}, "w") as f:
    json.dump(node, f)
'''

NODE = {"metadata": {"name": "test-node", "labels": {"kubernetes.io/hostname": "test-node"}},
        "spec": {"taints": [{"key": "old", "effect": "NoExecute"}]},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}


def plugin_doc(name: str, plugin_type: str, action: str, data: str, scope: str = "") -> str:
    scope_line = f"  scope: {scope}\n" if scope else ""
    return (f"---\napiVersion: sealer.io/v1\nkind: Plugin\nmetadata: {{name: {name}}}\nspec:\n  type: {plugin_type}\n"
            f"  action: {action}\n{scope_line}  data: |\n    {data}\n")


IMAGE_PLUGINS = (plugin_doc("image-labels", "LABEL", "post-install", "127.0.0.1 from-image=yes")
                 + plugin_doc("taints", "TAINT", "post-install", "127.0.0.1 from-image=yes:NoSchedule"))
CLUSTERFILE_PLUGINS = (plugin_doc("taints", "TAINT", "post-install", "127.0.0.1 dedicated=db:NoSchedule,old-")
                       + plugin_doc("nodes-only", "LABEL", "post-init-host", "127.0.0.1 scoped=yes", scope="node"))


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The stand-in kubectl on PATH; returns (its node state file, its call log)."""
    bin_dir, state, log = tmp_path / "test-bin", tmp_path / "node.json", tmp_path / "kubectl.log"
    bin_dir.mkdir()
    state.write_text(json.dumps(NODE))
    script = bin_dir / "kubectl"
    script.write_text(KUBECTL_STAND_IN.format(python=sys.executable, state=str(state), log=str(log)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return state, log


def local_request(tmp_path: Path, store: Store, text: str):
    request = build_request(load_clusterfile(text), store, store.root, ssh_key=None)
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = sys.executable
    # Only validation and the plugins: nothing outside tmp_path changes (no HOSTNAME plugin is given).
    return replace(request, ssh_password=None, tags=("validate", "plugins"))


def test_label_and_taint_plugins_change_only_what_differs(tmp_path, kubectl):
    state, log = kubectl
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\n"
                                                "COPY plugins plugins\nCOPY bin bin\n",
                                    "plugins/node.yaml": IMAGE_PLUGINS, "bin/kubeadm": "#!/bin/sh\n"})
    request = local_request(tmp_path, store, CLUSTERFILE.format(data_root=tmp_path / "hosts") + CLUSTERFILE_PLUGINS)
    assert request.extravars["sealer_cluster_runtime"] == "kubernetes"

    first = run(request)
    assert first.ok, first.failures
    node = json.loads(state.read_text())
    assert node["metadata"]["labels"] == {"kubernetes.io/hostname": "test-node", "from-image": "yes"}, \
        "the image's LABEL plugin ran; the node-scoped one skipped a master"
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}], \
        "the Clusterfile's TAINT plugin replaced the image's of the same name, and removed 'old'"
    calls = log.read_text().splitlines()
    changes = [c for c in calls if " get nodes " not in f" {c} "]
    assert changes == [
        "--kubeconfig /etc/kubernetes/admin.conf taint node test-node old-",
        "--kubeconfig /etc/kubernetes/admin.conf taint node test-node dedicated=db:NoSchedule --overwrite",
        "--kubeconfig /etc/kubernetes/admin.conf label node test-node from-image=yes --overwrite",
    ]

    second = run(request)
    assert second.ok and second.changed == 0, "a second run must change nothing"
    again = log.read_text().splitlines()[len(calls):]
    assert again and all("get nodes -o json" in c for c in again), again


def test_without_a_cluster_runtime_label_and_taint_are_skipped_with_a_message(tmp_path, kubectl):
    _, log = kubectl
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY f f\n", "f": "x\n"})
    request = local_request(tmp_path, store, CLUSTERFILE.format(data_root=tmp_path / "hosts") + CLUSTERFILE_PLUGINS)
    assert request.extravars["sealer_cluster_runtime"] == "none"
    seen: list[str] = []
    result = run(request, on_event=lambda event: seen.extend(notes(event.get("event_data") or {})
                                                            if event.get("event") == "runner_on_ok" else []))
    assert result.ok, result.failures
    assert not log.exists(), "kubectl must not be called without a cluster runtime"
    assert any("LABEL/TAINT plugins taints skipped at post-install" in note and "sealer_cluster_runtime is none" in note
               for note in seen), seen


def test_the_clusterfiles_host_labels_and_taints_are_applied_like_plugins(tmp_path, kubectl):
    state, log = kubectl
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\nCOPY bin bin\n",
                                    "bin/kubeadm": "#!/bin/sh\n"})
    text = CLUSTERFILE.format(data_root=tmp_path / "hosts") + (
        "      labels: {disk: ssd}\n      taints: [\"dedicated=db:NoSchedule\"]\n")
    request = local_request(tmp_path, store, text)
    first = run(request)
    assert first.ok, first.failures
    node = json.loads(state.read_text())
    assert node["metadata"]["labels"] == {"kubernetes.io/hostname": "test-node", "disk": "ssd"}
    assert {"key": "dedicated", "value": "db", "effect": "NoSchedule"} in node["spec"]["taints"]
    calls = len(log.read_text().splitlines())
    second = run(request)
    assert second.ok and second.changed == 0, "a second run must change nothing"
    assert all("get nodes -o json" in c for c in log.read_text().splitlines()[calls:])
