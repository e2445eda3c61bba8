"""images/kubernetes/fetch.py against a local HTTP server serving fake release files, laid out as the
real projects publish them (dl.k8s.io, cri-tools, containerd, runc, CNI plugins, distribution), with
checksum files in each project's format. The "binaries" are stand-ins (a few bytes; kubeadm for this
machine's architecture is a shell script printing an image list): nothing here is a Kubernetes release."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import platform
import subprocess
import sys
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sealer_runner.cli.main import main
from sealer_runner.clusterfile.yamlpos import YMap, load_documents
from sealer_runner.image.digest import Digest
from sealer_runner.image.store import Store
from sealer_runner.kube.strict import unknown_fields
from sealer_runner.kube.version import KubeVersion

pytestmark = [pytest.mark.integration]

SCRIPT = Path(__file__).resolve().parents[2] / "images" / "kubernetes" / "fetch.py"
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
OTHER_ARCH = "arm64" if HOST_ARCH == "amd64" else "amd64"
KUBEADM_LIST = ["registry.k8s.io/kube-apiserver:v1.30.2", "registry.k8s.io/kube-controller-manager:v1.30.2",
                "registry.k8s.io/kube-scheduler:v1.30.2", "registry.k8s.io/kube-proxy:v1.30.2",
                "registry.k8s.io/coredns/coredns:v1.11.1", "registry.k8s.io/pause:3.9",
                "registry.k8s.io/etcd:3.5.12-0-from-kubeadm"]
CALICO = b"""# Calico fake manifest
---
apiVersion: v1
kind: ConfigMap
metadata: {name: calico-config, namespace: kube-system}
data: {veth_mtu: "0"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: calico-node, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: calico-node}}
  template:
    metadata: {labels: {k8s-app: calico-node}}
    spec: {containers: [{name: calico-node, image: docker.io/calico/node:v3.28.2}]}
"""
FLANNEL = b"""apiVersion: v1
kind: ConfigMap
metadata: {name: kube-flannel-cfg, namespace: kube-flannel}
data:
  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "Backend": {"Type": "vxlan"}
    }
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put(root: Path, path: str, data: bytes) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)


def publish(root: Path, version: str, arches: tuple[str, ...], kubeadm_script: bool = True) -> None:
    """The release files of every source, with their checksum files as each project writes them."""
    runc_sums, etcd_sums = [], []
    etcd_v = load_script().etcd_version(version)  # the etcd image kubeadm runs for the version (1.30.2: 3.5.12)
    for arch in arches:
        for name in ("kubeadm", "kubelet", "kubectl"):
            data = f"fake {name} {version} {arch}\n".encode()
            if name == "kubeadm" and arch == HOST_ARCH and kubeadm_script:
                data = ("#!/bin/sh\n[ \"$1 $2 $3 $4 $5\" = \"config images list --kubernetes-version "
                        f"{version}\" ] || exit 3\nprintf '%s\\n' " + " ".join(KUBEADM_LIST) + "\n").encode()
            put(root, f"k8s/{version}/bin/linux/{arch}/{name}", data)
            put(root, f"k8s/{version}/bin/linux/{arch}/{name}.sha256", sha(data).encode())  # bare digest
        minor = version.split(".")[1]
        crictl = f"crictl-v1.{minor}.0-linux-{arch}.tar.gz"
        data = tgz({"crictl": b"fake crictl"})
        put(root, f"cri-tools/v1.{minor}.0/{crictl}", data)
        put(root, f"cri-tools/v1.{minor}.0/{crictl}.sha256", sha(data).encode())
        containerd = f"containerd-1.7.22-linux-{arch}.tar.gz"
        data = tgz({f"bin/{b}": f"fake {b}".encode() for b in
                    ("containerd", "containerd-shim-runc-v2", "ctr", "containerd-stress")})
        put(root, f"containerd/v1.7.22/{containerd}", data)
        put(root, f"containerd/v1.7.22/{containerd}.sha256sum", f"{sha(data)}  {containerd}\n".encode())
        data = f"fake runc {arch}".encode()
        put(root, f"runc/v1.1.14/runc.{arch}", data)
        runc_sums.append(f"{sha(data)}  runc.{arch}")
        cni = f"cni-plugins-linux-{arch}-v1.5.1.tgz"
        data = tgz({"./bridge": b"fake bridge", "./host-local": b"fake host-local", "./loopback": b"lo",
                    "./LICENSE": b"Apache", "./README.md": b"readme"})
        put(root, f"cni/v1.5.1/{cni}", data)
        put(root, f"cni/v1.5.1/{cni}.sha256", f"{sha(data)}  {cni}\n".encode())
        reg = f"registry_2.8.3_linux_{arch}.tar.gz"
        data = tgz({"registry": b"fake registry", "LICENSE": b"Apache", "README.md": b"readme"})
        put(root, f"distribution/v2.8.3/{reg}", data)
        put(root, f"distribution/v2.8.3/{reg}.sha256", f"{sha(data)}  {reg}\n".encode())
        etcd = f"etcd-v{etcd_v}-linux-{arch}.tar.gz"
        data = tgz({f"etcd-v{etcd_v}-linux-{arch}/{b}": f"fake {b} {arch}".encode() for b in ("etcd", "etcdctl", "etcdutl")})
        put(root, f"etcd/v{etcd_v}/{etcd}", data)
        etcd_sums.append(f"{sha(data)}  {etcd}")
    runc_sums.append(f"{'0' * 64}  libseccomp-2.5.5.tar.gz")
    put(root, f"etcd/v{etcd_v}/SHA256SUMS", ("\n".join(etcd_sums) + "\n").encode())
    put(root, "runc/v1.1.14/runc.sha256sum", ("\n".join(runc_sums) + "\n").encode())
    put(root, "calico/v3.28.2/manifests/calico.yaml", CALICO)
    put(root, "flannel/v0.25.7/kube-flannel.yml", FLANNEL)


