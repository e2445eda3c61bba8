"""**Stand-in** for kubeadm (tests only; see _standin.py). It validates as the real one does and records
what it was asked; it does not make a cluster. What it checks:

* flags: only those the real subcommand has; with ``--config`` only kubeadm's mixable flags
  (``ValidateMixedArguments``: config, ignore-preflight-errors, dry-run, kubeconfig, node-name,
  kubeconfig-dir, upload-certs, print-join-command, rootfs, v, log-file and any skip-*);
* the config file: every document's fields against the kubeadm API tables (strict decoding), an API
  version this kubeadm version reads, kubernetesVersion equal to its own, advertise addresses that are
  this host's, the CRI socket present (containerd running), the kubelet installed and enabled;
* joins: token ``[a-z0-9]{6}.[a-z0-9]{16}``, CA hash ``sha256:<64 hex>``, certificate key of 64 hex for a
  control-plane join; then the join is sent to the discovery endpoint's stand-in apiserver (_apiserver.py,
  run by master0's kubelet stand-in), which refuses secrets init did not issue and registers the node.
  The test hosts' kernel has no IPVS: an endpoint that is an IPVS virtual server in this host's table
  (the ipvsadm stand-in's) is reached through its first real server, as IPVS would forward it;
* preflight: a host that already has admin.conf (init) or kubelet.conf (join) is refused, as kubeadm does.

What it does where the tool under test depends on it: init prints the join commands in kubeadm's shape,
writes admin.conf and the other kubeconfigs, the pki, the static pod manifests, the kubelet's config.yaml
and kubeadm-flags.env, and (re)starts the kubelet; join writes kubelet.conf (and, for a control-plane
join, the control-plane files); ``token create --print-join-command`` and ``init phase upload-certs`` issue
new secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import string
import subprocess
import time

import _etcd
from _standin import (ISSUED, K8S, NODES, ORIGIN, StandinError, flag, https_call, is_true, load_documents,
                      local_addresses, main, own_ip_towards, parse_flags, read_json, settings, split_endpoint,
                      systemctl, unknown_fields, write)

GLOBAL = {"v": True, "log-file": True, "rootfs": True, "add-dir-header": False, "skip-headers": False,
          "skip-log-headers": False, "help": False}
INIT = {"config": True, "upload-certs": False, "certificate-key": True, "control-plane-endpoint": True,
        "apiserver-advertise-address": True, "apiserver-bind-port": True, "apiserver-cert-extra-sans": True,
        "pod-network-cidr": True, "service-cidr": True, "service-dns-domain": True, "kubernetes-version": True,
        "image-repository": True, "cri-socket": True, "node-name": True, "cert-dir": True, "token": True,
        "token-ttl": True, "skip-phases": True, "skip-token-print": False, "skip-certificate-key-print": False,
        "patches": True, "dry-run": False, "feature-gates": True, "ignore-preflight-errors": True, **GLOBAL}
JOIN = {"config": True, "token": True, "discovery-token": True, "discovery-token-ca-cert-hash": True,
        "discovery-token-unsafe-skip-ca-verification": False, "discovery-file": True, "tls-bootstrap-token": True,
        "control-plane": False, "certificate-key": True, "apiserver-advertise-address": True,
        "apiserver-bind-port": True, "node-name": True, "cri-socket": True, "skip-phases": True, "patches": True,
        "dry-run": False, "ignore-preflight-errors": True, **GLOBAL}
TOKEN_CREATE = {"print-join-command": False, "certificate-key": True, "ttl": True, "usages": True, "groups": True,
                "description": True, "config": True, "kubeconfig": True, "dry-run": False, **GLOBAL}
UPLOAD_CERTS = {"upload-certs": False, "certificate-key": True, "config": True, "kubeconfig": True,
                "skip-certificate-key-print": False, **GLOBAL}
CERTS_APISERVER = {"config": True, "cert-dir": True, "apiserver-advertise-address": True,
                   "apiserver-cert-extra-sans": True, "control-plane-endpoint": True, "kubernetes-version": True,
                   "service-cidr": True, "service-dns-domain": True, **GLOBAL}
UPGRADE_APPLY = {"yes": False, "force": False, "certificate-renewal": False, "etcd-upgrade": False, "config": True,
                 "dry-run": False, "ignore-preflight-errors": True, "patches": True, "print-config": False,
                 "allow-experimental-upgrades": False, "allow-release-candidate-upgrades": False, "kubeconfig": True,
                 "feature-gates": True, **GLOBAL}
UPGRADE_NODE = {"certificate-renewal": False, "etcd-upgrade": False, "dry-run": False, "ignore-preflight-errors": True,
                "kubeconfig": True, "patches": True, "skip-phases": True, **GLOBAL}
VERSION_FILE = K8S + "/standin-version"  # the cluster's Kubernetes version (master0: init, upgrade apply)
RESET = {"force": False, "cri-socket": True, "cert-dir": True, "cleanup-tmp-dir": False, "kubeconfig": True,
         "skip-phases": True, "ignore-preflight-errors": True, "dry-run": False, "config": True, **GLOBAL}
UPLOAD_CONFIG = {"config": True, "kubeconfig": True, "cri-socket": True, "kubernetes-version": True, **GLOBAL}
MIXABLE = {"config", "ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "kubeconfig-dir",
           "upload-certs", "print-join-command", "rootfs", "v", "log-file"}
TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
CA_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
CERT_KEY = re.compile(r"^[0-9a-f]{64}$")
PKI = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "apiserver-kubelet-client.crt",
       "apiserver-kubelet-client.key", "front-proxy-ca.crt", "front-proxy-ca.key", "front-proxy-client.crt",
       "front-proxy-client.key", "sa.key", "sa.pub", "etcd/ca.crt", "etcd/ca.key", "etcd/server.crt",
       "etcd/server.key", "etcd/peer.crt", "etcd/peer.key")
KUBECONFIGS = ("admin.conf", "controller-manager.conf", "scheduler.conf")
MANIFESTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")


def run(argv: list[str]) -> dict:
    if argv[:1] == ["init"] and argv[1:3] == ["phase", "upload-certs"]:
        return upload_certs(argv[3:])
    if argv[:4] == ["init", "phase", "certs", "apiserver"]:
        return certs_apiserver(argv[4:])
    if argv[:4] == ["init", "phase", "upload-config", "kubeadm"]:
        return upload_config(argv[4:])
    if argv[:2] == ["upgrade", "apply"]:
        return upgrade_apply(argv[2:])
    if argv[:2] == ["upgrade", "node"]:
        return upgrade_node(argv[2:])
    if argv[:2] == ["token", "create"]:
        return token_create(argv[2:])
    commands = {"init": init, "join": join, "reset": reset, "version": version}
    if not argv or argv[0] not in commands:
        raise StandinError(f"unknown command {argv[:1]} for kubeadm (the stand-in knows init, join, token create, "
                           "reset, upgrade apply, upgrade node, init phase upload-certs, init phase certs apiserver, init phase upload-config kubeadm, version)")
    return commands[argv[0]](argv[1:])


def version(argv: list[str]) -> dict:
    flags, _ = parse_flags(argv, {"output": True, **GLOBAL}, {"o": "output"})
    ver = settings()["version"]
    print(ver if flag(flags, "output") == "short" else f'kubeadm version: &version.Info{{GitVersion:"{ver}"}}')
    return {}


def check_mixing(flags: dict) -> None:
    if "config" in flags:
        extra = sorted(n for n in flags if n not in MIXABLE and not n.startswith("skip-"))
        if extra:
            raise StandinError(f"can not mix '--config' with arguments {extra}")


def read_config(path: str, wanted: tuple[str, ...]) -> dict[str, dict]:
    """kind -> document; the documents' API versions must be ones this kubeadm reads, fields known."""
    reads = settings()["reads"]
    by_kind: dict[str, dict] = {}
    for doc in load_documents(path):
        api, kind = doc["apiVersion"], doc["kind"]
        if api.startswith("kubeadm.k8s.io/") and api not in reads:
            raise StandinError(f"{path}: {kind}: kubeadm {settings()['version']} does not read {api} "
                               f"(it reads {', '.join(reads)})")
        bad = unknown_fields(doc)
        if bad:
            raise StandinError(f'{path}: {kind}: strict decoding error: unknown field "{bad[0]}"')
        if kind in by_kind:
            raise StandinError(f"{path}: {kind} given twice")
        by_kind[kind] = doc
    missing = [k for k in wanted[:1] if k not in by_kind]
    if missing:
        raise StandinError(f"{path}: no {missing[0]}")
    return by_kind


