"""**Stand-in** for kubectl (tests only; see _standin.py). Checks that the kubeconfig it is pointed at
exists (``--kubeconfig``, else ``$KUBECONFIG``, else ~/.kube/config, as kubectl resolves it) and that files
given to ``apply -f`` exist; ``get nodes``, ``get pods`` (kube-system: the static control-plane pods kubeadm
would run on each control-plane node, reported Running), ``label node`` and ``taint node`` go to the stand-in apiserver
at the kubeconfig's server (resolved through /etc/hosts), which knows every node that joined; also
``drain``/``cordon``/``uncordon`` (the node marked unschedulable or not; --ignore-daemonsets required, as a node runs DaemonSet pods),
``delete node``, ``apply`` (recorded, nothing created) and ``version``. Unknown flags are an error."""

from __future__ import annotations

import json
import os

from _standin import StandinError, flag, https_call, kubeconfig_server, main, parse_flags

FLAGS = {"kubeconfig": True, "output": True, "namespace": True, "filename": True, "overwrite": False,
         "context": True, "recursive": False, "all-namespaces": False, "v": True, "selector": True,
         "request-timeout": True, "server-side": False, "force-conflicts": False, "ignore-daemonsets": False,
         "delete-emptydir-data": False, "force": False, "timeout": True, "grace-period": True,
         "disable-eviction": False}
SHORT = {"o": "output", "n": "namespace", "f": "filename", "R": "recursive", "A": "all-namespaces", "l": "selector",
         "v": "v"}


def kubeconfig(flags) -> str:
    path = flag(flags, "kubeconfig") or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not os.path.exists(path):
        raise StandinError("The connection to the server localhost:8080 was refused - did you specify the right "
                           f"host or port? (no kubeconfig at {path})")
    return path


def api(config: str, method: str, path: str, body: object = None):
    server = kubeconfig_server(config)
    try:
        status, answer = https_call(server, method, path, body)
    except OSError as exc:
        raise StandinError(f"The connection to the server {server[0]}:{server[1]} was refused: {exc}") from None
    if status != 200:
        raise StandinError(f"Error from server ({status}): {answer}")
    return answer


def edits(verb: str, changes: list[str]) -> dict:
    """``k=v``/``k-`` (label) or ``k[=v]:Effect``/``k[:Effect]-`` (taint) as the apiserver stand-in's edit."""
    out: dict = {"labels": {}, "remove_labels": [], "taints": [], "remove_taints": []}
    for change in changes:
        if verb == "label":
            if change.endswith("-"):
                out["remove_labels"].append(change[:-1])
            else:
                key, eq, value = change.partition("=")
                if not eq:
                    raise StandinError(f"error: at least one label update is required: {change!r}")
                out["labels"][key] = value
        elif change.endswith("-"):
            key, _, effect = change[:-1].partition(":")
            out["remove_taints"].append({"key": key, "effect": effect})
        else:
            spec, colon, effect = change.rpartition(":")
            if not colon or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                raise StandinError(f"error: invalid taint spec: {change}")
            key, _, value = spec.partition("=")
            out["taints"].append({"key": key, "value": value, "effect": effect})
    return out


def run(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, FLAGS, SHORT)
    if rest[:1] == ["version"]:
        print('Client Version: stand-in')
        return {}
    used = kubeconfig(flags)
    if rest[:2] in (["get", "nodes"], ["get", "node"]):
        nodes = api(used, "GET", "/api/v1/nodes")["items"]
        out = flag(flags, "output", "")
        if out == "json":
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
        elif out == "name":
            print("\n".join(f"node/{n['metadata']['name']}" for n in nodes))
        else:
            print("NAME STATUS ROLES")
            for n in nodes:
                role = "control-plane" if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"] else "<none>"
                print(f"{n['metadata']['name']} Ready {role}")
        return {"kubeconfig": used, "nodes": [n["metadata"]["name"] for n in nodes]}
    if rest[:2] in (["get", "pods"], ["get", "pod"], ["get", "po"]):
        namespace = flag(flags, "namespace", "default")
        pods = api(used, "GET", f"/api/v1/namespaces/{namespace}/pods")["items"]
        if flag(flags, "output", "") == "json":
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
        else:
            print("NAME READY STATUS")
            for pod in pods:
                print(f"{pod['metadata']['name']} 1/1 {pod['status']['phase']}")
        return {"kubeconfig": used, "pods": [p["metadata"]["name"] for p in pods]}
    if rest[:1] == ["apply"]:
        files = flags.get("filename") or []
        if not files:
            raise StandinError("error: must specify one of -f and -k")
        for path in files:
            if not os.path.exists(path):
                raise StandinError(f'error: the path "{path}" does not exist')
            print(f"{os.path.basename(path)} configured (stand-in)")
        return {"kubeconfig": used, "applied": [os.path.abspath(p) for p in files]}
    if rest[:1] in (["label"], ["taint"]) and len(rest) >= 4 and rest[1] in ("node", "nodes"):
        api(used, "POST", f"/standin/nodes/{rest[2]}", edits(rest[0], rest[3:]))
        print(f"node/{rest[2]} {'labeled' if rest[0] == 'label' else 'tainted'}")
        return {"kubeconfig": used}
    if rest[:1] == ["drain"] and len(rest) == 2:
        if not flags.get("ignore-daemonsets"):
            raise StandinError(f"error: unable to drain node {rest[1]!r} due to error: cannot delete DaemonSet-managed "
                               "Pods (use --ignore-daemonsets to ignore)")
        api(used, "POST", f"/standin/nodes/{rest[1]}", {"unschedulable": True})
        print(f"node/{rest[1]} cordoned\nnode/{rest[1]} drained")
        return {"kubeconfig": used, "drained": rest[1]}
    if rest[:1] in (["uncordon"], ["cordon"]) and len(rest) == 2:
        api(used, "POST", f"/standin/nodes/{rest[1]}", {"unschedulable": rest[0] == "cordon"})
        print(f"node/{rest[1]} {rest[0]}ed")
        return {"kubeconfig": used, rest[0] + "ed": rest[1]}
    if rest[:2] in (["delete", "node"], ["delete", "nodes"]) and len(rest) == 3:
        api(used, "DELETE", f"/api/v1/nodes/{rest[2]}")
        print(f'node "{rest[2]}" deleted')
        return {"kubeconfig": used, "deleted": rest[2]}
    raise StandinError(f"the stand-in kubectl does not know {rest[:2]}")


if __name__ == "__main__":
    main("kubectl", run)
