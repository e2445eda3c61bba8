"""**Stand-in** for the kubelet (tests only; see _standin.py): a long-running process under systemd that
checks its command line as the real kubelet would at start (known flags only; --config must be a
KubeletConfiguration with known fields; a kubeconfig or bootstrap kubeconfig present; the container
runtime's socket present) and exits 1 when something is wrong, so systemd's restart loop and kubeadm's
kubelet-check see the failure. It runs no pods, except the stand-in for the kube-apiserver static pod
(_apiserver.py) on a host whose /etc/kubernetes/manifests holds kube-apiserver.yaml. Ready, it writes
/run/kube-standin-kubelet.ready."""

from __future__ import annotations

import os
import signal
import sys
import time

from _standin import K8S, StandinError, flag, load_documents, parse_flags, record, unknown_fields

READY = "/run/kube-standin-kubelet.ready"
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
    apiserver = os.path.exists(K8S + "/manifests/kube-apiserver.yaml")
    if apiserver:
        import _apiserver

        _apiserver.start()
    record("kubelet", argv, start=start, apiserver=apiserver, **found)

    def stop(signum, frame):  # noqa: ARG001
        try:
            os.unlink(READY)
        except OSError:
            pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(READY, "w") as handle:
        handle.write(str(os.getpid()))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