def preflight(ignored: set[str], *, init: bool, node_registration: dict) -> list[str]:
    """kubeadm's checks that depend on what the tool under test set up; returns the warnings."""
    warnings = []
    errors = []

    def check(name: str, ok: bool, message: str, warn_only: bool = False) -> None:
        if ok:
            return
        if warn_only or name in ignored or "all" in ignored:
            warnings.append(f"[WARNING {name}]: {message}")
        else:
            errors.append(f"[ERROR {name}]: {message}")

    check("FileExisting-kubelet", os.access("/usr/bin/kubelet", os.X_OK), "kubelet not found in /usr/bin")
    check("Service-Kubelet", systemctl("is-enabled", "kubelet") == "enabled", "kubelet service is not enabled",
          warn_only=True)
    socket_path = str(node_registration.get("criSocket", "unix:///run/containerd/containerd.sock"))
    check("CRI", os.path.exists(socket_path.replace("unix://", "")), f"container runtime is not running: "
          f"{socket_path} does not exist")
    if init:
        check("FileAvailable--etc-kubernetes-admin.conf", not os.path.exists(K8S + "/admin.conf"),
              f"{K8S}/admin.conf already exists")
        manifests = K8S + "/manifests"
        check("DirAvailable--etc-kubernetes-manifests", not (os.path.isdir(manifests) and os.listdir(manifests)),
              f"{manifests} is not empty")
    check("FileAvailable--etc-kubernetes-kubelet.conf", not os.path.exists(K8S + "/kubelet.conf"),
          f"{K8S}/kubelet.conf already exists")
    if errors:
        raise StandinError("[preflight] Some fatal errors occurred:\n\t" + "\n\t".join(errors))
    return warnings


