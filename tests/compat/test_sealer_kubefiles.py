"""Kubefiles shaped like sealer's own and its users', built with the real builder into a tmp store.

Each asserts what sealer gives for the same input: the files at their paths in the image's merged rootfs,
the labels, and the recorded launch commands and apps (issue 11).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from sealer_runner.build.builder import Builder, BuildOptions, BuildReporter
from sealer_runner.image.layer import apply_layer
from sealer_runner.image.metadata import read_extension
from sealer_runner.image.store import PlatformManifest, Store
from sealer_runner.kubefile import LABEL_CLUSTER_RUNTIME_TYPE
from sealer_runner.run.cluster import app_command

DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"


class Warnings(BuildReporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def context(root: Path, kubefile: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "Kubefile").write_text(textwrap.dedent(kubefile))
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def build(store: Store, ctx: Path, tag: str, platforms: tuple[str, ...] = ("linux/amd64",)
          ) -> tuple[list[PlatformManifest], list[str]]:
    reporter = Warnings()
    options = BuildOptions(kubefile=ctx / "Kubefile", context=ctx, tags=(tag,), platforms=platforms)
    result = Builder(store, reporter).build(options)
    return store.platform_manifests(result.descriptor), reporter.warnings


def rootfs(store: Store, pm: PlatformManifest, where: Path) -> Path:
    where.mkdir(parents=True)
    for layer in pm.manifest.layers:
        apply_layer(store, layer, where)
    return where


BASE_KUBEFILE = """\
    FROM scratch
    COPY bin bin
    COPY etc etc
    COPY images images
    COPY manifests manifests
    COPY scripts scripts
    COPY dashboard.yaml.tmpl manifests/ # only support render template files, see the docs
    LABEL "cluster.alpha.sealer.io/cluster-runtime-type"="kubernetes"
    LABEL "cluster.alpha.sealer.io/container-runtime-type"="docker"
    CMD ["kubectl apply -f etc/tigera-operator.yaml", "kubectl apply -f etc/custom-resources.yaml"]
    """
BASE_FILES = {
    "bin/kubeadm": "kubeadm", "bin/kubectl": "kubectl", "bin/kubelet": "kubelet",
    "etc/kubeadm.yml": "kind: ClusterConfiguration\n", "etc/tigera-operator.yaml": DEPLOYMENT.format(name="op"),
    "etc/custom-resources.yaml": DEPLOYMENT.format(name="cr"),
    "images/.keep": "", "manifests/imageList": "docker.io/calico/cni:v3.24.1\n",
    "scripts/init-kube.sh": "#!/bin/bash\n", "dashboard.yaml.tmpl": "kind: {{ .Kind }}\n",
}


def test_kubernetes_base_image_then_a_child_copying_into_its_directories(store, tmp_path):
    ctx = context(tmp_path / "base", BASE_KUBEFILE, BASE_FILES)
    (pm,), warnings = build(store, ctx, "docker.io/sealerio/kubernetes:v1.22.15")
    root = rootfs(store, pm, tmp_path / "base-rootfs")
    for path in ("bin/kubeadm", "etc/kubeadm.yml", "manifests/imageList", "manifests/dashboard.yaml.tmpl",
                 "scripts/init-kube.sh", "images/.keep"):
        assert (root / path).is_file(), path
    assert pm.config["config"]["Labels"][LABEL_CLUSTER_RUNTIME_TYPE] == "kubernetes"
    assert read_extension(pm.manifest).launch_cmds == (
        "kubectl apply -f etc/tigera-operator.yaml", "kubectl apply -f etc/custom-resources.yaml")
    assert len(warnings) == 2 and warnings[0].endswith(":7: COPY: ignored the rest of the line after the "
                                                        "destination: '# only support render template files, "
                                                        "see the docs'")
    assert ":10: CMD:" in warnings[1]

    # sealer's calico/basefs images: files copied over the base image's directories go into them.
    child = context(tmp_path / "child", """\
        FROM docker.io/sealerio/kubernetes:v1.22.15
        COPY imageList manifests
        COPY kubeadm.yml etc
        RUN mkdir zookeeper
        COPY manifest.yaml zookeeper
        CMDS ["kubectl apply -f zookeeper/manifest.yaml"]
        """, {"imageList": "docker.io/calico/node:v3.24.1\n", "kubeadm.yml": "kind: InitConfiguration\n",
              "manifest.yaml": DEPLOYMENT.format(name="zk")})
    (pm,), _ = build(store, child, "example.com/calico:v1")
    root = rootfs(store, pm, tmp_path / "child-rootfs")
    assert (root / "manifests/imageList").read_text() == "docker.io/calico/node:v3.24.1\n"
    assert (root / "manifests/dashboard.yaml.tmpl").is_file()
    assert (root / "etc/kubeadm.yml").read_text() == "kind: InitConfiguration\n"
    assert (root / "etc/tigera-operator.yaml").is_file()
    assert (root / "zookeeper/manifest.yaml").is_file()
    assert read_extension(pm.manifest).launch_cmds == ("kubectl apply -f zookeeper/manifest.yaml",)


def test_application_image_with_app_appcmds_and_launch(store, tmp_path):
    base = context(tmp_path / "base", "FROM scratch\nCOPY bin bin\n", {"bin/kubectl": "kubectl"})
    build(store, base, "docker.io/sealerio/kubernetes:v1.22.15")
    ctx = context(tmp_path / "app", """\
        FROM docker.io/sealerio/kubernetes:v1.22.15
        APP nginx local://nginx.yaml
        APP business local://app.yaml local://install.sh
        APPCMDS business ["bash install.sh", "kubectl apply -f app.yaml"]
        APP dashboard local://dashboard.yaml.tmpl
        APPCMDS dashboard ["kubectl apply -f dashboard.yaml.tmpl"]
        APPENV nginx NAMESPACE=web
        LAUNCH ["nginx", "business", "dashboard"]
        """, {"nginx.yaml": DEPLOYMENT.format(name="nginx"), "app.yaml": DEPLOYMENT.format(name="biz"),
              "install.sh": "echo install\n", "dashboard.yaml.tmpl": "kind: {{ .Kind }}\n"})
    (pm,), warnings = build(store, ctx, "example.com/apps:v1")
    assert warnings == []
    root = rootfs(store, pm, tmp_path / "rootfs")
    for path in ("nginx/nginx.yaml", "business/app.yaml", "business/install.sh", "dashboard/dashboard.yaml.tmpl"):
        assert (root / "application/apps" / path).is_file(), path
    ext = read_extension(pm.manifest)
    apps = {app.name: app for app in ext.applications}
    assert ext.launch_app_names == ("nginx", "business", "dashboard")
    assert (apps["nginx"].type, apps["nginx"].launch_files, dict(apps["nginx"].env)) == (
        "kube", ("nginx.yaml",), {"NAMESPACE": "web"})
    assert (apps["business"].type, apps["business"].cmds) == ("", ("bash install.sh", "kubectl apply -f app.yaml"))
    assert app_command(apps["business"]) == (
        "cd application/apps/business && bash install.sh && kubectl apply -f app.yaml")


def test_multi_arch_image_copies_each_platforms_binaries(store, tmp_path):
    ctx = context(tmp_path / "ctx", """\
        FROM --platform=linux/amd64,linux/arm64 scratch
        COPY ${ARCH}/bin bin
        COPY ${ARCH}/cri/containerd.tar.gz cri/
        LABEL "cluster.alpha.sealer.io/cluster-runtime-type"="kubernetes"
        """, {"amd64/bin/kubeadm": "kubeadm-amd64", "arm64/bin/kubeadm": "kubeadm-arm64",
              "amd64/cri/containerd.tar.gz": "cri-amd64", "arm64/cri/containerd.tar.gz": "cri-arm64"})
    pms, warnings = build(store, ctx, "example.com/multi:v1", platforms=())
    assert warnings == []
    by_arch = {pm.platform.architecture: pm for pm in pms}
    assert set(by_arch) == {"amd64", "arm64"}
    for arch, pm in by_arch.items():
        root = rootfs(store, pm, tmp_path / arch)
        assert (root / "bin/kubeadm").read_text() == f"kubeadm-{arch}"
        assert (root / "cri/containerd.tar.gz").read_text() == f"cri-{arch}"
        assert pm.config["architecture"] == arch


def test_helm_chart_application(store, tmp_path):
    chart = {
        "charts/mysql/Chart.yaml": "apiVersion: v2\nname: mysql\nversion: 9.4.1\n",
        "charts/mysql/values.yaml": "image: {repository: bitnami/mysql, tag: 8.0.31}\n",
        "charts/mysql/templates/statefulset.yaml": DEPLOYMENT.format(name="{{ .Release.Name }}"),
    }
    ctx = context(tmp_path / "ctx", """\
        FROM scratch
        APP mysql local://charts/mysql
        LAUNCH ["mysql"]
        """, chart)
    (pm,), warnings = build(store, ctx, "example.com/mysql:9.4.1")
    assert warnings == []
    root = rootfs(store, pm, tmp_path / "rootfs")
    assert (root / "application/apps/mysql/Chart.yaml").is_file()
    assert (root / "application/apps/mysql/templates/statefulset.yaml").is_file()
    ext = read_extension(pm.manifest)
    (app,) = ext.applications
    assert (app.name, app.type, app.launch_files) == ("mysql", "helm", (".",))
    assert ext.launch_app_names == ("mysql",)
    assert app_command(app) == "helm install mysql application/apps/mysql"
