"""Config, Plugin, Application and kubeadm documents."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from sealer_runner.clusterfile import AppConfig, AppFile, AppLaunch, ClusterSpec, load_clusterfile
from sealer_runner.errors import ClusterfileError

#: A valid Cluster taking lines 1-9; the next document starts on line 11.
CLUSTER = textwrap.dedent(
    """\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata:
      name: my-cluster
    spec:
      image: kubernetes:v1.22.15
      hosts:
        - {ips: [192.168.0.2, 192.168.0.3], roles: [master]}
        - {ips: [192.168.0.4], roles: [node]}
    """
)


def with_docs(*documents: str) -> str:
    return CLUSTER + "".join("---\n" + textwrap.dedent(doc) for doc in documents)


def load(*documents: str) -> ClusterSpec:
    return load_clusterfile(with_docs(*documents))


def error(*documents: str) -> str:
    with pytest.raises(ClusterfileError) as info:
        load(*documents)
    return str(info.value)


# --------------------------------------------------------------------------
# Config


def config(spec: str, name: str = "mysql-config", api: str = "sealer.io/v1") -> str:
    return f"apiVersion: {api}\nkind: Config\nmetadata:\n  name: {name}\nspec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")


def test_config_defaults() -> None:
    spec = load(config("path: etc/mysql.yaml\ndata: |\n  mysql-user: root\n"))
    (cfg,) = spec.configs
    assert (cfg.name, cfg.api_version, cfg.path, cfg.data) == ("mysql-config", "sealer.io/v1", "etc/mysql.yaml", "mysql-user: root\n")
    assert cfg.strategy == "overwrite"
    assert cfg.process == ()
    assert cfg.app_name is None
    assert cfg.line == 11


@pytest.mark.parametrize("api", ["sealer.io/v1", "sealer.aliyun.com/v1alpha1", "sealer.io/v2", "sealer.cloud/v2"])
def test_config_api_versions(api: str) -> None:
    assert load(config("path: a.yaml\ndata: x\n", api=api)).configs[0].api_version == api


def test_config_strategy_process_and_app_name() -> None:
    spec = load(config("path: values.yaml\nappName: mysql\nstrategy: merge\nprocess: value | tojson|toBase64\ndata: a: b\n".replace("data: a: b", "data: 'a: b'")))
    cfg = spec.configs[0]
    assert cfg.strategy == "merge"
    assert cfg.process == ("value", "toJson", "toBase64")
    assert cfg.app_name == "mysql"


def test_config_data_given_as_a_mapping_is_kept_as_yaml() -> None:
    spec = load(config("path: etc/mysql.yaml\nprocess: value|toJson|toBase64\ndata:\n  config:\n    username: root\n    passwd: xxx\n"))
    assert yaml.safe_load(spec.configs[0].data) == {"config": {"username": "root", "passwd": "xxx"}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("data: x\n", 'Clusterfile:16: Config "mysql-config": spec.path: is required'),
        ("path: a.yaml\n", 'Clusterfile:16: Config "mysql-config": spec.data: is required'),
        ("path: a.yaml\ndata: ''\n", 'Clusterfile:17: Config "mysql-config": spec.data: must not be empty'),
        ("path: /etc/a.yaml\ndata: x\n", 'Clusterfile:16: Config "mysql-config": spec.path: "/etc/a.yaml" must be a relative path inside the cluster image'),
        ("path: etc/../../a\ndata: x\n", 'Clusterfile:16: Config "mysql-config": spec.path: "etc/../../a" must not leave the cluster image (\'..\')'),
        (
            "path: a\ndata: x\nstrategy: patch\n",
            'Clusterfile:18: Config "mysql-config": spec.strategy: unknown strategy "patch" (expected one of: overwrite, merge)',
        ),
        (
            "path: a\ndata: x\nprocess: value|tojsn\n",
            'Clusterfile:18: Config "mysql-config": spec.process: unknown processor "tojsn" '
            '(expected value|toJson|toBase64|toSecret); did you mean "toJson"?',
        ),
        ("path: a\ndata: x\nappname: m\n", 'Clusterfile:18: Config "mysql-config": spec: unknown field "appname"; did you mean "appName"?'),
    ],
)
def test_config_errors(spec: str, message: str) -> None:
    assert error(config(spec)) == message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("path: a\nstrategy: merge\ndata: just text\n",
         'Clusterfile:18: Config "mysql-config": spec.data: must be a YAML mapping for strategy merge, '
         'not the scalar "just text"'),
        ("path: a\nstrategy: merge\ndata:\n  - a\n",
         'Clusterfile:19: Config "mysql-config": spec.data: must be a YAML mapping for strategy merge, not a list'),
        ("path: a\nstrategy: merge\ndata: |\n  a: 1\n  b: [2\n  c: 3\n",
         'Clusterfile:21: Config "mysql-config": spec.data: is not YAML, as strategy merge needs: '
         "expected ',' or ']', but got ':'"),
        ("path: a\nstrategy: merge\ndata: |\n  a: 1\n  ---\n  b: 2\n",
         'Clusterfile:18: Config "mysql-config": spec.data: must be one YAML document for strategy merge, not 2'),
        ("path: a\nprocess: value\ndata: '[1]'\n",
         'Clusterfile:18: Config "mysql-config": spec.data: must be a YAML mapping for process value, not a list'),
        ("path: a\nprocess: toSecret\ndata: x\n",
         'Clusterfile:18: Config "mysql-config": spec.data: must be a YAML mapping for process toSecret, '
         'not the scalar "x"'),
        ("path: a\nprocess: toJson\ndata: '{a: [1'\n",
         'Clusterfile:18: Config "mysql-config": spec.data: is not YAML, as process toJson needs: '),
        ("path: a\nprocess: value|toBase64\ndata:\n  a: {b: 1}\n",
         'Clusterfile:19: Config "mysql-config": spec.data: value of "a" must be text for value|toBase64, '
         'not a mapping (add toJson before toBase64)'),
    ],
)
def test_config_data_must_fit_its_strategy_and_processors(spec: str, message: str) -> None:
    assert error(config(spec)).startswith(message)


def test_config_data_that_fits_is_accepted() -> None:
    spec = load(config("path: a\nstrategy: merge\nprocess: value|toJson|toBase64\ndata:\n  a: {b: 1}\n"),
                config("path: b\ndata: '- not checked: overwrite takes any text'\n", name="plain"))
    assert [c.name for c in spec.configs] == ["mysql-config", "plain"]


def test_config_name_errors() -> None:
    assert error(config("path: a\ndata: x\n", name="'my config'")) == (
        'Clusterfile:14: Config "my config": metadata.name: "my config" is not a valid name (letters, digits, \'-\', \'_\' and \'.\')'
    )
    assert error("apiVersion: sealer.io/v1\nkind: Config\nspec: {}\n") == "Clusterfile:11: Config: metadata: is required"


def test_duplicate_config_name_and_path() -> None:
    first = config("path: a.yaml\ndata: x\n")
    assert error(first, first) == 'Clusterfile:22: Config "mysql-config": duplicate Config name (also on line 11)'
    assert error(first, config("path: a.yaml\ndata: y\n", name="other")) == (
        'Clusterfile:24: Config "other": spec.path: "a.yaml" is also written by Config "mysql-config" (line 11)'
    )
    spec = load(first, config("path: a.yaml\nappName: redis\ndata: y\n", name="other"))
    assert len(spec.configs) == 2


# --------------------------------------------------------------------------
# Plugin


def plugin(spec: str, name: str = "my-plugin") -> str:
    return f"apiVersion: sealer.io/v1\nkind: Plugin\nmetadata:\n  name: {name}\nspec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")


def test_shell_plugin_with_combined_actions_and_scope() -> None:
    spec = load(plugin("type: SHELL\naction: pre-init-host|post-init-host\nscope: master | node\ndata: |\n  bash scripts/disk.sh\n"))
    (plug,) = spec.plugins
    assert plug.type == "SHELL"
    assert plug.actions == ("pre-init-host", "post-init-host")
    assert plug.action == "pre-init-host|post-init-host"
    assert plug.scope == ("master", "node")
    assert plug.data == "bash scripts/disk.sh\n"
    assert spec.warnings == ()


@pytest.mark.parametrize(
    "action",
    [
        "pre-install", "post-install", "pre-uninstall", "post-uninstall", "pre-scaleup", "post-scaleup", "upgrade",
        "rollback", "pre-init-host", "post-init-host", "pre-clean-host", "post-clean-host", "upgrade-host",
    ],
)
def test_every_sealer_phase_is_accepted(action: str) -> None:
    assert load(plugin(f"type: SHELL\naction: {action}\ndata: ls\n")).plugins[0].actions == (action,)


def test_scope_on_cluster_phase_warns() -> None:
    spec = load(plugin("type: SHELL\naction: post-install\nscope: master\ndata: ls\n"))
    assert spec.warnings == ('Clusterfile:18: Plugin "my-plugin": spec.scope: ignored: cluster phases run on master0 only',)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "type: SHELL\naction: PostInstall\ndata: ls\n",
            'Clusterfile:17: Plugin "my-plugin": spec.action: unknown action "PostInstall" (expected one of: '
            "pre-install, post-install, pre-uninstall, post-uninstall, pre-scaleup, post-scaleup, upgrade, rollback, "
            'pre-init-host, post-init-host, pre-clean-host, post-clean-host, upgrade-host); did you mean "post-install"?',
        ),
        ("type: SHELL\naction: PreInit\ndata: ls\n", 'did you mean "pre-init-host"?'),
        ("type: SHELL\naction: pre-install|pre-install\ndata: ls\n", 'Clusterfile:17: Plugin "my-plugin": spec.action: action "pre-install" is listed twice'),
        ("type: SHELL\naction: pre-install|\ndata: ls\n", 'unknown action ""'),
        (
            "type: shell\naction: upgrade\ndata: ls\n",
            'Clusterfile:16: Plugin "my-plugin": spec.type: unknown plugin type "shell" (expected one of: SHELL, HOSTNAME, '
            'LABEL, TAINT); did you mean "SHELL"?',
        ),
        ("action: upgrade\ndata: ls\n", 'Clusterfile:16: Plugin "my-plugin": spec.type: is required'),
        ("type: SHELL\ndata: ls\n", 'Clusterfile:16: Plugin "my-plugin": spec.action: is required'),
        ("type: SHELL\naction: upgrade\n", 'Clusterfile:16: Plugin "my-plugin": spec.data: is required'),
        ("type: SHELL\naction: upgrade-host\nscope: Master\ndata: ls\n", 'Clusterfile:18: Plugin "my-plugin": spec.scope: "Master" is not a valid role'),
        ("type: SHELL\naction: upgrade\n'on': master\ndata: ls\n", 'Clusterfile:18: Plugin "my-plugin": spec: unknown field "on"'),
        (
            "type: HOSTNAME\naction: pre-init-host\ndata: |\n  192.168.0.2 master-0\n\n  192.168.0.300 node-0\n",
            'Clusterfile:21: Plugin "my-plugin": spec.data line 3: "192.168.0.300" is not an IP address',
        ),
        (
            "type: HOSTNAME\naction: pre-init-host\ndata: |\n  192.168.0.2\n",
            'Clusterfile:19: Plugin "my-plugin": spec.data line 1: "192.168.0.2" is not \'IP hostname\'',
        ),
        (
            "type: HOSTNAME\naction: pre-init-host\ndata: |\n  192.168.0.2 bad_name\n",
            'Clusterfile:19: Plugin "my-plugin": spec.data line 1: "bad_name" is not a valid host name',
        ),
        (
            "type: LABEL\naction: post-install\ndata: |\n  192.168.0.2 ssd=true,hdd\n",
            'Clusterfile:19: Plugin "my-plugin": spec.data line 1: "hdd" is not key=value',
        ),
        (
            "type: TAINT\naction: post-install\ndata: |\n  192.168.0.2 key1=value1:NoSchedul\n",
            'Clusterfile:19: Plugin "my-plugin": spec.data line 1: taint "key1=value1:NoSchedul": unknown effect',
        ),
    ],
)
def test_plugin_errors(spec: str, message: str) -> None:
    text = error(plugin(spec))
    assert text.startswith(message) if message.startswith("Clusterfile") else message in text


def test_label_taint_and_hostname_plugins() -> None:
    spec = load(
        plugin("type: HOSTNAME\naction: pre-init-host\ndata: |\n  # comment\n  192.168.0.2 master-0\n  192.168.0.3 master-1\n", name="hostnames"),
        plugin("type: LABEL\naction: post-install\ndata: |\n  192.168.0.2 ssd=true,example.com/hdd=false\n", name="labels"),
        plugin("type: TAINT\naction: post-install\ndata: |\n  192.168.0.4 key1=value1:NoSchedule,key2:NoExecute-\n", name="taints"),
    )
    assert [p.type for p in spec.plugins] == ["HOSTNAME", "LABEL", "TAINT"]
    assert spec.warnings == ()


def test_plugin_naming_an_unknown_host_warns() -> None:
    spec = load(plugin("type: HOSTNAME\naction: pre-init-host\ndata: |\n  192.168.0.2 m0\n  192.168.0.9 n9\n"))
    assert spec.warnings == ('Clusterfile:20: Plugin "my-plugin": spec.data line 2: 192.168.0.9 is not a host of the cluster',)


def test_duplicate_plugin_name() -> None:
    doc = plugin("type: SHELL\naction: upgrade\ndata: ls\n", name="MyShell")
    assert error(doc, doc) == 'Clusterfile:23: Plugin "MyShell": duplicate Plugin name (also on line 11)'


# --------------------------------------------------------------------------
# Application


def application(spec: str, name: str = "my-apps", api: str = "sealer.io/v2") -> str:
    return f"apiVersion: {api}\nkind: Application\nmetadata:\n  name: {name}\nspec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")


def test_application() -> None:
    spec = load(
        application(
            """\
            launchApps: [app1, app2]
            configs:
              - name: app2
                env: [ImageName=docker.io/bitnami/nginx:latest]
                launch:
                  cmds: [kubectl apply -f app2.yaml]
                files:
                  - path: merge.yaml
                    strategy: merge
                    data: |
                      metadata:
                        namespace: test
                  - path: nginx.yaml.tmpl
                    strategy: render
                    data: x
                  - path: rediscert
                    data: x
            """
        )
    )
    app = spec.application
    assert app is not None and spec.applications == (app,)
    assert (app.name, app.api_version, app.cmds, app.launch_apps) == ("my-apps", "sealer.io/v2", (), ("app1", "app2"))
    (config,) = app.configs
    assert config == AppConfig(
        name="app2",
        env={"ImageName": "docker.io/bitnami/nginx:latest"},
        launch=AppLaunch(("kubectl apply -f app2.yaml",)),
        files=(
            AppFile("merge.yaml", "metadata:\n  namespace: test\n", "merge"),
            AppFile("nginx.yaml.tmpl", "x", "render"),
            AppFile("rediscert", "x", "overwrite"),
        ),
    )


def test_application_cmds() -> None:
    app = load(application("cmds:\n  - kubectl apply -f ns.yaml\n", api="sealer.cloud/v2")).application
    assert app is not None and app.cmds == ("kubectl apply -f ns.yaml",)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cmds: [x]\nlaunchApps: [a]\n", 'Clusterfile:17: Application "my-apps": spec.launchApps: cmds and launchApps are mutually exclusive'),
        ("configs:\n  - launch: {cmds: [x]}\n", 'Clusterfile:17: Application "my-apps": spec.configs[0].name: is required'),
        ("configs:\n  - name: a\n    launch: {}\n", 'Clusterfile:18: Application "my-apps": spec.configs[0].launch.cmds: launch needs at least one command'),
        ("configs:\n  - name: a\n    files: [{path: x}]\n", 'Clusterfile:18: Application "my-apps": spec.configs[0].files[0].data: is required'),
        (
            "configs:\n  - name: a\n    files: [{path: x, data: y, strategy: patch}]\n",
            'Clusterfile:18: Application "my-apps": spec.configs[0].files[0].strategy: unknown strategy "patch" '
            "(expected one of: overwrite, merge, render)",
        ),
        ("configs:\n  - name: a\n  - name: a\n", 'Clusterfile:18: Application "my-apps": spec.configs[1]: app "a" is configured twice'),
        ("launchApps: [a, a]\n", 'Clusterfile:16: Application "my-apps": spec.launchApps[1]: "a" is listed twice'),
        ("launch: [a]\n", 'Clusterfile:16: Application "my-apps": spec: unknown field "launch"; did you mean "launchApps"?'),
    ],
)
def test_application_errors(spec: str, message: str) -> None:
    assert error(application(spec)) == message


def test_only_one_application() -> None:
    doc = application("cmds: [x]\n")
    assert error(doc, application("cmds: [y]\n", name="b")) == (
        'Clusterfile:18: Application "b": only one Application document is allowed (another is on line 11)'
    )


def test_application_api_version() -> None:
    assert error(application("cmds: [x]\n", api="sealer.io/v1")).startswith(
        'Clusterfile:11: apiVersion: unknown apiVersion "sealer.io/v1" for kind Application (accepted: sealer.io/v2, sealer.cloud/v2)'
    )


# --------------------------------------------------------------------------
# kubeadm / kubelet / kube-proxy


KUBEADM = [
    ("InitConfiguration", "kubeadm.k8s.io/v1beta3", "localAPIEndpoint:\n  bindPort: 6443\nnodeRegistration:\n  criSocket: /run/containerd/containerd.sock\n"),
    ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "kubernetesVersion: v1.22.15\nnetworking:\n  podSubnet: 100.64.0.0/10\n"),
    ("JoinConfiguration", "kubeadm.k8s.io/v1beta3", "caCertPath: /etc/kubernetes/pki/ca.crt\n"),
    ("KubeletConfiguration", "kubelet.config.k8s.io/v1beta1", "maxPods: 200\nevictionHard:\n  memory.available: 100Mi\n"),
    ("KubeProxyConfiguration", "kubeproxy.config.k8s.io/v1alpha1", 'mode: "ipvs"\nipvs:\n  excludeCIDRs: ["10.103.97.2/32"]\n'),
]


def test_all_kubeadm_kinds_are_kept_as_data() -> None:
    spec = load(*(f"apiVersion: {api}\nkind: {kind}\n{body}" for kind, api, body in KUBEADM))
    assert list(spec.kubeadm) == [kind for kind, _, _ in KUBEADM]
    init = spec.kubeadm["InitConfiguration"]
    assert init.api_version == "kubeadm.k8s.io/v1beta3"
    assert init.line == 11
    assert init.data["localAPIEndpoint"]["bindPort"] == 6443
    proxy = spec.kubeadm["KubeProxyConfiguration"].to_dict()
    assert proxy == {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "ipvs",
        "ipvs": {"excludeCIDRs": ["10.103.97.2/32"]},
    }
    assert yaml.safe_load(yaml.safe_dump(proxy)) == proxy
    with pytest.raises(TypeError):
        init.data["localAPIEndpoint"]["bindPort"] = 1  # type: ignore[index]
    assert spec.warnings == ()


def test_kubeadm_v1beta2_and_mixed_versions_warning() -> None:
    spec = load(
        "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n",
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n",
    )
    assert spec.kubeadm["ClusterConfiguration"].api_version == "kubeadm.k8s.io/v1beta2"
    assert spec.warnings == (
        "Clusterfile:14: kubeadm documents mix API versions (InitConfiguration kubeadm.k8s.io/v1beta3, "
        "ClusterConfiguration kubeadm.k8s.io/v1beta2)",
    )


def test_kubeadm_document_still_refuses_yaml_tricks() -> None:
    assert error("apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nx: !!python/name:os.system ''\n") == (
        'Clusterfile:13: unsupported YAML tag "tag:yaml.org,2002:python/name:os.system"'
    )


def test_documents_may_come_in_any_order() -> None:
    text = (
        textwrap.dedent(plugin("type: SHELL\naction: upgrade\ndata: ls\n"))
        + "---\n"
        + CLUSTER
        + "---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
    )
    spec = load_clusterfile(text)
    assert spec.plugins[0].line == 1
    assert spec.cluster.line == 10
