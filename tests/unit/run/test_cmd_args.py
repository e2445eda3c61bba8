"""``cmd_args``: sealer v0.8's KEY=VALUE values for the ``${KEY}`` of the boot commands (never ignored)."""

from __future__ import annotations

import textwrap

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError
from sealer_runner.run.cluster import launch_vars
from tests.unit.run.test_launch_precedence import image

BASE = textwrap.dedent("""\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata: {name: c}
    spec:
      image: example.com/apps:v1
      env: [FROM=cluster, Replicas=1]
      hosts:
        - {ips: [192.168.0.2], roles: [master]}
    """)


def test_cmd_args_are_the_variables_of_the_image_cmd_over_every_env():
    spec = load_clusterfile(BASE + "  cmd_args: [Replicas=3, Mode=a=b]\n")
    steps = launch_vars(spec, image(cmds=True, launch=True, appcmds=False), "sha256:" + "ab" * 32)
    assert [s["cmd"] for s in steps] == ["image-cmd-1", "image-cmd-2"]
    for step in steps:
        assert step["env"]["Replicas"] == "3", "over the Clusterfile's env"
        assert step["env"]["Mode"] == "a=b", "the value is everything after the first ="
        assert step["env"]["FROM"] == "cluster"


def test_cmd_args_do_not_reach_apps():
    spec = load_clusterfile(BASE + "  cmd_args: [Replicas=3]\n")
    steps = launch_vars(spec, image(cmds=False, launch=True, appcmds=False), "sha256:" + "ab" * 32)
    assert steps and all(s["env"]["Replicas"] == "1" for s in steps)


@pytest.mark.parametrize("entry", ["--debug", "=3", "1x=3", "a b=3"])
def test_an_entry_that_is_not_key_value_is_an_error_naming_its_line(entry):
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(BASE + f"  cmd_args: [{entry!r}]\n".replace("'", '"'))
    assert info.value.line == 9
    assert "is not KEY=VALUE" in info.value.message and "cmd_args" in str(info.value)