def ignored_checks(flags: dict, node_registration: dict) -> set[str]:
    names = {n for v in flags.get("ignore-preflight-errors", []) for n in v.split(",") if n}
    return names | set(node_registration.get("ignorePreflightErrors") or [])


def own_address(address: str, what: str) -> None:
    if address and address not in local_addresses():
        raise StandinError(f"{what} {address} is not an address of this host ({socket.gethostname()})")


def new_token() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6)) + "." + \
        "".join(secrets.choice(alphabet) for _ in range(16))


def issue(**values: str) -> dict:
    issued = read_json(ISSUED, {"tokens": [], "certificate_keys": [], "ca_cert_hash": ""})
    for key, value in values.items():
        if key == "ca_cert_hash":
            issued["ca_cert_hash"] = value
        else:
            issued[key + "s"].append(value)
    write(ISSUED, json.dumps(issued, indent=1), 0o600)
    return issued


def start_kubelet() -> None:
    """As kubeadm's kubelet-start phase: restart the kubelet, then wait for it (the stand-in kubelet checks
    its flags and files at start and exits when one is wrong)."""
    subprocess.run(["systemctl", "restart", "kubelet"], check=False)
    deadline = time.time() + 15
    while time.time() < deadline:
        time.sleep(1)
        if systemctl("is-active", "kubelet") == "active" and os.path.exists("/run/kube-standin-kubelet.ready"):
            return
    status = subprocess.run(["systemctl", "status", "--no-pager", "-n", "20", "kubelet"], capture_output=True,
                            text=True, check=False).stdout
    raise StandinError(f"[kubelet-check] The kubelet is not running:\n{status}")


