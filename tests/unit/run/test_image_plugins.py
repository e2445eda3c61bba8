"""Plugins shipped in an image's plugins/*.yaml, merged with the Clusterfile's; the cluster runtime; and
what build_request hands to the playbook."""

from pathlib import Path

import pytest

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import build_request, cluster_runtime
from sealer_runner.run.image_plugins import (
    SourcedPlugin,
    check_hostnames,
    clusterfile_plugins,
    image_plugins,
    merge_plugins,
)

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: demo}
spec:
  image: example.com/plugins:v1
  hosts:
    - {ips: [10.248.0.11], roles: [master]}
    - {ips: [10.248.0.21], roles: [node]}
"""


def plugin_doc(name: str, plugin_type: str, data: str, action: str = "post-install") -> str:
    return (f"---\napiVersion: sealer.io/v1\nkind: Plugin\nmetadata: {{name: {name}}}\nspec:\n"
            f"  type: {plugin_type}\n  action: {action}\n  data: |\n" + "".join(f"    {line}\n" for line in data.splitlines()))


def sourced(text: str, source: str) -> list[SourcedPlugin]:
    return clusterfile_plugins(load_clusterfile(CLUSTERFILE + text, source))


def test_image_plugin_files_decode_in_path_order_and_name_their_file_on_error():
    files = {"plugins/b.yaml": plugin_doc("b", "SHELL", "echo b").encode(),
             "plugins/a.yml": plugin_doc("a", "LABEL", "10.248.0.21 gpu=true").encode()}
    found, warnings = image_plugins(files, "example.com/plugins:v1")
    assert [(s.plugin.name, s.where) for s in found] == [("a", "plugins/a.yml:2"), ("b", "plugins/b.yaml:2")]
    assert warnings == []
    bad = {"plugins/x.yaml": plugin_doc("x", "TAINT", "10.248.0.21 k=v:Never").encode()}
    with pytest.raises(InputError) as info:
        image_plugins(bad, "example.com/plugins:v1")
    assert str(info.value).startswith('image example.com/plugins:v1: plugins/x.yaml:9: Plugin "x": spec.data line 1: ')
    twice = {**files, "plugins/c.yaml": plugin_doc("a", "SHELL", "echo again").encode()}
    with pytest.raises(InputError, match=r"plugins/c.yaml:2: Plugin 'a' is also defined at plugins/a.yml:2"):
        image_plugins(twice, "example.com/plugins:v1")


def test_image_plugin_warnings_name_the_image():
    cluster = load_clusterfile(CLUSTERFILE).cluster
    files = {"plugins/a.yaml": plugin_doc("a", "LABEL", "10.0.0.99 gpu=true").encode()}
    _, warnings = image_plugins(files, "example.com/plugins:v1", cluster)
    assert warnings == ['image example.com/plugins:v1: plugins/a.yaml:9: Plugin "a": spec.data line 1: '
                        "10.0.0.99 is not a host of the cluster"]


def test_the_clusterfile_comes_first_and_wins_on_a_name():
    mine = sourced(plugin_doc("shared", "SHELL", "echo mine") + plugin_doc("own", "SHELL", "echo own"), "Clusterfile")
    files = {"plugins/p.yaml": (plugin_doc("shared", "SHELL", "echo image") + plugin_doc("extra", "SHELL", "echo x")).encode()}
    theirs, _ = image_plugins(files, "img")
    merged = merge_plugins(mine, theirs)
    assert [(s.plugin.name, s.plugin.data.strip(), s.source) for s in merged] == [
        ("shared", "echo mine", "Clusterfile"), ("own", "echo own", "Clusterfile"), ("extra", "echo x", "plugins/p.yaml")]


def test_hostname_plugins_must_agree():
    one = sourced(plugin_doc("names", "HOSTNAME", "10.248.0.11 m0"), "Clusterfile")
    same = sourced(plugin_doc("again", "HOSTNAME", "10.248.0.11 m0", "post-init-host"), "plugins/h.yaml")
    check_hostnames(one + same)
    other_name = sourced(plugin_doc("other", "HOSTNAME", "10.248.0.11 master-0"), "plugins/h.yaml")
    with pytest.raises(InputError, match=r"plugins/h.yaml:17: Plugin 'other' names 10.248.0.11 'master-0', "
                                         r"but Clusterfile:17 names it 'm0'"):
        check_hostnames(one + other_name)
    other_host = sourced(plugin_doc("other", "HOSTNAME", "10.248.0.21 M0"), "plugins/h.yaml")
    with pytest.raises(InputError, match=r"gives 'M0' to 10.248.0.21, but Clusterfile:17 gives it to 10.248.0.11"):
        check_hostnames(one + other_host)


@pytest.mark.parametrize(("labels", "kubeadm", "runtime"), [
    ({}, True, "kubernetes"),
    ({}, False, "none"),
    ({"cluster.alpha.sealer.io/cluster-runtime-type": "k0s"}, False, "k0s"),
    ({"cluster.alpha.sealer.io/cluster-runtime-type": "none"}, True, "none"),
    ({"cluster.alpha.sealer.io/cluster-runtime-type": " "}, True, "kubernetes"),
])
def test_cluster_runtime(labels, kubeadm, runtime):
    assert cluster_runtime(labels, kubeadm) == runtime


def build(store: Store, ctx: Path, kubefile: str, files: dict[str, str]) -> None:
    for name, text in {"Kubefile": kubefile, **files}.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/plugins:v1",)))


def test_build_request_merges_image_plugins_and_sets_the_runtime(tmp_path):
    store = Store(tmp_path / "store")
    image_file = (plugin_doc("labels", "LABEL", "10.248.0.21 from-image=yes")
                  + plugin_doc("taints", "TAINT", "10.248.0.21 image=yes:NoSchedule"))
    build(store, tmp_path / "ctx", "FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\n"
          "COPY plugins plugins\nCOPY bin bin\n",
          {"plugins/node.yaml": image_file, "bin/kubeadm": "#!/bin/sh\n"})
    spec = load_clusterfile(CLUSTERFILE + plugin_doc("taints", "TAINT", "10.248.0.21 dedicated=db:NoSchedule,old-"))
    request = build_request(spec, store, tmp_path / "root", ssh_key=None)
    assert request.extravars["sealer_cluster_runtime"] == "kubernetes"
    # the kubeadm runtime's part: documents for the cluster's registry, admin.conf into the state dir
    cluster_doc = {d["kind"]: d for d in request.extravars["sealer_kube_init_config"]}["ClusterConfiguration"]
    assert cluster_doc["imageRepository"] == "sea.hub:5000" and cluster_doc["kubernetesVersion"] == "v1.30.2"
    assert request.extravars["sealer_kube_admin_conf"] == str(tmp_path / "root" / "clusters" / "demo" / "admin.conf")
    assert list(request.extravars["sealer_kube_join_configs"]) == ["10.248.0.21"]
    plugins = {p["name"]: p for p in request.extravars["sealer_plugins"]}
    assert [p["name"] for p in request.extravars["sealer_plugins"]] == ["taints", "labels"]
    assert plugins["taints"]["source"] == "Clusterfile:10"
    assert plugins["taints"]["targets"] == [{
        "ip": "10.248.0.21", "hostname": "", "labels": {},
        "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
        "untaints": [{"key": "old", "effect": ""}]}]
    assert plugins["labels"]["source"] == "plugins/node.yaml:2"
    assert plugins["labels"]["targets"][0]["labels"] == {"from-image": "yes"}
    assert request.warnings == ()


def test_build_request_without_kubeadm_runs_no_cluster(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", "FROM scratch\nCOPY f f\n", {"f": "x\n"})
    request = build_request(load_clusterfile(CLUSTERFILE), store, tmp_path / "root", ssh_key=None)
    assert request.extravars["sealer_cluster_runtime"] == "none"
    assert request.extravars["sealer_plugins"] == []


def test_build_request_refuses_a_bad_image_plugin_before_any_host_is_touched(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", "FROM scratch\nCOPY plugins plugins\n",
          {"plugins/bad.yaml": plugin_doc("bad", "HOSTNAME", "10.248.0.11 not_a_name")})
    with pytest.raises(InputError, match=r'^image example.com/plugins:v1: plugins/bad.yaml:9: Plugin "bad": '
                                         r'spec.data line 1: "not_a_name" is not a valid host name'):
        build_request(load_clusterfile(CLUSTERFILE), store, tmp_path / "root", ssh_key=None)


def test_an_insecure_local_registry_is_served_over_tls_and_said_so(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", "FROM scratch\nCOPY f f\n", {"f": "x\n"})
    text = CLUSTERFILE + "  registry:\n    localRegistry: {domain: sea.hub, insecure: true}\n"
    request = build_request(load_clusterfile(text), store, tmp_path / "root", ssh_key=None)
    assert request.warnings == ("Clusterfile:10: registry.localRegistry.insecure is ignored: the embedded registry "
                                "always serves TLS, with a certificate of the cluster's CA that every host trusts",)
    assert request.extravars["sealer_registry"]["ca_cert"].endswith(".crt")
