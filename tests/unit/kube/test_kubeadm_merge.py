"""kubeadm configuration: sealer's precedence (defaults < image etc/kubeadm.yml < Clusterfile < forced),
API versions by Kubernetes version, and the strict check of the Clusterfile's documents."""

from __future__ import annotations

import pytest

from sealer_runner.clusterfile.yamlpos import load_documents
from sealer_runner.errors import InputError
from sealer_runner.kube.kubeadm import ClusterShape, Source, merge
from sealer_runner.kube.strict import unknown_fields
from sealer_runner.kube.version import KubeVersion

V130 = KubeVersion.parse("v1.30.2")
V131 = KubeVersion.parse("v1.31.0")
SHAPE = ClusterShape(V130, ("10.0.0.1", "10.0.0.2", "10.0.0.3"), "sea.hub:5000")


def cluster_doc(**networking: str) -> dict:
    return {"apiVersion": "kubeadm.k8s.io/v1beta3", "networking": dict(networking)}


def init_of(config, ip="10.0.0.1"):
    return {doc["kind"]: doc for doc in config.for_init(ip)}


# Each level against every other: the field podSubnet set by some levels; the highest one wins.
LEVELS = ("image", "clusterfile", "env")


@pytest.mark.parametrize("setters", [
    (), ("image",), ("clusterfile",), ("env",), ("image", "clusterfile"), ("image", "env"),
    ("clusterfile", "env"), ("image", "clusterfile", "env"),
])
def test_pod_subnet_precedence_every_level_against_every_other(setters):
    sources = []
    if "image" in setters:
        sources.append(Source("image", {"ClusterConfiguration": cluster_doc(podSubnet="10.1.0.0/16")}))
    if "clusterfile" in setters:
        sources.append(Source("Clusterfile", {"ClusterConfiguration": cluster_doc(podSubnet="10.2.0.0/16")}))
    env = {"PodCIDR": "10.3.0.0/16"} if "env" in setters else {}
    shape = ClusterShape(V130, SHAPE.masters, SHAPE.registry, env=env)
    got = init_of(merge(shape, sources))["ClusterConfiguration"]["networking"]["podSubnet"]
    # documents beat the env (the env fills only what no document set); the Clusterfile beats the image
    if "clusterfile" in setters:
        assert got == "10.2.0.0/16"
    elif "image" in setters:
        assert got == "10.1.0.0/16"
    elif "env" in setters:
        assert got == "10.3.0.0/16"
    else:
        assert got == "100.64.0.0/10"


