"""The stand-ins' **real** etcd (tests only; see _standin.py). kubeadm's stacked etcd is made as kubeadm makes
it, with the test hosts' Debian etcd (etcd-server, etcd-client: tests/support/hosts.py installs them in
the test rootfs): a real etcd CA and server, peer and healthcheck-client certificates (openssl) under
/etc/kubernetes/pki/etcd, the static pod manifest /etc/kubernetes/manifests/etcd.yaml with kubeadm's
flags, and members added (join --control-plane) and removed (reset) with the real etcdctl. The stand-in
kubelet runs the manifest's command with the host's /usr/bin/etcd. So `sealer_runner etcd backup/restore`
meets a real TLS etcd cluster on the test hosts."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time

from _standin import K8S, StandinError, write

PKI = K8S + "/pki/etcd"
MANIFEST = K8S + "/manifests/etcd.yaml"
DATA_DIR = "/var/lib/etcd"
CLIENT_PORT, PEER_PORT = 2379, 2380
OPENSSL_CONFIG = "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\n"


def _openssl(*args: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".cnf") as config:
        config.write(OPENSSL_CONFIG)
        config.flush()
        done = subprocess.run(["openssl", "req", "-x509", "-new", "-config", config.name, "-newkey", "ec",
                               "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", *args],
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StandinError(f"[certs] openssl failed: {done.stderr.strip()}")


def make_ca() -> None:
    os.makedirs(PKI, exist_ok=True)
    _openssl("-keyout", f"{PKI}/ca.key", "-out", f"{PKI}/ca.crt", "-subj", "/CN=etcd-ca", "-days", "3650",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(f"{PKI}/ca.key", 0o600)


def install_ca(cert: str, key: str) -> None:
    """The cluster's etcd CA, as a control-plane join downloads it (kubeadm: the kubeadm-certs Secret)."""
    write(f"{PKI}/ca.crt", cert)
    write(f"{PKI}/ca.key", key, 0o600)


def _leaf(name: str, common: str, usage: str, sans: list[str]) -> None:
    ext = ["-addext", "basicConstraints=critical,CA:FALSE",
           "-addext", "keyUsage=critical,digitalSignature,keyEncipherment", "-addext", f"extendedKeyUsage={usage}"]
    if sans:
        ext += ["-addext", "subjectAltName=" + ",".join(sans)]
    out = f"{K8S}/pki/{name}"
    _openssl("-keyout", f"{out}.key", "-out", f"{out}.crt", "-subj", f"/CN={common}", "-days", "365",
             "-CA", f"{PKI}/ca.crt", "-CAkey", f"{PKI}/ca.key", *ext)
    os.chmod(f"{out}.key", 0o600)


def make_certs(node: str, ip: str) -> None:
    """kubeadm's etcd certificates of this member, signed by the etcd CA."""
    sans = [f"DNS:{node}", "DNS:localhost", f"IP:{ip}", "IP:127.0.0.1", "IP:0:0:0:0:0:0:0:1"]
    _leaf("etcd/server", node, "serverAuth,clientAuth", sans)
    _leaf("etcd/peer", node, "serverAuth,clientAuth", sans)
    _leaf("etcd/healthcheck-client", "kube-etcd-healthcheck-client", "clientAuth", [])
    _leaf("apiserver-etcd-client", "kube-apiserver-etcd-client", "clientAuth", [])


def ctl(*args: str, endpoints: str, timeout: float = 30) -> str:
    done = subprocess.run(["etcdctl", f"--endpoints={endpoints}", f"--cacert={PKI}/ca.crt",
                           f"--cert={PKI}/healthcheck-client.crt", f"--key={PKI}/healthcheck-client.key", *args],
                          capture_output=True, text=True, check=False, timeout=timeout,
                          env={**os.environ, "ETCDCTL_API": "3"})
    if done.returncode != 0:
        raise StandinError(f"etcdctl {' '.join(args)} at {endpoints}: {done.stderr.strip()}")
    return done.stdout


