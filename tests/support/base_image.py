"""The test *base* cluster images.

* `build_base_image`: the runtime binaries a real base image ships in bin/, taken from this machine's
  Debian packages (containerd, containerd-shim-runc-v2, ctr, runc, and the distribution registry as
  bin/registry). No Kubernetes binaries: its cluster runtime is `none`.
* `build_kubernetes_standin_image`: the same, plus **stand-ins** for kubeadm, kubelet, kubectl and crictl
  (tests/support/kube_standins/, packed as zipapps with PyYAML and the kubeadm field tables) and an
  etc/kubeadm.yml, labelled as a Kubernetes base image. The stand-ins validate and record; they make no
  cluster. Tests only.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import yaml

import sealer_runner.kube.fields

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.image.store import Store
from sealer_runner.kube.version import API_RANGE, KubeVersion

BINARIES = {
    "containerd": "/usr/bin/containerd",
    "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2",
    "ctr": "/usr/bin/ctr",
    "runc": "/usr/sbin/runc",
    "registry": "/usr/bin/docker-registry",
}
KUBEFILE = """\
FROM scratch
LABEL cluster.alpha.sealer.io/cluster-runtime-type=none \\
      cluster.alpha.sealer.io/container-runtime-type=containerd
COPY bin bin
"""


def missing_binaries() -> list[str]:
    return [path for path in BINARIES.values() if not Path(path).exists()]


def build_base_image(store: Store, workdir: Path, tag: str = "example.com/base/runtime:test") -> str:
    ctx = workdir / "base-image"
    (ctx / "bin").mkdir(parents=True, exist_ok=True)
    for name, source in BINARIES.items():
        shutil.copy2(source, ctx / "bin" / name)
    (ctx / "Kubefile").write_text(KUBEFILE)
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(tag,), platforms=("linux/amd64",)))
    return tag


STANDINS = Path(__file__).parent / "kube_standins"
STANDIN_VERSION = "v1.30.2"
STANDIN_TAG = f"example.com/base/kubernetes-standin:{STANDIN_VERSION}"
KUBERNETES_KUBEFILE = """\
FROM scratch
LABEL cluster.alpha.sealer.io/cluster-runtime-type=kubernetes \\
      cluster.alpha.sealer.io/cluster-runtime-version={version} \\
      cluster.alpha.sealer.io/container-runtime-type=containerd
COPY bin bin
COPY etc etc
"""
#: The image's kubeadm defaults, as sealer's basefs ships them (v1beta3 for 1.30; cgroupfs, which the
#: tool must force to systemd; the pod subnet, which it must keep).
IMAGE_KUBEADM = """\
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: {version}
imageRepository: registry.k8s.io
networking:
  podSubnet: 100.64.0.0/10
  serviceSubnet: 10.96.0.0/22
apiServer:
  extraArgs:
    audit-log-maxage: "7"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
maxPods: 120
"""


def _apiserver_tls() -> tuple[bytes, bytes]:
    """A self-signed certificate for the stand-in apiserver (test-only; nothing verifies it)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver stand-in")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def standin_zipapp(dest: Path, tool: str, version: str = STANDIN_VERSION) -> Path:
    """tests/support/kube_standins/<tool>.py as one executable for the hosts' python3: the stand-in, its
    shared module, a copy of sealer_runner/kube/fields.py (kube_fields), PyYAML's pure-Python modules and
    standin.json (the version it claims, the kubeadm APIs that version reads)."""
    parsed = KubeVersion.parse(version)
    settings = {"version": version, "reads": sorted(api for api in API_RANGE if parsed.reads(api))}
    yaml_dir = Path(yaml.__file__).parent
    tmp = dest.with_suffix(".zip")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("__main__.py", f"import runpy\nrunpy.run_module({tool!r}, run_name='__main__')\n")
        z.write(STANDINS / f"{tool}.py", f"{tool}.py")
        z.write(STANDINS / "_standin.py", "_standin.py")
        z.write(STANDINS / "_apiserver.py", "_apiserver.py")
        z.write(STANDINS / "_etcd.py", "_etcd.py")
        cert, key = _apiserver_tls()
        z.writestr("apiserver.crt", cert)
        z.writestr("apiserver.key", key)
        z.write(sealer_runner.kube.fields.__file__, "kube_fields.py")
        z.writestr("standin.json", json.dumps(settings))
        for module in sorted(yaml_dir.glob("*.py")):
            z.write(module, f"yaml/{module.name}")
    dest.write_bytes(b"#!/usr/bin/python3\n" + tmp.read_bytes())
    tmp.unlink()
    dest.chmod(0o755)
    return dest


def build_kubernetes_standin_image(store: Store, workdir: Path, tag: str | None = None,
                                   version: str = STANDIN_VERSION) -> str:
    """The Kubernetes test base image: bin/ as the `none` one plus the kubeadm, kubelet, kubectl and crictl
    stand-ins claiming *version*; etc/kubeadm.yml; runtime labels kubernetes / *version*."""
    tag = tag or f"example.com/base/kubernetes-standin:{version}"
    ctx = workdir / f"kubernetes-standin-image-{version}"
    (ctx / "bin").mkdir(parents=True, exist_ok=True)
    (ctx / "etc").mkdir(exist_ok=True)
    for name, source in BINARIES.items():
        shutil.copy2(source, ctx / "bin" / name)
    for tool in ("kubeadm", "kubelet", "kubectl", "crictl"):
        standin_zipapp(ctx / "bin" / tool, tool, version)
    (ctx / "etc" / "kubeadm.yml").write_text(IMAGE_KUBEADM.format(version=version))
    (ctx / "Kubefile").write_text(KUBERNETES_KUBEFILE.format(version=version))
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(tag,), platforms=("linux/amd64",)))
    return tag


def install_ipvs_standins(host_rootfs: Path) -> None:
    """The test hosts' kernel has no IPVS and cannot make dummy links: put the ipvsadm and ip stand-ins
    (tests/support/kube_standins/) in the host's /usr/local/sbin, ahead of the real ip in PATH."""
    sbin = host_rootfs / "usr/local/sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    for tool in ("ipvsadm", "ip"):
        shutil.copy2(STANDINS / f"{tool}.py", sbin / tool)
        (sbin / tool).chmod(0o755)