class RangeHandler(SimpleHTTPRequestHandler):
    """http.server with Range support (for resumed downloads); records each request's path and Range."""

    requests: list[tuple[str, str | None]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        ranged = self.headers.get("Range", "")
        if not ranged.startswith("bytes=") or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        start = int(ranged[6:].split("-")[0])
        if start >= len(data):
            self.send_error(416)
            return
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "releases"
    root.mkdir()
    RangeHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetch(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    bases = {"kubernetes": "k8s", "crictl": "cri-tools", "containerd": "containerd", "runc": "runc",
             "cni-plugins": "cni", "registry": "distribution", "calico": "calico", "flannel": "flannel",
             "etcd": "etcd"}
    flags = [f"--base-url={name}={url}/{path}" for name, path in bases.items()]
    return subprocess.run([sys.executable, str(SCRIPT), *flags, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def load_script():
    spec = importlib.util.spec_from_file_location("kubernetes_fetch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def blob(store: Store, digest) -> bytes:
    return store.read_blob(Digest.parse(str(digest)))


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith((".partial", ".old")))


def strict_problems(text: str) -> list[str]:
    problems = []
    for node in load_documents(text, "kubeadm.yml"):  # the runtime's own reader and strict check
        assert isinstance(node, YMap)
        api, kind = node.entries["apiVersion"].value, node.entries["kind"].value
        problems += [f"{kind}: {path}" for _, path, _ in unknown_fields(api, kind, node)]
    return problems


def test_good_context_has_the_base_image_layout_and_builds(server, tmp_path, capsys):
    root, url = server
    publish(root, "v1.30.2", ("amd64", "arm64"))
    out = tmp_path / "ctx"
    result = fetch(url, "--version", "v1.30.2", "--arch", "amd64,arm64", "--out", str(out),
                   "--cni-sha256", sha(CALICO))
    assert result.returncode == 0, result.stderr
    assert "kubelet: sha256 ok" in result.stderr and "build context ready" in result.stderr
    for arch in ("amd64", "arm64"):
        bins = sorted(p.name for p in (out / arch / "bin").iterdir())
        assert bins == sorted(["kubeadm", "kubelet", "kubectl", "crictl", "containerd", "containerd-shim-runc-v2",
                               "ctr", "runc", "registry", "etcdctl", "etcdutl"])  # etcd's server: not on hosts
        assert (out / arch / "bin" / "etcdctl").read_bytes() == f"fake etcdctl {arch}".encode()
        assert (out / arch / "bin" / "runc").read_bytes() == f"fake runc {arch}".encode()
        assert sorted(p.name for p in (out / arch / "cni" / "bin").iterdir()) == ["bridge", "host-local", "loopback"]
    kubeadm_yml = (out / "rootfs" / "etc" / "kubeadm.yml").read_text()
    assert "apiVersion: kubeadm.k8s.io/v1beta3" in kubeadm_yml and "kubernetesVersion: v1.30.2" in kubeadm_yml
    assert strict_problems(kubeadm_yml) == []
    # amd64 and arm64: the fetched kubeadm of this machine's arch was asked for the list
    assert (out / "rootfs" / "manifests" / "imageList").read_text().split() == KUBEADM_LIST
    assert (out / "cni" / "calico.yaml").read_bytes() == CALICO
    kubefile = (out / "Kubefile").read_text()
    assert "ARG KUBE_VERSION=v1.30.2" in kubefile and "ARG PLATFORMS=linux/amd64,linux/arm64" in kubefile
    sources = json.loads((out / "SOURCES.json").read_text())
    assert sources["images"]["origin"] == "kubeadm config images list"
    assert leftovers(tmp_path) == []

    # The command the README gives. Offline, the container images the build would cache (the imageList's
    # and calico's) are listed as ignored; with network they are pulled into the image.
    ignored = tmp_path / "ignored"
    ignored.write_text("\n".join([*KUBEADM_LIST, "docker.io/calico/node:v3.28.2"]) + "\n")
    rc = main(["--root", str(tmp_path / "store"), "build", "-t", "kubernetes:v1.30.2",
               "--ignored-image-list", str(ignored), str(out)])
    assert rc == 0, capsys.readouterr().err
    store = Store(tmp_path / "store")
    index = json.loads(blob(store, store.lookup("kubernetes:v1.30.2").descriptor.digest))
    platforms = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert platforms == ["amd64", "arm64"]
    for entry in index["manifests"]:
        manifest = json.loads(blob(store, entry["digest"]))
        config = json.loads(blob(store, manifest["config"]["digest"]))
        labels = config["config"]["Labels"]
        assert labels["cluster.alpha.sealer.io/cluster-runtime-type"] == "kubernetes"
        assert labels["cluster.alpha.sealer.io/cluster-runtime-version"] == "v1.30.2"
        assert labels["cluster.alpha.sealer.io/kube-cni"] == '["calico"]'
        ext = json.loads(manifest["annotations"]["sealer.image.extension"])
        assert ext["launch"]["app_names"] == ["calico"]
        names = set()
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(blob(store, layer["digest"]))) as tar:
                names |= {m.name.lstrip("./") for m in tar}
        assert {"bin/kubeadm", "bin/registry", "cni/bin/bridge", "etc/kubeadm.yml", "manifests/imageList",
                "application/apps/calico/calico.yaml"} <= names
        arch = entry["platform"]["architecture"]
        kubelet = next(layer for layer in manifest["layers"]
                       if "bin/kubelet" in {m.name.lstrip("./") for m in
                                            tarfile.open(fileobj=io.BytesIO(blob(store, layer["digest"])))})
        with tarfile.open(fileobj=io.BytesIO(blob(store, kubelet["digest"]))) as tar:
            member = next(m for m in tar if m.name.lstrip("./") == "bin/kubelet")
            assert tar.extractfile(member).read() == f"fake kubelet v1.30.2 {arch}\n".encode()


def test_v1beta4_from_1_31_and_the_computed_image_list_and_flannel(server, tmp_path):
    root, url = server
    publish(root, "v1.31.1", (OTHER_ARCH,))
    out = tmp_path / "ctx"
    result = fetch(url, "--version", "1.31.1", "--arch", OTHER_ARCH, "--out", str(out), "--cni", "flannel",
                   "--cni-sha256", sha(FLANNEL), "--pod-cidr", "100.64.0.0/10")
    assert result.returncode == 0, result.stderr
    kubeadm_yml = (out / "rootfs" / "etc" / "kubeadm.yml").read_text()
    assert "apiVersion: kubeadm.k8s.io/v1beta4" in kubeadm_yml and "timeoutForControlPlane" not in kubeadm_yml
    assert strict_problems(kubeadm_yml) == []
    # kubeadm of another arch cannot run here: the list comes from the table (kubeadm v1.31.1's own)
    assert (out / "rootfs" / "manifests" / "imageList").read_text().split() == [
        "registry.k8s.io/kube-apiserver:v1.31.1", "registry.k8s.io/kube-controller-manager:v1.31.1",
        "registry.k8s.io/kube-scheduler:v1.31.1", "registry.k8s.io/kube-proxy:v1.31.1",
        "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/pause:3.10", "registry.k8s.io/etcd:3.5.15-0"]
    assert '"Network": "100.64.0.0/10"' in (out / "cni" / "flannel.yaml").read_text()
    assert "CNI ${CNI} local://cni/${CNI}.yaml" in (out / "Kubefile").read_text()
    assert "ARG CNI=flannel" in (out / "Kubefile").read_text()


def test_the_image_list_falls_back_to_the_table_or_comes_from_a_file(server, tmp_path):
    root, url = server
    publish(root, "v1.29.3", (HOST_ARCH,), kubeadm_script=False)  # this kubeadm cannot run here
    result = fetch(url, "--version", "v1.29.3", "--arch", HOST_ARCH, "--out", str(tmp_path / "a"),
                   "--cni-sha256", sha(CALICO))
    assert result.returncode == 0, result.stderr
    assert "using the image table" in result.stderr
    assert (tmp_path / "a" / "rootfs" / "manifests" / "imageList").read_text().split()[4:] == [
        "registry.k8s.io/coredns/coredns:v1.11.1", "registry.k8s.io/pause:3.9", "registry.k8s.io/etcd:3.5.12-0"]
    listed = tmp_path / "list"
    listed.write_text("# mirrored\nmirror.example.com/kube-apiserver:v1.29.3\n\nmirror.example.com/pause:3.9\n")
    result = fetch(url, "--version", "v1.29.3", "--arch", HOST_ARCH, "--out", str(tmp_path / "b"),
                   "--cni-sha256", sha(CALICO), "--image-list", str(listed), "-q")
    assert result.returncode == 0 and result.stderr == ""
    assert (tmp_path / "b" / "rootfs" / "manifests" / "imageList").read_text() == (
        "mirror.example.com/kube-apiserver:v1.29.3\nmirror.example.com/pause:3.9\n")
    assert json.loads((tmp_path / "b" / "SOURCES.json").read_text())["images"]["origin"] == f"--image-list {listed}"


def test_a_wrong_checksum_aborts_naming_the_file_and_leaves_nothing(server, tmp_path):
    root, url = server
    publish(root, "v1.30.2", (HOST_ARCH,))
    (root / f"k8s/v1.30.2/bin/linux/{HOST_ARCH}/kubelet").write_bytes(b"tampered kubelet\n")
    out = tmp_path / "ctx"
    out.mkdir()
    (out / "keep").write_text("the previous context")
    result = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(out), "--force",
                   "--cni-sha256", sha(CALICO))
    assert result.returncode == 1
    assert "checksum mismatch for kubelet" in result.stderr
    assert f"/k8s/v1.30.2/bin/linux/{HOST_ARCH}/kubelet.sha256 says" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep"]  # --force replaced nothing
    assert leftovers(tmp_path) == []
    assert not list((tmp_path / "ctx.downloads").glob("*kubelet*"))  # the bad download is not kept


def test_a_missing_checksum_file_aborts(server, tmp_path):
    root, url = server
    publish(root, "v1.30.2", (HOST_ARCH,))
    (root / f"containerd/v1.7.22/containerd-1.7.22-linux-{HOST_ARCH}.tar.gz.sha256sum").unlink()
    out = tmp_path / "ctx"
    result = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(out), "--cni-sha256", sha(CALICO))
    assert result.returncode == 1
    assert f"containerd-1.7.22-linux-{HOST_ARCH}.tar.gz: checksum file" in result.stderr
    assert "HTTP 404" in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_checksum_file_without_the_file_aborts(server, tmp_path):
    root, url = server
    publish(root, "v1.30.2", (HOST_ARCH,))
    (root / "runc/v1.1.14/runc.sha256sum").write_text(f"{'1' * 64}  runc.s390x\n")
    result = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(tmp_path / "ctx"),
                   "--cni-sha256", sha(CALICO))
    assert result.returncode == 1
    assert f"has no SHA-256 for runc.{HOST_ARCH}" in result.stderr


