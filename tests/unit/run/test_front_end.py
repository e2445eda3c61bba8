
import re
from pathlib import Path
import shutil
import subprocess

import pytest
import yaml

from sealer_runner.cli.run_cmd import _flags_cluster
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError
from sealer_runner.run.cluster import SSH_CIPHERS, ClusterState, ansible_cfg, config_vars
from sealer_runner.run.inventory import build_inventory
from sealer_runner.run.pki import ensure_registry_pki

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: demo}
spec:
  image: example.com/c:v1
  ssh: {passwd: secret-pw, port: 2222}
  hosts:
    - ips: [10.248.0.21]
      roles: [node, gpu]
    - ips: [10.248.0.11-10.248.0.12]
      roles: [master]
      ssh: {user: admin}
    - ips: [10.248.0.31]
      roles: [registry]
"""


def test_inventory_groups_master0_first_and_no_secret():
    cluster = load_clusterfile(CLUSTERFILE).cluster
    inventory = build_inventory(cluster)
    hosts = inventory["all"]["hosts"]
    assert list(hosts) == ["10.248.0.11", "10.248.0.12", "10.248.0.21", "10.248.0.31"]
    assert hosts["10.248.0.11"]["ansible_user"] == "admin" and hosts["10.248.0.21"]["ansible_user"] == "root"
    assert hosts["10.248.0.21"]["ansible_port"] == 2222
    groups = inventory["all"]["children"]
    assert list(groups["master"]["hosts"]) == ["10.248.0.11", "10.248.0.12"]
    assert list(groups["node"]["hosts"]) == ["10.248.0.21"]
    assert list(groups["gpu"]["hosts"]) == ["10.248.0.21"]
    assert list(groups["registry"]["hosts"]) == ["10.248.0.31"]
    assert "secret-pw" not in yaml.safe_dump(inventory)
    assert hosts["10.248.0.11"]["ansible_become"] is True and hosts["10.248.0.11"]["ansible_become_method"] == "sudo"
    assert "ansible_become" not in hosts["10.248.0.21"], "root needs no sudo"


def test_flags_make_a_clusterfile_with_validation():
    doc = _flags_cluster("example.com/c:v1", "10.0.0.2", "10.0.0.3,10.0.0.4", None, None, "/k", 2200,
                         {"A": "1"}, "demo", None)
    cluster = load_clusterfile(yaml.safe_dump(doc)).cluster
    assert [h.ip for h in cluster.masters] == ["10.0.0.2"]
    assert [h.ip for h in cluster.nodes] == ["10.0.0.3", "10.0.0.4"]
    assert cluster.ssh.port == 2200 and cluster.env == {"A": "1"}
    bad = _flags_cluster("example.com/c:v1", "10.0.0.300", None, None, None, None, None, {}, None, None)
    with pytest.raises(ClusterfileError, match=r"is not an IP address"):
        load_clusterfile(yaml.safe_dump(bad), "flags")


def test_ansible_cfg_is_tuned(tmp_path):
    state = ClusterState(tmp_path, "demo")
    cfg = ansible_cfg(state, 12)
    for line in ("forks = 12", "pipelining = True", "gathering = explicit"):
        assert line in cfg
    assert "ControlPersist=" in cfg and "StrictHostKeyChecking=accept-new" in cfg
    assert f"UserKnownHostsFile={state.known_hosts}" in cfg


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")
def test_the_cipher_preference_is_one_this_ssh_accepts_aes_gcm_first(tmp_path):
    """`ssh -G` parses the option as a connection would, and rejects an unknown cipher name."""
    cfg = ansible_cfg(ClusterState(tmp_path, "demo"), 1)
    option = next(arg for arg in cfg.split() if arg.startswith("Ciphers="))
    shown = subprocess.run(["ssh", "-G", "-F", "/dev/null", "-o", option, "host.invalid"], capture_output=True,
                           text=True, check=True).stdout
    assert re.search(r"^ciphers aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,", shown, re.M), shown
    assert "chacha20-poly1305@openssh.com" in SSH_CIPHERS, "chacha stays for hosts without AES in hardware"


def test_pki_is_made_once_and_reissued_only_when_names_change(tmp_path):
    first = ensure_registry_pki(tmp_path, "demo", ["sea.hub"], ["10.0.0.2"])
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "ca.key").stat().st_mode & 0o777) == "0o600"
    cert = first.cert.read_bytes()
    again = ensure_registry_pki(tmp_path, "demo", ["sea.hub"], ["10.0.0.2"])
    assert again.cert.read_bytes() == cert
    ca = (tmp_path / "ca.crt").read_bytes()
    ensure_registry_pki(tmp_path, "demo", ["sea.hub"], ["10.0.0.2", "10.0.0.3"])
    assert first.cert.read_bytes() != cert and (tmp_path / "ca.crt").read_bytes() == ca


def test_failure_messages_drop_banners_and_explain_host_key_changes():
    from sealer_runner.run.runner import failure_of

    banner = "@@@@@@@@@@@\n@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\n@@@@@@@@@@@\nIT IS POSSIBLE..."
    event = {"event": "runner_on_unreachable", "event_data": {"host": "10.0.0.2", "task": "Host answers",
                                                              "res": {"msg": banner}}}
    failure = failure_of(event)
    assert failure.unreachable and "host key changed" in failure.message and "@@" not in failure.message
    ignored = {"event": "runner_on_failed", "event_data": {"ignore_errors": True, "res": {"msg": "x"}}}
    assert failure_of(ignored) is None
    plain = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "t", "role": "r",
                                                         "res": {"msg": "----\nreal problem\nmore detail\nmore"}}}
    assert str(failure_of(plain)) == "h failed at r: t: real problem more detail"


def test_failure_messages_of_commands_and_loops_say_what_the_command_said():
    """Ansible's own words for these ("non-zero return code", "One or more items failed") tell nothing."""
    from sealer_runner.run.runner import failure_of

    stderr = "ls: cannot access '/no/such/chart': No such file or directory"
    command = {"changed": True, "stdout": "starting", "stderr": stderr, "rc": 2, "failed": True,
               "msg": "non-zero return code", "_ansible_item_label": "cmd: ls /no/such/chart"}
    shell = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "Launch step", "role": "apps",
                                                         "res": {k: v for k, v in command.items() if k[0] != "_"}}}
    assert failure_of(shell).message == f"rc 2: {stderr}"
    loop = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "Launch step", "role": "apps", "res": {
        "results": [{"changed": False, "failed": False, "_ansible_item_label": "ok"}, command],
        "changed": True, "msg": "One or more items failed"}}}
    assert failure_of(loop).message == f"[cmd: ls /no/such/chart] rc 2: {stderr}"
    module = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "t", "res": {
        "msg": "layer sha256:ab: digest mismatch", "stderr": "warning: noise", "rc": 1}}}
    assert failure_of(module).message == "layer sha256:ab: digest mismatch", "a module's own msg comes first"


