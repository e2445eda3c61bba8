"""The sealer.cluster.kube_node module (LABEL/TAINT plugins, hosts[].labels/taints) through real Ansible,
against a kubectl stand-in on PATH that keeps one node in a JSON file and fails the way kubectl does when
told to (the stand-in is test-only: the product runs the real kubectl). A kubectl failure must fail the
task with kubectl's own message, never pass as success; a node that already matches means no command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"

KUBECTL = r'''#!{python}
"""Test stand-in for kubectl: FAKE_KUBECTL_FAIL names the verb that fails (get, label, taint) or 'garbage'."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as f:
    f.write(" ".join(args) + "\n")
if args[:1] == ["--kubeconfig"]:
    args = args[2:]
fail = os.environ.get("FAKE_KUBECTL_FAIL", "")
state = os.environ["FAKE_KUBECTL_NODE"]
node = json.load(open(state))
if args[:2] == ["get", "nodes"]:
    if fail == "get":
        sys.stderr.write("The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n")
        sys.exit(1)
    print("<html>proxy error</html>" if fail == "garbage" else json.dumps({{"kind": "NodeList", "items": [node]}}))
    sys.exit(0)
verb = args[0]
if fail == verb:
    sys.stderr.write('Error from server (Forbidden): nodes "node-1" is forbidden: User "system:node:x" cannot patch '
                     'resource "nodes"\n')
    sys.exit(1)
for arg in [a for a in args[3:] if not a.startswith("--")]:
    if verb == "label":
        key, _, value = arg.partition("=")
        node["metadata"]["labels"][key] = value
    else:
        body, _, effect = arg.rpartition(":")
        key, _, value = body.partition("=")
        node["spec"].setdefault("taints", []).append({{"key": key, "value": value, "effect": effect}})