def test_an_unpinned_cni_manifest_is_refused_with_its_hash(server, tmp_path):
    root, url = server
    publish(root, "v1.30.2", (HOST_ARCH,))
    result = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(tmp_path / "ctx"))
    assert result.returncode == 1
    assert "calico.yaml" in result.stderr and "--cni-sha256" in result.stderr and sha(CALICO) in result.stderr
    bad = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(tmp_path / "ctx"),
                "--cni-sha256", "0" * 64)
    assert bad.returncode == 1 and "checksum mismatch for calico.yaml" in bad.stderr
    assert not (tmp_path / "ctx").exists()


@pytest.mark.parametrize("args, message", [
    (("--arch", "s390x"), "unknown --arch s390x"),
    (("--arch", "amd64,amd64"), "repeats"),
    (("--version", "v1.21.14"), "1.22 or newer"),
    (("--version", "latest"), "not a Kubernetes release version"),
    (("--base-url", "nowhere=http://x"), "SOURCE one of"),
])
def test_bad_arguments_are_refused(tmp_path, args, message):
    argv = ["--version", "v1.30.2", "--out", str(tmp_path / "ctx"), *args]
    result = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "ctx").exists()


def test_downloads_resume_and_verified_files_are_reused(server, tmp_path):
    root, url = server
    publish(root, "v1.30.2", (HOST_ARCH,))
    cache = tmp_path / "cache"
    first = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(tmp_path / "a"),
                  "--cache", str(cache), "--cni-sha256", sha(CALICO))
    assert first.returncode == 0, first.stderr
    kubectl = next(cache.glob("*-kubectl"))
    data = kubectl.read_bytes()
    kubectl.unlink()
    kubectl.with_name(kubectl.name + ".part").write_bytes(data[:7])
    RangeHandler.requests.clear()
    second = fetch(url, "--version", "v1.30.2", "--arch", HOST_ARCH, "--out", str(tmp_path / "b"),
                   "--cache", str(cache), "--cni-sha256", sha(CALICO))
    assert second.returncode == 0, second.stderr
    assert "resuming at 7 bytes" in second.stderr
    binaries = [(path, rng) for path, rng in RangeHandler.requests
                if not path.endswith((".sha256", ".sha256sum", "SHA256SUMS"))]
    assert binaries == [(f"/k8s/v1.30.2/bin/linux/{HOST_ARCH}/kubectl", "bytes=7-")]  # all else from the cache
    assert (tmp_path / "b" / HOST_ARCH / "bin" / "kubectl").read_bytes() == data


def test_the_script_tables_agree_with_sealer_runner():
    script = load_script()
    for minor in range(22, 40):
        assert script.kubeadm_api(minor) == KubeVersion(1, minor, 0).kubeadm_api
    warnings: list[str] = []
    assert script.image_list("v1.28.15", warnings.append)[-1] == "registry.k8s.io/etcd:3.5.15-0"
    assert script.image_list("v1.24.8", warnings.append)[-1] == "registry.k8s.io/etcd:3.5.5-0"
    assert warnings == []
    assert script.image_list("v1.30.9", warnings.append)[4:] == [
        "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/pause:3.9", "registry.k8s.io/etcd:3.5.15-0"]
    assert "newer than this script's table" in warnings[0]
    with pytest.raises(script.FetchError, match="no image table for Kubernetes 1.40"):
        script.image_list("v1.40.0", warnings.append)
