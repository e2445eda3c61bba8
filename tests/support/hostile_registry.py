"""A tiny registry on loopback that answers as badly as a test tells it to (http.server, no TLS).

``routes`` maps a request path (query left off) to a callable ``(handler) -> None`` that writes the whole
answer; helpers below build the usual ones. Every request's path and headers are recorded in ``seen``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Route = Callable[[BaseHTTPRequestHandler], None]


class HostileRegistry:
    def __init__(self, routes: dict[str, Route] | None = None, address: str = "127.0.0.1",
                 fallback: Route | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.seen: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                server.seen.append((self.path, dict(self.headers)))
                route = server.routes.get(path) or fallback or answer(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_HEAD = _answer  # noqa: N815 (http.server's names)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer((address, 0), Handler)
        self._http.daemon_threads = True
        self.host = f"{address}:{self._http.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.seen if p.split("?", 1)[0] == path]

    def __enter__(self) -> "HostileRegistry":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    """A plain answer with a Content-Length."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
    return route


def endless(status: int = 200, total: int = 64 << 20, headers: dict[str, str] | None = None,
            chunk: bytes = b"A" * (1 << 16)) -> Route:
    """*total* bytes of junk with no Content-Length (read until the connection closes): 'endless' to a
    client that does not bound its reads, yet bounded so the test always ends."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        sent = 0
        while sent < total:
            h.wfile.write(chunk)
            sent += len(chunk)
    return route


def redirect(location: str) -> Route:
    return answer(307, headers={"Location": location})


def bearer(realm: str, then: Route, token: str = "t0ken") -> Route:
    """401 with a Bearer challenge unless the request carries ``Bearer <token>``; then *then*."""
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("Authorization") == f"Bearer {token}":
            then(h)
        else:
            answer(401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'})(h)
    return route
