"""End-to-end fixtures: real Debian hosts (systemd-nspawn) booted on this machine. See docs/testing.md.

    pytestmark = pytest.mark.e2e

    def test_x(test_hosts_factory):
        with test_hosts_factory(3) as hosts:
            hosts[0].ssh("hostname", check=True)

For hosts shared by a module, wrap the factory in a module-scoped fixture (see test_hosts.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hosts import HostsFactory, available, ensure_base_rootfs


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: boots real test hosts with systemd-nspawn (root; see docs/testing.md)")


@pytest.fixture(scope="session")
def test_hosts_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostsFactory]:
    """Call it with N for a TestHosts of N hosts (`with test_hosts_factory(3) as hosts:`); all share one bridge
    and one SSH key. Skips with the reason when hosts cannot be made here, except under CI=true, where it fails."""
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    factory = HostsFactory(tmp_path_factory.mktemp("hosts"), tarball=ensure_base_rootfs())
    try:
        yield factory
    finally:
        factory.close()