def kubeconfig(user: str, server: str) -> str:
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: U1RBTkQtSU4=\n"
            f"    server: {server}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n"
            f"    user: {user}\n  name: {user}@kubernetes\ncurrent-context: {user}@kubernetes\n"
            f"users:\n- name: {user}\n  user:\n    client-certificate-data: U1RBTkQtSU4=\n"
            f"    client-key-data: U1RBTkQtSU4tS0VZ\n")


def kubelet_files(kubelet_doc: dict, repository: str, cri: str) -> None:
    import yaml

    write("/var/lib/kubelet/config.yaml", yaml.safe_dump(kubelet_doc))
    write("/var/lib/kubelet/kubeadm-flags.env",
          f'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint={cri} --pod-infra-container-image={repository}/pause:3.9"\n')


def control_plane_files(cluster: dict, advertise: str, server: str) -> None:
    for name in (n for n in PKI if not n.startswith("etcd/")):  # etcd's are real (_etcd.py)
        write(f"{K8S}/pki/{name}", f"-----BEGIN STAND-IN {name}-----\n{cluster.get('controlPlaneEndpoint')}\n",
              0o600 if name.endswith(".key") else 0o644)
    for name in KUBECONFIGS:
        write(f"{K8S}/{name}", kubeconfig(name.split(".")[0], server), 0o600)
    repository = cluster.get("imageRepository", "registry.k8s.io")
    for name in (n for n in MANIFESTS if n != "etcd"):  # etcd's: _etcd.write_manifest
        write(f"{K8S}/manifests/{name}.yaml",
              f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: kube-system}}\n"
              f"spec: {{hostNetwork: true, containers: [{{name: {name}, "
              f"image: '{repository}/{name}:{cluster.get('kubernetesVersion')}', "
              f"command: [{name}, --advertise-address={advertise}]}}]}}\n")


def register_node(name: str, ip: str, control_plane: bool) -> None:
    nodes = read_json(NODES, [])
    nodes = [n for n in nodes if n["name"] != name] + [{"name": name, "ip": ip, "control_plane": control_plane}]
    write(NODES, json.dumps(nodes, indent=1))


def init(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, INIT)
    if rest:
        raise StandinError(f"unknown command {rest[0]!r} for kubeadm init")
    check_mixing(flags)
    path = flag(flags, "config")
    if path is None:
        raise StandinError("the stand-in needs --config (sealer_runner always gives one)")
    docs = read_config(path, ("InitConfiguration", "ClusterConfiguration"))
    init_doc, cluster = docs["InitConfiguration"], docs.get("ClusterConfiguration", {})
    registration = init_doc.get("nodeRegistration") or {}
    if cluster.get("kubernetesVersion") != settings()["version"]:
        raise StandinError(f"this kubeadm is {settings()['version']}; the config asks for "
                           f"{cluster.get('kubernetesVersion')!r}")
    advertise = str((init_doc.get("localAPIEndpoint") or {}).get("advertiseAddress", ""))
    own_address(advertise, "localAPIEndpoint.advertiseAddress")
    endpoint = cluster.get("controlPlaneEndpoint")
    if endpoint:
        split_endpoint(endpoint)
    warnings = preflight(ignored_checks(flags, registration), init=True, node_registration=registration)
    if is_true(flags, "dry-run"):
        return {"dry_run": True}
    server = f"https://{endpoint or advertise + ':6443'}"
    control_plane_files(cluster, advertise, server)
    _etcd.init_member(advertise)
    write(f"{K8S}/kubelet.conf", kubeconfig("system:node:" + socket.gethostname(), server), 0o600)
    cri = str(registration.get("criSocket", "unix:///run/containerd/containerd.sock"))
    kubelet_files(docs.get("KubeletConfiguration", {}), cluster.get("imageRepository", "registry.k8s.io"), cri)
    start_kubelet()
    _etcd.wait_healthy(f"https://127.0.0.1:{_etcd.CLIENT_PORT}")
    token = new_token()
    ca_hash = "sha256:" + hashlib.sha256(open(f"{K8S}/pki/ca.crt", "rb").read()).hexdigest()
    key = secrets.token_hex(32) if is_true(flags, "upload-certs") else ""
    issue(token=token, ca_cert_hash=ca_hash, **({"certificate_key": key} if key else {}))
    write(VERSION_FILE, settings()["version"] + "\n")
    register_node(registration.get("name") or socket.gethostname(), advertise, True)
    join_at = endpoint or f"{advertise}:6443"
    for warning in warnings:
        print(warning)
    print(f"[init] Using Kubernetes version: {settings()['version']}\n[certs] Using certificateDir folder "
          f'"{K8S}/pki"\n[kubelet-start] Starting the kubelet\n')
    print("Your Kubernetes control-plane has initialized successfully!\n\nTo start using your cluster, you need "
          "to run the following as a regular user:\n\n  mkdir -p $HOME/.kube\n"
          "  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n")
    if key:
        print("You can now join any number of the control-plane node running the following command on each as "
              f"root:\n\n  kubeadm join {join_at} --token {token} \\\n\t--discovery-token-ca-cert-hash {ca_hash} \\\n"
              f"\t--control-plane --certificate-key {key}\n\nPlease note that the certificate-key gives access to "
              "cluster sensitive data, keep it secret!\nAs a safeguard, uploaded-certs will be deleted in two hours; "
              'If necessary, you can use\n"kubeadm init phase upload-certs --upload-certs" to reload certs afterward.\n')
    print(f"Then you can join any number of worker nodes by running the following on each as root:\n\n"
          f"kubeadm join {join_at} --token {token} \\\n\t--discovery-token-ca-cert-hash {ca_hash} ")
    return {"config": docs, "warnings": warnings, "issued": {"token": token, "ca_cert_hash": ca_hash,
                                                             "certificate_key": key}}