def write_manifest(node: str, ip: str, initial_cluster: str, existing: bool) -> None:
    """kubeadm's etcd static pod (v1.30, stacked): its command is what the stand-in kubelet runs."""
    flags = [f"--advertise-client-urls=https://{ip}:{CLIENT_PORT}", f"--cert-file={PKI}/server.crt",
             "--client-cert-auth=true", f"--data-dir={DATA_DIR}",
             f"--initial-advertise-peer-urls=https://{ip}:{PEER_PORT}", f"--initial-cluster={initial_cluster}",
             *(["--initial-cluster-state=existing"] if existing else []),
             f"--key-file={PKI}/server.key", f"--listen-client-urls=https://127.0.0.1:{CLIENT_PORT},https://{ip}:{CLIENT_PORT}",
             "--listen-metrics-urls=http://127.0.0.1:2381", f"--listen-peer-urls=https://{ip}:{PEER_PORT}",
             f"--name={node}", f"--peer-cert-file={PKI}/peer.crt", "--peer-client-cert-auth=true",
             f"--peer-key-file={PKI}/peer.key", f"--peer-trusted-ca-file={PKI}/ca.crt", "--snapshot-count=10000",
             f"--trusted-ca-file={PKI}/ca.crt"]
    command = "\n".join(f"    - {f}" for f in ["etcd", *flags])
    os.makedirs(DATA_DIR, exist_ok=True)
    os.chmod(DATA_DIR, 0o700)
    write(MANIFEST, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n"
                    "  labels: {component: etcd, tier: control-plane}\nspec:\n  hostNetwork: true\n  containers:\n"
                    "  - name: etcd\n    image: registry.k8s.io/etcd:3.5.12-0\n    command:\n" + command + "\n",
          0o600)


def wait_healthy(endpoint: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    last = ""
    while time.time() < deadline:
        try:
            ctl("endpoint", "health", endpoints=endpoint, timeout=10)
            return
        except (StandinError, subprocess.TimeoutExpired) as exc:
            last = str(exc)
            time.sleep(1)
    raise StandinError(f"[etcd] the local etcd member is not healthy after {seconds:.0f}s: {last}")


def init_member(ip: str) -> None:
    node = socket.gethostname()
    make_ca()
    make_certs(node, ip)
    write_manifest(node, ip, f"{node}=https://{ip}:{PEER_PORT}", existing=False)


def join_member(ip: str, ca: dict, seed: str) -> None:
    """As kubeadm join --control-plane: the CA from the cluster, this member's certificates, `member add`
    through the seed member (master0), the manifest with the cluster as etcd printed it; then wait for health."""
    node = socket.gethostname()
    install_ca(ca["cert"], ca["key"])
    make_certs(node, ip)
    out = ""
    deadline = time.time() + 90
    while not out:  # as kubeadm's etcd client: retried while etcd says the cluster is not yet healthy
        try:        # (a member that started less than 5 s ago: etcd's strict reconfiguration check)
            out = ctl("member", "add", node, f"--peer-urls=https://{ip}:{PEER_PORT}",
                      endpoints=f"https://{seed}:{CLIENT_PORT}")
        except StandinError as exc:
            if "unhealthy cluster" not in str(exc) or time.time() > deadline:
                raise
            time.sleep(2)
    initial = [line.split("=", 1)[1].strip('"') for line in out.splitlines()
               if line.startswith("ETCD_INITIAL_CLUSTER=")]
    if not initial:
        raise StandinError(f"[etcd] member add printed no ETCD_INITIAL_CLUSTER: {out}")
    write_manifest(node, ip, initial[0], existing=True)
    wait_healthy(f"https://127.0.0.1:{CLIENT_PORT}")


def leave() -> str:
    """As kubeadm reset on a control-plane node: remove this member from the cluster while it still runs
    (a warning when that cannot be done: the last member, or etcd already down)."""
    if not os.path.exists(MANIFEST):
        return ""
    node = socket.gethostname()
    local = f"https://127.0.0.1:{CLIENT_PORT}"
    try:
        members = [line.split(", ") for line in ctl("member", "list", endpoints=local, timeout=15).splitlines()]
        mine = [m[0] for m in members if len(m) > 2 and m[2] == node]
        if len(members) > 1 and mine:
            ctl("member", "remove", mine[0], endpoints=local)
            return f"removed etcd member {node} ({mine[0]})"
        return "[reset] WARNING: this is the last etcd member: not removed"
    except (StandinError, subprocess.TimeoutExpired) as exc:
        return f"[reset] WARNING: could not remove the etcd member {node}: {exc}"


def ca_pair() -> dict:
    """The etcd CA, for a control-plane join (master0's apiserver hands it over)."""
    with open(f"{PKI}/ca.crt") as cert, open(f"{PKI}/ca.key") as key:
        return {"cert": cert.read(), "key": key.read()}


def clear_data() -> None:
    """As kubeadm reset: the contents of /var/lib/etcd go, the directory stays."""
    import shutil

    if os.path.isdir(DATA_DIR):
        for name in os.listdir(DATA_DIR):
            path = os.path.join(DATA_DIR, name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
