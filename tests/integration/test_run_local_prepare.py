"""Host preparation through the real playbook, on this machine (ansible_connection=local), with every
system path of the prepare role pointed into a temporary directory: a fake /proc, /etc and /sys.

modprobe, swapoff and date are *test stand-ins* written below: they record their calls and change the
fake /proc the way the kernel would. Nothing on this machine is changed: the run is limited to the
prepare tags that use those paths (not prepare-ca), and every task that runs is checked against a list.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sealer_runner.cli.run_display import notes
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import build_request
from sealer_runner.run.runner import RunRequest, RunResult, run

from .test_run_local import CLUSTERFILE, build

pytestmark = [pytest.mark.integration]

PREPARE_TAGS = ("validate", "prepare-time", "prepare-hosts", "prepare-host-names", "prepare-kernel-modules",
                "prepare-sysctl", "prepare-swap")
#: The only tasks allowed to run in these tests (role argument checks aside).
ALLOWED_TASKS = {
    "The run's inputs are complete and well-formed", "Every layer to upload exists on the controller",
    "The hosts this run delivers to (sealer_targets), and those already done (sealer_members)",
    "Every Config is well-formed (its path stays inside the rootfs, its data fits its strategy)",
    "A registry user comes with its password", "The directories on the hosts are plain, normalised absolute paths",
    "Host answers over SSH", "Python for Ansible's modules on the host", "Stop before any change when a host has no python3",
    "The commands the run needs, and the host's architecture",
    "Stop before any change when a command is missing or the image has no platform for the host",
    "The host's architecture, and the image's platform for it", "The layers this host gets (its architecture's platform)",
    "Stop before any change when the hosts are of different architectures",
    "Controller clock before reading the host's", "Host clock",
    "Controller clock after reading the host's", "Host clock within sealer_time_max_skew of the controller's",
    "Warn about a host clock off by more than sealer_time_warn_skew", "/etc/hosts entries of this cluster",
    "This host's current name", "/etc/hosts entries naming every host of the cluster",
    "Warn about host names that more than one host carries", "Kernel modules loaded now and at boot",
    "Kernel parameters set now and at boot", "Swap off now and at boot",
}

SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
MODPROBE_LOADS = """#!/bin/sh
# Test stand-in for modprobe: records the call, then "loads" the module into the fake /proc/modules.
echo "$*" >> {log}
echo "$1 16384 0 - Live 0x0000000000000000" >> {proc_modules}
"""
MODPROBE_REFUSED = """#!/bin/sh
# Test stand-in for modprobe inside a container: records the call, and fails like modprobe there.
echo "$*" >> {log}
echo "modprobe: FATAL: Module $1 not found in directory /lib/modules/6.1.0" >&2
exit 1
"""
SWAPOFF_WORKS = """#!/bin/sh
# Test stand-in for swapoff: records the call, then empties the fake /proc/swaps.
echo "$*" >> {log}
printf '{header}' > {proc_swaps}
"""
SWAPOFF_REFUSED = """#!/bin/sh
# Test stand-in for swapoff inside a container.
echo "$*" >> {log}
echo "swapoff: /swapfile: swapoff failed: Operation not permitted" >&2
exit 255
"""
DATE_AHEAD = f"""#!{sys.executable}
# Test stand-in for date +%s.%N: a clock {{ahead}} seconds ahead of the real one.
import time
print("%.9f" % (time.time() + {{ahead}}))
"""


class FakeHost:
    """The files the prepare role reads and writes, under one temporary directory."""

    def __init__(self, root: Path, *, container: bool = False, bridge: bool = True, ahead: float = 0) -> None:
        self.root = root
        self.ahead = ahead  # seconds the date stand-in's clock is ahead
        self.files = {
            "etc/hosts": "127.0.0.1 localhost\n",
            "proc/hostname": "fake-host\n",
            "proc/modules": "overlay 151552 0 - Live 0x0000000000000000\n",
            "proc/swaps": SWAPS_HEADER + "/swapfile                               file\t\t1048572\t\t0\t\t-2\n",
            "etc/fstab": "UUID=1 / ext4 errors=remount-ro 0 1\n/swapfile none swap sw 0 0\n",
            "modules.builtin": "kernel/fs/ext4/ext4.ko\n",
            "proc/sys/net/ipv4/ip_forward": "0\n",
        }
        if bridge:
            self.files["proc/sys/net/bridge/bridge-nf-call-iptables"] = "0\n"
            self.files["proc/sys/net/bridge/bridge-nf-call-ip6tables"] = "0\n"
        if container:
            self.files["run/container"] = "systemd-nspawn\n"
        for name, text in self.files.items():
            self.path(name).parent.mkdir(parents=True, exist_ok=True)
            self.path(name).write_text(text)
        self.path("sys/module").mkdir(parents=True)
        self.path("test-bin").mkdir()

    def path(self, name: str) -> Path:
        return self.root / name

    def text(self, name: str) -> str:
        return self.path(name).read_text()

    def stand_in(self, name: str, script: str) -> str:
        path = self.path("test-bin") / name
        path.write_text(script.format(log=self.path(f"{name}.log"), proc_modules=self.path("proc/modules"),
                                      proc_swaps=self.path("proc/swaps"), header=SWAPS_HEADER.replace("\t", "\\t"),
                                      ahead=self.ahead))
        path.chmod(0o755)
        return str(path)

    def calls(self, name: str) -> list[str]:
        log = self.path(f"{name}.log")
        return log.read_text().splitlines() if log.exists() else []

    def extravars(self) -> dict[str, str]:
        return {
            "sealer_etc_hosts": str(self.path("etc/hosts")),
            "sealer_hostname_source": str(self.path("proc/hostname")),
            "sealer_container_marker": str(self.path("run/container")),
            "sealer_modules_load_file": str(self.path("etc/modules-load.d/sealer.conf")),
            "sealer_proc_modules": str(self.path("proc/modules")),
            "sealer_sys_module": str(self.path("sys/module")),
            "sealer_modules_builtin": str(self.path("modules.builtin")),
            "sealer_sysctl_file": str(self.path("etc/sysctl.d/99-sealer.conf")),
            "sealer_proc_sys": str(self.path("proc/sys")),
            "sealer_proc_swaps": str(self.path("proc/swaps")),
            "sealer_fstab": str(self.path("etc/fstab")),
            # Never the real ones, whatever a test forgets to set:
            "sealer_modprobe": str(self.path("test-bin/absent-modprobe")),
            "sealer_swapoff": str(self.path("test-bin/absent-swapoff")),
        }


def request_for(tmp_path: Path, host: FakeHost, plugins: str = "", tags: tuple[str, ...] = PREPARE_TAGS,
                **extra: str) -> RunRequest:
    store = Store(tmp_path / "store")
    if not store.list_images():
        build(store, tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY f f\n", "f": "x\n"})
    spec = load_clusterfile(CLUSTERFILE.format(data_root=tmp_path / "hosts") + plugins)
    request = build_request(spec, store, store.root, ssh_key=None)
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = sys.executable
    request.extravars.update(host.extravars(), **extra)
    request.extravars["sealer_registry"].pop("ca_cert")  # belt and braces: the CA task has nothing to install
    return replace(request, ssh_password=None, tags=tags)


def run_checked(request: RunRequest) -> tuple[RunResult, list[str]]:
    """Run, collecting what the display would show, and fail if a task outside ALLOWED_TASKS ran."""
    shown: list[str] = []
    ran: set[str] = set()

    def on_event(event: dict) -> None:
        data = event.get("event_data") or {}
        if event.get("event") in ("runner_on_ok", "runner_on_failed") and "Validating arguments" not in data.get("task", ""):
            ran.add(data.get("task", ""))
        if event.get("event") == "runner_on_ok":
            shown.extend(notes(data))

    result = run(request, on_event=on_event)
    assert ran <= ALLOWED_TASKS, f"unexpected tasks ran: {ran - ALLOWED_TASKS}"
    return result, shown


HOSTNAME_PLUGIN = """\
---
apiVersion: sealer.io/v2
kind: Plugin
metadata: {name: names}
spec:
  type: HOSTNAME
  action: upgrade-host   # a phase `run` never reaches: this machine is not renamed
  data: |
    127.0.0.1 named-by-plugin