def join(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, JOIN)
    check_mixing(flags)
    path = flag(flags, "config")
    if path is None:
        raise StandinError("the stand-in needs --config (sealer_runner always gives one)")
    if rest:
        raise StandinError(f"can not mix '--config' with arguments {rest}")
    docs = read_config(path, ("JoinConfiguration",))
    doc = docs["JoinConfiguration"]
    registration = doc.get("nodeRegistration") or {}
    discovery = (doc.get("discovery") or {}).get("bootstrapToken") or {}
    token, hashes = str(discovery.get("token", "")), list(discovery.get("caCertHashes") or [])
    if not TOKEN.match(token):
        raise StandinError(f"{path}: discovery.bootstrapToken.token is not a bootstrap token")
    if not discovery.get("unsafeSkipCAVerification") and not (hashes and all(CA_HASH.match(str(h)) for h in hashes)):
        raise StandinError(f"{path}: discovery.bootstrapToken.caCertHashes must be sha256:<hex> values")
    host, port = split_endpoint(str(discovery.get("apiServerEndpoint", "")))
    control_plane = doc.get("controlPlane")
    key = ""
    if control_plane is not None:
        key = str(control_plane.get("certificateKey", ""))
        if not CERT_KEY.match(key):
            raise StandinError(f"{path}: controlPlane.certificateKey must be 64 hex digits")
        own_address(str((control_plane.get("localAPIEndpoint") or {}).get("advertiseAddress", "")),
                    "controlPlane.localAPIEndpoint.advertiseAddress")
    warnings = preflight(ignored_checks(flags, registration), init=False, node_registration=registration)
    try:  # what the apiserver name resolves to while joining (sealer: master0 for masters, the VIP for nodes)
        name_at = socket.gethostbyname("apiserver.cluster.local")
    except OSError:
        name_at = None
    ipvs = subprocess.run(["sh", "-c", "command -v ipvsadm >/dev/null && ipvsadm -S -n"], capture_output=True,
                          text=True, check=False).stdout.splitlines()
    if is_true(flags, "dry-run"):
        return {"dry_run": True}
    target, via_ipvs = apiserver_target(host, port, ipvs)
    advertise = str(((control_plane or {}).get("localAPIEndpoint") or {}).get("advertiseAddress", ""))
    body = {"token": token, "ca_cert_hashes": hashes, "certificate_key": key, "control_plane": control_plane is not None,
            "name": registration.get("name") or socket.gethostname(), "ip": advertise or own_ip_towards(target)}
    try:
        status, answer = https_call(target, "POST", "/standin/join", body)
    except OSError as exc:
        raise StandinError(f"couldn't validate the identity of the API Server at {host}:{port} "
                           f"(reached at {target[0]}:{target[1]}): {exc}") from None
    if status != 200:
        raise StandinError(f"the API server at {target[0]}:{target[1]} refused the join ({status}): {answer}")
    if control_plane is not None:
        write(ORIGIN, answer["origin"])
    server = "https://apiserver.cluster.local:6443"
    if control_plane is not None:
        control_plane_files({"controlPlaneEndpoint": "apiserver.cluster.local:6443"},
                            str((control_plane.get("localAPIEndpoint") or {}).get("advertiseAddress", "")), server)
    else:
        write(f"{K8S}/pki/ca.crt", "-----BEGIN STAND-IN ca.crt-----\n")
    write(f"{K8S}/kubelet.conf", kubeconfig("system:node:" + socket.gethostname(), server), 0o600)
    kubelet_files({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                   "cgroupDriver": "systemd"}, "registry.k8s.io",
                  str(registration.get("criSocket", "unix:///run/containerd/containerd.sock")))
    start_kubelet()
    if control_plane is not None:  # the new etcd member, through master0's (the kubelet runs its manifest)
        _etcd.join_member(advertise, answer["etcd_ca"], answer["origin"].rsplit(":", 1)[0])
    for warning in warnings:
        print(warning)
    print("This node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response "
          "was received.\n* The Kubelet was informed of the new secure connection details.\n")
    return {"config": docs, "endpoint": f"{host}:{port}", "apiserver_name": name_at, "ipvs": ipvs,
            "reached": f"{target[0]}:{target[1]}", "via_ipvs": via_ipvs,
            "used": {"token": token, "ca_cert_hashes": hashes, "certificate_key": key},
            "control_plane": control_plane is not None}


