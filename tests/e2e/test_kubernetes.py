"""The kubeadm runtime on booted hosts (systemd-nspawn), with **stand-ins** for kubeadm, kubelet and
kubectl (tests/support/kube_standins/): no Kubernetes release can be had here. The stand-ins validate
every call as the real tools would (flags, kubeadm's --config mixing rule, the config's fields against the
kubeadm API tables, own advertise addresses, the CRI socket, the kubelet unit) and log it to
/var/log/kube-standin.log on each host; these tests read those logs. systemd, containerd and the registry
are real. The hosts' kernel has no IPVS and cannot make dummy links: ipvsadm and ip (for the link
`sealer-ipvs` only) are stand-ins too, keeping the table lvscare applied in a file the test reads.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from sealer_runner.cli.main import main as cli_main
from sealer_runner.image.store import Store
from tests.support.rendered import mismatches
from tests.support.base_image import (STANDIN_VERSION, build_kubernetes_standin_image, install_ipvs_standins,
                                     missing_binaries)

pytestmark = [pytest.mark.e2e, pytest.mark.kubernetes]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

VIP = "10.103.97.2"
APP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {mode: offline}
"""


def kubernetes_image(tmp: Path, root: Path, version: str = STANDIN_VERSION, tag: str = "example.com/e2e/k8s:v1") -> str:
    """A cluster image on the stand-in Kubernetes base of *version*, with one kube app launched with kubectl."""
    base = build_kubernetes_standin_image(Store(root), tmp, version=version)
    ctx = tmp / f"k8s-app-{version}"
    (ctx / "app").mkdir(parents=True)
    (ctx / "app" / "web.yaml").write_text(APP)
    (ctx / "Kubefile").write_text(f"FROM {base}\nAPP web local://app/web.yaml\nLAUNCH [\"web\"]\n")
    assert cli_main(["--root", str(root), "-q", "build", "--platform", "linux/amd64", "-t", tag, str(ctx)]) == 0
    return tag


def clusterfile(path: Path, name: str, image: str, masters, nodes, key: Path, node_meta: str = "") -> Path:
    path.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: {name}}}
spec:
  image: {image}
  ssh: {{pk: {key}}}
  hosts:
    - {{ips: [{', '.join(h.ip for h in masters)}], roles: [master]}}
    - {{ips: [{', '.join(h.ip for h in nodes)}], roles: [node]{node_meta}}}
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  certSANs: [k8s.example.com]
""")
    return path


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(1)


def log_of(host) -> list[dict]:
    path = host.rootfs / "var/log/kube-standin.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def calls(host, tool: str, verb: str | None = None) -> list[dict]:
    return [e for e in log_of(host) if e["tool"] == tool and (verb is None or e["argv"][:1] == [verb])]


def hosts_line(host) -> list[str]:
    return [line for line in (host.rootfs / "etc/hosts").read_text().splitlines()
            if re.search(r"\sapiserver\.cluster\.local(\s|$)", line)]


def run(root: Path, cf: Path, capsys) -> str:
    capsys.readouterr()
    rc = cli_main(["--root", str(root), "run", "-f", str(cf)])
    err = capsys.readouterr().err
    assert rc == 0, err
    timing = [line for line in err.splitlines() if "Kubernetes cluster (kubeadm)" in line or "Done in" in line]
    assert len(timing) == 2, err  # the phase is shown with its time
    with capsys.disabled():  # the phase's time and the run's, for docs/run.md's figures
        print(f"\n{cf.parent.name}: " + " | ".join(line.strip() for line in timing))
    return err


ETCDCTL = ("ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
           "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key")


def etcdctl(host, args: str) -> str:
    """The real etcdctl on *host*, against its own member, with kubeadm's healthcheck client certificate."""
    return host.ssh(f"{ETCDCTL} {args}", check=True).stdout


def etcd_healthy(host) -> int:
    """How many members `endpoint health --cluster` finds healthy (etcdctl 3.4 reports on stderr)."""
    return host.ssh(f"{ETCDCTL} endpoint health --cluster 2>&1", check=True).stdout.count("is healthy")