@pytest.mark.parametrize("level", ["image", "clusterfile"])
def test_forced_values_beat_every_document(level):
    hostile = {
        "ClusterConfiguration": {"apiVersion": "kubeadm.k8s.io/v1beta3", "controlPlaneEndpoint": "evil:6443",
                                 "imageRepository": "docker.io/evil",
                                 "apiServer": {"certSANs": ["extra.example.com"]}},
        "KubeletConfiguration": {"apiVersion": "kubelet.config.k8s.io/v1beta1", "cgroupDriver": "cgroupfs"},
        "KubeProxyConfiguration": {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "mode": "iptables",
                                   "ipvs": {"excludeCIDRs": ["192.168.0.0/16"]}},
        "InitConfiguration": {"apiVersion": "kubeadm.k8s.io/v1beta3",
                              "localAPIEndpoint": {"advertiseAddress": "1.2.3.4"}},
    }
    sources = [Source(level, hostile)]
    docs = init_of(merge(SHAPE, sources), "10.0.0.1")
    cluster = docs["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "apiserver.cluster.local:6443"
    assert cluster["imageRepository"] == "sea.hub:5000"
    assert cluster["kubernetesVersion"] == "v1.30.2"
    sans = cluster["apiServer"]["certSANs"]
    assert set(sans) >= {"127.0.0.1", "apiserver.cluster.local", "10.103.97.2", "10.0.0.1", "10.0.0.2",
                         "10.0.0.3", "extra.example.com"}
    assert len(sans) == len(set(sans))
    assert docs["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.1"
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    proxy = docs["KubeProxyConfiguration"]
    assert proxy["mode"] == "ipvs"
    assert proxy["ipvs"]["excludeCIDRs"] == ["192.168.0.0/16", "10.103.97.2/32"]


def test_clusterfile_merges_key_by_key_over_image_and_defaults():
    image = Source("image", {"ClusterConfiguration": {"apiVersion": "kubeadm.k8s.io/v1beta3",
                                                      "apiServer": {"extraArgs": {"v": "2", "a": "image"}}}})
    clusterfile = Source("Clusterfile", {"ClusterConfiguration": {"apiVersion": "kubeadm.k8s.io/v1beta3",
                                                                  "apiServer": {"extraArgs": {"a": "cf"}}}})
    args = init_of(merge(SHAPE, [image, clusterfile]))["ClusterConfiguration"]["apiServer"]["extraArgs"]
    assert args["v"] == "2" and args["a"] == "cf"
    assert args["audit-log-maxage"] == "30", "defaults stay where nobody overrode them"


def test_v1beta4_for_131_converts_v1beta3_documents():
    image = Source("image", {"ClusterConfiguration": {"apiVersion": "kubeadm.k8s.io/v1beta3",
                                                      "apiServer": {"extraArgs": {"v": "2"},
                                                                    "timeoutForControlPlane": "4m0s"}}})
    clusterfile = Source("Clusterfile", {"ClusterConfiguration": {
        "apiVersion": "kubeadm.k8s.io/v1beta4", "apiServer": {"extraArgs": [{"name": "v", "value": "5"}]}}})
    shape = ClusterShape(V131, SHAPE.masters, SHAPE.registry)
    docs = init_of(merge(shape, [image, clusterfile]))
    assert {d["apiVersion"] for k, d in docs.items() if k.endswith("Configuration") and "kubeadm" in d["apiVersion"]} \
        == {"kubeadm.k8s.io/v1beta4"}
    args = docs["ClusterConfiguration"]["apiServer"]["extraArgs"]
    assert {"name": "v", "value": "5"} in args and isinstance(args, list)
    assert "timeoutForControlPlane" not in docs["ClusterConfiguration"]["apiServer"]
    assert docs["InitConfiguration"]["timeouts"]["controlPlaneComponentHealthCheck"] == "4m0s"


def test_join_documents_per_role():
    config = merge(SHAPE, [])
    (master,) = config.for_join("10.0.0.2", control_plane=True)
    (node,) = config.for_join("10.0.0.9", control_plane=False)
    assert master["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.2"
    assert "controlPlane" not in node
    for doc in (master, node):
        assert doc["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "apiserver.cluster.local:6443"
        assert doc["apiVersion"] == "kubeadm.k8s.io/v1beta3"


@pytest.mark.parametrize(("version", "api"), [("v1.21.14", "v1beta2"), ("v1.22.0", "v1beta3"),
                                              ("v1.30.9", "v1beta3"), ("v1.31.0", "v1beta4"), ("1.33.1", "v1beta4")])
def test_kubeadm_api_follows_the_kubernetes_version(version, api):
    assert KubeVersion.parse(version).kubeadm_api == f"kubeadm.k8s.io/{api}"


def test_a_v1beta2_image_document_converts_for_a_v1beta3_kubeadm():
    # sealer's basefs images ship a v1beta2 etc/kubeadm.yml whatever their Kubernetes version
    old = Source("image", {"ClusterConfiguration": {"apiVersion": "kubeadm.k8s.io/v1beta2", "useHyperKubeImage": False,
                                                    "dns": {"type": "CoreDNS", "imageTag": "1.8"}}})
    cluster = init_of(merge(SHAPE, [old]))["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert "useHyperKubeImage" not in cluster and cluster["dns"] == {"imageTag": "1.8"}
    with pytest.raises(InputError, match="kubeadm documents are kubeadm.k8s.io/v1beta2"):
        merge(SHAPE, [Source("x", {"InitConfiguration": {"apiVersion": "kubeadm.k8s.io/v1"}})])


@pytest.mark.parametrize(("start", "target", "ok"), [
    ("v1.29.3", "v1.29.9", True), ("v1.29.3", "v1.30.0", True), ("v1.29.3", "v1.31.0", False),
    ("v1.30.1", "v1.29.0", False)])
def test_upgrade_steps_one_minor_at_a_time(start, target, ok):
    assert (KubeVersion.parse(start).upgrade_step(KubeVersion.parse(target)) is None) is ok


STRICT = """\
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
networking:
  podSubnet: 10.0.0.0/16
  podSubnett: 10.1.0.0/16
apiServer:
  certSANs: [a]
  extraArgs: {anything-goes: "1"}
  extraVolumes:
    - name: x
      hostPath: /x
      mountpath: /y
controlPlaneEndpoint: x:6443
"""


def test_strict_check_names_every_unknown_field_with_its_line_and_a_hint():
    (doc,) = load_documents(STRICT, "Clusterfile")
    found = list(unknown_fields("kubeadm.k8s.io/v1beta3", "ClusterConfiguration", doc))
    assert found == [(5, "networking.podSubnett", " (did you mean podSubnet?)"),
                     (12, "apiServer.extraVolumes[0].mountpath", " (did you mean mountPath?)")]


def test_strict_check_knows_version_differences():
    text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  timeoutForControlPlane: 4m\n"
    (doc,) = load_documents(text, "Clusterfile")
    assert [f[:2] for f in unknown_fields("kubeadm.k8s.io/v1beta4", "ClusterConfiguration", doc)] == \
        [(4, "apiServer.timeoutForControlPlane")]
    assert list(unknown_fields("kubeadm.k8s.io/v1beta3", "ClusterConfiguration", doc)) == []
    kubelet = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\nmaxpods: 3\n"
    (doc,) = load_documents(kubelet, "Clusterfile")
    assert [f[:2] for f in unknown_fields("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", doc)] == \
        [(4, "maxpods")]