def apiserver_target(host: str, port: int, ipvs: list[str]) -> tuple[tuple[str, int], bool]:
    """Where a connection to host:port goes: through IPVS when it is a virtual server of this host (its
    first real server: the kernel here has no IPVS to do it), else to the host (names as /etc/hosts says)."""
    vs = f"{host}:{port}"
    if any(line.startswith(f"-A -t {vs} ") for line in ipvs):
        reals = sorted(line.split()[4] for line in ipvs if line.startswith(f"-a -t {vs} -r "))
        if not reals:
            raise StandinError(f"{vs}: the IPVS virtual server has no real server: connection refused")
        return split_endpoint(reals[0]), True
    try:
        return (socket.gethostbyname(host), port), False
    except OSError as exc:
        raise StandinError(f"cannot resolve {host}: {exc}") from None


def token_create(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, TOKEN_CREATE)
    kubeconfig_path = flag(flags, "kubeconfig", f"{K8S}/admin.conf")
    if not os.path.exists(kubeconfig_path):
        raise StandinError(f"failed to load admin kubeconfig: open {kubeconfig_path}: no such file or directory")
    issued = read_json(ISSUED, None)
    if not issued:
        raise StandinError("no cluster here (kubeadm init has not run on this host)")
    token = rest[0] if rest else new_token()
    if not TOKEN.match(token):
        raise StandinError(f"the bootstrap token {token!r} was not of the form {TOKEN.pattern}")
    issue(token=token)
    if is_true(flags, "print-join-command"):
        print(f"kubeadm join apiserver.cluster.local:6443 --token {token} --discovery-token-ca-cert-hash "
              f"{issued['ca_cert_hash']} ")
    else:
        print(token)
    return {"issued": {"token": token}}


