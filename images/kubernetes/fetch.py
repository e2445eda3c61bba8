#!/usr/bin/env python3
"""Fetch the official release files for one Kubernetes version and lay out the build context of the
production base image ``kubernetes:vX.Y.Z`` in sealer's base-image layout.

Every file is checked against the SHA-256 its project publishes next to it (kubeadm, kubelet, kubectl:
``dl.k8s.io/release/<v>/bin/linux/<arch>/<name>.sha256``; crictl: the release asset's ``.sha256``;
containerd: ``.sha256sum``; runc: ``runc.sha256sum``; CNI plugins: ``.sha256``; registry: ``.sha256``;
etcd (its etcdctl and etcdutl, for ``sealer_runner etcd backup/restore``): the release's ``SHA256SUMS``).
The CNI manifest has no published checksum: its SHA-256 is pinned here (or given with ``--cni-sha256``).
A mismatch, or a checksum that cannot be had, stops the script naming the file; the context is
assembled in a temporary directory next to ``--out`` and only renamed into place when complete, so a
failed run leaves nothing half-built. Downloads are kept in ``--cache`` and resumed (HTTP Range).

Standard library only: it runs on any machine with Python 3.8+, without sealer_runner. Then:

    python3 images/kubernetes/fetch.py --version v1.30.2 --arch amd64 --out build/k8s
    sealer_runner build -t kubernetes:v1.30.2 build/k8s

See images/kubernetes/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ARCHES = ("amd64", "arm64")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

#: Where each source's releases live. ``--base-url NAME=URL`` replaces one (a mirror, or a test server).
BASE_URLS: Dict[str, str] = {
    "kubernetes": "https://dl.k8s.io/release",
    "crictl": "https://github.com/kubernetes-sigs/cri-tools/releases/download",
    "containerd": "https://github.com/containerd/containerd/releases/download",
    "runc": "https://github.com/opencontainers/runc/releases/download",
    "cni-plugins": "https://github.com/containernetworking/plugins/releases/download",
    "registry": "https://github.com/distribution/distribution/releases/download",
    "etcd": "https://github.com/etcd-io/etcd/releases/download",
    "calico": "https://raw.githubusercontent.com/projectcalico/calico",
    "flannel": "https://github.com/flannel-io/flannel/releases/download",
}

#: Component versions, each overridable by its flag. crictl follows the Kubernetes minor (vMINOR.0).
DEFAULTS = {
    "containerd": "1.7.22",
    "runc": "v1.1.14",
    "cni-plugins": "v1.5.1",
    "registry": "2.8.3",
    "calico": "v3.28.2",
    "flannel": "v0.25.7",
}

#: SHA-256 of the CNI manifests, by (cni, version). The projects publish none: an entry is added after
#: downloading the file from its release and reviewing it. A version without an entry needs --cni-sha256.
CNI_PINS: Dict[Tuple[str, str], str] = {}

#: kubeadm's config API by the first Kubernetes minor writing it (as sealer_runner/kube/version.py).
KUBEADM_API = ((22, "kubeadm.k8s.io/v1beta3"), (31, "kubeadm.k8s.io/v1beta4"))

#: What ``kubeadm config images list --kubernetes-version v1.MINOR.PATCH`` prints beyond the four
#: control-plane images, by minor: (first patch, pause, etcd, coredns) change points. Source: kubeadm's
#: constants as recorded per release by minikube's constants_kubeadm_images.go. A patch newer than the
#: table's last known one (LAST_KNOWN) gets that one's images, with a warning.
IMAGE_TABLE: Dict[int, List[Tuple[int, str, str, str]]] = {
    22: [(0, "3.5", "3.5.0-0", "v1.8.4"), (17, "3.5", "3.5.6-0", "v1.8.4")],
    23: [(0, "3.6", "3.5.1-0", "v1.8.6"), (14, "3.6", "3.5.5-0", "v1.8.6"), (15, "3.6", "3.5.6-0", "v1.8.6")],
    24: [(0, "3.7", "3.5.3-0", "v1.8.6"), (8, "3.7", "3.5.5-0", "v1.8.6"), (9, "3.7", "3.5.6-0", "v1.8.6")],
    25: [(0, "3.8", "3.5.4-0", "v1.9.3"), (4, "3.8", "3.5.5-0", "v1.9.3"), (5, "3.8", "3.5.6-0", "v1.9.3"),
         (15, "3.8", "3.5.9-0", "v1.9.3")],
    26: [(0, "3.9", "3.5.6-0", "v1.9.3"), (10, "3.9", "3.5.9-0", "v1.9.3"), (13, "3.9", "3.5.10-0", "v1.9.3")],
    27: [(0, "3.9", "3.5.7-0", "v1.10.1"), (7, "3.9", "3.5.9-0", "v1.10.1"), (10, "3.9", "3.5.10-0", "v1.10.1"),
         (12, "3.9", "3.5.12-0", "v1.10.1")],
    28: [(0, "3.9", "3.5.9-0", "v1.10.1"), (6, "3.9", "3.5.10-0", "v1.10.1"), (8, "3.9", "3.5.12-0", "v1.10.1"),
         (14, "3.9", "3.5.15-0", "v1.10.1")],
    29: [(0, "3.9", "3.5.10-0", "v1.11.1"), (3, "3.9", "3.5.12-0", "v1.11.1"), (9, "3.9", "3.5.15-0", "v1.11.1")],
    30: [(0, "3.9", "3.5.12-0", "v1.11.1"), (5, "3.9", "3.5.15-0", "v1.11.3")],
    31: [(0, "3.10", "3.5.15-0", "v1.11.1"), (1, "3.10", "3.5.15-0", "v1.11.3")],
    32: [(0, "3.10", "3.5.16-0", "v1.11.3")],
}
LAST_KNOWN = {22: 17, 23: 17, 24: 17, 25: 16, 26: 15, 27: 16, 28: 15, 29: 10, 30: 6, 31: 2, 32: 0}
REGISTRY = "registry.k8s.io"


class FetchError(Exception):
    """A download, checksum or layout problem: the message names the file."""


# ------------------------------------------------------------------------------------------ versions


def parse_version(text: str) -> Tuple[int, int, int]:
    match = _VERSION.match(text.strip())
    if match is None:
        raise FetchError(f"not a Kubernetes release version: {text!r} (expected e.g. v1.30.2)")
    major, minor, patch = (int(g) for g in match.groups())
    if major != 1 or minor < min(IMAGE_TABLE):
        raise FetchError(f"Kubernetes {text} is not supported by this script (1.{min(IMAGE_TABLE)} or newer)")
    return major, minor, patch


def kubeadm_api(minor: int) -> str:
    return [api for first, api in KUBEADM_API if minor >= first][-1]


def image_list(version: str, warn: Callable[[str], None]) -> List[str]:
    """What kubeadm lists for *version*, computed from the table (kubeadm may not run here)."""
    _, minor, patch = parse_version(version)
    if minor not in IMAGE_TABLE:
        raise FetchError(f"no image table for Kubernetes 1.{minor}: build on a linux/{host_arch()} machine so "
                         f"the fetched kubeadm can list its images, or pass --image-list FILE")
    if patch > LAST_KNOWN[minor]:
        warn(f"v1.{minor}.{patch} is newer than this script's table (v1.{minor}.{LAST_KNOWN[minor]}): "
             f"its etcd/coredns/pause tags are assumed unchanged; run on linux/{host_arch()} to ask kubeadm")
    pause, etcd, coredns = [row[1:] for row in IMAGE_TABLE[minor] if row[0] <= patch][-1]
    tag = "v" + version.lstrip("v")
    return [f"{REGISTRY}/{name}:{tag}" for name in
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")] + [
        f"{REGISTRY}/coredns/coredns:{coredns}", f"{REGISTRY}/pause:{pause}", f"{REGISTRY}/etcd:{etcd}"]


def etcd_version(version: str) -> str:
    """The etcd release of the image kubeadm runs for *version* (3.5.12-0 -> 3.5.12): its etcdctl and etcdutl
    go into bin/, so that backup and restore use the client of the server they talk to."""
    _, minor, patch = parse_version(version)
    if minor not in IMAGE_TABLE:
        raise FetchError(f"no image table for Kubernetes 1.{minor}: give etcd's release with --etcd-version")
    return [row[2] for row in IMAGE_TABLE[minor] if row[0] <= patch][-1].split("-")[0]


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


# ------------------------------------------------------------------------------------------ artifacts


@dataclass(frozen=True)
class Artifact:
    """One release file, where its checksum is published, and what goes from it into the context."""
    source: str
    name: str  # the file's name in its release (and the checksum file's entry)
    url: str
    checksum_url: str  # "" for the pinned CNI manifest
    dest: str  # directory in the context, relative ("amd64/bin")
    members: Tuple[str, ...] = ()  # for archives: base names to take ("*" = every regular file)
    rename: str = ""  # for single files: name in dest
    pinned: str = ""  # expected sha256 when no checksum file is published


@dataclass
class Options:
    version: str
    arches: Tuple[str, ...]
    out: Path
    cache: Path
    cni: str = "calico"
    cni_version: str = ""
    cni_sha256: str = ""
    versions: Dict[str, str] = field(default_factory=dict)
    base_urls: Dict[str, str] = field(default_factory=dict)
    image_list_file: Optional[Path] = None
    run_kubeadm: bool = True
    pod_cidr: str = "100.64.0.0/10"
    force: bool = False
    quiet: bool = False


def artifacts(opts: Options, arch: str) -> List[Artifact]:
    v, base = opts.versions, opts.base_urls
    crictl = v.get("crictl") or "v1.{}.0".format(parse_version(opts.version)[1])
    etcd = "v" + (v.get("etcd") or etcd_version(opts.version)).lstrip("v")
    k8s, cd, runc, cni, reg = (base["kubernetes"], base["containerd"], base["runc"], base["cni-plugins"],
                               base["registry"])
    bin_dir = f"{arch}/bin"
    out = [Artifact("kubernetes", name, f"{k8s}/{opts.version}/bin/linux/{arch}/{name}",
                    f"{k8s}/{opts.version}/bin/linux/{arch}/{name}.sha256", bin_dir)
           for name in ("kubeadm", "kubelet", "kubectl")]
    crictl_tar = f"crictl-{crictl}-linux-{arch}.tar.gz"
    out.append(Artifact("crictl", crictl_tar, f"{base['crictl']}/{crictl}/{crictl_tar}",
                        f"{base['crictl']}/{crictl}/{crictl_tar}.sha256", bin_dir, ("crictl",)))
    cd_v = v["containerd"].lstrip("v")
    cd_tar = f"containerd-{cd_v}-linux-{arch}.tar.gz"
    out.append(Artifact("containerd", cd_tar, f"{cd}/v{cd_v}/{cd_tar}", f"{cd}/v{cd_v}/{cd_tar}.sha256sum",
                        bin_dir, ("containerd", "containerd-shim-runc-v2", "ctr")))
    out.append(Artifact("runc", f"runc.{arch}", f"{runc}/{v['runc']}/runc.{arch}",
                        f"{runc}/{v['runc']}/runc.sha256sum", bin_dir, rename="runc"))
    cni_tgz = f"cni-plugins-linux-{arch}-{v['cni-plugins']}.tgz"
    out.append(Artifact("cni-plugins", cni_tgz, f"{cni}/{v['cni-plugins']}/{cni_tgz}",
                        f"{cni}/{v['cni-plugins']}/{cni_tgz}.sha256", f"{arch}/cni/bin", ("*",)))
    reg_v = v["registry"].lstrip("v")
    reg_tar = f"registry_{reg_v}_linux_{arch}.tar.gz"
    out.append(Artifact("registry", reg_tar, f"{reg}/v{reg_v}/{reg_tar}", f"{reg}/v{reg_v}/{reg_tar}.sha256",
                        bin_dir, ("registry",)))
    etcd_tar = f"etcd-{etcd}-linux-{arch}.tar.gz"
    out.append(Artifact("etcd", etcd_tar, f"{base['etcd']}/{etcd}/{etcd_tar}", f"{base['etcd']}/{etcd}/SHA256SUMS",
                        bin_dir, ("etcdctl", "etcdutl")))
    return out


def cni_artifact(opts: Options) -> Artifact:
    version = opts.cni_version or DEFAULTS[opts.cni]
    pin = opts.cni_sha256 or CNI_PINS.get((opts.cni, version), "")
    if opts.cni == "calico":
        url = f"{opts.base_urls['calico']}/{version}/manifests/calico.yaml"
        name = "calico.yaml"
    else:
        url = f"{opts.base_urls['flannel']}/{version}/kube-flannel.yml"
        name = "kube-flannel.yml"
    return Artifact(opts.cni, name, url, "", "cni", rename=f"{opts.cni}.yaml", pinned=pin.lower())


# ------------------------------------------------------------------------------------------ download


class Progress:
    """One line per file on stderr: updated in place on a terminal, every 25% otherwise."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def bytes(self, label: str, done: int, total: Optional[int], last: List[float]) -> None:
        if self.quiet or not total:
            return
        pct = done * 100 // total
        if self.tty:
            if time.monotonic() - last[0] > 0.2 or done == total:
                last[0] = time.monotonic()
                end = "\n" if done == total else ""
                print(f"\r  {label}: {done >> 20}/{total >> 20} MiB {pct}%", end=end, file=sys.stderr, flush=True)
        elif pct // 25 > last[1]:
            last[1] = pct // 25
            print(f"  {label}: {pct}%", file=sys.stderr, flush=True)


