"""Network checks of a Kubernetes cluster's shape (before any host is touched)."""

from __future__ import annotations

import pytest

from sealer_runner.kube.checks import network_problems

HOSTS = ["192.168.10.2", "192.168.10.3", "192.168.10.4"]


def messages(*args, **kwargs):
    return [(p.severity, p.message) for p in network_problems(*args, **kwargs)]


def test_a_sound_cluster_has_no_problem():
    assert messages("100.64.0.0/10", "10.96.0.0/22", HOSTS, "10.103.97.2", 3) == []


@pytest.mark.parametrize(("pod", "svc", "hosts", "vip", "expected"), [
    ("10.96.0.0/12", "10.96.0.0/22", HOSTS, "10.103.97.2", "pod subnet 10.96.0.0/12 overlaps service subnet"),
    ("192.168.0.0/16", "10.96.0.0/22", HOSTS, "10.103.97.2", "host 192.168.10.2 is inside the pod subnet"),
    ("100.64.0.0/10", "10.96.0.0/22", HOSTS, "192.168.10.77", "VIP 192.168.10.77 is inside the hosts' subnet"),
    ("100.64.0.0/10", "10.96.0.0/22", HOSTS, "192.168.10.3", "VIP 192.168.10.3 is one of the hosts' addresses"),
    ("100.64.0.0/10", "10.96.0.0/22", HOSTS, "10.96.0.10", "VIP 10.96.0.10 is inside the service subnet"),
    ("100.64.0.0/33", "10.96.0.0/22", HOSTS, "10.103.97.2", "pod subnet '100.64.0.0/33' is not a network"),
])
def test_each_bad_shape_is_an_error_saying_what(pod, svc, hosts, vip, expected):
    found = messages(pod, svc, hosts, vip, 3)
    assert any(sev == "error" and expected in msg for sev, msg in found), found


def test_even_masters_warn_and_dual_stack_is_checked_per_family():
    assert messages("100.64.0.0/10", "10.96.0.0/22", HOSTS, "10.103.97.2", 2) == [
        ("warning", "2 masters: etcd tolerates no more failures than with 1; an odd number is recommended")]
    dual = messages("10.244.0.0/16,fd00:10:244::/56", "10.96.0.0/22,fd00:10:96::/112", HOSTS, "10.103.97.2", 1)
    assert dual == []
    assert any("overlaps" in m for _s, m in messages("10.244.0.0/16,fd00::/8", "10.96.0.0/22,fd00:10:96::/112",
                                                      HOSTS, "10.103.97.2", 1))


def test_a_known_host_prefix_narrows_the_vip_check():
    assert messages("100.64.0.0/10", "10.96.0.0/22", HOSTS, "192.168.10.200", 1, host_prefix=25) == []