def upload_certs(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, UPLOAD_CERTS)
    if rest:
        raise StandinError(f"unknown command {rest[0]!r}")
    if not is_true(flags, "upload-certs"):
        raise StandinError("upload-certs: --upload-certs is required to upload the certificates")
    if not os.path.exists(flag(flags, "kubeconfig", f"{K8S}/admin.conf") or ""):
        raise StandinError("failed to load admin kubeconfig")
    key = flag(flags, "certificate-key") or secrets.token_hex(32)
    issue(certificate_key=key)
    print("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace\n"
          f"[upload-certs] Using certificate key:\n{key}")
    return {"issued": {"certificate_key": key}}


def _minor(version: str) -> tuple[int, int]:
    parts = version.lstrip("v").split(".")
    return int(parts[0]), int(parts[1])


def upgrade_apply(argv: list[str]) -> dict:
    """As kubeadm upgrade apply VERSION on the first control-plane node: this kubeadm must be that version,
    one minor at a time, no downgrade, -y (no terminal to ask); the static pods get the new version."""
    flags, rest = parse_flags(argv, UPGRADE_APPLY, {"y": "yes", "f": "force"})
    if len(rest) != 1:
        raise StandinError("kubeadm upgrade apply needs exactly one version argument")
    target, mine = rest[0], settings()["version"]
    if target != mine:
        raise StandinError(f"Specified version to upgrade to {target!r} is not this kubeadm's version {mine!r}")
    if not is_true(flags, "yes"):
        raise StandinError("[upgrade/confirm] Are you sure you want to proceed? [y/N]: aborted (no terminal; -y)")
    if not os.path.exists(flag(flags, "kubeconfig", f"{K8S}/admin.conf") or ""):
        raise StandinError("couldn't create a Kubernetes client from file admin.conf: not a control-plane node")
    current = (open(VERSION_FILE).read().strip() if os.path.exists(VERSION_FILE) else "")
    if not current:
        raise StandinError("unable to fetch the kubeadm-config ConfigMap: this node did not init the cluster")
    if _minor(target) < _minor(current):
        raise StandinError(f"Specified version to upgrade to {target!r} is lower than the cluster version {current!r}")
    if _minor(target)[1] > _minor(current)[1] + 1:
        raise StandinError(f"Specified version to upgrade to {target!r} is too high; kubeadm can upgrade only 1 "
                           f"minor version at a time (cluster: {current})")
    for name in MANIFESTS:
        path = f"{K8S}/manifests/{name}.yaml"
        if os.path.exists(path):
            write(path, open(path).read().replace(f":{current}'", f":{target}'"))
    write(VERSION_FILE, target + "\n")
    print(f'[upgrade/successful] SUCCESS! Your cluster was upgraded to "{target}". Enjoy!')
    return {"from": current, "to": target}


def upgrade_node(argv: list[str]) -> dict:
    """As kubeadm upgrade node: on a host in the cluster (kubelet.conf), after the control plane."""
    flags, rest = parse_flags(argv, UPGRADE_NODE)
    if rest:
        raise StandinError(f"unknown command {rest[0]!r} for kubeadm upgrade node")
    if not os.path.exists(f"{K8S}/kubelet.conf"):
        raise StandinError("couldn't create a Kubernetes client from file kubelet.conf: this node is not in a cluster")
    print("[upgrade] The configuration for this node was successfully updated!\n"
          "[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.")
    return {"version": settings()["version"], "control_plane": os.path.exists(f"{K8S}/manifests/kube-apiserver.yaml")}


