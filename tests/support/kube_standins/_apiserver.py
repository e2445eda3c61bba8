"""The **stand-in** apiserver (tests only; see _standin.py): the stand-in kubelet runs it on a control-plane
host (one whose /etc/kubernetes/manifests holds kube-apiserver.yaml, as the real kubelet runs that static
pod), over HTTPS on port 6443. It answers /healthz (so lvscare's care loop sees live masters), and keeps
the cluster's state the stand-ins share across hosts: on master0, which holds what init issued
(/etc/kubernetes/standin-issued), it checks each join's token, CA hash and certificate key against it and
registers the node; the other masters forward those calls to master0. `kubectl get nodes` reads it,
`kubectl drain` marks a node unschedulable, `kubectl delete node` removes it.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _standin import (APISERVER_PORT, ISSUED, NODES, ORIGIN, https_call, read_json, split_endpoint, tls_files,
                      write)

LOCK = threading.Lock()


def node_object(node: dict) -> dict:
    labels = {"kubernetes.io/hostname": node["name"], **node.get("labels", {})}
    if node.get("control_plane"):
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["name"], "labels": labels},
            "spec": {"taints": node.get("taints", []), "unschedulable": bool(node.get("unschedulable"))},
            "status": {"addresses": [{"type": "InternalIP", "address": node["ip"]},
                                     {"type": "Hostname", "address": node["name"]}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


#: The static pods kubeadm makes on every control-plane node (stacked etcd).
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")


def static_pods(nodes: list[dict]) -> list[dict]:
    """kube-system's control-plane pods as the real apiserver would list them once kubeadm's static pods run:
    one of each STATIC_PODS per control-plane node that joined (or init'ed), Running and Ready. A stand-in
    answer: nothing runs them here."""
    return [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"{component}-{node['name']}", "namespace": "kube-system",
                          "labels": {"component": component, "tier": "control-plane"}},
             "spec": {"nodeName": node["name"]},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                        "containerStatuses": [{"name": component, "ready": True}]}}
            for node in nodes if node.get("control_plane") for component in STATIC_PODS]


def handle(method: str, path: str, body: dict, origin_ip: str) -> tuple[int, object]:
    """The authority's answer (master0): join, nodes, node edits."""
    issued = read_json(ISSUED, None)
    if issued is None:
        return 503, {"error": "this apiserver holds no cluster state"}
    with LOCK:
        nodes = read_json(NODES, [])
        if method == "GET" and path == "/api/v1/nodes":
            return 200, {"apiVersion": "v1", "kind": "NodeList", "items": [node_object(n) for n in nodes]}
        if method == "GET" and path.startswith("/api/v1/namespaces/") and path.endswith("/pods"):
            items = static_pods(nodes) if path == "/api/v1/namespaces/kube-system/pods" else []
            return 200, {"apiVersion": "v1", "kind": "PodList", "items": items}
        if method == "POST" and path == "/standin/join":
            problems = []
            if body.get("token") not in issued["tokens"]:
                problems.append("token not issued by init or token create")
            if body.get("ca_cert_hashes") != [issued["ca_cert_hash"]]:
                problems.append("CA hash is not the cluster CA's")
            if body.get("control_plane") and body.get("certificate_key") not in issued["certificate_keys"]:
                problems.append("certificate key not issued (init --upload-certs or upload-certs)")
            if any(n["name"] == body.get("name") for n in nodes):
                problems.append(f"a node named {body.get('name')} is already in the cluster")
            if problems:
                return 403, {"error": "; ".join(problems)}
            nodes.append({"name": body["name"], "ip": body["ip"], "control_plane": bool(body.get("control_plane"))})
            write(NODES, json.dumps(nodes, indent=1))
            answer = {"origin": f"{origin_ip}:{APISERVER_PORT}"}
            if body.get("control_plane"):  # kubeadm: the certificates from the kubeadm-certs Secret
                import _etcd

                answer["etcd_ca"] = _etcd.ca_pair()
            return 200, answer
        if method == "DELETE" and path.startswith("/api/v1/nodes/"):
            name = path.rsplit("/", 1)[1]
            if not any(n["name"] == name for n in nodes):
                return 404, {"error": f'nodes "{name}" not found'}
            write(NODES, json.dumps([n for n in nodes if n["name"] != name], indent=1))
            return 200, {"kind": "Status", "status": "Success", "details": {"name": name, "kind": "nodes"}}
        if method == "POST" and path.startswith("/standin/nodes/"):
            name = path.rsplit("/", 1)[1]
            match = [n for n in nodes if n["name"] == name]
            if not match:
                return 404, {"error": f'nodes "{name}" not found'}
            node = match[0]
            labels = node.setdefault("labels", {})
            for key in body.get("remove_labels", []):
                labels.pop(key, None)
            labels.update(body.get("labels", {}))
            taints = [t for t in node.get("taints", [])
                      if not any(t["key"] == r["key"] and r.get("effect") in (None, "", t["effect"])
                                 for r in body.get("remove_taints", []))]
            for new in body.get("taints", []):
                taints = [t for t in taints if (t["key"], t["effect"]) != (new["key"], new["effect"])] + [new]
            node["taints"] = taints
            if "unschedulable" in body:
                node["unschedulable"] = bool(body["unschedulable"])
            write(NODES, json.dumps(nodes, indent=1))
            return 200, node_object(node)
    return 404, {"error": f"{method} {path}: not known to the stand-in apiserver"}


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int, answer: object) -> None:
        data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        if self.path == "/healthz":
            self._answer(200, "ok")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if os.path.exists(ISSUED):
            self._answer(*handle(method, self.path, body, self.connection.getsockname()[0]))
            return
        try:
            with open(ORIGIN) as handle_:
                origin = split_endpoint(handle_.read().strip())
        except OSError:
            self._answer(503, {"error": "no cluster state here and no origin to forward to"})
            return
        self._answer(*https_call(origin, method, self.path, body or None))

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def log_message(self, *args) -> None:
        pass


def start() -> ThreadingHTTPServer:
    """Serve on :6443 in a thread; ``stop(server)`` ends it (the kubelet does when the manifest goes)."""
    server = ThreadingHTTPServer(("0.0.0.0", APISERVER_PORT), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files())
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