def _open(url: str, offset: int = 0):
    request = urllib.request.Request(url, headers={"User-Agent": "sealer_runner-fetch/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310 (https, or a --base-url given on purpose)


def read_small(url: str, what: str) -> bytes:
    try:
        with _open(url) as response:
            return response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{what}: {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"{what}: {url}: {getattr(exc, 'reason', exc)}") from None


def download(url: str, dest: Path, progress: Progress, label: str) -> None:
    """Download *url* to *dest*, resuming ``dest.part`` when the server honours Range."""
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part is complete (or longer than the file): start again
            part.unlink()
            return download(url, dest, progress, label)
        raise FetchError(f"{label}: {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"{label}: {url}: {getattr(exc, 'reason', exc)}") from None
    with response:
        resumed = offset and response.status == 206
        if offset and not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        if resumed:
            progress.say(f"  {label}: resuming at {offset} bytes")
        done, last = offset, [0.0, -1]
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    progress.bytes(label, done, total, last)
        except OSError as exc:
            raise FetchError(f"{label}: {url}: interrupted after {done} bytes ({exc}); run again to resume") \
                from None
    if total is not None and done != total:
        raise FetchError(f"{label}: {url}: got {done} of {total} bytes; run again to resume")
    os.replace(part, dest)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def published_sha256(text: str, name: str, url: str) -> str:
    """The SHA-256 for *name* in a published checksum file: a bare digest (dl.k8s.io, cri-tools) or
    ``sha256sum`` lines ``<hex>  <name>`` (containerd, runc, CNI plugins, distribution)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and _HEX64.match(lines[0]):
        return lines[0].lower()
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and _HEX64.match(parts[0]) and parts[1].lstrip("*").split("/")[-1] == name:
            return parts[0].lower()
    raise FetchError(f"{name}: checksum file {url} has no SHA-256 for {name}")


def fetch_verified(art: Artifact, cache: Path, progress: Progress) -> Path:
    """The artifact in the cache, verified; a bad download is deleted and the run stops naming it."""
    label = f"{art.source} {art.name}"
    if art.checksum_url:
        raw = read_small(art.checksum_url, f"{art.name}: checksum file")
        try:
            expected = published_sha256(raw.decode("ascii"), art.name, art.checksum_url)
        except UnicodeDecodeError:
            raise FetchError(f"{art.name}: checksum file {art.checksum_url} is not text") from None
    else:
        expected = art.pinned
    key = hashlib.sha256(art.url.encode()).hexdigest()[:16]
    dest = cache / f"{key}-{art.name}"
    if dest.exists() and expected and sha256_of(dest) == expected:
        progress.say(f"  {label}: cached, sha256 ok")
        return dest
    progress.say(f"fetching {label} from {art.url}")
    download(art.url, dest, progress, label)
    got = sha256_of(dest)
    if not expected:
        dest.unlink()
        raise FetchError(f"{art.name}: {art.source} {art.url} publishes no checksum and none is pinned for it; "
                         f"review the file and pass --cni-sha256 (this download's sha256 is {got})")
    if got != expected:
        dest.unlink()
        where = art.checksum_url or "the pinned checksum"
        raise FetchError(f"checksum mismatch for {art.name} ({art.url}): sha256 {got}, {where} says {expected}")
    progress.say(f"  {label}: sha256 ok")
    return dest


# ------------------------------------------------------------------------------------------ layout


def install(art: Artifact, path: Path, ctx: Path) -> List[str]:
    dest = ctx / art.dest
    dest.mkdir(parents=True, exist_ok=True)
    if not art.members:
        target = dest / (art.rename or art.name)
        shutil.copyfile(path, target)
        target.chmod(0o755 if art.dest.endswith("bin") else 0o644)
        return [target.name]
    return extract(art, path, dest)


def extract(art: Artifact, path: Path, dest: Path) -> List[str]:
    """Regular files named in ``members`` (by base name; ``*`` all), flattened into *dest*."""
    taken: List[str] = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rstrip("/").split("/")[-1]
                if not member.isfile() or base in ("", ".", "..") or base.startswith("."):
                    continue
                if art.members != ("*",) and base not in art.members:
                    continue
                if art.members == ("*",) and base in ("LICENSE", "README.md"):
                    continue
                stream = tar.extractfile(member)
                assert stream is not None
                with stream, open(dest / base, "wb") as out:
                    shutil.copyfileobj(stream, out)
                (dest / base).chmod(0o755)
                taken.append(base)
    except (tarfile.TarError, OSError) as exc:
        raise FetchError(f"{art.name}: cannot read the archive ({exc})") from None
    missing = sorted(set(art.members) - set(taken) - {"*"})
    if missing or not taken:
        raise FetchError(f"{art.name}: the archive lacks {', '.join(missing) or 'any file'}")
    return sorted(taken)


def kubeadm_yml(version: str) -> str:
    """The image's kubeadm defaults, in the API version this Kubernetes version's kubeadm writes. The
    runtime adds what depends on the cluster (endpoint, SANs, registry, CIDRs from env, VIP)."""
    api = kubeadm_api(parse_version(version)[1])
    beta4 = api.endswith("v1beta4")
    cri = "unix:///run/containerd/containerd.sock"
    init_timeouts = "timeouts:\n  controlPlaneComponentHealthCheck: 4m0s\n" if beta4 else ""
    join_wait = "timeouts:\n  discovery: 5m0s\n" if beta4 else "discovery:\n  timeout: 5m0s\n"
    api_server = "" if beta4 else "apiServer:\n  timeoutForControlPlane: 4m0s\n"
    return (
        f"# kubeadm defaults of the kubernetes:{version} base image ({api}, as kubeadm {version} writes).\n"
        f"# sealer_runner merges them under the Clusterfile's documents and the values it forces.\n"
        f"apiVersion: {api}\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 6443\n"
        f"nodeRegistration:\n  criSocket: {cri}\n  imagePullPolicy: IfNotPresent\n{init_timeouts}"
        f"---\napiVersion: {api}\nkind: ClusterConfiguration\nkubernetesVersion: {version}\n"
        f"clusterName: kubernetes\ncertificatesDir: /etc/kubernetes/pki\n{api_server}"
        f"etcd:\n  local:\n    dataDir: /var/lib/etcd\n"
        f"---\napiVersion: {api}\nkind: JoinConfiguration\nnodeRegistration:\n  criSocket: {cri}\n{join_wait}"
        f"---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n"
        f"rotateCertificates: true\nfailSwapOn: true\n"
        f"---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
    )


def images_from_kubeadm(kubeadm: Path, version: str, progress: Progress) -> Optional[List[str]]:
    """``kubeadm config images list`` from the fetched kubeadm, when it runs here; None otherwise."""
    try:
        result = subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
                                capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        progress.say(f"  kubeadm {version} does not run here ({exc}); using the image table")
        return None
    images = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not images or not all("/" in i and ":" in i for i in images):
        progress.say(f"  kubeadm config images list failed (rc {result.returncode}); using the image table")
        return None
    return images


def read_image_list(path: Path) -> List[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise FetchError(f"--image-list {path}: {exc.strerror}") from None
    images = [line.split("#")[0].strip() for line in lines]
    return [i for i in images if i]


def patch_flannel(text: str, pod_cidr: str) -> str:
    """kube-flannel.yml's net-conf.json carries the pod network: make it the image's pod CIDR."""
    patched, count = re.subn(r'("Network":\s*")[^"]*(")', rf"\g<1>{pod_cidr}\g<2>", text)
    if count == 0:
        raise FetchError('kube-flannel.yml: no "Network" in net-conf.json to set the pod CIDR in')
    return patched


KUBEFILE_ARGS = ("KUBE_VERSION", "PLATFORMS", "CONTAINERD_VERSION", "CNI")


def render_kubefile(values: Dict[str, str]) -> str:
    """images/kubernetes/Kubefile with its ARG defaults set to this build's values."""
    lines = []
    for line in (HERE / "Kubefile").read_text().splitlines():
        match = re.match(r"^ARG ([A-Z_]+)=", line)
        if match and match.group(1) in values:
            line = f"ARG {match.group(1)}={values[match.group(1)]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def build_context(opts: Options, ctx: Path, progress: Progress) -> Dict[str, object]:
    opts.cache.mkdir(parents=True, exist_ok=True)
    record: Dict[str, object] = {"kubernetes": opts.version, "arches": list(opts.arches), "files": []}
    files: List[Dict[str, str]] = record["files"]  # type: ignore[assignment]
    run_kubeadm_from: Optional[Path] = None
    for arch in opts.arches:
        for art in artifacts(opts, arch):
            path = fetch_verified(art, opts.cache, progress)
            installed = install(art, path, ctx)
            files.append({"url": art.url, "sha256": sha256_of(path), "installed": f"{art.dest}: "
                          + " ".join(installed)})
            if art.name == "kubeadm" and arch == host_arch() and sys.platform.startswith("linux"):
                run_kubeadm_from = ctx / art.dest / "kubeadm"
    cni = cni_artifact(opts)
    path = fetch_verified(cni, opts.cache, progress)
    (ctx / "cni").mkdir()
    text = path.read_text()
    if opts.cni == "flannel":
        text = patch_flannel(text, opts.pod_cidr)
    (ctx / "cni" / f"{opts.cni}.yaml").write_text(text)
    files.append({"url": cni.url, "sha256": sha256_of(path), "installed": f"cni: {opts.cni}.yaml"})

    if opts.image_list_file is not None:
        images, origin = read_image_list(opts.image_list_file), f"--image-list {opts.image_list_file}"
    else:
        images = images_from_kubeadm(run_kubeadm_from, opts.version, progress) \
            if run_kubeadm_from is not None and opts.run_kubeadm else None
        origin = "kubeadm config images list"
        if images is None:
            images, origin = image_list(opts.version, lambda m: progress.say(f"warning: {m}")), "image table"
    progress.say(f"control-plane images ({origin}): {len(images)}")
    rootfs = ctx / "rootfs"
    (rootfs / "manifests").mkdir(parents=True)
    (rootfs / "manifests" / "imageList").write_text("\n".join(images) + "\n")
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "kubeadm.yml").write_text(kubeadm_yml(opts.version))
    for name in ("kubelet.service", "10-kubeadm.conf"):
        shutil.copyfile(HERE / "etc" / name, rootfs / "etc" / name)
    (rootfs / "Metadata").write_text(json.dumps({"version": opts.version, "arch": ",".join(opts.arches)}) + "\n")
    platforms = ",".join(f"linux/{arch}" for arch in opts.arches)
    (ctx / "Kubefile").write_text(render_kubefile({
        "KUBE_VERSION": opts.version, "PLATFORMS": platforms,
        "CONTAINERD_VERSION": opts.versions["containerd"].lstrip("v"), "CNI": opts.cni}))
    record["images"] = {"origin": origin, "list": images}
    (ctx / "SOURCES.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def run(opts: Options) -> int:
    progress = Progress(opts.quiet)
    out = opts.out
    if out.exists() and not opts.force:
        raise FetchError(f"{out} exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        build_context(opts, tmp, progress)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "ctx")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress.say(f"build context ready: {out}\n  sealer_runner build -t kubernetes:{opts.version} {out}")
    return 0


# ------------------------------------------------------------------------------------------ CLI


def parse_args(argv: List[str]) -> Options:
    parser = argparse.ArgumentParser(prog="fetch.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", required=True, help="Kubernetes release, e.g. v1.30.2")
    parser.add_argument("--arch", default=host_arch(),
                        help=f"comma list of {', '.join(ARCHES)} (default: this machine's)")
    parser.add_argument("--out", required=True, type=Path, help="build context directory to create")
    parser.add_argument("--cache", type=Path, help="download cache, resumable (default: OUT.downloads)")
    parser.add_argument("--cni", choices=("calico", "flannel"), default="calico")
    parser.add_argument("--cni-version", default="", help="calico or flannel release (default: %s, %s)"
                        % (DEFAULTS["calico"], DEFAULTS["flannel"]))
    parser.add_argument("--cni-sha256", default="", help="expected SHA-256 of the CNI manifest")
    parser.add_argument("--pod-cidr", default="100.64.0.0/10", help="pod network written into flannel's config")
    for name in ("crictl", "containerd", "runc", "cni-plugins", "registry", "etcd"):
        default_help = {"crictl": "vMINOR.0 of --version", "etcd": "the etcd image kubeadm runs for --version"}
        parser.add_argument(f"--{name}-version", dest=name.replace("-", "_"), default=DEFAULTS.get(name, ""),
                            help=f"default: {DEFAULTS.get(name, default_help.get(name))}")
    parser.add_argument("--base-url", action="append", default=[], metavar="SOURCE=URL",
                        help=f"replace a source's release URL; sources: {', '.join(BASE_URLS)}")
    parser.add_argument("--image-list", type=Path, help="use this control-plane image list instead")
    parser.add_argument("--no-run-kubeadm", action="store_true",
                        help="compute the image list from the table even when the fetched kubeadm can run here")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    arches = tuple(a.strip() for a in args.arch.split(",") if a.strip())
    unknown = [a for a in arches if a not in ARCHES]
    if unknown or not arches:
        parser.error(f"unknown --arch {', '.join(unknown) or repr(args.arch)}: supported {', '.join(ARCHES)}")
    if len(set(arches)) != len(arches):
        parser.error(f"--arch {args.arch} repeats an architecture")
    base_urls = dict(BASE_URLS)
    for item in args.base_url:
        name, sep, url = item.partition("=")
        if not sep or name not in BASE_URLS or not url:
            parser.error(f"--base-url {item!r}: expected SOURCE=URL, SOURCE one of {', '.join(BASE_URLS)}")
        base_urls[name] = url.rstrip("/")
    if args.cni_sha256 and not _HEX64.match(args.cni_sha256):
        parser.error("--cni-sha256 must be 64 hex digits")
    try:
        parse_version(args.version)
    except FetchError as exc:
        parser.error(str(exc))
    version = "v" + args.version.strip().lstrip("v")
    versions = {name: getattr(args, name.replace("-", "_"))
                for name in ("crictl", "containerd", "runc", "cni-plugins", "registry", "etcd")}
    out = args.out.resolve()
    return Options(version=version, arches=arches, out=out, cache=(args.cache or Path(f"{out}.downloads")).resolve(),
                   cni=args.cni, cni_version=args.cni_version, cni_sha256=args.cni_sha256,
                   versions=versions, base_urls=base_urls, image_list_file=args.image_list,
                   run_kubeadm=not args.no_run_kubeadm, pod_cidr=args.pod_cidr, force=args.force, quiet=args.quiet)


def main(argv: Optional[List[str]] = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(opts)
    except FetchError as exc:
        print(f"fetch.py: error: {exc}; {opts.out} was not changed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fetch.py: interrupted; {opts.out} was not changed (downloads resume from {opts.cache})",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
