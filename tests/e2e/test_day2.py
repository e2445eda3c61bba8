"""Day 2 on booted hosts (systemd-nspawn), cluster runtime `none`: join, delete of one host, delete of the
whole cluster, and the bad inputs that must change nothing. A host that leaves must be as clean as it was
before the first run: every unit, file, mount and process of ours is listed before and after."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sealer_runner.cli.main import main as cli_main
from tests.e2e.test_run import clusterfile, offline_cluster_image
from tests.support.base_image import missing_binaries

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

#: What a run may leave on a host, listed: files under the places the roles write, units, mounts, processes.
SNAPSHOT = r"""
for d in /etc/systemd/system /etc/containerd /etc/sealer /etc/kubernetes /etc/sysctl.d /etc/modules-load.d \
         /usr/local/share/ca-certificates /usr/local/bin /usr/local/lib /usr/bin /var/lib/sealer \
         /var/lib/containerd /var/lib/kubelet /run/containerd; do
  [ -e "$d" ] && find "$d" -xdev | sed 's/^/path /'
done
echo "hosts $(md5sum < /etc/hosts)"
echo "ca-bundle $(md5sum < /etc/ssl/certs/ca-certificates.crt)"
echo "ca-links $(ls /etc/ssl/certs | md5sum)"
systemctl list-units --all --plain --no-legend | awk '{print "unit " $1}' | grep -E 'sealer|containerd|kubelet|registry'
findmnt -rn -o TARGET | grep -E 'sealer|containerd|kubelet' | sed 's/^/mount /'
ps -eo args | grep -E '(containerd|registry|kubelet|lvscare|layer-server)' | grep -v grep | sed 's/^/process /'
exit 0
"""


def snapshot(host) -> list[str]:
    return sorted(host.ssh(SNAPSHOT, check=True).stdout.splitlines())


def changes(err: str) -> dict[str, int]:
    """Changed tasks per host, from the run's summary table."""
    return {row.split()[0]: int(row.split()[2]) for row in err.splitlines()
            if re.match(r"^\d+\.\d+\.\d+\.\d+\s+\d+\s+\d+\s", row)}


def names_block(host) -> list[str]:
    """The lines of the cluster's host-names block in the host's /etc/hosts."""
    text = host.ssh("cat /etc/hosts", check=True).stdout
    block = re.search(r"# BEGIN sealer_runner hosts of cluster e2e\n(.*?)# END", text, re.S)
    return block.group(1).splitlines() if block else []


