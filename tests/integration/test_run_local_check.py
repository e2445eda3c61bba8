"""``check --pre``/``--post`` and ``exec`` through the real collection and ansible-runner on this machine
(ansible_connection=local, one host, 127.0.0.1), read-only: the facts come from this machine, so the
assertions are about what must hold anywhere (the host answers, each check has a finding, a port taken by
a test listener is named with its process, a missing command with its package)."""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import replace

import pytest

from sealer_runner.cli.main import main
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.image.store import Store
from sealer_runner.run import remote
from sealer_runner.run.remote import check_request, check_rules, exec_request, run_check, run_exec

from .test_run_local import CLUSTERFILE, build

pytestmark = [pytest.mark.integration]


def local(request):
    """The request with every host reached through the local connection, no SSH password to answer."""
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = sys.executable
    return replace(request, ssh_password=None, become_password=None, ssh_key=None)


@pytest.fixture
def cluster(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY etc etc\n", "etc/a.conf": "a=1\n"})
    spec = load_clusterfile(CLUSTERFILE.format(data_root=tmp_path / "hosts"))
    return spec, store


def by_check(report):
    return {(f.check, f.host): f for f in report.findings}


def test_pre_check_reports_every_check_for_this_host_and_changes_nothing(cluster, tmp_path):
    spec, store = cluster
    request = local(check_request(spec, store, store.root, phase="pre", ssh_key=None))
    rules = check_rules(spec.cluster, request.extravars)
    assert rules.runtime == "none" and rules.registry_port is None, "the image caches no container images"
    rules = replace(rules, runtime="kubernetes")  # judge this machine as a Kubernetes host too
    report = run_check(request, rules)
    found = by_check(report)
    for check in ("reachable", "commands", "platform", "clock", "ports", "swap", "kernel modules", "resources",
                  "hostname"):
        assert (check, "127.0.0.1") in found, (check, report.findings)
    assert found[("reachable", "127.0.0.1")].status == "ok"
    assert found[("platform", "127.0.0.1")].status == "ok", found[("platform", "127.0.0.1")]
    assert found[("clock", "127.0.0.1")].status == "ok"
    assert found[("platform", "127.0.0.1")].detail.startswith("linux/")
    assert not (tmp_path / "hosts").exists(), "nothing delivered"


def test_a_taken_port_is_named_with_its_process_and_a_missing_command_with_its_package(cluster):
    spec, store = cluster
    request = local(check_request(spec, store, store.root, phase="pre", ssh_key=None))
    request.extravars["sealer_host_commands_extra"] = [
        {"command": "sealer-test-no-such-command", "package": "sealer-test-pkg", "tags": []}]
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        request.extravars["sealer_check_ports"] = [port]
        rules = replace(check_rules(spec.cluster, request.extravars), registry_port=port, registry_hosts=("127.0.0.1",))
        report = run_check(request, rules)
    finally:
        listener.close()
    found = by_check(report)
    ports = found[("ports", "127.0.0.1")]
    assert ports.status == "fail" and ports.detail.startswith(f"{port} in use by "), ports
    assert "unknown" not in ports.detail, "this process owns the listener: its name is found"
    assert "sealer-test-no-such-command (Debian package sealer-test-pkg)" in found[("commands", "127.0.0.1")].detail
    assert not report.ok


def test_post_check_of_a_host_without_a_cluster_fails_on_kubectl_and_the_registry(cluster, tmp_path):
    spec, store = cluster
    request = local(check_request(spec, store, store.root, phase="post", ssh_key=None))
    found = by_check(run_check(request, check_rules(spec.cluster, request.extravars)))
    assert found[("registry", "127.0.0.1")].detail == "none to reach: the image caches no container images"
    (tmp_path / "hosts" / "local" / "rootfs" / "registry").mkdir(parents=True)  # as if it cached some
    request = local(check_request(spec, store, store.root, phase="post", ssh_key=None))
    request.extravars.update(sealer_check_kubectl="/nonexistent/kubectl", sealer_cluster_runtime="kubernetes")
    request.extravars["sealer_registry"] = {**request.extravars["sealer_registry"], "endpoint": "127.0.0.1:1"}
    report = run_check(request, check_rules(spec.cluster, request.extravars))
    found = by_check(report)
    kubectl = found[("kubectl", "127.0.0.1")]
    assert kubectl.status == "fail" and kubectl.detail.startswith("get nodes: rc "), kubectl
    registry = found[("registry", "127.0.0.1")]
    assert registry.status == "fail" and registry.detail.startswith("GET https://127.0.0.1:1/v2/: "), registry


def test_exec_groups_output_per_host_with_its_exit_status(cluster):
    spec, store = cluster
    request = local(exec_request(spec, store.root, command="echo out; echo err >&2; exit 3", role="master",
                                 ssh_key=None))
    (out,) = run_exec(request, spec.cluster)
    assert (out.host, out.roles, out.rc, out.stdout, out.stderr) == ("127.0.0.1", ("master",), 3, "out\n", "err")
    assert not out.ok


def test_cli_check_and_exec(cluster, tmp_path, monkeypatch, capsys):
    """The verbs end to end (table, JSON, exit status), with the connection made local underneath."""
    spec, store = cluster
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text(CLUSTERFILE.format(data_root=tmp_path / "hosts").replace(
        'ssh: {passwd: "do-not-leak-this"}', f"ssh: {{pk: {tmp_path / 'key'}}}"))
    (tmp_path / "key").write_text("not a real key\n")
    real_run = remote.run
    monkeypatch.setattr(remote, "run", lambda request, handler=None: real_run(local(request), handler))
    root = ["--root", str(store.root)]

    assert main([*root, "exec", "-f", str(clusterfile), "echo", "-n", "hello"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "==> 127.0.0.1 (master) rc 0" and "hello" in out
    assert main([*root, "exec", "-f", str(clusterfile), "--role", "node", "true"]) == 2
    assert "--role node: no host of cluster local has it (roles: master)" in capsys.readouterr().err
    assert main([*root, "exec", "-f", str(clusterfile), "false"]) == 1
    assert capsys.readouterr().out.splitlines() == ["==> 127.0.0.1 (master) rc 1"]

    code = main([*root, "check", "--pre", "-f", str(clusterfile), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == (0 if data["ok"] else 1)
    assert {c["check"] for c in data["checks"]} == {"reachable", "commands", "platform", "clock", "hostname"}
    assert main([*root, "check", "-f", str(clusterfile)]) == 2
