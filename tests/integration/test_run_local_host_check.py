"""The host check of the reach play (collection/roles/validate/tasks/host.yml), through the real playbook on
this machine: every command the phases of the run need is on the host, named with its Debian package
when not, and the host's architecture is the delivered platform's; all before any host is changed."""

from __future__ import annotations

import platform
from dataclasses import replace

import pytest

from sealer_runner.run.runner import run

from .test_run_local_prepare import PREPARE_TAGS, FakeHost, request_for, run_checked

pytestmark = [pytest.mark.integration]

CHECK = "Stop before any change when a command is missing or the image has no platform for the host"


def failure_of(result):
    assert not result.ok
    (failure,) = result.failures
    assert failure.host == "127.0.0.1" and failure.task == CHECK, failure
    return failure.message


def test_a_missing_command_stops_the_run_naming_host_command_and_package(tmp_path):
    host = FakeHost(tmp_path / "host")
    before = host.text("etc/hosts")
    request = request_for(tmp_path, host, sealer_host_commands_extra=[
        {"command": "sealer-test-no-such-command", "package": "sealer-test-pkg", "tags": []},
        {"command": "sh", "package": "dash", "tags": []}],
        sealer_modprobe=host.stand_in("modprobe", "#!/bin/sh\n"), sealer_swapoff=host.stand_in("swapoff", "#!/bin/sh\n"))
    result, _ = run_checked(request)
    assert failure_of(result) == ("127.0.0.1: missing commands the run needs: sealer-test-no-such-command "
                                  "(Debian package sealer-test-pkg); install them and run again.")
    assert host.text("etc/hosts") == before, "no host was changed"
    assert not host.path("etc/sysctl.d").exists()


def test_modprobe_is_required_only_when_a_module_is_missing_and_a_refusal_would_fail(tmp_path):
    host = FakeHost(tmp_path / "host")  # sealer_modprobe points at a file that does not exist
    request = request_for(tmp_path, host, sealer_swapoff=host.stand_in("swapoff", "#!/bin/sh\n"))
    message = failure_of(run_checked(request)[0])
    assert message == (f"127.0.0.1: missing commands the run needs: {host.path('test-bin/absent-modprobe')} "
                       "(Debian package kmod); install them and run again.")

    for name in ("overlay", "br_netfilter"):  # both loaded: modprobe is never called
        host.path(f"sys/module/{name}").mkdir()
    result, _ = run_checked(request)
    assert result.ok, result.failures


def test_inside_a_container_missing_modprobe_and_swapoff_are_left_to_the_prepare_warnings(tmp_path):
    host = FakeHost(tmp_path / "host", container=True, bridge=False)
    result, _ = run_checked(request_for(tmp_path, host))
    assert result.ok, result.failures


def test_only_the_phases_of_the_run_are_checked(tmp_path):
    host = FakeHost(tmp_path / "host")
    extra = [{"command": "sealer-test-no-such-command", "package": "sealer-test-pkg", "tags": ["prepare-swap"]}]
    result, _ = run_checked(request_for(tmp_path, host, tags=("validate", "prepare-time"), sealer_host_commands_extra=extra))
    assert result.ok, result.failures
    failed, _ = run_checked(request_for(tmp_path, host, tags=PREPARE_TAGS, sealer_host_commands_extra=extra,
                                        sealer_modprobe=host.stand_in("modprobe", "#!/bin/sh\n"),
                                        sealer_swapoff=host.stand_in("swapoff", "#!/bin/sh\n")))
    assert "sealer-test-no-such-command (Debian package sealer-test-pkg)" in failure_of(failed)


def test_a_host_of_another_architecture_stops_the_run_naming_it_and_the_platforms(tmp_path):
    host = FakeHost(tmp_path / "host")
    request = request_for(tmp_path, host, tags=("validate", "prepare-time"))
    assert request.extravars["sealer_delivered_platform"] in request.extravars["sealer_image_platforms"]
    # an ops repo giving sealer_layers only (no sealer_platform_layers): the delivered platform must match
    request.extravars.update(sealer_delivered_platform="linux/s390x", sealer_image_platforms=["linux/s390x"],
                             sealer_platform_layers=[])
    result, _ = run_checked(request)
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    assert failure_of(result) == (f"127.0.0.1: architecture {machine} ({arch}) is not a platform of the image "
                                  "(image platforms: linux/s390x).")


