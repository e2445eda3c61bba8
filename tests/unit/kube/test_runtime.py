"""The cluster runtime interface and what the kubeadm runtime hands the playbook (sealer_kube_* extra-vars)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError, InputError
from sealer_runner.kube.runtime import (VERSION_LABEL, KubeadmRuntime, NoRuntime, RuntimeInput, parse_alt_names, runtime_for)

LABELS = {VERSION_LABEL: "v1.30.2"}


def clusterfile(masters: str = "10.248.0.11", nodes: str = "10.248.0.21, 10.248.0.22", env: str = "",
                extra: str = "") -> str:
    return f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: demo}}
spec:
  image: example.com/k8s:v1
  env: [{env}]
  hosts:
    - {{ips: [{masters}], roles: [master]}}
    - {{ips: [{nodes}], roles: [node]}}
{extra}"""


def install(text: str, labels=LABELS, image_kubeadm: bytes | None = None):
    given = RuntimeInput(load_clusterfile(text), labels, image_kubeadm, "sea.hub:5000", Path("/state/demo"))
    return KubeadmRuntime().install(given)


def test_runtime_for_names():
    assert isinstance(runtime_for("kubernetes"), KubeadmRuntime)
    assert isinstance(runtime_for("none"), NoRuntime)
    assert runtime_for("none").install(RuntimeInput(load_clusterfile(clusterfile()))).extravars == {}
    with pytest.raises(InputError, match="'k0s' is not supported"):
        runtime_for("k0s")
    given = RuntimeInput(load_clusterfile(clusterfile()), LABELS, None, "sea.hub:5000", Path("/state/demo"))
    assert runtime_for("kubernetes").upgrade(given, "v1.29.9").extravars["sealer_upgrade"] is True
    assert runtime_for("kubernetes").upgrade(given, "v1.30.2").extravars["sealer_kube_version"] == "v1.30.2"
    with pytest.raises(InputError, match="skips a minor version"):
        runtime_for("kubernetes").upgrade(given, "v1.28.4")
    with pytest.raises(InputError, match="does not downgrade"):
        runtime_for("kubernetes").upgrade(given, "v1.31.0")
    assert runtime_for("none").upgrade(given, "").extravars == {"sealer_upgrade": True}
    assert runtime_for("kubernetes").remove(given, ["10.248.0.21"]).extravars["sealer_kube_nodes"]