def sr(root: Path, capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli_main(["--root", str(root), *argv])
    captured = capsys.readouterr()
    return rc, captured.err + captured.out


def cli_process(root: Path, *argv: str) -> subprocess.Popen[str]:
    """The CLI as a process of its own (a session of its own, as a terminal's foreground job)."""
    code = "import sys; from sealer_runner.cli.main import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "--root", str(root), *argv], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_play(root: Path, play: str, proc: subprocess.Popen[str], before: set[Path],
                  timeout: float = 120) -> None:
    """Until a run of the store's cluster that is not one of *before* started *play* (its ansible stdout
    says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = set((root / "clusters/e2e/runner/artifacts").glob("*/stdout")) - before
        if any(f"PLAY [{play}" in run.read_text(errors="replace") for run in runs):
            return
        assert proc.poll() is None, f"the command ended before {play!r}: {proc.communicate()}"
        time.sleep(0.2)
    raise AssertionError(f"no {play!r} within {timeout}s")


def interrupted(root: Path, delay: float, *argv: str) -> tuple[int, str]:
    """The CLI as a process of its own, sent SIGINT after *delay* seconds like a terminal's Ctrl-C (to its
    whole process group); its exit code and stderr."""
    proc = cli_process(root, *argv)
    try:
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, err + out


def leftover_playbooks(root: Path) -> list[str]:
    """ansible-playbook processes still running a playbook of this store's clusters (the program itself, run
    by its python: not the ssh-agent ansible-runner wraps it in, which outlives it by up to 10 s, nor ssh's
    ControlPersist masters)."""
    found = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    out = []
    for line in found.splitlines():
        words = line.split()
        program = [w for w in words[1:3] if not w.startswith("-")]
        if str(root) in line and any(Path(w).name == "ansible-playbook" for w in program):
            out.append(line)
    return out


def test_join_delete_and_delete_all_leave_clean_hosts(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)
    with test_hosts_factory(3) as hosts:
        fresh = {h.name: snapshot(h) for h in hosts}
        cf = clusterfile(tmp_path / "Clusterfile", image, [hosts[0].ip], [hosts[1].ip], hosts[0].key)
        rc, err = sr(root, capsys, "run", "-f", str(cf))
        assert rc == 0, err
        assert hosts[2].ssh("test -e /var/lib/sealer").returncode != 0, "host 3 is not in the cluster yet"

        # the state on the master: another controller takes over (state pull) and keeps the same CA
        kept = hosts[0].rootfs / "var/lib/sealer/data/e2e/state"
        assert sorted(p.name for p in kept.iterdir()) == ["Clusterfile", "digest", "pki", "state.json"]
        assert kept.stat().st_mode & 0o777 == 0o700 and (kept / "pki/ca.key").stat().st_mode & 0o777 == 0o600
        assert not (hosts[1].rootfs / "var/lib/sealer/data/e2e/state").exists(), "on masters only"
        assert json.loads((kept / "state.json").read_text())["hosts"][1]["platform"] == "linux/amd64"
        ca = (root / "clusters/e2e/pki/ca.crt").read_bytes()
        shutil.rmtree(root / "clusters/e2e")
        rc, err = sr(root, capsys, "state", "pull", "--from", hosts[0].ip, "-f", str(cf))
        assert rc == 0, err
        assert (root / "clusters/e2e/pki/ca.crt").read_bytes() == ca
        assert (root / "clusters/e2e/applied/Clusterfile").read_text() == (kept / "Clusterfile").read_text()
        rc, err = sr(root, capsys, "run", "-f", str(cf))
        assert rc == 0 and ": 0 change(s)" in err, "the same CA and state: nothing to do, nothing rewritten"
        layers_mark = [h.rootfs / "var/lib/sealer/data/e2e/rootfs/.sealer-layers.json" for h in hosts[:2]]
        before = [p.stat().st_mtime_ns for p in layers_mark]

        # join: only the new host gets the image, the runtime, the plugins; the others their /etc/hosts
        rc, err = sr(root, capsys, "join", "-n", hosts[2].ip)
        assert rc == 0, err
        changed = changes(err)
        assert changed[hosts[2].ip] > 5, err
        # the hosts already there: their /etc/hosts, and on the master the state it keeps (it lists one more host)
        assert changed[hosts[0].ip] <= 2 and changed[hosts[1].ip] <= 1, err
        assert [p.stat().st_mtime_ns for p in layers_mark] == before, "no delivery to the hosts already there"
        assert hosts[2].ssh("systemctl is-active containerd", check=True).stdout.strip() == "active"
        assert hosts[2].ssh("cat /root/post-init-host.stamp", check=True).stdout.strip() == hosts[2].name
        pulled = hosts[2].ssh(["ctr", "-n", "e2e", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d",
                               "docker.io/library/nginx:1.25"], timeout=120)
        assert pulled.returncode == 0, pulled.stderr  # from master0's registry, through the new /etc/hosts
        assert hosts[0].ssh("cat /root/launched.log", check=True).stdout == "launched\n", "apps not launched again"
        for host in hosts:
            assert f"{hosts[2].ip} {hosts[2].name}" in names_block(host), host.name
        rc, out = sr(root, capsys, "clusters", "--json")
        (listed,) = json.loads(out[out.index("["):])
        assert rc == 0 and listed["name"] == "e2e" and listed["hosts"] == 3, out
        state = json.loads((root / "clusters/e2e/applied/state.json").read_text())
        assert [h["ip"] for h in state["hosts"]] == [h.ip for h in hosts]
        assert all(h["platform"] == "linux/amd64" for h in state["hosts"]), state["hosts"]

        # bad input changes nothing (exit 2)
        rc, err = sr(root, capsys, "join", "-n", hosts[1].ip)
        assert rc == 2 and "already in cluster e2e" in err, err
        rc, err = sr(root, capsys, "delete", "-n", "10.248.0.250", "--force")
        assert rc == 2 and "not in cluster e2e" in err, err
        rc, err = sr(root, capsys, "delete", "-m", hosts[0].ip, "--force")
        assert rc == 2 and "master0" in err, err
        rc, err = sr(root, capsys, "etcd", "backup")
        assert rc == 2 and "runs no Kubernetes (runtime none)" in err, err
        rc, err = sr(root, capsys, "delete", "-n", hosts[1].ip)  # no terminal, no --force
        assert rc == 2 and "--force" in err, err
        rc, err = sr(root, capsys, "join", "-n", hosts[1].ip, "--name", "other")
        assert rc == 2 and "no applied cluster named other" in err, err

        # apply --plan: the Clusterfile that lists the three hosts is what is applied (exit 0)
        three = clusterfile(tmp_path / "Clusterfile.three", image, [hosts[0].ip], [hosts[1].ip, hosts[2].ip],
                            hosts[0].key)
        rc, out = sr(root, capsys, "apply", "-f", str(three), "--plan")
        assert rc == 0 and out.count("no change") == 3, out

        # one host less: the plan says it leaves (exit 3); apply removes it, clean as before the first run
        rc, out = sr(root, capsys, "apply", "-f", str(cf), "--plan", "--json")
        plan = json.loads(out[out.index("{"):])
        assert rc == 3 and plan["pending"], out
        assert {h["ip"]: h["action"] for h in plan["hosts"]} == {hosts[0].ip: "no change", hosts[1].ip: "no change",
                                                                 hosts[2].ip: "leave"}
        rc, err = sr(root, capsys, "apply", "-f", str(cf), "--prune", "--force")
        assert rc == 0, err
        assert snapshot(hosts[2]) == fresh[hosts[2].name]
        for host in hosts[:2]:
            assert names_block(host) == [f"{h.ip} {h.name}" for h in hosts[:2]], host.name
        state = json.loads((root / "clusters/e2e/applied/state.json").read_text())
        assert [h["ip"] for h in state["hosts"]] == [hosts[0].ip, hosts[1].ip]
        rc, err = sr(root, capsys, "run", "-f", str(cf))
        assert rc == 0 and ": 0 change(s)" in err, "the Clusterfile and the hosts agree again"

        # the host back through apply: a join (only it gets the delivery), then nothing pending
        rc, out = sr(root, capsys, "apply", "-f", str(three), "--plan")
        assert rc == 3 and re.search(rf"^{re.escape(hosts[2].ip)}\s+node\s+join$", out, re.M), out
        rc, err = sr(root, capsys, "apply", "-f", str(three))
        assert rc == 0, err
        changed = changes(err)
        assert changed[hosts[0].ip] <= 2 and changed[hosts[1].ip] <= 1 and changed[hosts[2].ip] > 5, err
        assert sr(root, capsys, "apply", "-f", str(three), "--plan")[0] == 0

        # a Config changed: every host runs again, and gets it
        three.write_text(three.read_text().replace("limit=42", "limit=43"))
        rc, out = sr(root, capsys, "apply", "-f", str(three), "--plan")
        assert rc == 3 and "re-run because: Config override changed" in out and out.count("re-run") >= 3, out
        rc, err = sr(root, capsys, "apply", "-f", str(three))
        assert rc == 0, err
        for host in hosts:
            assert (host.rootfs / "var/lib/sealer/data/e2e/rootfs/etc/override.conf").read_text() == "limit=43\n"
        assert sr(root, capsys, "apply", "-f", str(three), "--plan")[0] == 0

        # a host that lost its files is found by the plan (it asks each host), and apply puts them back
        hosts[1].ssh("rm -f /var/lib/sealer/data/e2e/rootfs/.sealer-layers.json", check=True)
        rc, out = sr(root, capsys, "apply", "-f", str(three), "--plan")
        assert rc == 3 and f"re-run because: {hosts[1].ip} lost its files" in out, out
        assert sr(root, capsys, "apply", "-f", str(three), "--plan", "--no-probe")[0] == 0, "--no-probe: state only"
        rc, err = sr(root, capsys, "apply", "-f", str(three))
        assert rc == 0 and "lost its files" in err, err
        assert (hosts[1].rootfs / "var/lib/sealer/data/e2e/rootfs/.sealer-layers.json").exists()
        assert sr(root, capsys, "apply", "-f", str(three), "--plan")[0] == 0

        # delete one host by IP, and the same host joins again (scale-down / scale-up); then the whole cluster goes
        rc, err = sr(root, capsys, "scale-down", "-n", hosts[2].ip, "--prune", "--force")
        assert rc == 0, err
        assert snapshot(hosts[2]) == fresh[hosts[2].name]

        # Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) during a join, at
        # several points: exit 130, no ansible-playbook left running, the applied state as it was, the
        # per-host progress recorded and shown; then the same command finishes the join
        applied = (root / "clusters/e2e/applied/state.json").read_bytes()
        for delay in (1.5, 5.0, 10.0):
            rc, err = interrupted(root, delay, "scale-up", "-n", hosts[2].ip)
            assert rc == 130 and "interrupted" in err, (delay, rc, err)
            assert (root / "clusters/e2e/applied/state.json").read_bytes() == applied, delay
            assert not leftover_playbooks(root), (delay, leftover_playbooks(root))
            recorded = json.loads(p.read_text()) if (p := root / "clusters/e2e/progress.json").exists() else None
            if recorded is not None:  # interrupted once ansible-playbook ran (not during the pre checks)
                assert recorded["verb"] == "join" and recorded["status"] == "canceled", recorded
                assert {h["host"] for h in recorded["hosts"]} == {h.ip for h in hosts}
                rc, out = sr(root, capsys, "clusters")
                assert "join interrupted at" in out, out
        assert (root / "clusters/e2e/progress.json").exists(), "at least one interrupt reached the playbook"

        # the joining host dies mid-join (its cable cut once the delivery to it began): the join fails naming
        # it, the hosts already there keep serving, the record says which hosts are done; back, a re-run finishes
        before = set((root / "clusters/e2e/runner/artifacts").glob("*/stdout"))
        proc = cli_process(root, "scale-up", "-n", hosts[2].ip)
        wait_for_play(root, "Deliver the image's rootfs", proc, before)
        hosts[2].cut()
        try:
            out, err = proc.communicate(timeout=300)
        finally:
            hosts[2].restore()
        assert proc.returncode == 1 and "join failed" in err, (proc.returncode, err + out)
        recorded = json.loads((root / "clusters/e2e/progress.json").read_text())
        status = {h["host"]: h["status"] for h in recorded["hosts"]}
        assert recorded["status"] == "failed" and status[hosts[2].ip] in ("unreachable", "failed"), recorded
        assert status[hosts[0].ip] == status[hosts[1].ip] == "done", recorded
        assert (root / "clusters/e2e/applied/state.json").read_bytes() == applied
        for host in hosts[:2]:
            assert host.ssh("systemctl is-active containerd", check=True).stdout.strip() == "active", host.name
        assert hosts[0].ssh("systemctl is-active sealer-registry", check=True).stdout.strip() == "active"
        rc, err = sr(root, capsys, "scale-up", "-n", hosts[2].ip)
        assert rc == 0, err
        assert not (root / "clusters/e2e/progress.json").exists(), "a verb that succeeds clears the record"
        assert hosts[2].ssh("systemctl is-active containerd", check=True).stdout.strip() == "active"
        rc, err = sr(root, capsys, "run", "-f", str(three))
        assert rc == 0 and ": 0 change(s)" in err, err
        rc, err = sr(root, capsys, "delete", "-a", "--prune", "--force")
        assert rc == 0, err
        for host in hosts:
            assert snapshot(host) == fresh[host.name], host.name
        assert not (root / "clusters/e2e").exists()