def etcd_members(host) -> list[str]:
    return sorted(line.split(", ")[2] for line in etcdctl(host, "member list").splitlines() if line.strip())


def snapshot_status(host, path: str) -> dict:
    return json.loads(host.ssh(f"ETCDCTL_API=3 etcdctl snapshot status {path} -w json", check=True).stdout)


def check_cluster(root: Path, name: str, masters, nodes) -> dict:
    """What every kubeadm cluster run must have left; returns master0's issued secrets."""
    master0 = masters[0]
    issued = json.loads((master0.rootfs / "etc/kubernetes/standin-issued").read_text())
    for host in [*masters, *nodes]:
        errors = [e for e in log_of(host) if e.get("error") and e["tool"] != "kubelet"]
        assert not errors, f"{host.name}: a stand-in refused a call: {errors}"
        assert host.ssh("systemctl is-active kubelet").stdout.strip() == "active", host.name
        kubelet = [e for e in calls(host, "kubelet") if not e.get("error")]
        assert kubelet and kubelet[-1]["cgroup_driver"] == "systemd", host.name
    # one init, on master0, with the merged config (image < Clusterfile < forced)
    inits = [e for h in [*masters, *nodes] for e in calls(h, "kubeadm", "init") if e["argv"][1:2] != ["phase"]]
    assert [e["host"] for e in inits] == [master0.name]
    assert "--upload-certs" in inits[0]["argv"]
    config = {d["kind"]: d for d in yaml.safe_load_all((master0.rootfs / "etc/kubernetes/kubeadm.yaml").read_text())}
    cluster = config["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "apiserver.cluster.local:6443"
    assert cluster["imageRepository"] == "sea.hub:5000", "forced: the cluster's registry, not the image's"
    assert {"127.0.0.1", "apiserver.cluster.local", VIP, "k8s.example.com", *(m.ip for m in masters)} \
        <= set(cluster["apiServer"]["certSANs"])
    assert cluster["networking"]["podSubnet"] == "100.64.0.0/10" and cluster["apiServer"]["extraArgs"][
        "audit-log-maxage"] == "7", "the image's etc/kubeadm.yml is a source"
    assert config["KubeletConfiguration"]["cgroupDriver"] == "systemd", "forced over the image's cgroupfs"
    assert config["KubeletConfiguration"]["maxPods"] == 120
    assert f"{VIP}/32" in config["KubeProxyConfiguration"]["ipvs"]["excludeCIDRs"]
    assert config["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == master0.ip
    # workers: through the VIP, with init's token and CA hash, after lvscare's rules were in place
    for node in nodes:
        (joined,) = calls(node, "kubeadm", "join")
        assert joined["endpoint"] == f"{VIP}:6443" and not joined["control_plane"]
        assert joined["used"]["token"] in issued["tokens"]
        assert joined["used"]["ca_cert_hashes"] == [issued["ca_cert_hash"]]
        assert joined["apiserver_name"] == VIP
        assert f"-A -t {VIP}:6443 -s rr" in joined["ipvs"], joined["ipvs"]
        assert joined["via_ipvs"] and joined["reached"] in {f"{m.ip}:6443" for m in masters}
        for master in masters:
            assert f"-a -t {VIP}:6443 -r {master.ip}:6443 -m -w 1" in joined["ipvs"]
        assert (node.rootfs / "etc/kubernetes/kubeadm.yaml").stat().st_mode & 0o777 == 0o600
        assert hosts_line(node) == [f"{VIP} apiserver.cluster.local"]
        unit = (node.rootfs / "etc/systemd/system/sealer-lvscare.service").read_text()
        assert f"--vs {VIP}:6443" in unit and all(f"--rs {m.ip}:6443" in unit for m in masters)
        assert node.ssh("systemctl is-active sealer-lvscare").stdout.strip() == "active"
        table = json.loads((node.rootfs / "var/lib/kube-standin/ipvs.json").read_text())
        assert set(table) == {f"{VIP}:6443"}
    for master in masters:
        assert hosts_line(master) == [f"{master.ip} apiserver.cluster.local"], "a master resolves to itself"
        assert not (master.rootfs / "etc/systemd/system/sealer-lvscare.service").exists(), "lvscare on nodes only"
        assert all(e["argv"] == ["-S", "-n"] for e in calls(master, "ipvsadm")), "no IPVS rule on a master"
    # every join reached master0's stand-in apiserver, which checked its secrets: kubectl sees every node
    listed = json.loads(master0.ssh("kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json",
                                    check=True).stdout)["items"]
    assert sorted(n["status"]["addresses"][0]["address"] for n in listed) == sorted(h.ip for h in [*masters, *nodes])
    # admin.conf on the controller, 0600, as on master0
    admin = root / "clusters" / name / "admin.conf"
    assert admin.stat().st_mode & 0o777 == 0o600
    assert admin.read_bytes() == (master0.rootfs / "etc/kubernetes/admin.conf").read_bytes()
    # the app launched with kubectl against the new cluster
    (applied,) = calls(master0, "kubectl", "apply")
    assert applied["kubeconfig"] == "/etc/kubernetes/admin.conf"
    assert applied["applied"] == [f"/var/lib/sealer/data/{name}/rootfs/application/apps/web/web.yaml"]
    return issued


def test_kubeadm_one_master_two_nodes(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = kubernetes_image(tmp_path, root)
    with test_hosts_factory(3) as hosts:
        masters, nodes = list(hosts)[:1], list(hosts)[1:]
        cf = clusterfile(tmp_path / "Clusterfile", "k8s", image, masters, nodes, hosts.key,
                         ', labels: {disk: ssd}, taints: ["dedicated=db:NoSchedule"]')
        # a node without ipvsadm (the image ships none): stopped, named, before kubeadm runs anywhere
        install_ipvs_standins(masters[0].rootfs)
        install_ipvs_standins(nodes[0].rootfs)
        capsys.readouterr()
        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) != 0
        err = capsys.readouterr().err
        assert re.search(rf"{re.escape(nodes[1].ip)} failed at kubernetes: .*missing commands the kubernetes "
                         r"phase needs: ipvsadm \(Debian package ipvsadm\)", err), err
        assert not any(calls(h, "kubeadm") for h in hosts), "kubeadm ran although a node cannot join"
        install_ipvs_standins(nodes[1].rootfs)
        run(root, cf, capsys)
        check_cluster(root, "k8s", masters, nodes)
        listed = json.loads(masters[0].ssh("kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json",
                                           check=True).stdout)["items"]
        by_ip = {n["status"]["addresses"][0]["address"]: n for n in listed}
        for node in nodes:  # the Clusterfile's labels and taints, applied at post-install through kubectl
            assert by_ip[node.ip]["metadata"]["labels"]["disk"] == "ssd"
            assert by_ip[node.ip]["spec"]["taints"] == [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
        assert "disk" not in by_ip[masters[0].ip]["metadata"]["labels"]

        before = {h.name: len(log_of(h)) for h in hosts}
        second = run(root, cf, capsys)
        assert ": 0 change(s)" in second, second
        again = {h.name: [e for e in log_of(h)[before[h.name]:] if e["tool"] == "kubeadm"] for h in hosts}
        assert not any(again.values()), f"a re-run of a healthy cluster calls kubeadm: {again}"

        # a join that did not happen (node 2 never got its kubelet.conf): the next run finishes it, with a
        # new token from master0, and touches no other host
        nodes[1].ssh("systemctl stop kubelet && rm -f /etc/kubernetes/kubelet.conf", check=True)
        registered = masters[0].rootfs / "etc/kubernetes/standin-nodes.json"  # as if its join never registered
        registered.write_text(json.dumps([n for n in json.loads(registered.read_text()) if n["ip"] != nodes[1].ip]))
        before = {h.name: len(log_of(h)) for h in hosts}
        third = run(root, cf, capsys)
        assert ": 0 change(s)" not in third
        new = {h.name: [e for e in log_of(h)[before[h.name]:] if e["tool"] == "kubeadm"] for h in hosts}
        assert [e["argv"][:2] for e in new[masters[0].name]] == [["token", "create"]], new
        assert not new[nodes[0].name], "a joined node is left alone"
        (rejoined,) = new[nodes[1].name]
        issued = json.loads((masters[0].rootfs / "etc/kubernetes/standin-issued").read_text())
        assert rejoined["argv"][0] == "join" and rejoined["used"]["token"] == issued["tokens"][-1]
        assert len(issued["tokens"]) == 2 and not rejoined.get("error")
        assert nodes[1].ssh("systemctl is-active kubelet").stdout.strip() == "active"
        assert ": 0 change(s)" in run(root, cf, capsys)

        # upgrade to the same app on a v1.31.0 base: kubeadm upgrade apply on master0, then the nodes one at a
        # time (--max-unavailable 1), each drained, upgraded, its kubelet restarted on the new binary, uncordoned
        newer = kubernetes_image(tmp_path, root, version="v1.31.0", tag="example.com/e2e/k8s:v2")
        before = {h.name: len(log_of(h)) for h in hosts}
        capsys.readouterr()
        assert cli_main(["--root", str(root), "upgrade", newer, "-f", str(cf), "--force"]) == 0, \
            capsys.readouterr().err
        new = {h.name: log_of(h)[before[h.name]:] for h in hosts}
        upgrades = sorted((e for h in hosts for e in new[h.name] if e["tool"] == "kubeadm"
                           and e["argv"][:1] == ["upgrade"]), key=lambda e: e["start"])
        assert [(e["host"], e["argv"][1]) for e in upgrades] == \
            [(masters[0].name, "apply"), *((n.name, "node") for n in sorted(nodes, key=lambda n: n.ip))], upgrades
        assert not any(e.get("error") for e in upgrades) and upgrades[0]["from"] == STANDIN_VERSION
        kubectl = [e for e in new[masters[0].name] if e["tool"] == "kubectl" and e["argv"][1:2] in (["drain"], ["uncordon"])]
        assert [e["argv"][1:3] for e in kubectl] == [[verb, h.name] for h in [masters[0], *sorted(nodes, key=lambda n: n.ip)]
                                                      for verb in ("drain", "uncordon")]
        uncordons = [e for e in kubectl if e["argv"][1] == "uncordon"]
        assert all(u["time"] <= nxt["start"] for u, nxt in zip(uncordons[:-1], upgrades[1:], strict=True)), \
            "a host starts once the one before is back"
        for host in hosts:
            assert host.ssh("kubelet --version", check=True).stdout.strip() == "Kubernetes v1.31.0", host.name
            assert host.ssh("systemctl is-active kubelet").stdout.strip() == "active", host.name
        state = json.loads((root / "clusters/k8s/applied/state.json").read_text())
        assert state["kubernetes_version"] == "v1.31.0" and state["image"] == newer
        # etcd was snapshot before kubeadm touched master0 (the real etcd: kube_standins/_etcd.py)
        (snap,) = sorted((root / "clusters/k8s/etcd").glob("etcd-*-pre-upgrade.db"))
        assert snap.stat().st_size > 0 and snap.stat().st_mode & 0o777 == 0o600
        kept = masters[0].ssh("ls /var/lib/sealer/data/k8s/etcd-snapshots", check=True).stdout.split()
        assert kept == [snap.name]
        assert snapshot_status(masters[0], f"/var/lib/sealer/data/k8s/etcd-snapshots/{snap.name}")["totalKey"] >= 0
        # again: every host is at the version, none is touched; a skipped minor is refused before any host
        before = {h.name: len(log_of(h)) for h in hosts}
        assert cli_main(["--root", str(root), "upgrade", newer, "-f", str(cf), "--force"]) == 0
        assert not any(e["tool"] == "kubeadm" for h in hosts for e in log_of(h)[before[h.name]:])
        skipping = kubernetes_image(tmp_path, root, version="v1.33.0", tag="example.com/e2e/k8s:v4")
        capsys.readouterr()
        assert cli_main(["--root", str(root), "upgrade", skipping, "-f", str(cf), "--force"]) == 2
        assert "skips a minor version" in capsys.readouterr().err


def test_kubeadm_ha_three_masters_two_nodes(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = kubernetes_image(tmp_path, root)
    with test_hosts_factory(5) as hosts:
        for host in hosts:
            install_ipvs_standins(host.rootfs)
        masters, nodes = list(hosts)[:3], list(hosts)[3:]
        cf = clusterfile(tmp_path / "Clusterfile", "ha", image, masters, nodes, hosts.key)
        run(root, cf, capsys)
        issued = check_cluster(root, "ha", masters, nodes)
        # kubeadm's stacked etcd (real etcd, TLS): one member per master, each healthy
        for master in masters:
            assert etcd_members(master) == sorted(m.name for m in masters)
        assert etcd_healthy(masters[0]) == 3
        joins = sorted((e for m in masters[1:] for e in calls(m, "kubeadm", "join")), key=lambda e: e["start"])
        assert len(joins) == 2 and {e["host"] for e in joins} == {m.name for m in masters[1:]}
        for joined in joins:
            assert joined["control_plane"] and joined["endpoint"] == f"{masters[0].ip}:6443", "through master0"
            assert joined["apiserver_name"] == masters[0].ip, "apiserver.cluster.local is master0 while joining"
            assert joined["used"]["certificate_key"] in issued["certificate_keys"]
            assert joined["used"]["token"] in issued["tokens"]
        assert joins[0]["time"] <= joins[1]["start"], "control-plane joins one at a time"
        # `run --dry-run` rendered the very files the run wrote, on every host (no host touched by it)
        out = tmp_path / "dry-run"
        assert cli_main(["--root", str(root), "run", "-f", str(cf), "--dry-run", "--output-dir", str(out)]) == 0
        for host in hosts:
            assert not mismatches(out / host.ip, host.rootfs), (host.name, mismatches(out / host.ip, host.rootfs))
        assert {p.name for p in (out / nodes[0].ip).rglob("*")} >= {"sealer-lvscare.service", "lvscare.py",
                                                                     "kubelet.service", "config.toml"}
        node_joins = [e for n in nodes for e in calls(n, "kubeadm", "join")]
        assert all(e["start"] >= joins[-1]["time"] for e in node_joins), "nodes join after the masters"
        # in parallel: their runs overlap
        assert max(e["start"] for e in node_joins) < min(e["time"] for e in node_joins), node_joins

        # the care loop on the nodes: a master whose apiserver stops is taken out of the VIP, and put back
        table = nodes[0].rootfs / "var/lib/kube-standin/ipvs.json"
        real = f"{masters[2].ip}:6443"
        masters[2].ssh("systemctl stop kubelet", check=True)
        wait_for(lambda: real not in json.loads(table.read_text())[f"{VIP}:6443"]["real"], 60, "master removed")
        masters[2].ssh("systemctl start kubelet", check=True)
        wait_for(lambda: real in json.loads(table.read_text())[f"{VIP}:6443"]["real"], 60, "master re-added")
        journal = nodes[0].ssh("journalctl -u sealer-lvscare --no-pager -o cat", check=True).stdout
        assert f'{{"real_server": "{real}", "now": "down"}}' in journal and '"now": "up"' in journal, journal

        assert ": 0 change(s)" in run(root, cf, capsys)

        # cert --alt-names: each master's apiserver certificate made anew by kubeadm, one master at a time
        # (certificate, apiserver restarted through crictl, /healthz) so that the VIP keeps serving
        before = {h.name: len(log_of(h)) for h in hosts}
        capsys.readouterr()
        assert cli_main(["--root", str(root), "cert", "--alt-names", "API.example.com,203.0.113.10", "-f",
                         str(cf)]) == 0, capsys.readouterr().err
        new = {h.name: log_of(h)[before[h.name]:] for h in hosts}
        certs = sorted((e for m in masters for e in new[m.name]
                        if e["tool"] == "kubeadm" and e["argv"][:4] == ["init", "phase", "certs", "apiserver"]),
                       key=lambda e: e["start"])
        assert sorted(e["host"] for e in certs) == sorted(m.name for m in masters)
        stops = sorted((e for m in masters for e in new[m.name] if e["tool"] == "crictl" and "stop" in e["argv"]),
                       key=lambda e: e["start"])
        assert [e["host"] for e in stops] == [e["host"] for e in certs], "every master's apiserver restarted"
        for i in range(len(certs) - 1):
            assert stops[i]["time"] <= certs[i + 1]["start"], "the next master waits for this one's restart"
        by_name = {m.name: m for m in masters}
        for e in certs:
            master = by_name[e["host"]]
            assert not e.get("error") and not e["reused"], e
            assert {"api.example.com", "203.0.113.10", VIP, master.ip} <= set(e["sans"]), e
            assert "api.example.com" in (master.rootfs / "etc/kubernetes/pki/apiserver.crt").read_text()
        uploads = [e for m in masters for e in new[m.name] if e["argv"][:3] == ["init", "phase", "upload-config"]]
        assert [u["host"] for u in uploads] == [masters[0].name] and "api.example.com" in uploads[0]["cert_sans"]
        assert not any(e["tool"] in ("kubeadm", "crictl") for n in nodes for e in new[n.name]), "nodes untouched"
        state = json.loads((root / "clusters/ha/applied/state.json").read_text())
        assert state["cert_sans"] == ["api.example.com", "203.0.113.10"]
        # again: every certificate has the names, nothing is made; a run keeps them (master0's kubeadm.yaml)
        before = {h.name: len(log_of(h)) for h in hosts}
        assert cli_main(["--root", str(root), "cert", "--alt-names", "api.example.com", "-f", str(cf)]) == 0
        assert not any(e["tool"] in ("kubeadm", "crictl") for h in hosts for e in log_of(h)[before[h.name]:])
        assert ": 0 change(s)" in run(root, cf, capsys)
        config = {d["kind"]: d for d in yaml.safe_load_all((masters[0].rootfs / "etc/kubernetes/kubeadm.yaml")
                                                           .read_text())}
        assert "203.0.113.10" in config["ClusterConfiguration"]["apiServer"]["certSANs"]

        # day 2: a master leaves (drained and deleted by kubectl on master0, kubeadm reset on it, the nodes'
        # lvscare forgets it) and joins again (control-plane join through master0, lvscare gets it back)
        table = nodes[0].rootfs / "var/lib/kube-standin/ipvs.json"
        before = {h.name: len(log_of(h)) for h in hosts}
        capsys.readouterr()
        assert cli_main(["--root", str(root), "delete", "-m", masters[2].ip, "--force"]) == 0, capsys.readouterr().err
        new = {h.name: log_of(h)[before[h.name]:] for h in hosts}
        on_master0 = [e["argv"][1:3] for e in new[masters[0].name] if e["tool"] == "kubectl"]
        assert on_master0[-2:] == [["drain", masters[2].name], ["delete", "node"]], on_master0
        assert [e["argv"][:2] for e in new[masters[2].name] if e["tool"] == "kubeadm"] == [["reset", "--force"]]
        assert not any(e["tool"] == "kubeadm" for h in [*masters[:2], *nodes] for e in new[h.name])
        for node in nodes:
            real = json.loads((node.rootfs / "var/lib/kube-standin/ipvs.json").read_text())[f"{VIP}:6443"]["real"]
            assert sorted(real) == sorted(f"{m.ip}:6443" for m in masters[:2]), real
        assert not (masters[2].rootfs / "etc/systemd/system/kubelet.service").exists()
        assert masters[2].ssh("systemctl is-active kubelet").stdout.strip() != "active"
        listed = json.loads(masters[0].ssh("kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json",
                                           check=True).stdout)["items"]
        assert masters[2].name not in {n["metadata"]["name"] for n in listed} and len(listed) == 4
        # etcd: a snapshot from a master that stays was taken first; the member left with kubeadm reset
        (snap,) = sorted((root / "clusters/ha/etcd").glob("etcd-*-pre-delete.db"))
        assert snap.stat().st_size > 0
        assert etcd_members(masters[0]) == sorted(m.name for m in masters[:2])

        before = {h.name: len(log_of(h)) for h in hosts}
        assert cli_main(["--root", str(root), "join", "-m", masters[2].ip]) == 0, capsys.readouterr().err
        new = {h.name: [e for e in log_of(h)[before[h.name]:] if e["tool"] == "kubeadm"] for h in hosts}
        assert [e["argv"][:3] for e in new[masters[0].name]] == [["token", "create", "--print-join-command"],
                                                               ["init", "phase", "upload-certs"]], new
        (rejoined,) = new[masters[2].name]
        assert rejoined["control_plane"] and rejoined["endpoint"] == f"{masters[0].ip}:6443" and not rejoined.get("error")
        assert not any(new[h.name] for h in [masters[1], *nodes]), "the other hosts run no kubeadm"
        real = json.loads(table.read_text())[f"{VIP}:6443"]["real"]
        assert sorted(real) == sorted(f"{m.ip}:6443" for m in masters), real
        assert ": 0 change(s)" in run(root, cf, capsys)
        assert etcd_members(masters[0]) == sorted(m.name for m in masters), "the member joined again"

        # etcd backup and restore, on the real etcd: a key written before the backup is back after the
        # restore, on every member; what was written after is gone; the old data stays beside
        etcdctl(masters[0], "put sealer-e2e before-backup")
        backup = tmp_path / "backups" / "ha.db"
        capsys.readouterr()
        assert cli_main(["--root", str(root), "etcd", "backup", "-o", str(backup)]) == 0, capsys.readouterr().err
        assert backup.stat().st_mode & 0o777 == 0o600
        manual = sorted((root / "clusters/ha/etcd").glob("etcd-*-manual.db"))
        assert len(manual) == 1 and manual[0].read_bytes() == backup.read_bytes()
        etcdctl(masters[1], "put sealer-e2e after-backup")
        etcdctl(masters[2], "put sealer-e2e-later x")
        assert cli_main(["--root", str(root), "etcd", "restore", str(backup)]) == 2, "no terminal, no --force"
        assert etcdctl(masters[0], "get sealer-e2e --print-value-only").strip() == "after-backup", "nothing touched"
        capsys.readouterr()
        assert cli_main(["--root", str(root), "etcd", "restore", str(backup), "--force"]) == 0, capsys.readouterr().err
        for master in masters:
            assert etcdctl(master, "get sealer-e2e --print-value-only").strip() == "before-backup", master.name
            assert etcdctl(master, "get sealer-e2e-later --print-value-only").strip() == "", master.name
            assert etcd_members(master) == sorted(m.name for m in masters)
            assert master.ssh("ls -d /var/lib/etcd/member.before-restore-*", check=True).stdout.strip()
            assert (master.rootfs / "etc/kubernetes/manifests/kube-apiserver.yaml").exists()
            assert not (master.rootfs / "etc/kubernetes/sealer-etcd-restore").exists()
        assert etcd_healthy(masters[0]) == 3
        listed = json.loads(masters[0].ssh("kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json",
                                           check=True).stdout)["items"]
        assert len(listed) == 5, "the apiserver answers again"
        assert ": 0 change(s)" in run(root, cf, capsys)
        # a cluster without Kubernetes has no etcd: refused (exit 2), see test_day2
