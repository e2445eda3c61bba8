"""The judging of ``sealer_runner check`` (sealer_runner/run/checks.py) on recorded facts: every check, ok,
warn and fail.

``data/check_pre_facts.json`` is what the check role returned for this Debian 12 VM (one host, through the
real playbook); variations are made from it. ``data/check_post_kubectl.json`` is hand-written in the shape
of ``kubectl get nodes,pods -n kube-system -o json`` of a kubeadm cluster (2 masters, 1 node), trimmed to
the fields the judging reads (no Kubernetes binaries can be had here)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from sealer_runner.run.checks import (
    CLUSTER,
    CheckReport,
    ClusterHost,
    Finding,
    PostFacts,
    PreFacts,
    Rules,
    clock,
    clock_spread,
    commands,
    hostnames,
    judge_post,
    judge_pre,
    modules,
    platform,
    ports,
    registry,
    resources,
    same_arch,
    swap,
)

DATA = Path(__file__).parent / "data"
RECORDED = json.loads((DATA / "check_pre_facts.json").read_text())
MASTER = ClusterHost("10.0.0.2", ("master",))
NODE = ClusterHost("10.0.0.3", ("node",))
RULES = Rules(hosts=(MASTER, NODE), runtime="kubernetes", image_platforms=("linux/amd64", "linux/arm64"),
              registry_hosts=("10.0.0.2",), registry_port=5000)


def facts(**changes) -> PreFacts:
    """The recorded host, changed."""
    return replace(PreFacts.from_ansible(RECORDED), **changes)


def test_recorded_facts_decode():
    f = PreFacts.from_ansible(RECORDED)
    assert (f.hostname, f.os, f.arch, f.uname, f.cpus, f.swap_kib, f.container, f.python3) == (
        "vm", "linux", "amd64", "x86_64", 2, 0, False, True)
    assert f.mem_kib == 24683584 and f.distro == "Debian GNU/Linux 12 (bookworm)"
    assert f.modules["overlay"] == "loaded" and f.modules["br_netfilter"] == "absent"
    assert f.missing == (("modprobe", "kmod"),) and f.ports == {}
    low, high = f.skew
    assert low <= 0 <= high or abs(low) < 1


def test_reachability_names_why_a_host_did_not_answer():
    report = judge_pre(RULES, {"10.0.0.2": facts()}, {"10.0.0.3": "Failed to connect to the host via ssh"})
    found = {(f.check, f.host): f for f in report.findings}
    assert found[("reachable", "10.0.0.2")].status == "ok"
    assert found[("reachable", "10.0.0.3")] == Finding("reachable", "10.0.0.3", "fail",
                                                       "Failed to connect to the host via ssh")
    assert not any(f.host == "10.0.0.3" for f in report.findings if f.check != "reachable")
    assert not report.ok


def test_commands():
    assert commands("h", facts(missing=())).status == "ok"
    failed = commands("h", facts())
    assert failed == Finding("commands", "h", "fail", "missing: modprobe (Debian package kmod)")
    assert commands("h", facts(missing=(), python3=False)).detail == "missing: python3 (Debian package python3)"
    both = commands("h", facts(missing=(("python3", "python3"),), python3=False))
    assert both.detail.count("python3 (") == 1


@pytest.mark.parametrize("os_, arch, image, status", [
    ("linux", "amd64", ("linux/amd64",), "ok"),
    ("linux", "arm64", ("linux/amd64", "linux/arm64/v8"), "ok"),
    ("linux", "arm64", ("linux/amd64",), "fail"),
    ("freebsd", "amd64", ("linux/amd64",), "fail"),
    ("linux", "s390x", (), "ok"),  # an image without platforms: not checked
])
def test_platform(os_, arch, image, status):
    finding = platform(replace(RULES, image_platforms=image), "h", facts(os=os_, arch=arch))
    assert finding.status == status, finding
    if status == "fail":
        assert "is not a platform of the image" in finding.detail


def test_hosts_of_different_architectures():
    assert same_arch({"a": facts(), "b": facts()}) == []
    (finding,) = same_arch({"a": facts(), "b": facts(arch="arm64")})
    assert (finding.host, finding.status) == (CLUSTER, "fail") and "a is amd64, b is arm64" in finding.detail


def test_hostnames_unique_lowercase_dns_names():
    found = hostnames({"a": facts(hostname="m1"), "b": facts(hostname="m1"), "c": facts(hostname="Node_3"),
                       "d": facts(hostname="n4.example.com")})
    assert [(f.host, f.status) for f in found] == [("a", "fail"), ("b", "fail"), ("c", "fail"), ("d", "ok")]
    assert found[0].detail == "'m1' is also the name of b"
    assert "not a lowercase DNS name" in found[2].detail


@pytest.mark.parametrize("offset, error, status", [
    (0.0, 0.1, "ok"),
    (0.9, 0.5, "ok"),     # could be under 1 s
    (1.6, 0.5, "warn"),   # certainly over 1 s
    (-3.0, 0.5, "warn"),  # behind
    (5.4, 0.5, "warn"),   # could be under 5 s: no false alarm
    (6.0, 0.5, "fail"),
    (-40.0, 0.5, "fail"),
])
def test_clock_against_the_controller(offset, error, status):
    finding = clock(RULES, "h", facts(controller_before=1000.0, controller_after=1000.0 + 2 * error,
                                      clock=1000.0 + error + offset))
    assert finding.status == status, finding
    assert ("ahead of" if offset > 0 else "behind") in finding.detail


def test_clock_unreadable_warns():
    assert clock(RULES, "h", facts(clock=None)).status == "warn"


def _at(offset: float, error: float = 0.1) -> PreFacts:
    return facts(controller_before=1000.0, controller_after=1000.0 + 2 * error, clock=1000.0 + error + offset)


@pytest.mark.parametrize("offsets, status", [
    ((0.0, 0.3), "ok"),
    ((0.0, 2.0), "warn"),
    ((-3.0, 3.0), "fail"),  # each within 5 s of the controller, 6 s apart
    ((0.0,), None),          # one host: nothing to compare
])
def test_clock_spread_between_hosts(offsets, status):
    found = clock_spread(RULES, {f"h{i}": _at(o) for i, o in enumerate(offsets)})
    if status is None:
        assert found == []
        return
    (finding,) = found
    assert (finding.check, finding.host, finding.status) == ("clock skew", CLUSTER, status), finding
    if status != "ok":
        assert finding.detail.startswith(f"h{len(offsets) - 1} is at least ")


def test_ports_by_role_and_the_clusters_own_listeners():
    assert ports(RULES, MASTER, facts()).detail == "free: 2379, 2380, 5000, 6443, 10250, 10257, 10259"
    assert ports(RULES, NODE, facts()).detail == "free: 10250"
    taken = ports(RULES, MASTER, facts(ports={6443: "nginx", 5000: "", 8080: "java"}))
    assert taken == Finding("ports", MASTER.ip, "fail", "5000 in use by an unknown process; 6443 in use by nginx")
    assert ports(RULES, NODE, facts(ports={6443: "nginx"})).status == "ok", "6443 is a master's"
    rerun = ports(RULES, MASTER, facts(ports={6443: "kube-apiserver", 2379: "etcd", 5000: "registry"}))
    assert rerun.status == "ok" and "served by the cluster: 2379 (etcd), 5000 (registry), 6443 (kube-apiserver)" in rerun.detail
    # a cluster process on another cluster port is still the cluster's (the kubelet stand-in serves 6443)
    assert ports(RULES, MASTER, facts(ports={6443: "kubelet"})).status == "ok"


def test_without_kubernetes_only_the_registry_port_counts():
    rules = replace(RULES, runtime="none")
    report = judge_pre(rules, {"10.0.0.2": facts(ports={6443: "nginx"}), "10.0.0.3": facts(hostname="n")}, {})
    checks = {(f.check, f.host) for f in report.findings}
    assert ("ports", "10.0.0.2") in checks and ("ports", "10.0.0.3") not in checks
    assert not checks & {("swap", "10.0.0.2"), ("kernel modules", "10.0.0.2"), ("resources", "10.0.0.2")}
    assert next(f for f in report.findings if f.check == "ports").status == "ok"


@pytest.mark.parametrize("swap_kib, container, status, text", [
    (0, False, "ok", "off"),
    (1048572, False, "warn", "1023 MiB of swap on: the run turns it off"),
    (1048572, True, "warn", "kubelet needs failSwapOn: false"),
    (None, False, "warn", "unknown"),
])
def test_swap(swap_kib, container, status, text):
    finding = swap("h", facts(swap_kib=swap_kib, container=container))
    assert finding.status == status and text in finding.detail, finding


ALL_LOADED = {m: "loaded" for m in ("overlay", "br_netfilter", "ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh",
                                   "nf_conntrack")}


@pytest.mark.parametrize("states, container, status, text", [
    ({}, False, "ok", "present: overlay"),
    ({"br_netfilter": "available"}, False, "ok", "present"),           # the run loads it
    ({"overlay": "builtin"}, False, "ok", "present"),
    ({"br_netfilter": "absent"}, False, "fail", "br_netfilter absent (required)"),
    ({"br_netfilter": "absent"}, True, "warn", "br_netfilter absent (required)"),  # the machine's business
    ({"br_netfilter": "available"}, True, "warn", "br_netfilter not loaded (a container: load it on the machine)"),
    ({"ip_vs": "absent"}, False, "warn", "ip_vs absent"),
    ({"ip_vs_sh": "available"}, False, "warn", "ip_vs_sh not loaded"),
])
def test_kernel_modules(states, container, status, text):
    finding = modules("h", facts(modules={**ALL_LOADED, **states}, container=container))
    assert finding.status == status and text in finding.detail, finding


def test_kernel_modules_recorded_host_fails_on_br_netfilter():
    finding = modules("h", facts())
    assert finding.status == "fail" and finding.detail.startswith("br_netfilter absent (required); ip_vs absent")


@pytest.mark.parametrize("host, cpus, mib, status, text", [
    (MASTER, 2, 1800, "ok", "2 CPU, 1800 MiB"),
    (MASTER, 1, 4096, "fail", "a master needs 2 CPUs"),
    (MASTER, 4, 1600, "fail", "a master needs 1700 MiB"),
    (NODE, 1, 4096, "ok", "1 CPU"),
    (NODE, 1, 1024, "warn", "kubeadm asks for 1700 MiB"),
    (MASTER, None, 4096, "warn", "could not be read"),
])
def test_resources(host, cpus, mib, status, text):
    finding = resources(host, facts(cpus=cpus, mem_kib=mib * 1024))
    assert finding.status == status and text in finding.detail, finding


def test_judge_pre_on_the_recorded_host_as_a_two_host_cluster():
    report = judge_pre(RULES, {"10.0.0.2": facts(), "10.0.0.3": facts(hostname="vm2", missing=())}, {})
    assert [f.check for f in report.findings if f.host == "10.0.0.2"] == [
        "reachable", "commands", "platform", "clock", "ports", "swap", "kernel modules", "resources", "hostname"]
    assert {f.check for f in report.failed} == {"commands", "kernel modules"}
    data = report.to_json()
    assert data["phase"] == "pre" and data["ok"] is False and data["failed"] == len(report.failed)
    assert data["checks"][0] == {"check": "reachable", "host": "10.0.0.2", "status": "ok", "detail": "answers over SSH"}


# ---- post ----

KUBECTL = (DATA / "check_post_kubectl.json").read_text()
POST_RULES = Rules(hosts=(MASTER, ClusterHost("10.0.0.4", ("master",)), NODE), runtime="kubernetes",
                   registry_hosts=("10.0.0.2",), registry_port=5000)


def kubectl_answer(edit=None, rc=0, stderr=""):
    """master0's answers to `kubectl get nodes -o json` and `kubectl get pods -n kube-system -o json`."""
    data = json.loads(KUBECTL)
    if edit:
        edit(data["items"])
    answers = {kind: {"rc": rc, "stderr": stderr, "stdout": json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        i for i in data["items"] if i["kind"] == kind.capitalize()[:-1]]})} for kind in ("nodes", "pods")}
    return answers