CONFIGS = """\
---
apiVersion: sealer.io/v1
kind: Config
metadata: {name: values}
spec:
  appName: web
  path: ./conf/../values.yaml
  strategy: merge
  data: |
    replicas: 3
---
apiVersion: sealer.io/v1
kind: Config
metadata: {name: kubelet}
spec:
  path: etc/kubelet.conf
  process: value|toJson
  data: {maxPods: 200}
"""


def test_config_vars_in_order_with_app_paths_under_the_app():
    spec = load_clusterfile(CLUSTERFILE + CONFIGS)
    assert config_vars(spec) == [
        {"name": "values", "path": "application/apps/web/values.yaml", "data": "replicas: 3\n",
         "strategy": "merge", "process": []},
        {"name": "kubelet", "path": "etc/kubelet.conf", "data": "maxPods: 200\n", "strategy": "overwrite",
         "process": ["value", "toJson"]},
    ]


def test_a_failed_loop_reports_its_first_failed_item():
    from sealer_runner.run.runner import failure_of

    loop = {"event": "runner_on_failed", "event_data": {"host": "h", "task": "t", "role": "r", "res": {
        "msg": "One or more items failed", "results": [{"changed": False}, {"failed": True, "msg": "no node has 10.0.0.9"},
                                                       {"failed": True, "msg": "second"}]}}}
    assert str(failure_of(loop)) == "h failed at r: t: no node has 10.0.0.9"


def test_sudo_gets_the_ssh_password_at_ansibles_own_prompts_in_memory(tmp_path, monkeypatch):
    """The regexes must match the prompts ansible-playbook really prints (ansible.cli), and the passwords
    go to ansible-runner in memory, never into the private data dir."""
    import ansible.cli
    import ansible_runner

    from sealer_runner.run import runner
    from sealer_runner.util.secret import Secret

    source = Path(ansible.cli.__file__).read_text()
    assert '"SSH password: "' in source and '"%s password[defaults to SSH password]: "' in source
    asked: dict = {}

    class Done:
        status, rc = "successful", 0
        stats: dict = {}

        class config:  # noqa: N801 (ansible-runner's attribute)
            env = {"PATH": "/bin", "REGISTRY_PASSWORD": "from-the-env"}
            artifact_dir = str(tmp_path / "artifacts")

        def run(self):
            asked["ran_with_env"] = dict(self.config.env)

    def fake_init_runner(**kwargs):
        asked.update(kwargs)
        return Done()

    monkeypatch.setattr(ansible_runner.interface, "init_runner", fake_init_runner)
    request = runner.RunRequest(private_dir=tmp_path / "private", project_dir=tmp_path, playbook="run.yml",
                                inventory={"all": {}}, extravars={}, ansible_cfg="", collections_path=tmp_path,
                                ssh_password=Secret("pw-ssh"), become_password=Secret("pw-ssh"))
    runner.run(request)
    assert asked["cmdline"].split() == ["--ask-pass", "--ask-become-pass"]
    assert asked["ran_with_env"] == {"PATH": "/bin"}, "secret-named env variables never reach the playbook"
    assert asked["envvars"]["ANSIBLE_AGNOSTIC_BECOME_PROMPT"] == "True", "not SUDO password: whatever the env says"
    prompts = {"SSH password: ": "pw-ssh", "BECOME password[defaults to SSH password]: ": "pw-ssh"}
    for prompt, answer in prompts.items():
        matching = [regex for regex in asked["passwords"] if re.match(regex, prompt.strip() + " ")]
        assert len(matching) == 1 and asked["passwords"][matching[0]] == answer, prompt
    written = b"".join(p.read_bytes() for p in (tmp_path / "private").rglob("*") if p.is_file())
    assert b"pw-ssh" not in written
