"""A response with nothing left to read (a HEAD's, a 202's) must leave its connection reusable.

http.client keeps a response that was never read attached to its connection; handing such a connection
back to the pool made the next request on it fail with 'ResponseNotReady: Request-sent' (CI saw it as
'I/O operation on closed file' during a push: HEAD blob, then POST upload on the same connection).
"""

from __future__ import annotations

import http.server
import threading
from typing import Iterator

import pytest
import urllib3

from sealer_runner.registry.client import Response


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # client ports seen

    def _answer(self, status: int, length: int, body: bytes = b"") -> None:
        _Handler.connections.add(self.client_address[1])
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's names)
        self._answer(200, 100)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(202, 0)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, 5, b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    _Handler.connections = set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v2/x"
    finally:
        server.shutdown()
        server.server_close()


def test_head_then_post_then_get_on_one_pooled_connection(url):
    pool = urllib3.PoolManager(maxsize=1, block=True)
    for _ in range(3):
        Response(pool.request("HEAD", url, preload_content=False)).close()
        posted = Response(pool.request("POST", url, body=b"abc", preload_content=False))
        assert posted.status == 202
        posted.close()
        assert Response(pool.request("GET", url, preload_content=False)).read() == b"hello"
    assert len(_Handler.connections) == 1, "the one connection was reused, not dropped and reopened"


def test_a_body_left_unread_drops_its_connection(url):
    pool = urllib3.PoolManager(maxsize=1, block=True)
    Response(pool.request("GET", url, preload_content=False)).close()  # 5 bytes never read
    assert Response(pool.request("GET", url, preload_content=False)).read() == b"hello"
    assert len(_Handler.connections) == 2, "an unread body is not drained: its connection is closed"
