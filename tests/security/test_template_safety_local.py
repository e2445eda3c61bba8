"""Values from the Clusterfile and the image reach Ansible as data, on this machine (ansible_connection=local,
no test host): Jinja payloads in every field a user or an image author fills run nothing, on the controller
or the host, and arrive byte for byte. The phases that stay inside the run's data root only (validate,
rootfs, config, plugins, apps); tests/security/test_template_safety.py runs every phase on a real host."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError, InputError
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import build_request
from sealer_runner.run.runner import run
from tests.integration.test_run_local import build

from .payloads import HELM, all_payloads, lookup, lookup_dq, statement

pytestmark = [pytest.mark.integration]

PHASES = ("validate", "rootfs", "config", "plugins", "apps")


def image_files(canary: Path) -> dict[str, str]:
    """An image whose ENV, LABEL, APPENV, APPCMDS, plugin and template carry the payloads."""
    value = all_payloads(canary)
    plugin = {"apiVersion": "sealer.io/v2", "kind": "Plugin", "metadata": {"name": "image-shell"},
              "spec": {"type": "SHELL", "action": "post-install",
                       "data": f"cat > image-plugin.out <<'EOF'\n{value}\nEOF\n"}}
    appcmds = json.dumps(["printf '%s' \"$APP_PAYLOAD\" > app-env.out",
                          f"printf '%s' '{lookup_dq(canary)}' > app-literal.out"])
    return {
        "Kubefile": (
            "FROM scratch\nCOPY etc etc\nCOPY plugins plugins\nCOPY app app\n"
            f"ENV IMG_PAYLOAD={json.dumps(value)}\n"
            "LABEL cluster.alpha.sealer.io/cluster-runtime-type=none "
            f"note={json.dumps(lookup(canary))} "
            f"other={json.dumps(statement(canary))}\n"
            "APP web local://app/web.sh\n"
            f"APPENV web APP_PAYLOAD={json.dumps(value)}\n"
            f"APPCMDS web {appcmds}\n"
            'LAUNCH ["web"]\n'),
        "etc/app.conf.tmpl": "img={{ .IMG_PAYLOAD }}\ncf={{ .CF_PAYLOAD }}\nhost={{ .HOST_PAYLOAD }}\n",
        "plugins/shell.yaml": json.dumps(plugin),
        "app/web.sh": "true\n",
    }


def clusterfile(data_root: Path, canary: Path, *, cmd: str | None = None) -> str:
    value = all_payloads(canary)
    config_data = f"{HELM}\n{lookup(canary)}\n{statement(canary)}\n"
    shell = f"cat > clusterfile-plugin.out <<'EOF'\n{value}\nEOF\n"
    cmd_line = f"  cmd: [{json.dumps(cmd)}]\n" if cmd else ""
    return (
        "apiVersion: sealer.io/v2\nkind: Cluster\n"
        f"metadata:\n  name: local\n  annotations: {{note: {json.dumps(value)}}}\n"
        f"spec:\n  image: example.com/local:v1\n  dataRoot: {data_root}\n{cmd_line}"
        f"  env: [{json.dumps('CF_PAYLOAD=' + value)}]\n"
        "  hosts:\n    - ips: [127.0.0.1]\n      roles: [master]\n"
        f"      env: [{json.dumps('HOST_PAYLOAD=' + value)}]\n"
        "---\napiVersion: sealer.io/v2\nkind: Config\nmetadata: {name: helm-values}\n"
        f"spec:\n  path: etc/values.yaml\n  data: {json.dumps(config_data)}\n"
        "---\napiVersion: sealer.io/v2\nkind: Plugin\nmetadata: {name: cf-shell}\n"
        f"spec:\n  type: SHELL\n  action: pre-install\n  data: {json.dumps(shell)}\n")


def local(request):
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = sys.executable
    return replace(request, ssh_password=None, tags=PHASES)


def test_payloads_in_every_field_run_nothing_and_arrive_verbatim(tmp_path):
    canary = tmp_path / "CANARY"
    value = all_payloads(canary)
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", image_files(canary))
    spec = load_clusterfile(clusterfile(tmp_path / "hosts", canary))
    request = local(build_request(spec, store, store.root, ssh_key=None))
    assert request.extravars["sealer_cluster_runtime"] == "none"

    result = run(request)
    assert result.ok, (result.failures, result.output_tail)
    assert not canary.exists(), "a payload was templated"
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    assert (rootfs / "etc/values.yaml").read_text() == f"{HELM}\n{lookup(canary)}\n{statement(canary)}\n"
    assert (rootfs / "etc/app.conf").read_text() == f"img={value}\ncf={value}\nhost={value}\n"
    assert (rootfs / "clusterfile-plugin.out").read_text() == value + "\n"
    assert (rootfs / "image-plugin.out").read_text() == value + "\n"
    web = rootfs / "application/apps/web"
    assert (web / "app-env.out").read_text() == value
    assert (web / "app-literal.out").read_text() == lookup_dq(canary)

    again = run(request)
    assert again.ok and again.changed == 0, (again.failures, "a re-run changes nothing")
    assert not canary.exists()


def test_clusterfile_cmd_and_image_cmds_run_as_written(tmp_path):
    canary = tmp_path / "CANARY"
    store = Store(tmp_path / "store")
    files = image_files(canary)
    files["Kubefile"] = files["Kubefile"].replace('LAUNCH ["web"]\n', "")
    files["Kubefile"] += "CMDS " + json.dumps([f"printf '%s' '{lookup_dq(canary)}' > cmds.out"]) + "\n"
    build(store, tmp_path / "ctx", files)
    spec = load_clusterfile(clusterfile(tmp_path / "hosts", canary))
    result = run(replace(local(build_request(spec, store, store.root, ssh_key=None)), tags=("validate", "rootfs", "apps")))
    assert result.ok, (result.failures, result.output_tail)
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    assert (rootfs / "cmds.out").read_text() == lookup_dq(canary)

    cmd = f"printf '%s' '{lookup_dq(canary)}' > cmd.out; printf '%s' \"$CF_PAYLOAD\" > cmd-env.out"
    spec = load_clusterfile(clusterfile(tmp_path / "hosts", canary, cmd=cmd))
    result = run(replace(local(build_request(spec, store, store.root, ssh_key=None)), tags=("validate", "apps")))
    assert result.ok, (result.failures, result.output_tail)
    assert (rootfs / "cmd.out").read_text() == lookup_dq(canary)
    assert (rootfs / "cmd-env.out").read_text() == all_payloads(canary)
    assert not canary.exists(), "a payload was templated"


@pytest.mark.parametrize("data_root", ["/x;touch {canary};", "/x$(touch {canary})", "/x/../y"])
def test_a_hostile_data_root_is_refused_before_any_host_is_touched(tmp_path, data_root):
    canary = tmp_path / "CANARY"
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(clusterfile(Path(json.dumps(data_root.format(canary=canary))), canary))
    assert str(info.value).startswith("Clusterfile:8: dataRoot: "), str(info.value)
    assert not canary.exists()


@pytest.mark.parametrize("data_root", ["/x;touch {canary};", "/data dir", "/a/../b", "/a/", "/a\n"])
def test_the_collection_refuses_a_hostile_data_root_without_the_front_end(tmp_path, data_root):
    """The validate role protects runs without the front end (the value given as an extra-var)."""
    canary = tmp_path / "CANARY"
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY f f\n", "f": "x\n"})
    spec = load_clusterfile(clusterfile(tmp_path / "hosts", canary))
    request = local(build_request(spec, store, store.root, ssh_key=None))
    request.extravars["sealer_data_root"] = data_root.format(canary=canary)
    result = run(replace(request, tags=("validate", "rootfs")))
    assert not result.ok
    assert "invalid host directories: sealer_data_root=" in str(result.failures), result.failures
    assert not canary.exists() and not (tmp_path / "hosts").exists()


PROBE_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: a filter's output, through vars and set_fact
      ansible.builtin.set_fact:
        from_filter: "{{{{ 1 | probe_filter }}}}"
    - name: an action plugin's result and facts, registered
      probe_action:
      register: from_action
    - name: a module's result (a command's output), registered
      ansible.builtin.command:
        argv: [printf, '%s', "{{{{ '{{{{' }}}} lookup('pipe', 'touch {canary}-module') }}}}"]
      register: from_module
      changed_when: false
    - name: a lookup's file, parsed
      ansible.builtin.set_fact:
        from_file: "{{{{ lookup('ansible.builtin.file', '{vars_file}') | from_yaml }}}}"
    - name: all of it used again, in a template and a module's arguments
      ansible.builtin.copy:
        dest: "{out}"
        content: "{{{{ [from_filter, from_action.msg, from_action.data, probe_fact, from_module.stdout, from_file]
                     | to_json }}}}"
"""

