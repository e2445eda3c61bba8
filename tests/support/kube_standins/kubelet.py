"""**Stand-in** for the kubelet (tests only; see _standin.py): a long-running process under systemd that
checks its command line as the real kubelet would at start (known flags only; --config must be a
KubeletConfiguration with known fields; a kubeconfig or bootstrap kubeconfig present; the container
runtime's socket present) and exits 1 when something is wrong, so systemd's restart loop and kubeadm's
kubelet-check see the failure. It runs no pods but two static pods, as the real kubelet does, watching
/etc/kubernetes/manifests (every half second): kube-apiserver.yaml runs the stand-in apiserver
(_apiserver.py), started when the manifest comes and stopped when it goes; etcd.yaml runs the manifest's own
command with the host's **real** etcd (_etcd.py), restarted when the manifest changes and stopped when it
goes (etcd in a systemd unit of its own, so that it outlives the kubelet as a container does). Ready, it
writes /run/kube-standin-kubelet.ready."""

from __future__ import annotations

import hashlib
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
ETCD_UNIT = "kube-standin-etcd"
ETCD_RUNNING = "/run/kube-standin-etcd.manifest"  # the sha256 of the manifest the running etcd was started from
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
    """The two static pods the stand-in kubelet runs (see the module's text). etcd runs as the transient
    systemd unit kube-standin-etcd (a container of its own, as with a real container runtime): it outlives a
    restart or stop of the kubelet, as a real static pod does; kubeadm reset stops it, as the real one removes
    the containers."""

    def __init__(self) -> None:
        self.apiserver = None
        self._checked = 0.0
        self._etcd_running = False

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
        digest = hashlib.sha256(manifest).hexdigest() if manifest else ""
        try:
            with open(ETCD_RUNNING) as handle:
                running_digest = handle.read().strip()
        except OSError:
            running_digest = ""
        if time.time() - self._checked > 2 or digest != running_digest:  # systemctl at most every 2 s
            self._etcd_running = etcd_active()
            self._checked = time.time()
        if self._etcd_running and digest != running_digest:
            stop_etcd()
            self._etcd_running = False
        if manifest and not self._etcd_running:
            self.start_etcd(manifest, digest)

    def start_etcd(self, manifest: bytes, digest: str) -> None:
        import yaml

        container = (yaml.safe_load(manifest)["spec"]["containers"])[0]
        command = [str(word) for word in (container.get("command") or []) + (container.get("args") or [])]
        subprocess.run(["systemctl", "reset-failed", ETCD_UNIT], capture_output=True, check=False)
        done = subprocess.run(["systemd-run", f"--unit={ETCD_UNIT}", "--collect", "--quiet",
                               f"--property=StandardOutput=append:{ETCD_LOG}",
                               f"--property=StandardError=append:{ETCD_LOG}", *command],
                              capture_output=True, text=True, check=False)
        with open(ETCD_RUNNING, "w") as handle:
            handle.write(digest)
        self._etcd_running = done.returncode == 0
        self._checked = time.time()
        record("static-pod", ["etcd"], started=command, returncode=done.returncode, stderr=done.stderr.strip())


def etcd_active() -> bool:
    return subprocess.run(["systemctl", "is-active", "--quiet", ETCD_UNIT], check=False).returncode == 0


def stop_etcd() -> None:
    """Stop the etcd 'container' (a manifest that changed or went; kubeadm reset)."""
    subprocess.run(["systemctl", "stop", ETCD_UNIT], capture_output=True, check=False)
    try:
        os.unlink(ETCD_RUNNING)
    except OSError:
        pass
    record("static-pod", ["etcd"], stopped=True)


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
        sys.exit(0)  # the static pods' containers stay, as with the real kubelet (the apiserver stand-in, a
        # thread of this process, goes with it: tests stop the kubelet to take a master's apiserver down)

    signal.signal(signal.SIGTERM, stop)
    with open(READY, "w") as handle:
        handle.write(str(os.getpid()))
    while True:
        time.sleep(0.5)
        pods.sync()


if __name__ == "__main__":
    main()
