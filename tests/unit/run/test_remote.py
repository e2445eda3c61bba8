"""check/exec plumbing (sealer_runner/run/remote.py) without hosts: host selection, the exec task's events,
the rules taken from a run's extra-vars, and the saved Clusterfile."""

from __future__ import annotations

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.run.remote import (
    HostOutput,
    check_rules,
    exec_output,
    exec_request,
    selected_hosts,
)

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: demo}
spec:
  image: example.com/demo:v1
  ssh: {passwd: "s3cret", user: ops}
  hosts:
    - ips: [10.0.0.3]
      roles: [node, gpu]
    - ips: [10.0.0.2]
      roles: [master]
"""


@pytest.fixture
def spec():
    return load_clusterfile(CLUSTERFILE)


def test_hosts_by_role_master0_first(spec):
    assert [h.ip for h in selected_hosts(spec.cluster, None)] == ["10.0.0.2", "10.0.0.3"]
    assert [h.ip for h in selected_hosts(spec.cluster, "gpu")] == ["10.0.0.3"]
    with pytest.raises(InputError, match=r"--role etcd: no host of cluster demo has it \(roles: gpu, master, node\)"):
        selected_hosts(spec.cluster, "etcd")


def test_exec_request_limits_to_the_role_and_keeps_secrets_in_memory(spec, tmp_path):
    request = exec_request(spec, tmp_path, command="uptime", role="node", ssh_key=None)
    assert request.limit == "10.0.0.3" and request.playbook == "exec.yml"
    assert request.extravars == {"sealer_exec_command": "uptime"}
    assert request.ssh_password.reveal() == "s3cret" and request.become_password.reveal() == "s3cret"
    assert "s3cret" not in repr(request.inventory)
    assert request.private_dir == tmp_path / "clusters" / "demo" / "exec"
    with pytest.raises(InputError, match="empty"):
        exec_request(spec, tmp_path, command="  ", role=None, ssh_key=None)


def _event(kind, host, **res):
    return {"event": kind, "event_data": {"task": "The command", "host": host, "res": res}}


def test_exec_output_from_events():
    roles = {"10.0.0.2": ("master",)}
    ok = exec_output(_event("runner_on_ok", "10.0.0.2", rc=2, stdout="a\r\nb\r\n",
                            stderr="Warning: Permanently added '10.0.0.2' (ED25519) to the list of known hosts.\r\n"
                                   "oops\nShared connection to 10.0.0.2 closed.\n"), roles)
    assert ok == HostOutput("10.0.0.2", ("master",), 2, "a\nb\n", "oops")
    down = exec_output(_event("runner_on_unreachable", "10.0.0.9", msg="Failed to connect"), roles)
    assert down == HostOutput("10.0.0.9", (), None, error="Failed to connect") and not down.ok
    other = {"event": "runner_on_ok", "event_data": {"task": "Gathering Facts", "host": "10.0.0.2", "res": {"rc": 0}}}
    assert exec_output(other, roles) is None


def test_check_rules_from_the_runs_extravars(spec):
    run_vars = {"sealer_cluster_runtime": "kubernetes", "sealer_image_platforms": ["linux/amd64"],
                "sealer_registry": {"hosts": ["10.0.0.2"], "port": 5000}, "sealer_upstream_registries": ["docker.io"]}
    rules = check_rules(spec.cluster, run_vars)
    assert [h.ip for h in rules.hosts] == ["10.0.0.2", "10.0.0.3"] and rules.kubernetes
    assert (rules.registry_hosts, rules.registry_port, rules.image_platforms) == (("10.0.0.2",), 5000, ("linux/amd64",))
    nothing_cached = check_rules(spec.cluster, {**run_vars, "sealer_upstream_registries": []})
    assert (nothing_cached.registry_hosts, nothing_cached.registry_port) == ((), None), "no registry runs"
    external = check_rules(spec.cluster, {"sealer_registry": {"external": True, "port": 443},
                                          "sealer_upstream_registries": ["docker.io"]})
    assert (external.registry_hosts, external.registry_port, external.runtime) == ((), None, "none")