def test_kubeadm_vars_per_role():
    plan = install(clusterfile(masters="10.248.0.11, 10.248.0.12, 10.248.0.13"))
    v = plan.extravars
    assert v["sealer_kube_version"] == "v1.30.2"
    assert v["sealer_kube_vip"] == "10.103.97.2"
    assert v["sealer_kube_masters"] == ["10.248.0.11", "10.248.0.12", "10.248.0.13"]
    assert v["sealer_kube_nodes"] == ["10.248.0.21", "10.248.0.22"]
    assert v["sealer_kube_admin_conf"] == "/state/demo/admin.conf"
    init = {d["kind"]: d for d in v["sealer_kube_init_config"]}
    assert init["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.248.0.11"
    cluster = init["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "apiserver.cluster.local:6443"
    assert cluster["imageRepository"] == "sea.hub:5000"
    assert {"10.103.97.2", "10.248.0.12", "apiserver.cluster.local"} <= set(cluster["apiServer"]["certSANs"])
    assert init["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    assert "10.103.97.2/32" in init["KubeProxyConfiguration"]["ipvs"]["excludeCIDRs"]
    joins = v["sealer_kube_join_configs"]
    assert set(joins) == {"10.248.0.12", "10.248.0.13", "10.248.0.21", "10.248.0.22"}
    (m1,) = joins["10.248.0.12"]
    assert m1["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "10.248.0.11:6443"  # master0, as sealer
    assert m1["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.248.0.12"
    (n1,) = joins["10.248.0.21"]
    assert n1["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "10.103.97.2:6443"  # the VIP
    assert "controlPlane" not in n1
    assert plan.warnings == ()


def test_vip_from_env_and_even_masters_warn():
    plan = install(clusterfile(masters="10.248.0.11, 10.248.0.12", env="IPvsVIPv4=10.200.0.9, 'CertSANs=a.example,b'"))
    assert plan.extravars["sealer_kube_vip"] == "10.200.0.9"
    sans = {d["kind"]: d for d in plan.extravars["sealer_kube_init_config"]}["ClusterConfiguration"]["apiServer"]
    assert {"a.example", "b", "10.200.0.9"} <= set(sans["certSANs"])
    assert plan.extravars["sealer_kube_join_configs"]["10.248.0.21"][0]["discovery"]["bootstrapToken"][
        "apiServerEndpoint"] == "10.200.0.9:6443"
    assert len(plan.warnings) == 1 and "2 masters" in plan.warnings[0] and plan.warnings[0].startswith("Clusterfile:")


def test_network_errors_name_the_clusterfile():
    with pytest.raises(ClusterfileError, match="VIP 10.248.0.99 is inside the hosts' subnet"):
        install(clusterfile(env="IPvsVIPv4=10.248.0.99"))
    with pytest.raises(ClusterfileError, match="overlaps"):
        install(clusterfile(env="PodCIDR=10.96.0.0/16"))


def test_image_kubeadm_file_is_a_source_and_strict():
    image = b"apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.29.1\n" \
            b"networking: {podSubnet: 10.244.0.0/16}\n"
    plan = install(clusterfile(), labels={}, image_kubeadm=image)
    cluster = {d["kind"]: d for d in plan.extravars["sealer_kube_init_config"]}["ClusterConfiguration"]
    assert plan.extravars["sealer_kube_version"] == "v1.29.1"  # no label: the image's file says
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    bad = b"apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n\nnetworkin: {}\n"
    with pytest.raises(ClusterfileError, match=r"etc/kubeadm.yml:4: .*networkin.*did you mean networking"):
        install(clusterfile(), image_kubeadm=bad)
    with pytest.raises(InputError, match="Kubernetes version is unknown"):
        install(clusterfile(), labels={})


def test_names_cert_added_join_every_masters_certificate_configuration():
    text = clusterfile(masters="10.248.0.11, 10.248.0.12", env="CertSANs=from-env.example.com")
    given = RuntimeInput(load_clusterfile(text), LABELS, None, "sea.hub:5000", Path("/state/demo"),
                         added_sans=("api.example.com", "from-env.example.com"))
    v = KubeadmRuntime().install(given).extravars
    assert v["sealer_kube_added_sans"] == ["api.example.com", "from-env.example.com"]
    assert set(v["sealer_kube_cert_configs"]) == {"10.248.0.11", "10.248.0.12"}
    assert v["sealer_kube_cert_configs"]["10.248.0.11"] == v["sealer_kube_init_config"], "master0's is its init"
    for ip, docs in v["sealer_kube_cert_configs"].items():
        kinds = {d["kind"]: d for d in docs}
        assert kinds["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == ip
        sans = kinds["ClusterConfiguration"]["apiServer"]["certSANs"]
        assert sans.count("from-env.example.com") == 1 and "api.example.com" in sans


@pytest.mark.parametrize(("text", "names"), [
    ("api.example.com, 10.0.0.9", ("api.example.com", "10.0.0.9")),
    ("API.Example.COM.,*.apps.example.com", ("api.example.com", "*.apps.example.com")),
    ("fd00:0::1,fd00::1", ("fd00::1",)),
])
def test_alt_names_are_ips_or_dns_names(text, names):
    assert parse_alt_names(text) == names


@pytest.mark.parametrize("text", ["", " , ", "bad_name.example.com", "-lead.example.com", "a" * 64 + ".com",
                                  "two words", "10.0.0.0/24"])
def test_other_alt_names_are_refused(text):
    with pytest.raises(InputError, match="--alt-names"):
        parse_alt_names(text)
