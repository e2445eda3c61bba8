"""**Stand-in** for crictl (tests only; see _standin.py): the two calls sealer_runner makes through it,
``ps --name NAME -q`` and ``stop ID...``, against the stand-in kubelet's one "container", the kube-apiserver
static pod it serves on a master. The runtime endpoint must be a socket that exists (containerd's); stopping
the apiserver restarts the stand-in kubelet, as the real kubelet starts a stopped static pod again."""

from __future__ import annotations

import os

from _standin import K8S, StandinError, flag, main, parse_flags, systemctl

READY = "/run/kube-standin-kubelet.ready"
APISERVER_ID = "standin0kube0apiserver"
GLOBAL = {"runtime-endpoint": True, "image-endpoint": True, "timeout": True, "debug": False, "config": True,
          "help": False}
SHORT = {"r": "runtime-endpoint", "i": "image-endpoint", "t": "timeout", "D": "debug", "c": "config", "h": "help"}
PS = {"name": True, "quiet": False, "all": False, "state": True, "pod": True, "label": True, "output": True,
      "latest": False, "last": True, "no-trunc": False, "verbose": False, "id": True, "image": True}
PS_SHORT = {"q": "quiet", "a": "all", "p": "pod", "o": "output", "l": "latest", "n": "last", "v": "verbose"}


def apiserver_running() -> bool:
    return os.path.exists(READY) and os.path.exists(K8S + "/manifests/kube-apiserver.yaml")


def _command_index(argv: list[str]) -> int:
    """Where the command word is: after the global flags (those taking a value skip it)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            return i
        name = arg.lstrip("-").partition("=")[0]
        name = SHORT.get(name, name) if not arg.startswith("--") else name
        i += 2 if GLOBAL.get(name) and "=" not in arg else 1
    raise StandinError("no command (the stand-in knows ps and stop)")


def run(argv: list[str]) -> dict:
    command = _command_index(argv)
    flags, rest = parse_flags(argv[:command], GLOBAL, SHORT)
    endpoint = flag(flags, "runtime-endpoint") or ""
    if not endpoint.startswith("unix://") or not os.path.exists(endpoint[len("unix://"):]):
        raise StandinError(f"validate service connection: {endpoint or 'no --runtime-endpoint'} is not a socket "
                           "that exists (sealer_runner gives containerd's)")
    verb, args = argv[command], argv[command + 1:]
    if verb == "ps":
        ps_flags, extra = parse_flags(args, PS, PS_SHORT)
        if extra:
            raise StandinError(f"ps takes no arguments, got {extra}")
        name = flag(ps_flags, "name") or ""
        ids = [APISERVER_ID] if apiserver_running() and name in ("", "kube-apiserver") else []
        print("\n".join(ids) if flag(ps_flags, "quiet") else f"CONTAINER NAME\n{' '.join(ids)} kube-apiserver")
        return {"listed": ids}
    if verb == "stop":
        stop_flags, ids = parse_flags(args, {"timeout": True}, {"t": "timeout"})
        if not ids:
            raise StandinError("ID cannot be empty")
        for cid in ids:
            if cid != APISERVER_ID or not apiserver_running():
                raise StandinError(f"stopping the container {cid!r}: not found")
        systemctl("restart", "kubelet")  # the kubelet starts the static pod again
        print("\n".join(ids))
        return {"stopped": ids}
    raise StandinError(f"unknown command {verb!r} (the stand-in knows ps and stop)")


if __name__ == "__main__":
    main("crictl", run)