json.dump(node, open(state, "w"))
'''

NODE = {"metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "disk": "ssd"}},
        "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "node-1"}]}}

PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - sealer.cluster.kube_node:
        ip: {ip}
        labels: {labels}
        taints: {taints}
        kubeconfig: /etc/kubernetes/admin.conf
        kubectl: {kubectl}
      register: result
      ignore_errors: true
    - ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: {tmp}/result.json
      check_mode: false
"""


def play(tmp_path: Path, *, fail: str = "", ip: str = "10.0.0.5", labels: dict | None = None,
         taints: list | None = None, check: bool = False, kubectl: str = "kubectl") -> tuple[dict, list[str]]:
    """Run the module once; returns its result and the kubectl calls it made."""
    bindir = tmp_path / "bin"
    if not bindir.exists():
        bindir.mkdir()
        (bindir / "kubectl").write_text(KUBECTL.format(python=sys.executable))
        (bindir / "kubectl").chmod(0o755)
        collections = tmp_path / "collections" / "ansible_collections" / "sealer"
        collections.mkdir(parents=True)
        (collections / "cluster").symlink_to(REPO / "collection")
        (tmp_path / "node.json").write_text(json.dumps(NODE))
    log = tmp_path / "kubectl.log"
    log.unlink(missing_ok=True)
    (tmp_path / "play.yml").write_text(PLAY.format(ip=ip, labels=json.dumps(labels or {}),
                                                   taints=json.dumps(taints or []), tmp=tmp_path, kubectl=kubectl))
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_KUBECTL_FAIL": fail, "FAKE_KUBECTL_LOG": str(log),
           "FAKE_KUBECTL_NODE": str(tmp_path / "node.json"), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    done = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                           f"ansible_python_interpreter={sys.executable}", *(["--check"] if check else []),
                           str(tmp_path / "play.yml")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "result.json").read_text()), log.read_text().splitlines() if log.exists() else []


def node(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "node.json").read_text())


def test_kubectl_get_nodes_failing_fails_the_task_with_its_stderr(tmp_path):
    result, calls = play(tmp_path, fail="get", labels={"zone": "a"})
    assert result["failed"] is True and result.get("changed") is not True
    assert result["msg"] == ("kubectl get nodes failed (rc=1): The connection to the server 10.0.0.1:6443 was "
                             "refused - did you specify the right host or port?")
    assert calls == ["--kubeconfig /etc/kubernetes/admin.conf get nodes -o json"]


@pytest.mark.parametrize(("verb", "wanted"), [("label", {"labels": {"zone": "a"}}),
                                              ("taint", {"taints": [{"key": "gpu", "effect": "NoSchedule"}]})])
def test_kubectl_label_or_taint_failing_fails_the_task_with_the_command_and_its_stderr(tmp_path, verb, wanted):
    before = node(tmp_path) if (tmp_path / "node.json").exists() else NODE
    result, calls = play(tmp_path, fail=verb, **wanted)
    assert result["failed"] is True
    assert result["msg"].startswith(f"{shutil.which('kubectl', path=str(tmp_path / 'bin'))} --kubeconfig "
                                    f"/etc/kubernetes/admin.conf {verb} node node-1 ")
    assert result["msg"].endswith('failed (rc=1): Error from server (Forbidden): nodes "node-1" is forbidden: '
                                  'User "system:node:x" cannot patch resource "nodes"')
    assert len(calls) == 2 and calls[1].split()[2] == verb
    assert node(tmp_path) == before


def test_kubectl_printing_no_json_fails_the_task(tmp_path):
    result, _ = play(tmp_path, fail="garbage", labels={"zone": "a"})
    assert result["failed"] is True and result["msg"].startswith("kubectl get nodes did not print JSON: ")


def test_no_node_with_the_address_fails_naming_the_nodes_addresses(tmp_path):
    result, calls = play(tmp_path, ip="10.0.0.99", labels={"zone": "a"})
    assert result["failed"] is True
    assert result["msg"] == "no Kubernetes node has the address 10.0.0.99 (nodes' InternalIPs: 10.0.0.5)"
    assert len(calls) == 1


@pytest.mark.parametrize("kubectl", ["/opt/absent/kubectl", "kubectl-absent"])
def test_kubectl_missing_fails_the_task(tmp_path, kubectl):
    result, calls = play(tmp_path, labels={"zone": "a"}, kubectl=kubectl)
    assert result["failed"] is True and calls == []
    assert result["msg"] == ("/opt/absent/kubectl is not an executable file" if "/" in kubectl
                             else "Failed to find required executable \"kubectl-absent\" in paths: " + result["msg"].split(
                                 "in paths: ", 1)[-1])


def test_a_node_that_already_matches_means_no_command_and_no_change(tmp_path):
    result, calls = play(tmp_path, labels={"disk": "ssd"}, taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    assert result.get("failed") is not True and result["changed"] is False and result["commands"] == []
    assert calls == ["--kubeconfig /etc/kubernetes/admin.conf get nodes -o json"]


def test_check_mode_reports_the_change_and_runs_nothing_then_apply_then_rerun_is_unchanged(tmp_path):
    planned, calls = play(tmp_path, labels={"zone": "a", "disk": "ssd"}, check=True)
    assert planned["changed"] is True and len(planned["commands"]) == 1 and planned["commands"][0].endswith(
        "label node node-1 zone=a --overwrite")
    assert len(calls) == 1 and node(tmp_path) == NODE, "check mode ran only the read"
    applied, calls = play(tmp_path, labels={"zone": "a", "disk": "ssd"})
    assert applied["changed"] is True and node(tmp_path)["metadata"]["labels"]["zone"] == "a"
    assert calls[1] == "--kubeconfig /etc/kubernetes/admin.conf label node node-1 zone=a --overwrite"
    again, calls = play(tmp_path, labels={"zone": "a", "disk": "ssd"})
    assert again["changed"] is False and len(calls) == 1


def test_a_failing_kubectl_fails_the_run_of_a_label_plugin_with_its_message(tmp_path, monkeypatch):
    """The same failure through the real playbook (LABEL plugin at post-install, connection=local): the
    run fails, and its failure carries kubectl's stderr."""
    from sealer_runner.image.store import Store
    from sealer_runner.run.runner import run

    from .test_run_local import CLUSTERFILE, build
    from .test_run_local_plugins import local_request, plugin_doc

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").write_text(KUBECTL.format(python=sys.executable))
    (bindir / "kubectl").chmod(0o755)
    state = tmp_path / "node.json"
    state.write_text(json.dumps({**NODE, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}))
    for key, value in {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_KUBECTL_FAIL": "label",
                       "FAKE_KUBECTL_LOG": str(tmp_path / "kubectl.log"), "FAKE_KUBECTL_NODE": str(state)}.items():
        monkeypatch.setenv(key, value)
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\n"
                                                "COPY bin bin\n", "bin/kubeadm": "#!/bin/sh\n"})
    text = CLUSTERFILE.format(data_root=tmp_path / "hosts") + plugin_doc("zone", "LABEL", "post-install",
                                                                         "127.0.0.1 zone=a")
    result = run(local_request(tmp_path, store, text))
    assert not result.ok
    (failure,) = result.failures
    assert failure.task.startswith("LABEL and TAINT plugins at post-install")
    assert "label node node-1 zone=a --overwrite failed (rc=1): Error from server (Forbidden)" in failure.message
    assert json.loads(state.read_text())["metadata"]["labels"] == NODE["metadata"]["labels"]
