"""The run path with real ansible-runner, the real collection and playbook, on this machine
(ansible_connection=local, one host): delivery, idempotence, and no secret in any file."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import build_request
from sealer_runner.run.runner import run
from sealer_runner.util.secret import Secret
from tests.support.artifacts import started_roles

pytestmark = [pytest.mark.integration]

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: local}}
spec:
  image: example.com/local:v1
  dataRoot: {data_root}
  ssh: {{passwd: "do-not-leak-this"}}
  hosts:
    - ips: [127.0.0.1]
      roles: [master]
"""


def build(store: Store, ctx: Path, files: dict[str, str]) -> None:
    ctx.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/local:v1",)))


def request_for(tmp_path: Path, store: Store, *, keep_password: bool = False):
    spec = load_clusterfile(CLUSTERFILE.format(data_root=tmp_path / "hosts"))
    request = build_request(spec, store, store.root, ssh_key=None, tags=("validate", "rootfs", "apps"))
    hosts = request.inventory["all"]["hosts"]
    for hostvars in hosts.values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = __import__("sys").executable
    # Local connection: no SSH prompt to answer (unless the test wants the password in play); and only
    # the phases that stay inside data_root, so the test never edits this machine's /etc/hosts, trust
    # store or services.
    return request if keep_password else replace(request, ssh_password=None)


def test_deliver_rootfs_then_rerun_changes_nothing_then_update(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY etc etc\nRUN echo one > statics\n"
                                                "CMDS [\"echo launched-$APP_MODE >> ../launched.log\"]\n"
                                                "ENV APP_MODE=image\n",
                                    "etc/a.conf": "a=1\n", "etc/old.conf": "old\n"})
    request = request_for(tmp_path, store)
    first = run(request)
    assert first.ok, first.failures
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    assert (rootfs / "etc" / "a.conf").read_text() == "a=1\n"
    assert (rootfs / "statics").read_text() == "one\n"
    assert first.changed > 0

    launched = tmp_path / "hosts" / "local" / "launched.log"
    assert launched.read_text() == "launched-image\n", "CMDS run once on master0, in the rootfs, with the env"

    second = run(request)
    assert second.ok and second.changed == 0, "a second run must change nothing"
    # the phases --tags leaves out do not even check their arguments (Ansible's `always` check task)
    assert started_roles(second.artifacts) == {"validate", "rootfs", "config", "apps"}
    assert launched.read_text() == "launched-image\n", "a re-run launches nothing again"

    (tmp_path / "ctx" / "etc" / "old.conf").unlink()
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY etc etc\nRUN echo two > statics\n"
                                                "CMDS [\"echo launched-$APP_MODE >> ../launched.log\"]\n",
                                    "etc/a.conf": "a=2\n"})
    third = run(request_for(tmp_path, store))
    assert third.ok, third.failures
    assert (rootfs / "etc" / "a.conf").read_text() == "a=2\n"
    assert not (rootfs / "etc" / "old.conf").exists(), "files of layers no longer in the image are removed"
    assert launched.read_text() == "launched-image\nlaunched-\n", "a new image launches again"
    layers = sorted(p.name for p in (tmp_path / "hosts" / "local" / "layers").iterdir() if p.is_file())
    assert len(layers) >= 2


def test_no_secret_reaches_disk_and_failures_name_host_and_task(tmp_path, monkeypatch):
    # the operator's environment holds secrets too: ansible-runner would write them to artifacts/<id>/command
    for name in ("AWS_SECRET_ACCESS_KEY", "ACCESSKEYSECRET", "REGISTRY_PASSWORD", "GITHUB_TOKEN"):
        monkeypatch.setenv(name, f"env-secret-{name.lower()}")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent-kept.sock")  # a socket path: kept
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY f f\n", "f": "x\n"})
    request = request_for(tmp_path, store, keep_password=True)
    assert request.ssh_password is not None and request.ssh_password.reveal() == "do-not-leak-this"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    key = (tmp_path / "key").read_text()
    request = replace(request, ssh_key=Secret(key))
    request.extravars["sealer_layers"][0]["source"] = str(tmp_path / "absent")  # makes validation fail
    result = run(request)
    assert not result.ok
    assert len(result.failures) == 1
    failure = str(result.failures[0])
    assert "validate" in failure and "Every layer to upload exists on the controller" in failure
    key_body = key.splitlines()[1].encode()
    for path in request.private_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"do-not-leak-this" not in data and key_body not in data, path
            assert b"env-secret-" not in data, path
    assert json.dumps(request.inventory).find("do-not-leak") == -1
    (command,) = request.private_dir.glob("artifacts/*/command")
    assert json.loads(command.read_text())["env"]["SSH_AUTH_SOCK"] == "/run/agent-kept.sock"


