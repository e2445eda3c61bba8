"""Credentials never show up in reprs, strings, formatting or errors."""

from __future__ import annotations

import logging
import pickle
import textwrap

import pytest

from sealer_runner.clusterfile import Secret, load_clusterfile
from sealer_runner.errors import ClusterfileError

SSH_PASS = "ssh-Pa55-1"
HOST_PASS = "ssh-Pa55-host"
KEY_PASS = "pk-Pa55-2"
REG_PASS = "reg-Pa55-3"
EXT_PASS = "ext-Pa55-4"

TEXT = textwrap.dedent(
    f"""\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata:
      name: my-cluster
    spec:
      image: kubernetes:v1.22.15
      ssh:
        passwd: {SSH_PASS}
        pkPasswd: {KEY_PASS}
        pk: /root/.ssh/id_rsa
      registry:
        localRegistry:
          username: admin
          password: {REG_PASS}
        externalRegistry:
          domain: reg.example.com
          password: {EXT_PASS}
      hosts:
        - ips: [192.168.0.2]
          roles: [master]
          ssh:
            passwd: {HOST_PASS}
        - ips: [192.168.0.3]
          roles: [node]
    """
)
ALL = (SSH_PASS, HOST_PASS, KEY_PASS, REG_PASS, EXT_PASS)


def test_secret_is_masked_everywhere() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == "Secret('********')"
    assert str(secret) == "********"
    assert f"{secret}" == "********"
    assert f"{secret:>10}" == "  ********"
    assert "%s %r" % (secret, secret) == "******** Secret('********')"
    assert secret.reveal() == "hunter2"


def test_secret_compares_and_hashes_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1
    assert bool(Secret("x")) and not Secret("")


def test_secret_is_immutable_and_picklable() -> None:
    secret = Secret("a")
    with pytest.raises(AttributeError):
        secret._value = "b"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(secret)) == secret


def test_decoded_credentials_are_secrets() -> None:
    spec = load_clusterfile(TEXT)
    cluster = spec.cluster
    assert cluster.ssh.passwd == Secret(SSH_PASS)
    assert cluster.ssh.pk_passwd == Secret(KEY_PASS)
    assert cluster.hosts[0].ssh.passwd == Secret(HOST_PASS)
    assert cluster.hosts[1].ssh.passwd == Secret(SSH_PASS)
    assert cluster.hosts[1].ssh.pk_passwd == Secret(KEY_PASS)
    assert cluster.registry.local is not None and cluster.registry.local.password == Secret(REG_PASS)
    assert cluster.registry.external is not None and cluster.registry.external.password == Secret(EXT_PASS)


def test_no_credential_in_any_repr(caplog: pytest.LogCaptureFixture) -> None:
    spec = load_clusterfile(TEXT)
    logging.getLogger("test").warning("decoded %s / %r", spec, spec)
    texts = [repr(spec), str(spec), repr(spec.cluster.hosts), repr(spec.cluster.host_groups), caplog.text]
    for text in texts:
        for password in ALL:
            assert password not in text


def test_errors_do_not_echo_credentials() -> None:
    text = TEXT.replace("roles: [node]", "roles: [node]\n      taints: [bad]")
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(text)
    for password in ALL:
        assert password not in str(info.value)


def test_empty_password_means_none() -> None:
    spec = load_clusterfile(TEXT.replace(f"passwd: {SSH_PASS}", 'passwd: ""'))
    assert spec.cluster.ssh.passwd is None
