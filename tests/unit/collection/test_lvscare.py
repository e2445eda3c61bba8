"""lvscare's rules and care loop (collection/plugins/module_utils/_lvscare.py), driven through the
in-memory backend: this machine's kernel has no IPVS, the production path is the ipvsadm backend."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.unit.collection.conftest import load

lv = load("module_utils", "_lvscare")

VS = ("10.103.97.2", 6443)
M1, M2, M3 = ("10.0.0.1", 6443), ("10.0.0.2", 6443), ("10.0.0.3", 6443)


def test_endpoints_parse_and_normalise():
    assert lv.endpoint("10.0.0.1:6443") == M1
    assert lv.endpoint("[fd00::0001]:6443") == ("fd00::1", 6443)
    assert lv.show(("fd00::1", 6443)) == "[fd00::1]:6443"
    for bad in ("10.0.0.1", "10.0.0.1:0", "host:6443", "10.0.0.1:x", "[fd00::1]6443"):
        with pytest.raises(lv.LvscareError):
            lv.endpoint(bad)


def test_plan_adds_before_it_removes_and_leaves_other_services_alone():
    other = ("10.0.0.9", 80)
    current = {VS: {M1, M2}, other: {M3}}
    assert lv.plan({VS: {M2, M3}}, current) == [("add-rs", VS, M3), ("del-rs", VS, M1)]
    assert lv.plan({VS: {M1}}, {}) == [("add-vs", VS, None), ("add-rs", VS, M1)]
    assert lv.plan({VS: {M1, M2}}, {VS: {M1, M2}}) == []


def test_ensure_is_idempotent_and_puts_the_vip_on_the_dummy_link():
    backend = lv.MemoryBackend()
    first = lv.ensure(backend, VS, [M1, M2, M3])
    assert first[0] == ("add-address", "10.103.97.2", None)
    assert backend.rules == {VS: {M1, M2, M3}}
    assert lv.ensure(backend, VS, [M1, M2, M3]) == [], "a second ensure changes nothing"
    assert lv.ensure(backend, VS, [M1, M2]) == [("del-rs", VS, M3)], "a removed master leaves"
    assert [op[0] for op in lv.ensure(backend, VS, [], "absent")] == ["del-vs", "del-address"]
    assert backend.rules == {} and backend.addresses == set()


def test_care_master_down_removed_back_readded_all_down_kept():
    backend = lv.MemoryBackend({VS: {M1, M2, M3}}, ["10.103.97.2"])
    care = lv.Care([M1, M2, M3], fall=2, rise=2)
    health = {M1: True, M2: True, M3: True}

    def check(rs):
        return health[rs]

    assert lv.care_once(backend, VS, care, check) == ([], [])
    health[M2] = False
    assert lv.care_once(backend, VS, care, check) == ([], []), "one failed check is not enough (fall=2)"
    ops, transitions = lv.care_once(backend, VS, care, check)
    assert ops == [("del-rs", VS, M2)] and transitions == [("10.0.0.2:6443", "down")]
    assert backend.rules[VS] == {M1, M3}
    health[M2] = True
    lv.care_once(backend, VS, care, check)
    ops, transitions = lv.care_once(backend, VS, care, check)
    assert ops == [("add-rs", VS, M2)] and transitions == [("10.0.0.2:6443", "up")]
    for rs in health:
        health[rs] = False
    lv.care_once(backend, VS, care, check)
    ops, transitions = lv.care_once(backend, VS, care, check)
    assert ops == [] and len(transitions) == 3, "all masters down: every transition seen, rules kept"
    assert backend.rules[VS] == {M1, M2, M3}
    health[M3] = True
    lv.care_once(backend, VS, care, check)
    ops, _ = lv.care_once(backend, VS, care, check)
    assert ops == [("del-rs", VS, M1), ("del-rs", VS, M2)], "one back: the rules follow the healthy one"


def test_flapping_resets_the_streak():
    care = lv.Care([M1], fall=3, rise=2)
    assert [care.observe(M1, ok) for ok in (False, False, True, False, False)] == [None] * 5
    assert care.observe(M1, False) == "down"


def test_ipvsadm_backend_reads_the_saved_table_and_builds_argv():
    calls = []
    saved = ("-A -t 10.103.97.2:6443 -s rr\n-a -t 10.103.97.2:6443 -r 10.0.0.1:6443 -m -w 1\n"
             "-A -t 10.9.9.9:80 -s rr\n-A -u 10.9.9.9:53 -s rr\n")

    def run(argv):
        calls.append(argv)
        return saved if argv[1:] == ["-S", "-n"] else ""

    backend = lv.IpvsadmBackend(run=run, ipvsadm="/sbin/ipvsadm", ip="/sbin/ip")
    assert backend.services() == {VS: {M1}, ("10.9.9.9", 80): set()}
    lv.apply(backend, lv.plan({VS: {M2}}, backend.services()))
    assert calls[-2:] == [["/sbin/ipvsadm", "-a", "-t", "10.103.97.2:6443", "-r", "10.0.0.2:6443", "-m", "-w", "1"],
                          ["/sbin/ipvsadm", "-d", "-t", "10.103.97.2:6443", "-r", "10.0.0.1:6443"]]


def test_a_missing_ipvsadm_is_named_with_its_package():
    backend = lv.IpvsadmBackend(ipvsadm="/nonexistent/ipvsadm")
    with pytest.raises(lv.LvscareError, match="Debian package ipvsadm"):
        backend.services()


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_care_loop_over_real_http_health_checks():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        up = f"127.0.0.1:{server.server_address[1]}"
        assert lv.https_healthy(lv.endpoint(up), scheme="http")
        for status, alive in ((401, True), (403, True), (500, False), (503, False)):
            _Health.status = status
            assert lv.https_healthy(lv.endpoint(up), scheme="http") is alive, status
        _Health.status = 200
        backend = lv.MemoryBackend()
        # the second real server is a closed port: down after --fall rounds, the first one stays
        rc = lv._main(["care", "--vs", "10.103.97.2:6443", "--rs", up, "--rs", "127.0.0.1:1",
                       "--health-scheme", "http", "--fall", "2", "--interval", "0"],
                      backend=backend, sleep=lambda _s: None, rounds=3)
        assert rc == 0
        assert backend.rules == {VS: {lv.endpoint(up)}}
        assert backend.addresses == {"10.103.97.2"}
    finally:
        server.shutdown()


def test_care_files_are_the_module_source_and_a_unit_over_every_master():
    files = lv.care_files("10.103.97.2", 6443, ["10.0.0.2", "fd00::3"], "/usr/local/lib/sealer/lvscare.py",
                               "/etc/systemd/system/sealer-lvscare.service")
    script, unit = files
    assert script["path"] == "/usr/local/lib/sealer/lvscare.py" and script["mode"] == "0755"
    assert "def care_once(" in script["content"] and script["content"].startswith("# -*- coding")
    assert unit["mode"] == "0644"
    assert "--vs 10.103.97.2:6443 --rs 10.0.0.2:6443 --rs [fd00::3]:6443 --health-path /healthz" in unit["content"]
