"""The data lines of HOSTNAME / LABEL / TAINT plugins: parsed into one target per host, or an error on the
line that is wrong; and files of Plugin documents only (an image's plugins/*.yaml)."""

from __future__ import annotations

import textwrap

import pytest

from sealer_runner.clusterfile import ClusterSpec, PluginTarget, Taint, load_clusterfile, load_plugins
from sealer_runner.errors import ClusterfileError

#: A valid Cluster taking lines 1-9; the Plugin document starts on line 11, its data lines on line 19.
CLUSTER = """\
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


def plugin(spec: str, name: str = "my-plugin") -> str:
    return f"apiVersion: sealer.io/v1\nkind: Plugin\nmetadata:\n  name: {name}\nspec:\n" + textwrap.indent(spec, "  ")


def load(*documents: str) -> ClusterSpec:
    return load_clusterfile(CLUSTER + "".join("---\n" + doc for doc in documents))


def error(*documents: str) -> str:
    with pytest.raises(ClusterfileError) as info:
        load(*documents)
    return str(info.value)


def targets(plugin_type: str, data: str) -> tuple[PluginTarget, ...]:
    (parsed,) = load(plugin(f"type: {plugin_type}\naction: post-install\ndata: |\n" + data)).plugins
    return parsed.targets


def test_hostname_lines_become_one_target_per_host() -> None:
    got = targets("HOSTNAME", "  # the masters\n  192.168.0.2 master-0\n  192.168.0.3 master-1\n  192.168.0.2 master-0\n")
    assert [(t.ip, t.hostname, t.line) for t in got] == [("192.168.0.2", "master-0", 20), ("192.168.0.3", "master-1", 21)]
    assert all(not t.labels and not t.taints for t in got)


def test_label_lines_of_one_host_are_combined() -> None:
    got = targets("LABEL", "  192.168.0.2 ssd=true,example.com/zone=a\n  192.168.0.4 ssd=false\n  192.168.0.2 empty=\n")
    assert [(t.ip, dict(t.labels)) for t in got] == [
        ("192.168.0.2", {"ssd": "true", "example.com/zone": "a", "empty": ""}),
        ("192.168.0.4", {"ssd": "false"}),
    ]


def test_taints_to_add_and_to_remove() -> None:
    (got,) = targets("TAINT", "  192.168.0.4 key1=value1:NoSchedule,key2:NoExecute-,key3-\n  192.168.0.4 key4:PreferNoSchedule\n")
    assert got.taints == (Taint("key1", "value1", "NoSchedule"), Taint("key4", "", "PreferNoSchedule"))
    assert got.untaints == (Taint("key2", "", "NoExecute"), Taint("key3", "", ""))


def test_ipv6_addresses_are_canonical() -> None:
    (got,) = targets("LABEL", "  2001:DB8::0:1 a=b\n")
    assert got.ip == "2001:db8::1"


@pytest.mark.parametrize(
    ("plugin_type", "data", "message"),
    [
        ("HOSTNAME", "  192.168.0.2 m0\n  192.168.0.2 m1\n",
         'Clusterfile:20: Plugin "my-plugin": spec.data line 2: 192.168.0.2 is already named "m0" on line 19'),
        ("HOSTNAME", "  192.168.0.2 m0\n  192.168.0.3 M0\n",
         'Clusterfile:20: Plugin "my-plugin": spec.data line 2: host name "M0" is already given to 192.168.0.2 on line 19'),
        ("LABEL", "  192.168.0.2 a=1\n  192.168.0.2 a=2\n",
         'Clusterfile:20: Plugin "my-plugin": spec.data line 2: label "a" of 192.168.0.2 is already "1" on line 19'),
        ("LABEL", "  192.168.0.2 Bad Key=1\n", 'Clusterfile:19: Plugin "my-plugin": spec.data line 1: "Bad Key" is not a valid key'),
        ("TAINT", "  192.168.0.2 a=1:NoSchedule\n  192.168.0.2 a:NoSchedule-\n",
         'spec.data line 2: taint "a:NoSchedule-" of 192.168.0.2 contradicts "a=1:NoSchedule" on line 19'),
        ("TAINT", "  192.168.0.2 a-,a=1:NoExecute\n",
         'spec.data line 1: taint "a=1:NoExecute" of 192.168.0.2 contradicts "a-" on line 19'),
        ("TAINT", "  192.168.0.2 a=1:NoSchedule,a=2:NoSchedule\n",
         'spec.data line 1: taint "a=2:NoSchedule" of 192.168.0.2 contradicts "a=1:NoSchedule" on line 19'),
        ("TAINT", "  192.168.0.2 bad key-\n", 'spec.data line 1: "bad key" is not a valid key'),
        ("TAINT", "  10.0.0.1/24 a:NoSchedule\n", 'Clusterfile:19: Plugin "my-plugin": spec.data line 1: "10.0.0.1/24"'),
    ],
)
def test_wrong_lines_are_errors_on_their_line(plugin_type: str, data: str, message: str) -> None:
    text = error(plugin(f"type: {plugin_type}\naction: post-install\ndata: |\n" + data))
    assert text.startswith(message) if message.startswith("Clusterfile") else message in text


PLUGINS = """\
apiVersion: sealer.io/v1
kind: Plugin
metadata: {name: label-gpu}
spec:
  type: LABEL
  action: post-install
  data: |
    10.0.0.9 gpu=true
---
apiVersion: sealer.io/v2
kind: Plugin
metadata: {name: say}
spec: {type: SHELL, action: pre-install, data: echo hi}
"""


def test_a_file_of_plugins_alone() -> None:
    plugins, warnings = load_plugins(PLUGINS.encode(), "plugins/x.yaml")
    assert [(p.name, p.type, p.line) for p in plugins] == [("label-gpu", "LABEL", 1), ("say", "SHELL", 10)]
    assert plugins[0].targets[0].labels == {"gpu": "true"}
    assert warnings == ()


def test_a_file_of_plugins_warns_about_ips_that_are_not_hosts() -> None:
    cluster = load().cluster
    _, warnings = load_plugins(PLUGINS, "plugins/x.yaml", cluster)
    assert warnings == ('plugins/x.yaml:8: Plugin "label-gpu": spec.data line 1: 10.0.0.9 is not a host of the cluster',)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PLUGINS.replace("10.0.0.9 gpu", "10.0.0.9 g pu"), 'plugins/x.yaml:8: Plugin "label-gpu": spec.data line 1: "g pu"'),
        (PLUGINS.replace("type: SHELL, ", ""), 'plugins/x.yaml:13: Plugin "say": spec.type: is required'),
        ("apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: c}\nspec: {}\n",
         "plugins/x.yaml:1: kind: only Plugin documents belong in this file, not Cluster"),
        (PLUGINS + "---\n" + PLUGINS.split("---")[0], 'plugins/x.yaml:17: Plugin "label-gpu": duplicate Plugin name (also on line 1)'),
        (b"\xff", "plugins/x.yaml:1: not UTF-8 text"),
    ],
)
def test_a_bad_file_of_plugins_names_its_line(text: str | bytes, message: str) -> None:
    with pytest.raises(ClusterfileError) as info:
        load_plugins(text, "plugins/x.yaml")
    assert str(info.value).startswith(message)