def _multi_arch_request(tmp_path, platforms):
    """A request for an image built for *platforms*, each with a file naming its architecture."""
    from sealer_runner.build.builder import Builder, BuildOptions
    from sealer_runner.clusterfile import load_clusterfile
    from sealer_runner.image.store import Store
    from sealer_runner.run.cluster import build_request

    from .test_run_local import CLUSTERFILE

    store = Store(tmp_path / "store")
    ctx = tmp_path / "ctx"
    for plat in platforms:
        arch = plat.split("/")[1]
        (ctx / arch).mkdir(parents=True)
        (ctx / arch / "arch.txt").write_text(f"{arch}\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY ${ARCH}/arch.txt arch.txt\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/local:v1",), platforms=tuple(platforms)))
    spec = load_clusterfile(CLUSTERFILE.format(data_root=tmp_path / "hosts"))
    request = build_request(spec, store, store.root, ssh_key=None, tags=("validate", "rootfs"))
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = __import__("sys").executable
    return replace(request, ssh_password=None)


def _this_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def test_each_host_gets_the_platform_of_its_architecture_not_the_controllers_choice(tmp_path):
    """A controller of one architecture delivering to hosts of another (an amd64 laptop, arm64 servers):
    the hosts get their own platform's layers. Here the default choice is made wrong on purpose."""
    other = "s390x" if _this_arch() != "s390x" else "amd64"
    request = _multi_arch_request(tmp_path, [f"linux/{other}", f"linux/{_this_arch()}"])
    by_platform = {p["platform"]: p["layers"] for p in request.extravars["sealer_platform_layers"]}
    assert set(by_platform) == {f"linux/{other}", f"linux/{_this_arch()}"}
    # as if the controller were of the other architecture: its default is the other platform
    request.extravars.update(sealer_layers=by_platform[f"linux/{other}"], sealer_delivered_platform=f"linux/{other}")
    result = run(request)
    assert result.ok, result.failures
    rootfs = tmp_path / "hosts" / "local" / "rootfs"
    assert (rootfs / "arch.txt").read_text() == f"{_this_arch()}\n"
    assert run(request).changed == 0


def test_a_host_whose_architecture_the_image_lacks_stops_the_run_before_any_change(tmp_path):
    request = _multi_arch_request(tmp_path, ["linux/s390x", "linux/riscv64"] if _this_arch() != "s390x"
                                  else ["linux/amd64", "linux/riscv64"])
    result = run(request)
    message = failure_of_check(result)
    assert f"architecture {platform.machine()} ({_this_arch()}) is not a platform of the image" in message
    assert "image platforms: linux/" in message
    assert not (tmp_path / "hosts" / "local").exists(), "nothing was delivered"


def failure_of_check(result):
    assert not result.ok
    (failure,) = result.failures
    assert failure.task == CHECK, failure
    return failure.message


def test_a_host_without_python3_is_named_before_any_change(tmp_path):
    """A minimal server without python3: named, with its package, not a module's traceback. The probe is
    pointed at a python that does not exist (sealer_python, as sealer_modprobe for modprobe) so this
    machine can play such a host."""
    host = FakeHost(tmp_path / "host")
    before = host.text("etc/hosts")
    request = request_for(tmp_path, host, sealer_python=str(tmp_path / "no-such-python3"))
    result, _ = run_checked(request)
    assert not result.ok
    (failure,) = result.failures
    assert failure.task == "Stop before any change when a host has no python3", failure
    assert failure.message.startswith("127.0.0.1: python3 is missing; Ansible needs it on every host: install the "
                                      "Debian package python3")
    assert host.text("etc/hosts") == before, "no host was changed"
