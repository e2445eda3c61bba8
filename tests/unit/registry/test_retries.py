"""Which registry answers the client retries, how often, and how long it waits: against a local HTTP server
that plays a script of statuses and counts the requests it gets."""

from __future__ import annotations

import email.utils
import http.server
import json
import threading
import time as real_time
from typing import Iterator

import pytest

from sealer_runner.errors import AuthenticationError, RegistryError
from sealer_runner.image.digest import Digest
from sealer_runner.registry import client as client_mod
from sealer_runner.registry.client import ATTEMPTS, MAX_RETRY_AFTER, RegistryClient
from sealer_runner.registry.config import Endpoint, RegistryConfig
from sealer_runner.image.reference import parse_reference
from sealer_runner.registry.transfer import PushPlan, push_plan
from tests.conftest import make_image

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()


class Script(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next ``(status, headers)`` of ``script``, then 2xx; counts requests."""

    protocol_version = "HTTP/1.1"
    script: list[tuple[int, dict[str, str]]] = []
    requests: list[str] = []
    flaky: set[str] | None = None  # when a set: each distinct request first answers 503 (and is added)
    head: int = 200

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Script.requests.append(self.command)
        status, headers = Script.script.pop(0) if Script.script else (None, {})
        key = f"{self.command} {self.path}"
        if status is None and Script.flaky is not None and key not in Script.flaky:
            Script.flaky.add(key)
            status = 503
        body = b""
        if status is None:  # the success each method expects
            status = {"GET": 200, "HEAD": Script.head, "PUT": 201, "POST": 202}[self.command]
            if self.command == "GET":
                body = MANIFEST
                headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
            if self.command == "POST":
                headers = {"Location": "/v2/team/app/blobs/uploads/1"}
        elif status >= 400:
            body = json.dumps({"errors": [{"code": f"CODE{status}", "message": f"said {status}"}]}).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _answer  # noqa: N815 (http.server's names)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Script.script, Script.requests, Script.flaky, Script.head = [], [], None, 200
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Script)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The client's sleeps, recorded instead of slept; jitter pinned to its middle (x1.0)."""
    slept: list[float] = []

    class Clock:
        monotonic = staticmethod(real_time.monotonic)
        time = staticmethod(real_time.time)

        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)

    monkeypatch.setattr(client_mod, "time", Clock)
    monkeypatch.setattr(client_mod.random, "random", lambda: 0.5)
    return slept


def client(host: str) -> RegistryClient:
    return RegistryClient(Endpoint("http", host), RegistryConfig())


CALLS = {
    "GET manifest": lambda c: c.get_manifest("team/app", "v1"),
    "HEAD blob": lambda c: c.blob_exists("team/app", Digest.of_bytes(b"x")),
    "POST upload": lambda c: c.start_upload("team/app"),
    "PUT manifest": lambda c: c.put_manifest("team/app", "v1", MANIFEST, "application/vnd.oci.image.manifest.v1+json"),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_retried_with_growing_backoff(server, waits, call, status):
    Script.script = [(status, {})] * (ATTEMPTS - 1)
    CALLS[call](client(server))
    assert len(Script.requests) == ATTEMPTS, "every failed attempt was followed by another, the last succeeded"
    assert waits == [0.5, 1.0, 2.0], "jittered exponential backoff (x0.5-x1.5 around 0.25 * 2^attempt)"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retries_end_after_the_attempts_with_the_last_error(server, waits, status):
    Script.script = [(status, {})] * (ATTEMPTS + 2)
    with pytest.raises(RegistryError) as info:
        CALLS["GET manifest"](client(server))
    assert len(Script.requests) == ATTEMPTS and len(waits) == ATTEMPTS - 1
    assert info.value.status == status and info.value.retryable and f"CODE{status}" in str(info.value)


@pytest.mark.parametrize(("call", "status"), [(call, status) for call in CALLS for status in (400, 403, 404, 405, 413)
                                             if (call, status) != ("HEAD blob", 404)])  # that 404 is an answer
def test_4xx_is_not_retried(server, waits, call, status):
    Script.script = [(status, {})] * ATTEMPTS
    with pytest.raises(RegistryError) as info:
        CALLS[call](client(server))
    assert len(Script.requests) == 1 and waits == []
    assert info.value.status == status and not info.value.retryable
    assert isinstance(info.value, AuthenticationError) == (status == 403)


def test_head_blob_404_means_absent_in_one_request(server, waits):
    Script.script = [(404, {})]
    assert client(server).blob_exists("team/app", Digest.of_bytes(b"x")) is False
    assert len(Script.requests) == 1 and waits == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_waited_instead_of_the_backoff(server, waits, status):
    Script.script = [(status, {"Retry-After": "7"}), (status, {"Retry-After": "0"}), (status, {})]
    CALLS["GET manifest"](client(server))
    assert len(Script.requests) == 4 and waits == [7.0, 0.0, 2.0]


def test_retry_after_as_an_http_date(server, waits):
    later = email.utils.formatdate(real_time.time() + 20, usegmt=True)
    Script.script = [(429, {"Retry-After": later})]
    CALLS["GET manifest"](client(server))
    assert len(Script.requests) == 2 and 17 <= waits[0] <= 20


def test_a_retry_after_longer_than_the_cap_fails_at_once_saying_how_long(server, waits):
    Script.script = [(429, {"Retry-After": str(int(MAX_RETRY_AFTER) + 3540)})] * ATTEMPTS
    with pytest.raises(RegistryError, match=r"CODE429 said 429 \(the registry asks to retry after 3600 s\)") as info:
        CALLS["GET manifest"](client(server))
    assert len(Script.requests) == 1 and waits == [] and info.value.status == 429 and not info.value.retryable


def test_unreadable_retry_after_falls_back_to_the_backoff(server, waits):
    Script.script = [(503, {"Retry-After": "soon"})]
    CALLS["GET manifest"](client(server))
    assert waits == [0.5]


def test_connection_failures_are_retried(waits):
    with socket_closed() as host:
        with pytest.raises(RegistryError, match="GET failed") as info:
            CALLS["GET manifest"](client(host))
    assert info.value.retryable and waits == [0.5, 1.0, 2.0]


def test_a_push_survives_a_flaky_registry(server, waits, store, tmp_path):
    """Through the transfer layer: every distinct request of a push first meets a 503, and the push
    completes: HEAD, POST and PUT manifest by the client's retries, the blob's PUT (sent once per
    upload) by starting that blob over."""
    image = make_image(store, "example.com/app:v1", [{"a.txt": b"a"}, {"b.txt": b"b"}], tmp_path)
    pm = store.platform_manifests(image.descriptor)[0]
    blobs = (pm.manifest.config, *pm.manifest.layers)
    Script.flaky, Script.head = set(), 404

    class Regs:
        def clients(self, registry, *, mirrors=True):
            return [client(server)]

    push_plan(store, PushPlan(blobs, (), image.descriptor), parse_reference(f"{server}/team/app:v1"), Regs())
    served_503 = len(Script.flaky)
    assert served_503 >= 2 * len(blobs) + 1  # each blob's HEAD and PUT, the manifest's PUT (the POSTs share a path)
    assert Script.requests.count("PUT") == 2 * (len(blobs) + 1), "every PUT failed once, then passed"


class socket_closed:  # noqa: N801 (a context manager read as a phrase)
    """A loopback port nothing listens on."""

    def __enter__(self) -> str:
        import socket
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