def post(kube, registry_status=200) -> CheckReport:
    answer = {"url": "https://sea.hub:5000/v2/", "status": registry_status, "msg": "OK"}
    hosts = {h.ip: PostFacts(registry=answer) for h in POST_RULES.hosts}
    hosts[MASTER.ip] = PostFacts(kube=kube, registry=answer)
    return judge_post(POST_RULES, hosts, {})


def test_post_on_a_healthy_cluster_is_all_ok():
    report = post(kubectl_answer())
    assert report.ok, report.failed
    checks = [(f.check, f.host) for f in report.findings]
    assert ("node ready", "10.0.0.3") in checks and checks.count(("control plane", "10.0.0.4")) == 4
    assert next(f for f in report.findings if f.check == "node ready").detail == "master-0 Ready v1.30.1"


def _node(items, name):
    return next(i for i in items if i["kind"] == "Node" and i["metadata"]["name"] == name)


def _pod(items, name):
    return next(i for i in items if i["kind"] == "Pod" and i["metadata"]["name"] == name)


def test_a_node_not_ready_fails_with_kubelets_message():
    def edit(items):
        ready = _node(items, "node-0")["status"]["conditions"][-1]
        ready.update(status="False", reason="KubeletNotReady", message="container runtime network not ready")
    (failed,) = post(kubectl_answer(edit)).failed
    assert failed == Finding("node ready", "10.0.0.3", "fail", "node-0 not Ready: container runtime network not ready")