def reset(argv: list[str]) -> dict:
    """As kubeadm reset: without --force it asks (no terminal here: refused); stops the kubelet and removes
    what init/join wrote (manifests, pki, kubeconfigs, the kubelet's directory, etcd's data)."""
    import shutil

    flags, rest = parse_flags(argv, RESET, {"f": "force"})
    if rest:
        raise StandinError(f"unknown command {rest[0]!r} for kubeadm reset")
    if not is_true(flags, "force"):
        raise StandinError("[reset] Are you sure you want to proceed? [y/N]: aborted (no terminal; pass --force)")
    socket_path = (flag(flags, "cri-socket") or "unix:///run/containerd/containerd.sock").replace("unix://", "")
    if not os.path.exists(socket_path):
        print(f"[reset] WARNING: the CRI socket {socket_path} is not there: containers are not cleaned up")
    was_member = os.path.exists(f"{K8S}/kubelet.conf")
    left_etcd = _etcd.leave()  # before the kubelet (and with it the member) stops
    if left_etcd:
        print(left_etcd)
    systemctl("stop", "kubelet")
    systemctl("stop", "kube-standin-etcd")  # as kubeadm reset removes the static pods' containers
    for name in ("manifests", "pki", "tmp"):
        shutil.rmtree(f"{K8S}/{name}", ignore_errors=True)
    for name in (*KUBECONFIGS, "kubelet.conf", "super-admin.conf", "bootstrap-kubelet.conf",
                 "standin-issued", "standin-nodes.json", "standin-origin", "standin-version"):
        try:
            os.unlink(f"{K8S}/{name}")
        except FileNotFoundError:
            pass
    shutil.rmtree("/var/lib/kubelet", ignore_errors=True)
    _etcd.clear_data()
    print("[reset] Stopping the kubelet service\n[reset] Deleting contents of directories: "
          f"[{K8S}/manifests /var/lib/kubelet {K8S}/pki]")
    return {"was_member": was_member, "etcd": left_etcd}


def certs_apiserver(argv: list[str]) -> dict:
    """As kubeadm: an existing valid pair is kept ("Using existing"); else a new certificate for the
    configuration's certSANs, the advertise address and kubeadm's own names, signed by the cluster CA."""
    flags, rest = parse_flags(argv, CERTS_APISERVER)
    if rest:
        raise StandinError(f"unknown command {rest[0]!r} for kubeadm init phase certs apiserver")
    check_mixing(flags)
    path = flag(flags, "config")
    if path is None:
        raise StandinError("the stand-in needs --config (sealer_runner always gives one)")
    docs = read_config(path, ("InitConfiguration", "ClusterConfiguration"))
    advertise = str((docs["InitConfiguration"].get("localAPIEndpoint") or {}).get("advertiseAddress", ""))
    own_address(advertise, "localAPIEndpoint.advertiseAddress")
    pki = flag(flags, "cert-dir", f"{K8S}/pki")
    for name in ("ca.crt", "ca.key"):
        if not os.path.exists(f"{pki}/{name}"):
            raise StandinError(f"couldn't load CA certificate authority from {pki}: {name} is missing")
    if os.path.exists(f"{pki}/apiserver.crt") and os.path.exists(f"{pki}/apiserver.key"):
        print("[certs] Using existing apiserver certificate and key on disk")
        return {"reused": True}
    cluster = docs.get("ClusterConfiguration") or {}
    sans = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", advertise,
            *[str(n) for n in (cluster.get("apiServer") or {}).get("certSANs") or []]]
    write(f"{pki}/apiserver.crt", f"-----BEGIN STAND-IN apiserver.crt-----\nSANs: {json.dumps(sans)}\n")
    write(f"{pki}/apiserver.key", "-----BEGIN STAND-IN apiserver.key-----\n", 0o600)
    print(f"[certs] Generating \"apiserver\" certificate and key\n[certs] apiserver serving cert is signed for "
          f"DNS names and IPs {sans}")
    return {"reused": False, "sans": sans}


def upload_config(argv: list[str]) -> dict:
    flags, rest = parse_flags(argv, UPLOAD_CONFIG)
    if rest:
        raise StandinError(f"unknown command {rest[0]!r} for kubeadm init phase upload-config kubeadm")
    check_mixing(flags)
    path = flag(flags, "config")
    if path is None:
        raise StandinError("the stand-in needs --config (sealer_runner always gives one)")
    docs = read_config(path, ("InitConfiguration", "ClusterConfiguration"))
    if not os.path.exists(flag(flags, "kubeconfig", f"{K8S}/admin.conf") or ""):
        raise StandinError("failed to load admin kubeconfig")
    cluster = docs.get("ClusterConfiguration") or {}
    print('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" '
          "Namespace")
    return {"cert_sans": list((cluster.get("apiServer") or {}).get("certSANs") or [])}


if __name__ == "__main__":
    main("kubeadm", run)