PROBE_FILTER = """\
class FilterModule:
    def filters(self):
        return {{"probe_filter": lambda _: ["{payload}", {{"k": "{payload}"}}]}}
"""

PROBE_ACTION = """\
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        return dict(result, msg="{payload}", data={{"x": "{payload}"}}, ansible_facts={{"probe_fact": "{payload}"}})
"""


def test_ansible_never_retemplates_plugin_output(tmp_path):
    """What the collection relies on in ansible-core 2.19: what filters, action plugins, modules and lookups
    return is data, through register, set_fact and vars (the collection's filters and action plugins return
    Config data, plugin data and host replies)."""
    import subprocess

    canary = tmp_path / "CANARY"
    payload = lookup(canary).replace("'", "\\'")
    (tmp_path / "filter_plugins").mkdir()
    (tmp_path / "filter_plugins" / "probe.py").write_text(PROBE_FILTER.format(payload=payload))
    (tmp_path / "action_plugins").mkdir()
    (tmp_path / "action_plugins" / "probe_action.py").write_text(PROBE_ACTION.format(payload=payload))
    (tmp_path / "vars.yml").write_text(json.dumps({"k": lookup(canary)}))
    out = tmp_path / "out.json"
    (tmp_path / "probe.yml").write_text(PROBE_PLAYBOOK.format(canary=canary, vars_file=tmp_path / "vars.yml", out=out))
    playbook = Path(sys.executable).parent / "ansible-playbook"
    done = subprocess.run([str(playbook), "-i", "localhost,", "-c", "local", "-e",
                           f"ansible_python_interpreter={sys.executable}", str(tmp_path / "probe.yml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    text = lookup(canary)
    assert json.loads(out.read_text()) == [[text, {"k": text}], text, {"x": text}, text,
                                           f"{{{{ lookup('pipe', 'touch {canary}-module') }}}}", {"k": text}]
    assert not list(tmp_path.glob("CANARY*")), "a plugin's output was templated"


def test_a_payload_as_the_cluster_runtime_is_refused_before_any_host(tmp_path):
    """The runtime label chooses code paths: a value that is not a known runtime is an input error, and the
    payload never reaches Ansible."""
    canary = tmp_path / "CANARY"
    store = Store(tmp_path / "store")
    files = image_files(canary)
    files["Kubefile"] = files["Kubefile"].replace(
        "cluster-runtime-type=none", f"cluster-runtime-type={json.dumps(lookup(canary))}")
    build(store, tmp_path / "ctx", files)
    spec = load_clusterfile(clusterfile(tmp_path / "hosts", canary))
    with pytest.raises(InputError, match="is not supported"):
        build_request(spec, store, store.root, ssh_key=None)
    assert not canary.exists()
    assert not (tmp_path / "hosts").exists()
