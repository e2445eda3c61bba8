"""Smoke tests for the test-host harness itself (tests/support/hosts.py): if these fail, no e2e test can pass."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hosts import Bridge, Host, HostError, HostsFactory, TestHosts, available, leftover_processes

pytestmark = pytest.mark.e2e


def connect_cmd(ip: str, port: int = 22, timeout: float = 2.0) -> str:
    """A command that, run inside a host, exits 0 iff it can open a TCP connection to ip:port."""
    code = f"import socket; socket.create_connection(({ip!r}, {port}), timeout={timeout}).close()"
    return f"python3 -c {shlex.quote(code)}"


@pytest.fixture(scope="class")
def three(test_hosts_factory: HostsFactory) -> Iterator[TestHosts]:
    with test_hosts_factory(3) as hosts:
        yield hosts


class TestThreeHosts:
    """Tests share three booted hosts; the last one stops and restarts a host."""

    def test_each_host_has_its_own_identity(self, three: TestHosts) -> None:
        seen = [host_lines(h, "hostname; ip -4 -o addr show dev host0; cat /etc/machine-id") for h in three]
        names = [s[0] for s in seen]
        assert names == [h.name for h in three]
        for host, lines in zip(three, seen, strict=True):
            assert f" {host.ip}/24 " in lines[1]
        machine_ids = {s[2] for s in seen}
        assert len(machine_ids) == 3 and all(len(m) == 32 for m in machine_ids)

    def test_hosts_reach_each_other(self, three: TestHosts) -> None:
        for i, host in enumerate(three):
            other = three[(i + 1) % len(three)]
            done = host.ssh(connect_cmd(other.ip))
            assert done.returncode == 0, f"{host.name} -> {other.name}: {done.stderr}"
        # names resolve too (every host's /etc/hosts lists the set)
        assert three[0].ssh(connect_cmd(three[1].name)).returncode == 0

    def test_systemd_runs_transient_units(self, three: TestHosts) -> None:
        host = three[0]
        host.ssh("systemd-run --unit=sr-probe --wait --quiet sh -c 'echo ran > /run/sr-probe'", check=True)
        assert host.ssh("cat /run/sr-probe").stdout == "ran\n"
        result = host.ssh("systemctl show -p Result --value sr-probe").stdout.strip()
        assert result in ("success", "")  # the unit is gone once it succeeded (no RemainAfterExit)

    def test_copy_in_puts_files_where_the_host_sees_them(self, three: TestHosts, tmp_path: Path) -> None:
        script = tmp_path / "hello"
        script.write_text("#!/bin/sh\necho hello from $(hostname)\n")
        # /bin is a symlink (merged /usr) inside the host: copy_in must follow it inside, not on the machine
        written = three.copy_in(three[1], script, "/bin/sr-hello", mode=0o755)
        assert written == three[1].rootfs / "usr/bin/sr-hello"
        assert three[1].ssh("sr-hello").stdout == f"hello from {three[1].name}\n"

    def test_cut_host_is_unreachable_until_restored(self, three: TestHosts) -> None:
        a, b = three[0], three[2]
        b.cut()
        try:
            assert a.ssh(connect_cmd(b.ip, timeout=1.0)).returncode != 0
        finally:
            b.restore()
        assert a.ssh(connect_cmd(b.ip)).returncode == 0

    def test_stopped_host_is_unreachable_and_starts_again(self, three: TestHosts) -> None:
        host, peer = three[2], three[0]
        old_pid = host.pid
        host.ssh("echo kept > /root/marker", check=True)
        host.stop()
        assert host.pid is None and not host.running
        assert leftover_processes([host.rootfs]) == []
        assert peer.ssh(connect_cmd(host.ip, timeout=1.0)).returncode != 0
        host.start()
        assert host.pid not in (None, old_pid)
        assert host.ssh("systemctl is-system-running").stdout.strip() == "running"
        assert host.ssh("cat /root/marker").stdout == "kept\n"  # same rootfs
        assert peer.ssh(connect_cmd(host.ip)).returncode == 0


def host_lines(host: Host, cmd: str) -> list[str]:
    done = host.ssh(cmd, check=True)
    return [line.strip() for line in done.stdout.splitlines()]


@pytest.fixture
def can_make_hosts() -> None:
    reason = available()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.usefixtures("can_make_hosts")
def test_teardown_leaves_nothing_behind_even_on_interrupt(tmp_path: Path) -> None:
    bridge = Bridge("srbr0")
    existed = bridge.exists()  # normally not: the class above closed its set, and with it the shared bridge
    with pytest.raises(KeyboardInterrupt):
        with TestHosts(2, tmp_path / "hosts", bridge="srbr0") as hosts:
            roots = [h.rootfs for h in hosts]
            assert len(leftover_processes(roots)) >= 2  # the check sees running hosts (nspawn + their systemd)
            assert bridge.exists()
            raise KeyboardInterrupt
    assert leftover_processes(roots) == []
    assert not any(r.exists() for r in roots)
    assert bridge.exists() == existed  # removed iff this set created it


@pytest.mark.usefixtures("can_make_hosts")
def test_failed_boot_cleans_up_and_says_why(tmp_path: Path) -> None:
    hosts = TestHosts(1, tmp_path / "hosts", boot_timeout=0.3)
    with pytest.raises(HostError, match="sr-host-1"):
        hosts.boot()
    assert hosts.closed
    assert leftover_processes([hosts[0].rootfs]) == []
    assert not hosts[0].rootfs.exists()