PLUGINS = """\
---
apiVersion: sealer.io/v2
kind: Plugin
metadata: {name: marker}
spec:
  type: SHELL
  action: pre-install|post-install
  data: echo "$SEALER_PHASE_NOTE $(pwd)" >> ../plugins.log
---
apiVersion: sealer.io/v2
kind: Plugin
metadata: {name: nodes-only}
spec:
  type: SHELL
  action: post-init-host
  scope: node
  data: echo node-only >> ../plugins.log
"""


def test_plugins_run_at_their_phases_in_scope_once(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY f f\n", "f": "x\n"})
    text = CLUSTERFILE.format(data_root=tmp_path / "hosts").replace(
        "  hosts:", "  env: [SEALER_PHASE_NOTE=ran]\n  hosts:") + PLUGINS
    spec = load_clusterfile(text)
    request = build_request(spec, store, store.root, ssh_key=None)
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = __import__("sys").executable
    request = replace(request, ssh_password=None, tags=("validate", "rootfs", "plugins"))
    assert run(request).ok
    log = tmp_path / "hosts" / "local" / "plugins.log"
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    assert log.read_text().splitlines() == [f"ran {rootfs}", f"ran {rootfs}"], "pre-install and post-install, " \
        "in the rootfs, with the cluster env; the node-scoped plugin skipped on a master"
    again = run(request)
    assert again.ok and again.changed == 0 and len(log.read_text().splitlines()) == 2


CONFIG_CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: local}}
spec:
  image: example.com/local:v1
  dataRoot: {data_root}
  env: [PodCIDR=100.64.0.0/10, SvcCIDR=10.96.0.0/22]
  hosts:
    - ips: [127.0.0.1]
      roles: [master]
      env: [HOST_ONLY=on-this-host]
"""

MERGE_APP = """\
---
apiVersion: sealer.io/v1
kind: Config
metadata: {{name: app}}
spec:
  path: etc/app.yaml
  strategy: merge
  data: |
{data}"""

OVERWRITE_EXTRA = """\
---
apiVersion: sealer.io/v1
kind: Config
metadata: {name: extra}
spec:
  path: etc/extra.conf
  data: |
    written by a Config
---
apiVersion: sealer.io/v1
kind: Config
metadata: {name: web-values}
spec:
  appName: web
  path: values.yaml
  strategy: merge
  data: |
    replicas: 3
