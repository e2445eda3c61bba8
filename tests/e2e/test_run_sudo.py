"""A whole offline delivery through a non-root SSH user who needs a password for sudo, as sealer allows.

It also renames the node with a HOSTNAME plugin: a real host name change on a booted host.

The hosts are reached as `deploy` with a password; every task runs through sudo, whose password is
the SSH password (sealer's rule), answered at ansible-playbook's own prompt in memory. Layers then go
through the connection's put_file and a verifying adopt, since a sudo prompt cannot share the
stream's stdin. The password appears in no output and no file.
"""

from __future__ import annotations

import re

import pytest

from sealer_runner.cli.main import main as cli_main
from tests.e2e.test_run import missing_binaries, offline_cluster_image
from tests.support.artifacts import upload_methods

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

USER = "deploy"
PASSWORD = "Sudo-Pa55-7"


def _add_sudo_user(host) -> None:
    """A user that may do anything through sudo, after typing its password; SSH with passwords allowed."""
    rules = host.ssh(f"useradd -m -s /bin/bash {USER} && echo {USER}:{PASSWORD} | chpasswd && "
                     f"echo '{USER} ALL=(ALL:ALL) ALL' > /etc/sudoers.d/{USER} && chmod 0440 /etc/sudoers.d/{USER} && "
                     f"sudo -l -U {USER} && "
                     "printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/10-e2e-password.conf && "
                     "systemctl reload ssh", check=True).stdout
    assert "(ALL : ALL) ALL" in rules and "NOPASSWD" not in rules, rules



def test_a_non_root_user_with_a_sudo_password_delivers_everything(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)
    with test_hosts_factory(2) as hosts:
        for host in hosts:
            _add_sudo_user(host)
        cf = tmp_path / "Clusterfile"
        cf.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: sudo}}
spec:
  image: {image}
  ssh: {{user: {USER}, passwd: '{PASSWORD}'}}
  env: [APP_MODE=sudo]
  hosts:
    - {{ips: [{hosts[0].ip}], roles: [master]}}
    - {{ips: [{hosts[1].ip}], roles: [node]}}
---
apiVersion: sealer.io/v2
kind: Plugin
metadata: {{name: names}}
spec:
  type: HOSTNAME
  action: pre-init-host
  data: |
    {hosts[1].ip} worker-a
""")
        capsys.readouterr()
        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0, capsys.readouterr().err
        first = capsys.readouterr()
        assert re.search(r"Done in [\d.]+s: [1-9]\d* change\(s\)", first.err), first.err
        assert upload_methods(root, "sudo") == {"put_file", "fetch"}, "sudo: put_file to master0, the node fetches"

        for host in hosts:  # root-owned results, made through sudo
            pulled = host.ssh(["ctr", "-n", "e2e", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d",
                               "docker.io/library/nginx:1.25"], timeout=120)
            assert pulled.returncode == 0, f"{host.name}: {pulled.stdout}{pulled.stderr}"
            rootfs = host.rootfs / "var/lib/sealer/data/sudo/rootfs"
            assert (rootfs / "etc/app.conf").read_text() == "mode=sudo\n"
            assert (rootfs / "etc/app.conf").stat().st_uid == 0
            left = host.ssh(f"find /home/{USER}/.ansible/tmp -mindepth 1 -ls", check=False).stdout
            assert not left.strip(), f"{host.name}: left in {USER}'s temporary directory:\n{left}"
        assert hosts[0].ssh("cat /root/launched.log", check=True).stdout == "launched\n"
        assert hosts[1].ssh("hostname; cat /etc/hostname", check=True).stdout == "worker-a\nworker-a\n"
        assert hosts[0].ssh("hostname", check=True).stdout.strip() == hosts[0].name, "no line for master0"
        for host in hosts:  # every host resolves the new name (prepare writes the cluster's names)
            assert host.ssh("getent hosts worker-a", check=True).stdout.split()[0] == hosts[1].ip, host.name

        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0
        second = capsys.readouterr()
        assert ": 0 change(s)" in second.err, second.err
        for text in (first.out, first.err, second.out, second.err):
            assert PASSWORD not in text
        for path in (root / "clusters" / "sudo").rglob("*"):
            if path.is_file():
                assert PASSWORD.encode() not in path.read_bytes(), path