"""


def test_prepare_a_host_then_a_rerun_changes_nothing(tmp_path):
    host = FakeHost(tmp_path / "host")
    request = request_for(tmp_path, host, HOSTNAME_PLUGIN, sealer_modprobe=host.stand_in("modprobe", MODPROBE_LOADS),
                          sealer_swapoff=host.stand_in("swapoff", SWAPOFF_WORKS))
    first, shown = run_checked(request)
    assert first.ok, first.failures
    assert shown == []
    hosts = host.text("etc/hosts")
    assert hosts.startswith("127.0.0.1 localhost\n")
    assert "\n127.0.0.1 sea.hub\n" in hosts, "the registry domain (10-hosts.yml, now at sealer_etc_hosts)"
    assert "# BEGIN sealer_runner hosts of cluster local\n127.0.0.1 named-by-plugin\n# END" in hosts
    assert host.calls("modprobe") == ["br_netfilter"], "overlay is loaded already"
    assert host.text("etc/modules-load.d/sealer.conf") == \
        "# Written by sealer_runner for cluster local.\noverlay\nbr_netfilter\n"
    assert [host.text(f"proc/sys/net/{key}") for key in ("ipv4/ip_forward", "bridge/bridge-nf-call-iptables",
                                                          "bridge/bridge-nf-call-ip6tables")] == ["1\n"] * 3
    assert host.text("etc/sysctl.d/99-sealer.conf") == (
        "# Written by sealer_runner for cluster local.\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
        "net.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 1\n")
    assert host.calls("swapoff") == ["-a"]
    assert host.text("etc/fstab").splitlines()[1] == "# /swapfile none swap sw 0 0  # swap turned off by sealer_runner"

    second, shown = run_checked(request)
    assert second.ok and second.changed == 0, "a second run must change nothing"
    assert host.calls("modprobe") == ["br_netfilter"] and host.calls("swapoff") == ["-a"]
    assert host.text("etc/hosts") == hosts


def test_in_a_container_refusals_are_reported_not_fatal(tmp_path):
    host = FakeHost(tmp_path / "host", container=True, bridge=False)
    request = request_for(tmp_path, host, sealer_modprobe=host.stand_in("modprobe", MODPROBE_REFUSED),
                          sealer_swapoff=host.stand_in("swapoff", SWAPOFF_REFUSED))
    result, shown = run_checked(request)
    assert result.ok, result.failures
    assert host.text("proc/sys/net/ipv4/ip_forward") == "1\n", "what the container may set is set"
    assert "127.0.0.1 fake-host\n" in host.text("etc/hosts"), "without a HOSTNAME plugin, the current name"
    assert any(n.startswith("kernel module br_netfilter: modprobe: FATAL") and "not fatal: strict=auto" in n
               for n in shown), shown
    assert any(n.startswith("kernel parameter net.bridge.bridge-nf-call-iptables does not exist") for n in shown), shown
    assert any(n.startswith("swap is still on (/swapfile): swapoff: /swapfile: swapoff failed") for n in shown), shown


def test_outside_a_container_a_refused_module_fails_the_run_naming_it(tmp_path):
    host = FakeHost(tmp_path / "host")
    request = request_for(tmp_path, host, sealer_modprobe=host.stand_in("modprobe", MODPROBE_REFUSED),
                          sealer_swapoff=host.stand_in("swapoff", SWAPOFF_WORKS))
    result, _ = run_checked(request)
    assert not result.ok
    (failure,) = result.failures
    assert failure.host == "127.0.0.1" and failure.task == "Kernel modules loaded now and at boot"
    assert failure.message.startswith("kernel modules not loaded: br_netfilter: modprobe: FATAL")


def test_a_slightly_skewed_clock_is_a_warning(tmp_path):
    host = FakeHost(tmp_path / "host", ahead=3.5)
    request = request_for(tmp_path, host, tags=("validate", "prepare-time"), sealer_date=host.stand_in("date", DATE_AHEAD))
    result, shown = run_checked(request)
    assert result.ok, result.failures
    found = re.match(r"warning: 127\.0\.0\.1: the clock is ([\d.]+) s \(±([\d.]+) s\) ahead of the controller's "
                     r"\(sealer_time_warn_skew=1 s\)$", shown[0]) if len(shown) == 1 else None
    assert found, shown
    assert abs(float(found[1]) - 3.5) <= float(found[2]) + 0.05


def test_a_skewed_clock_fails_naming_the_host(tmp_path):
    host = FakeHost(tmp_path / "host", ahead=100)
    request = request_for(tmp_path, host, tags=("validate", "prepare-time"), sealer_date=host.stand_in("date", DATE_AHEAD))
    result, _ = run_checked(request)
    assert not result.ok
    (failure,) = result.failures
    found = re.match(r"127\.0\.0\.1: the clock is ([\d.]+) s \(±([\d.]+) s\) ahead of the controller's \(more than "
                     r"sealer_time_max_skew=5 s\)", failure.message)
    assert found, failure.message
    skew, error = float(found[1]), float(found[2])
    assert abs(skew - 100) <= error + 0.05 and error < 5, "the interval read holds the stand-in's 100 s"


def test_a_host_without_etc_hosts_gets_one_world_readable(tmp_path):
    host = FakeHost(tmp_path / "host")
    host.path("etc/hosts").unlink()
    request = request_for(tmp_path, host, tags=("validate", "prepare-hosts", "prepare-host-names"))
    result, _ = run_checked(request)
    assert result.ok, result.failures
    assert host.path("etc/hosts").stat().st_mode & 0o777 == 0o644
    text = host.text("etc/hosts")
    assert "\n127.0.0.1 sea.hub\n" in text and "\n127.0.0.1 fake-host\n" in text
    again, _ = run_checked(request)
    assert again.ok and again.changed == 0