"""

CONFIG_IMAGE = {
    "Kubefile": "FROM scratch\nCOPY etc etc\nCOPY application application\nENV SvcCIDR=10.0.0.0/8\n"
                "ENV FROM_IMAGE=image-default\n",
    "etc/app.yaml": "server:\n  port: 80\n  workers: 2\nlog: info\n",
    "etc/kubeadm.yml.tmpl": "podSubnet: {{ .PodCIDR }}\nserviceSubnet: {{ .SvcCIDR }}\n"
                            "image: {{ .FROM_IMAGE }}\nhost: {{ .HOST_ONLY }}\n",
    "application/apps/web/values.yaml": "replicas: 1\nimage: web:v1\n",
}


def config_request(tmp_path: Path, store: Store, *docs: str):
    spec = load_clusterfile(CONFIG_CLUSTERFILE.format(data_root=tmp_path / "hosts") + "".join(docs))
    request = build_request(spec, store, store.root, ssh_key=None)
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = __import__("sys").executable
    return replace(request, ssh_password=None, tags=("validate", "rootfs", "config"))


def test_configs_and_templates_applied_idempotent_reversible_and_reapplied_after_a_rebuild(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", CONFIG_IMAGE)
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    merge = MERGE_APP.format(data="    server:\n      workers: 8\n      tls: true\n")

    first = run(config_request(tmp_path, store, merge, OVERWRITE_EXTRA))
    assert first.ok, first.failures
    assert yaml.safe_load((rootfs / "etc/app.yaml").read_text()) == {
        "server": {"port": 80, "workers": 8, "tls": True}, "log": "info"}
    assert (rootfs / "etc/extra.conf").read_text() == "written by a Config\n"
    assert yaml.safe_load((rootfs / "application/apps/web/values.yaml").read_text()) == {
        "replicas": 3, "image": "web:v1"}, "an appName's path is under its app"
    assert (rootfs / "etc/kubeadm.yml").read_text() == (
        "podSubnet: 100.64.0.0/10\nserviceSubnet: 10.96.0.0/22\nimage: image-default\nhost: on-this-host\n"
    ), "the image's ENV under the cluster env under the host's"

    again = run(config_request(tmp_path, store, merge, OVERWRITE_EXTRA))
    assert again.ok and again.changed == 0, "a second run changes nothing"

    fewer = run(config_request(tmp_path, store, MERGE_APP.format(data="    log: debug\n")))
    assert fewer.ok, fewer.failures
    assert yaml.safe_load((rootfs / "etc/app.yaml").read_text()) == {
        "server": {"port": 80, "workers": 2}, "log": "debug"}, "the old Config data leaves nothing behind"
    assert not (rootfs / "etc/extra.conf").exists(), "a dropped Config's new file is removed"
    assert (rootfs / "application/apps/web/values.yaml").read_text() == "replicas: 1\nimage: web:v1\n"

    build(store, tmp_path / "ctx", {**CONFIG_IMAGE, "etc/app.yaml": "server:\n  port: 8080\nlog: info\n"})
    rebuilt = run(config_request(tmp_path, store, MERGE_APP.format(data="    log: debug\n")))
    assert rebuilt.ok, rebuilt.failures
    assert yaml.safe_load((rootfs / "etc/app.yaml").read_text()) == {"server": {"port": 8080}, "log": "debug"}, \
        "the new image's file, with the Config applied again"
    assert (rootfs / "etc/kubeadm.yml").is_file(), "templates are rendered again in the rebuilt rootfs"
    last = run(config_request(tmp_path, store, MERGE_APP.format(data="    log: debug\n")))
    assert last.ok and last.changed == 0


APPLICATION_FILES = """\
---
apiVersion: sealer.io/v2
kind: Application
metadata: {name: apps}
spec:
  configs:
    - name: web
      files:
        - {path: values.yaml, strategy: merge, data: "replicas: 5"}
        - {path: extra/notes.txt, data: "from the Application"}
"""


def test_application_files_are_applied_in_the_app_directory(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", CONFIG_IMAGE)
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    first = run(config_request(tmp_path, store, APPLICATION_FILES))
    assert first.ok, first.failures
    assert yaml.safe_load((rootfs / "application/apps/web/values.yaml").read_text()) == {
        "replicas": 5, "image": "web:v1"}, "merged into the app's file"
    assert (rootfs / "application/apps/web/extra/notes.txt").read_text() == "from the Application"
    again = run(config_request(tmp_path, store, APPLICATION_FILES))
    assert again.ok and again.changed == 0


def test_bad_configs_fail_before_any_host_is_touched(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", CONFIG_IMAGE)
    request = config_request(tmp_path, store)
    request.extravars["sealer_configs"] = [{"name": "escape", "path": "etc/../../outside", "data": "x"},
                                           {"name": "fine", "path": "etc/a", "data": "x"},
                                           {"name": "list", "path": "etc/b", "data": "- x\n", "strategy": "merge"}]
    result = run(request)
    assert not result.ok
    failure = str(result.failures[0])
    assert "Config escape: path 'etc/../../outside' leaves the rootfs" in failure, failure
    assert "Config list: strategy merge: data must be a YAML mapping" in failure, failure
    assert "fine" not in failure
    assert not (tmp_path / "hosts").exists(), "validation fails before the rootfs phase"


def test_an_unknown_template_variable_fails_naming_the_file_and_line(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", {**CONFIG_IMAGE, "etc/bad.conf.tmpl": "ok\nvalue: {{ .NOT_SET }}\n"})
    result = run(config_request(tmp_path, store))
    assert not result.ok
    failure = str(result.failures[0])
    assert "template etc/bad.conf.tmpl:2: no variable NOT_SET" in failure, failure
    assert not (tmp_path / "hosts" / "local" / "rootfs" / "etc" / "kubeadm.yml").exists(), \
        "nothing is rendered when one template fails"