def test_a_host_that_is_not_a_node_fails():
    (failed,) = post(kubectl_answer(lambda items: items.remove(_node(items, "node-0")))).failed
    assert failed == Finding("node ready", "10.0.0.3", "fail", "not a node of the cluster")


def test_a_control_plane_pod_not_running_fails_with_its_reason():
    def edit(items):
        pod = _pod(items, "kube-scheduler-master-1")
        pod["status"]["phase"] = "Pending"
        pod["status"]["containerStatuses"][0].update(ready=False, state={"waiting": {"reason": "CrashLoopBackOff"}})
    (failed,) = post(kubectl_answer(edit)).failed
    assert failed == Finding("control plane", "10.0.0.4", "fail", "kube-scheduler-master-1 Pending: CrashLoopBackOff")


def test_a_missing_control_plane_pod_fails():
    (failed,) = post(kubectl_answer(lambda items: items.remove(_pod(items, "etcd-master-1")))).failed
    assert failed == Finding("control plane", "10.0.0.4", "fail", "no etcd pod on this master")


def test_other_kube_system_pods_are_not_judged():
    def edit(items):
        _pod(items, "coredns-7db6d8ff4d-x2x8k")["status"]["phase"] = "Pending"
    assert post(kubectl_answer(edit)).ok


def test_kubectl_failing_or_unreadable_fails():
    (failed,) = post(kubectl_answer(rc=1, stderr="error: stat /etc/kubernetes/admin.conf: no such file")).failed
    assert failed == Finding("kubectl", "10.0.0.2", "fail",
                             "get nodes: rc 1: error: stat /etc/kubernetes/admin.conf: no such file")
    (failed,) = post({"nodes": {"rc": 0, "stdout": "not json", "stderr": ""}}).failed
    assert failed.check == "kubectl" and failed.detail.startswith("get nodes: unreadable answer")


