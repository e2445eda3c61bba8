"""**Stand-in** for kubectl (tests only; see _standin.py). Checks that the kubeconfig it is pointed at
exists (``--kubeconfig``, else ``$KUBECONFIG``, else ~/.kube/config, as kubectl resolves it) and that files
given to ``apply -f`` exist; knows ``get nodes`` (the nodes this host's control plane registered: master0
knows itself only, the hosts share no state, so tests read joins from the log), ``apply``, ``label``,
``taint``, ``version``. Unknown flags are an error."""

from __future__ import annotations

import json
import os

from _standin import NODES, StandinError, flag, main, parse_flags, read_json, write

FLAGS = {"kubeconfig": True, "output": True, "namespace": True, "filename": True, "overwrite": False,
         "context": True, "recursive": False, "all-namespaces": False, "v": True, "selector": True,
         "request-timeout": True, "server-side": False, "force-conflicts": False}
SHORT = {"o": "output", "n": "namespace", "f": "filename", "R": "recursive", "A": "all-namespaces", "l": "selector",
         "v": "v"}


def kubeconfig(flags) -> str:
    path = flag(flags, "kubeconfig") or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not os.path.exists(path):
        raise StandinError("The connection to the server localhost:8080 was refused - did you specify the right "
                           f"host or port? (no kubeconfig at {path})")
    return path


def node_object(node: dict) -> dict:
    labels = {"kubernetes.io/hostname": node["name"], **node.get("labels", {})}
    if node.get("control_plane"):
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["name"], "labels": labels},
            "spec": {"taints": node.get("taints", [])},
            "status": {"addresses": [{"type": "InternalIP", "address": node["ip"]},
                                     {"type": "Hostname", "address": node["name"]}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def run(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, FLAGS, SHORT)
    if rest[:1] == ["version"]:
        print('Client Version: stand-in')
        return {}
    used = kubeconfig(flags)
    nodes = read_json(NODES, [])
    if rest[:2] in (["get", "nodes"], ["get", "node"]):
        out = flag(flags, "output", "")
        if out == "json":
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [node_object(n) for n in nodes]}))
        elif out == "name":
            print("\n".join(f"node/{n['name']}" for n in nodes))
        else:
            print("NAME STATUS ROLES")
            for n in nodes:
                print(f"{n['name']} Ready {'control-plane' if n.get('control_plane') else '<none>'}")
        return {"kubeconfig": used}
    if rest[:1] == ["apply"]:
        files = flags.get("filename") or []
        if not files:
            raise StandinError("error: must specify one of -f and -k")
        for path in files:
            if not os.path.exists(path):
                raise StandinError(f'error: the path "{path}" does not exist')
            print(f"{os.path.basename(path)} configured (stand-in)")
        return {"kubeconfig": used, "applied": [os.path.abspath(p) for p in files]}
    if rest[:1] in (["label"], ["taint"]) and len(rest) >= 3 and rest[1] in ("node", "nodes"):
        match = [n for n in nodes if n["name"] == rest[2]]
        if not match:
            raise StandinError(f'Error from server (NotFound): nodes "{rest[2]}" not found')
        node = match[0]
        for change in rest[3:]:
            if rest[0] == "label":
                key, _, value = change.partition("=")
                node.setdefault("labels", {}).pop(key[:-1], None) if key.endswith("-") else \
                    node.setdefault("labels", {}).__setitem__(key, value)
            else:
                node.setdefault("taints", []).append(change)
        write(NODES, json.dumps(nodes, indent=1))
        print(f"node/{rest[2]} {rest[0]}ed")
        return {"kubeconfig": used}
    raise StandinError(f"the stand-in kubectl does not know {rest[:2]}")


if __name__ == "__main__":
    main("kubectl", run)
