"""**Stand-in** for the kubelet (tests only; see _standin.py): a long-running process under systemd that
checks its command line as the real kubelet would at start (known flags only; --config must be a
KubeletConfiguration with known fields; a kubeconfig or bootstrap kubeconfig present; the container
runtime's socket present) and exits 1 when something is wrong, so systemd's restart loop and kubeadm's
kubelet-check see the failure. It runs no pods but two static pods, as the real kubelet does, watching
/etc/kubernetes/manifests (every half second): kube-apiserver.yaml runs the stand-in apiserver
(_apiserver.py), started when the manifest comes and stopped when it goes; etcd.yaml runs the manifest's own
command with the host's **real** etcd (_etcd.py), restarted when the manifest changes and stopped when it
goes. Ready, it writes /run/kube-standin-kubelet.ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from _standin import K8S, StandinError, flag, load_documents, parse_flags, record, unknown_fields

READY = "/run/kube-standin-kubelet.ready"
APISERVER_MANIFEST = K8S + "/manifests/kube-apiserver.yaml"
ETCD_MANIFEST = K8S + "/manifests/etcd.yaml"
ETCD_LOG = "/var/log/kube-standin-etcd.log"
FLAGS = {"bootstrap-kubeconfig": True, "kubeconfig": True, "config": True, "container-runtime-endpoint": True,
         "pod-infra-container-image": True, "node-ip": True, "hostname-override": True, "v": True,
         "cgroup-driver": True, "node-labels": True, "register-with-taints": True, "root-dir": True,
         "cert-dir": True, "rotate-certificates": False, "runtime-request-timeout": True, "fail-swap-on": False,
         "version": False, "help": False}


def check(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, FLAGS, {"v": "v", "h": "help"})
    if rest:
        raise StandinError(f"unknown command {rest[0]!r} for kubelet")
    config = flag(flags, "config")
    if not config:
        raise StandinError("no --config: kubeadm's drop-in passes /var/lib/kubelet/config.yaml")
    docs = load_documents(config)
    if [d["kind"] for d in docs] != ["KubeletConfiguration"]:
        raise StandinError(f"failed to load kubelet config file {config}: not one KubeletConfiguration")
    bad = unknown_fields(docs[0])
    if bad:
        raise StandinError(f'failed to load kubelet config file {config}: strict decoding error: unknown field "{bad[0]}"')
    kubeconfig, bootstrap = flag(flags, "kubeconfig"), flag(flags, "bootstrap-kubeconfig")
    if not any(path and os.path.exists(path) for path in (kubeconfig, bootstrap)):
        raise StandinError(f"unable to load bootstrap kubeconfig: neither {kubeconfig} nor {bootstrap} exists")
    endpoint = flag(flags, "container-runtime-endpoint", "unix:///run/containerd/containerd.sock") or ""
    if not os.path.exists(endpoint.replace("unix://", "")):
        raise StandinError(f"container runtime endpoint {endpoint} is not there (is containerd running?)")
    return {"cgroup_driver": docs[0].get("cgroupDriver"), "container_runtime_endpoint": endpoint}


class StaticPods:
    """The two static pods the stand-in kubelet runs (see the module's text)."""

    def __init__(self) -> None:
        self.apiserver = None
        self.etcd: subprocess.Popen | None = None
        self.etcd_manifest = b""

    def sync(self) -> None:
        if os.path.exists(APISERVER_MANIFEST) != (self.apiserver is not None):
            import _apiserver

            if self.apiserver is None:
                self.apiserver = _apiserver.start()
            else:
                _apiserver.stop(self.apiserver)
                self.apiserver = None
        try:
            with open(ETCD_MANIFEST, "rb") as handle:
                manifest = handle.read()
        except OSError:
            manifest = b""
        if self.etcd is not None and (manifest != self.etcd_manifest or self.etcd.poll() is not None):
            self.stop_etcd()
        if manifest and self.etcd is None:
            self.start_etcd(manifest)

    def start_etcd(self, manifest: bytes) -> None:
        import yaml

        container = (yaml.safe_load(manifest)["spec"]["containers"])[0]
        command = [str(word) for word in (container.get("command") or []) + (container.get("args") or [])]
        log = open(ETCD_LOG, "ab")  # noqa: SIM115 (the child keeps it)
        self.etcd = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.etcd_manifest = manifest
        record("static-pod", ["etcd"], started=command, pid=self.etcd.pid)

    def stop_etcd(self) -> None:
        if self.etcd is None:
            return
        if self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(20)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait()
        record("static-pod", ["etcd"], stopped=self.etcd.pid, returncode=self.etcd.returncode)
        self.etcd = None
        self.etcd_manifest = b""


def main() -> None:
    argv = sys.argv[1:]
    start = time.time()
    if argv == ["--version"]:  # as the real kubelet: prints and exits, starts nothing
        from _standin import settings

        print(f"Kubernetes {settings()['version']}")
        return
    try:
        found = check(argv)
    except StandinError as exc:
        record("kubelet", argv, start=start, error=str(exc))
        sys.stderr.write(f"E kubelet: {exc}\n")
        sys.exit(1)
    pods = StaticPods()
    pods.sync()
    record("kubelet", argv, start=start, apiserver=pods.apiserver is not None, **found)

    def stop(signum, frame):  # noqa: ARG001
        try:
            os.unlink(READY)
        except OSError:
            pass
        pods.stop_etcd()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(READY, "w") as handle:
        handle.write(str(os.getpid()))
    while True:
        time.sleep(0.5)
        pods.sync()


if __name__ == "__main__":
    main()
