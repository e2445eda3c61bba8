"""Shared code of the kubeadm, kubelet, kubectl and crictl **stand-ins**: test-only programs that take the
place of the real Kubernetes binaries in the test base image (no Kubernetes release can be had on the test machines).
Nothing under sealer_runner/ or collection/ knows them.

They run on the test hosts (Debian, python3 only), packed as zipapps by tests/support/base_image.py together
with PyYAML (pure Python), a copy of sealer_runner/kube/fields.py (the kubeadm API field tables) as
``kube_fields`` and ``standin.json`` (the Kubernetes version they claim and the kubeadm APIs it reads).

Every call is appended to /var/log/kube-standin.log as one JSON line: host, time, tool, argv and what the
call found (``record``), so a test can check what the tool under test ran, where and in which order.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pkgutil
import socket
import subprocess
import sys
import time

LOG = os.environ.get("KUBE_STANDIN_LOG", "/var/log/kube-standin.log")  # overridable for unit tests
K8S = "/etc/kubernetes"
ISSUED = K8S + "/standin-issued"  # what init/token create/upload-certs issued (master0)
NODES = K8S + "/standin-nodes.json"  # nodes the cluster knows of (on master0, the stand-ins' authority)
ORIGIN = K8S + "/standin-origin"  # on a joined master: master0's apiserver, which holds the cluster's state
APISERVER_PORT = 6443


class StandinError(Exception):
    """A call the real tool would refuse too."""


def settings() -> dict:
    return json.loads(pkgutil.get_data(__name__, "standin.json") or b"{}")


def record(tool: str, argv: list[str], **found: object) -> None:
    entry = {"host": socket.gethostname(), "time": time.time(), "tool": tool, "argv": argv, **found}
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def main(tool: str, run) -> None:
    """Record the call, run it; a StandinError is the real tool's error: message on stderr, exit 1."""
    argv = sys.argv[1:]
    start = time.time()
    try:
        found = run(argv) or {}
    except StandinError as exc:
        record(tool, argv, start=start, error=str(exc))
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    record(tool, argv, start=start, **found)


def parse_flags(argv: list[str], known: dict[str, bool], short: dict[str, str] | None = None):
    """pflag's rules: ``--name=value``, ``--name value`` (for flags that take one), ``-x value``; a bool
    flag may be ``--name=false``. Unknown flags are an error, as they are for the real commands.
    Returns ({name: [values]}, [positional])."""
    flags: dict[str, list[str]] = {}
    positional: list[str] = []
    short = short or {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if arg.startswith("--") or (arg.startswith("-") and len(arg) > 1):
            body = arg[2:] if arg.startswith("--") else arg[1:]
            name, eq, value = body.partition("=")
            if not arg.startswith("--"):
                name = short.get(name, "")
                if not name:
                    raise StandinError(f"unknown shorthand flag: {arg!r} in {arg}")
            if name not in known:
                raise StandinError(f"unknown flag: --{name}")
            if known[name] and not eq:
                if i >= len(argv):
                    raise StandinError(f"flag needs an argument: --{name}")
                value = argv[i]
                i += 1
            elif not known[name] and not eq:
                value = "true"
            flags.setdefault(name, []).append(value)
        else:
            positional.append(arg)
    return flags, positional


def flag(flags: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = flags.get(name)
    return values[-1] if values else default


def is_true(flags: dict[str, list[str]], name: str) -> bool:
    return flag(flags, name, "false") in ("true", "1", "")


def load_documents(path: str) -> list[dict]:
    """The YAML documents of a config file; a missing file is the real tool's error."""
    import yaml  # bundled in the zipapp

    try:
        with open(path) as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d is not None]
    except OSError as exc:
        raise StandinError(f"unable to read config from {path!r}: {exc}") from None
    except yaml.YAMLError as exc:
        raise StandinError(f"{path}: not YAML: {exc}") from None
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise StandinError(f"{path}: a document without apiVersion and kind")
    return docs


def unknown_fields(doc: dict) -> list[str]:
    """Every key the document's (apiVersion, kind) does not know (kubeadm decodes strictly)."""
    import kube_fields  # a copy of sealer_runner/kube/fields.py

    tree = kube_fields.tree_for(doc["apiVersion"], doc["kind"])
    if tree is None:
        return [f"(no such kind {doc['kind']} in {doc['apiVersion']})"]
    return list(_walk(tree, doc, ""))


def _walk(tree, node, path):
    if tree is None:
        return
    if isinstance(tree, list):
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from _walk(tree[0], item, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in tree:
            yield where
        else:
            yield from _walk(tree[key], value, where)


def local_addresses() -> set[str]:
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
    addresses = set()
    for line in out.splitlines():
        words = line.split()
        for i, word in enumerate(words):
            if word in ("inet", "inet6") and i + 1 < len(words):
                addresses.add(str(ipaddress.ip_address(words[i + 1].split("/")[0])))
    return addresses


def systemctl(*args: str) -> str:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False).stdout.strip()


def write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def read_json(path: str, default):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def split_endpoint(text: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit():
        raise StandinError(f"endpoint {text!r} is not host:port")
    return host.strip("[]"), int(port)


def tls_files() -> tuple[str, str]:
    """The stand-in apiserver's certificate and key (self-signed, made when the test image is built)."""
    directory = "/run/kube-standin"
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name in ("apiserver.crt", "apiserver.key"):
        path = f"{directory}/{name}"
        write(path, (pkgutil.get_data(__name__, name) or b"").decode(), 0o600)
        paths.append(path)
    return paths[0], paths[1]


def https_call(address: tuple[str, int], method: str, path: str, body: object = None, timeout: float = 10.0):
    """One JSON request to a stand-in apiserver (certificate not verified); (status, answer)."""
    import http.client
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(address[0], address[1], timeout=timeout, context=context)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw or b"null")
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


def own_ip_towards(address: tuple[str, int]) -> str:
    """The address this host sends from to reach *address* (what the node registers as its InternalIP)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(address)
        return probe.getsockname()[0]


def kubeconfig_server(path: str) -> tuple[str, int]:
    """host, port of the ``server:`` a kubeconfig names, the host resolved as the system does (/etc/hosts)."""
    with open(path) as handle:
        for line in handle:
            if line.strip().startswith("server:"):
                url = line.split("server:", 1)[1].strip()
                host, port = split_endpoint(url.split("://", 1)[-1].rstrip("/"))
                return socket.gethostbyname(host), port
    raise StandinError(f"{path}: no server")