def test_nodes_are_judged_when_pods_cannot_be_listed():
    kube = kubectl_answer()
    kube["pods"] = {"rc": 1, "stdout": "", "stderr": 'error: the server doesn\'t have a resource type "pods"'}
    report = post(kube)
    assert [f.check for f in report.failed] == ["kubectl"]
    assert report.failed[0].detail == 'get pods: rc 1: error: the server doesn\'t have a resource type "pods"'
    assert sum(f.check == "node ready" and f.status == "ok" for f in report.findings) == 3


def test_registry_answers():
    assert registry("h", {"url": "https://r:5000/v2/", "status": 200}).status == "ok"
    assert registry("h", {"url": "https://r:5000/v2/", "status": 401}).detail.startswith("GET https://r:5000/v2/: 401")
    refused = registry("h", {"url": "https://r:5000/v2/", "status": -1,
                             "msg": "Status code was -1 and not [200, 401]: Request failed: <urlopen error "
                                    "[Errno 111] Connection refused>"})
    assert refused == Finding("registry", "h", "fail",
                              "GET https://r:5000/v2/: Request failed: <urlopen error [Errno 111] Connection refused>")
    assert post(kubectl_answer(), registry_status=503).failed[0].check == "registry"
    assert registry("h", {"served": False}) == Finding("registry", "h", "ok", "none to reach: the image caches no "
                                                                          "container images")


def test_post_without_kubernetes_checks_the_registry_only():
    rules = replace(POST_RULES, runtime="none")
    hosts = {h.ip: PostFacts(registry={"url": "u", "status": 200}) for h in rules.hosts}
    report = judge_post(rules, hosts, {})
    assert {f.check for f in report.findings} == {"reachable", "registry"} and report.ok
