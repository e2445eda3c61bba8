"""The kubeadm and kubelet **stand-ins** (tests/support/kube_standins/, test-only) refuse what the real
tools refuse, so the e2e tests that rely on them can fail: unknown flags, kubeadm's --config mixing rule,
unknown config fields, an API version the claimed kubeadm does not read, malformed join secrets. Run
here on the machine, with the log redirected; every case stops before the stand-in touches a file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.base_image import standin_zipapp

TOKEN, HASH, KEY = "abcdef.0123456789abcdef", "sha256:" + "a" * 64, "b" * 64


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    out = tmp_path_factory.mktemp("standins")
    return {tool: standin_zipapp(out / tool, tool) for tool in ("kubeadm", "kubelet", "crictl")}


def call(tools, tmp_path: Path, tool: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBE_STANDIN_LOG": str(tmp_path / "log")}
    return subprocess.run(["/usr/bin/python3", str(tools[tool]), *argv], capture_output=True, text=True, env=env,
                          timeout=30, check=False)


def join_file(tmp_path: Path, **changes) -> str:
    doc = {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "JoinConfiguration",
           "discovery": {"bootstrapToken": {"token": TOKEN, "caCertHashes": [HASH],
                                            "apiServerEndpoint": "10.103.97.2:6443"}}}
    doc.update(changes)
    path = tmp_path / "join.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize(("argv", "error"), [
    (["join", "--frobnicate"], "unknown flag: --frobnicate"),
    (["init", "--config=/x.yaml", "--pod-network-cidr=10.0.0.0/8"], "can not mix '--config' with arguments"),
    (["token", "create", "--print-join-command"], "failed to load admin kubeconfig"),
    (["init", "phase", "certs", "apiserver", "--config=/x.yaml", "--apiserver-cert-extra-sans=a"],
     "can not mix '--config' with arguments"),
    (["init", "phase", "certs", "apiserver", "--sans=a"], "unknown flag: --sans"),
    (["init", "phase", "upload-config", "kubeadm", "--frobnicate"], "unknown flag: --frobnicate"),
    (["reset", "--cri-socket=unix:///run/containerd/containerd.sock"], "pass --force"),
    (["reset", "-f", "--all"], "unknown flag: --all"),
])
def test_kubeadm_refuses_flags(tools, tmp_path, argv, error):
    done = call(tools, tmp_path, "kubeadm", *argv)
    assert done.returncode == 1 and error in done.stderr, done.stderr
    (entry,) = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert entry["tool"] == "kubeadm" and entry["argv"] == argv and error in entry["error"]


@pytest.mark.parametrize(("changes", "error"), [
    ({"discovery": {"bootstrapToken": {"token": "nope", "caCertHashes": [HASH]}}}, "not a bootstrap token"),
    ({"discovery": {"bootstrapToken": {"token": TOKEN, "caCertHashes": ["md5:1"]}}}, "caCertHashes"),
    ({"controlPlane": {"certificateKey": "short"}}, "certificateKey must be 64 hex"),
    ({"discovery": {"bootstrapToken": {"token": TOKEN}, "timeOut": "5m"}},
     'unknown field "discovery.timeOut"'),
    ({"apiVersion": "kubeadm.k8s.io/v1beta4"}, "does not read kubeadm.k8s.io/v1beta4"),
])
def test_kubeadm_join_checks_its_config(tools, tmp_path, changes, error):
    done = call(tools, tmp_path, "kubeadm", "join", f"--config={join_file(tmp_path, **changes)}", "--v=0")
    assert done.returncode == 1 and error in done.stderr, done.stderr


def test_kubelet_refuses_an_unknown_flag_and_a_bad_config(tools, tmp_path):
    done = call(tools, tmp_path, "kubelet", "--no-such-flag")
    assert done.returncode == 1 and "unknown flag: --no-such-flag" in done.stderr
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDrivr: systemd\n")
    done = call(tools, tmp_path, "kubelet", f"--config={config}")
    assert done.returncode == 1 and 'unknown field "cgroupDrivr"' in done.stderr


@pytest.mark.parametrize(("argv", "error"), [
    (["ps", "--name", "kube-apiserver", "-q"], "no --runtime-endpoint"),
    (["--runtime-endpoint", "unix:///nonexistent.sock", "ps", "-q"], "is not a socket that exists"),
    (["-r", "unix:///nonexistent.sock", "ps", "--bogus"], "is not a socket that exists"),
    (["frobnicate"], "no --runtime-endpoint"),
])
def test_crictl_refuses_what_crictl_would(tools, tmp_path, argv, error):
    done = call(tools, tmp_path, "crictl", *argv)
    assert done.returncode == 1 and error in done.stderr, done.stderr


def test_crictl_stops_only_a_container_it_listed(tools, tmp_path):
    sock = tmp_path / "containerd.sock"
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        done = call(tools, tmp_path, "crictl", "-r", f"unix://{sock}", "ps", "--name", "kube-apiserver", "-q")
        assert done.returncode == 0 and done.stdout.strip() == "", "no apiserver runs on this machine"
        done = call(tools, tmp_path, "crictl", "-r", f"unix://{sock}", "stop", "standin0kube0apiserver")
        assert done.returncode == 1 and "not found" in done.stderr
        done = call(tools, tmp_path, "crictl", "-r", f"unix://{sock}", "stop")
        assert done.returncode == 1 and "ID cannot be empty" in done.stderr
    finally:
        server.close()
