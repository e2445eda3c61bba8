"""The host check of the reach play (collection/roles/validate/tasks/host.yml), through the real playbook on
this machine: every command the phases of the run need is on the host, named with its Debian package
when not, and the host's architecture is the delivered platform's; all before any host is changed."""

from __future__ import annotations

import platform

import pytest

from .test_run_local_prepare import PREPARE_TAGS, FakeHost, request_for, run_checked

pytestmark = [pytest.mark.integration]

CHECK = "Stop before any change when a command is missing or the architecture is not the image's"


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
    request.extravars.update(sealer_delivered_platform="linux/s390x", sealer_image_platforms=["linux/s390x"])
    result, _ = run_checked(request)
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    assert failure_of(result) == (f"127.0.0.1: architecture {machine} ({arch}) does not match the platform "
                                  "delivered to the hosts, linux/s390x (image platforms: linux/s390x).")
