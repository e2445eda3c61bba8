"""The Kubernetes part of the main job: a cluster image on a Kubernetes base, run onto 3 throwaway local
hosts (systemd-nspawn: 1 master, 2 nodes) with the kubeadm runtime, after a dry run, then checked,
queried and taken through day 2: a certificate name added, a node deleted, `apply` bringing it back, an
etcd snapshot taken and restored (the hosts run Debian's real etcd, with TLS, as kubeadm's stacked etcd).
Used by scripts/example.sh; needs root.

    .venv/bin/python examples/kubernetes_on_test_hosts.py --root STORE

No Kubernetes release binaries can be had on this machine, so the base image here carries the **test
stand-ins** for kubeadm, kubelet, kubectl and crictl (tests/support/kube_standins/): they check every call as
the real tools would (flags, kubeadm's --config rule, the config's fields, join tokens and CA hashes),
record it, and answer as the cluster would (a stand-in apiserver lists the nodes). The hosts' kernel has
no IPVS, so ipvsadm is a stand-in too. Everything else is real: SSH, systemd, containerd, the registry,
and every file the run writes. With a real base image (images/kubernetes/) the same commands make a
real cluster.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sealer_runner.image.store import Store  # noqa: E402
from tests.support.base_image import build_kubernetes_standin_image, install_ipvs_standins  # noqa: E402
from tests.support.hosts import TestHosts, available, ensure_base_rootfs  # noqa: E402

APP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: hello}
data: {greeting: hello from a cluster image}
"""
CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: hello-k8s}}
spec:
  image: {image}
  ssh: {{pk: {key}}}
  hosts:
    - {{ips: [{master}], roles: [master]}}
    - {{ips: [{nodes}], roles: [node], labels: {{disk: ssd}}, taints: ["dedicated=db:NoSchedule"]}}
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  certSANs: [k8s.example.com]
"""


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    if (reason := available()) is not None:
        print(f"cannot boot local test hosts here: {reason}", file=sys.stderr)
        return 1
    sr = [str(Path(sys.executable).parent / "sealer_runner"), "--root", args.root]
    with tempfile.TemporaryDirectory(prefix="sr-example-k8s-") as work_dir:
        work = Path(work_dir)
        step("Kubernetes: building a base image whose kubeadm/kubelet/kubectl are TEST STAND-INS "
             "(no Kubernetes release can be had here), and an app image on it")
        base = build_kubernetes_standin_image(Store(Path(args.root)), work)
        ctx = work / "hello-k8s"
        (ctx / "app").mkdir(parents=True)
        (ctx / "app" / "hello.yaml").write_text(APP)
        (ctx / "Kubefile").write_text(f'FROM {base}\nAPP hello local://app/hello.yaml\nLAUNCH ["hello"]\n')
        image = "example.com/hello-k8s:v1"
        if subprocess.run([*sr, "build", "--platform", "linux/amd64", "-t", image, str(ctx)]).returncode:
            return 1
        step("booting 3 local hosts (systemd-nspawn), ipvsadm stand-in on each (this kernel has no IPVS)")
        with TestHosts(3, work / "hosts", tarball=ensure_base_rootfs()) as hosts:
            for host in hosts:
                install_ipvs_standins(host.rootfs)
            clusterfile = work / "Clusterfile"
            clusterfile.write_text(CLUSTERFILE.format(image=image, key=hosts.key, master=hosts[0].ip,
                                                      nodes=", ".join(h.ip for h in hosts[1:])))
            print(clusterfile.read_text(), flush=True)
            (Path(args.root) / "clusters" / "hello-k8s" / "known_hosts").unlink(missing_ok=True)
            node2 = hosts[2].ip
            dry_run = work / "dry-run"
            commands = [  # (title, argv, the exit status it must have)
                ("sealer_runner check --pre: the hosts before anything changes", ["check", "--pre"], 0),
                ("sealer_runner run --dry-run: the plan and every file each host would get; no host touched",
                 ["run", "--dry-run", "--output-dir", str(dry_run)], 0),
                ("sealer_runner run: kubeadm init on master0, nodes join through the VIP (lvscare)", ["run"], 0),
                ("sealer_runner run again: nothing to do", ["run"], 0),
                ("sealer_runner check --post: nodes, control plane, registry", ["check", "--post"], 0),
                ("sealer_runner exec --role node: a command on the nodes",
                 ["exec", "--role", "node", "cat /etc/hosts | grep apiserver.cluster.local"], 0),
                ("sealer_runner cert --alt-names: a name on every master's apiserver certificate",
                 ["cert", "--alt-names", "api.example.com"], 0),
                (f"day 2: sealer_runner delete -n {node2}: drained, deleted, reset; the others forget it",
                 ["delete", "-n", node2, "--force"], 0),
                ("day 2: sealer_runner apply --plan: the Clusterfile still lists it (exit 3: changes pending)",
                 ["apply", "--plan"], 3),
                ("day 2: sealer_runner apply: it joins again (only it gets the delivery)", ["apply"], 0),
                ("day 2: sealer_runner apply --plan: nothing pending (exit 0)", ["apply", "--plan"], 0),
                ("day 2: sealer_runner etcd backup: a snapshot of etcd (Debian's real etcd on the hosts, TLS)",
                 ["etcd", "backup", "-o", str(work / "etcd-backup.db")], 0),
                ("day 2: sealer_runner etcd restore: apiserver and etcd stopped, the member restored, both back",
                 ["etcd", "restore", str(work / "etcd-backup.db"), "--force"], 0),
            ]
            for title, verb, expected in commands:
                step(title)
                argv = [*sr, verb[0], "-f", str(clusterfile), *verb[1:]]
                if verb[0] == "exec":  # its command goes last
                    argv = [*sr, "exec", "-f", str(clusterfile), *verb[1:]]
                if verb[0] == "etcd":  # a group: -f belongs to its subcommand
                    argv = [*sr, "etcd", verb[1], "-f", str(clusterfile), *verb[2:]]
                rc = subprocess.run(argv).returncode
                if rc != expected:
                    print(f"exit status {rc}, expected {expected}", file=sys.stderr)
                    return 1
                if verb[:2] == ["run", "--dry-run"]:
                    rendered = dry_run / hosts[1].ip / "etc/hosts"
                    print(f"  {rendered.relative_to(dry_run)}:\n" + "".join(f"    {line}\n" for line in
                                                                         rendered.read_text().splitlines()))
            master0 = hosts[0]
            step("kubectl get nodes on master0 (answered by the stand-in apiserver)")
            nodes = json.loads(master0.ssh("kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json",
                                           check=True).stdout)["items"]
            for node in nodes:
                meta = node["metadata"]
                print(f"  {meta['name']:<16} labels={meta.get('labels', {})} taints={node['spec'].get('taints', [])}")
            step("the kubeadm calls the stand-ins recorded (host: command)")
            for host in hosts:
                log = host.rootfs / "var/log/kube-standin.log"
                for entry in (json.loads(line) for line in log.read_text().splitlines()):
                    if entry["tool"] == "kubeadm":
                        print(f"  {host.ip}: kubeadm {' '.join(entry['argv'][:3 if entry['argv'][:1] == ['init'] else 1])}"
                              f"{' (control plane)' if entry.get('control_plane') else ''}")
            admin = Path(args.root) / "clusters" / "hello-k8s" / "admin.conf"
            step(f"admin kubeconfig on this machine: {admin} (mode {admin.stat().st_mode & 0o777:o})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
