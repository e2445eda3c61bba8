"""Pushes of big blobs in PATCH chunks, against a real docker-registry behind a proxy that limits request
bodies (as nginx's client_max_body_size or a CDN does) and counts, or breaks, the PATCH requests."""

from __future__ import annotations

import http.server
import math
import os
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
import urllib3

from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.registry import transfer
from sealer_runner.registry.transfer import pull, push
from tests.integration.test_registry import build_image, registries
from tests.support.registry import BINARY, RegistryServer

pytestmark = [pytest.mark.integration]
if not os.path.exists(BINARY):
    pytestmark.append(pytest.mark.skip(reason="docker-registry not installed (run scripts/install.sh)"))

CHUNK = 1 << 20  # the tests' chunk size: the code's 32 MiB scaled down, so a few MiB make several chunks
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Proxy:
    """A reverse proxy on loopback to *upstream*: refuses bodies over *limit* bytes with 413, records each
    PATCH's body size, and lets a test's *hook* answer a request itself (``(status, forward_first)``)."""

    def __init__(self, upstream: str, limit: int) -> None:
        self.upstream, self.limit = upstream, limit
        self.patches: list[int] = []
        self.refused: list[tuple[str, int]] = []
        self.hook: Callable[[str, int], tuple[int, bool] | None] = lambda method, n: None
        pool = urllib3.PoolManager(maxsize=8)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return bytes(data)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _relay(self) -> None:
                body = self._body()
                if len(body) > proxy.limit:
                    proxy.refused.append((self.command, len(body)))
                    return self._send(413, {}, b"<html>413 Request Entity Too Large</html>")
                if self.command == "PATCH":
                    proxy.patches.append(len(body))
                hooked = proxy.hook(self.command, len(proxy.patches))
                if hooked and not hooked[1]:
                    return self._send(hooked[0], {}, b"")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"content-length"}}
                r = pool.request(self.command, f"http://{proxy.upstream}{self.path}", body=body or None,
                                 headers=headers, redirect=False, retries=False)
                if hooked:  # forwarded, then answered as a failing proxy would
                    return self._send(hooked[0], {}, b"")
                self._send(r.status, {k: v for k, v in r.headers.items() if k.lower() not in HOP}, r.data)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _relay  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxied(tmp_path) -> Iterator[tuple[RegistryServer, Proxy]]:
    with RegistryServer(tmp_path / "registry") as server:
        proxy = Proxy(server.host, limit=CHUNK + 4096)
        try:
            yield server, proxy
        finally:
            proxy.close()


@pytest.fixture
def small_chunks(monkeypatch) -> None:
    monkeypatch.setattr(transfer, "CHUNK_SIZE", CHUNK)
    monkeypatch.setattr(transfer, "MONOLITHIC_LIMIT", CHUNK)


def big_image(tmp_path: Path, size: int) -> tuple[Store, object, int]:
    store = Store(tmp_path / "src")
    build_image(store, tmp_path, "example.com/big:v1", size=size)
    image = store.lookup("example.com/big:v1")
    (pm,) = store.platform_manifests(image.descriptor)
    return store, image, max(layer.size for layer in pm.manifest.layers)


def round_trip(tmp_path: Path, server: RegistryServer, image, ref_name: str) -> None:
    """What was pushed pulls back, straight from the registry, with the same digest."""
    dst = Store(tmp_path / "dst")
    pulled = pull(dst, parse_reference(f"{server.host}/{ref_name}"), registries(tmp_path))
    assert pulled.digest == image.descriptor.digest


def test_the_documented_chunk_size_is_32_mib():
    assert transfer.CHUNK_SIZE == transfer.MONOLITHIC_LIMIT == 32 << 20


def test_a_big_layer_goes_in_chunks_through_a_body_size_limit(tmp_path, proxied, small_chunks):
    server, proxy = proxied
    store, image, big = big_image(tmp_path, 3_500_000)
    assert big > 3 * CHUNK
    push(store, image, parse_reference(f"{proxy.host}/team/big:v1"), registries(tmp_path))
    assert proxy.refused == [], "no request body was over the proxy's limit"
    assert proxy.patches == [CHUNK] * (big // CHUNK) + [big % CHUNK], "one PATCH per chunk, in order"
    round_trip(tmp_path, server, image, "team/big:v1")


def test_blobs_up_to_the_chunk_size_go_in_one_put(tmp_path, proxied, small_chunks):
    server, proxy = proxied
    store, image, big = big_image(tmp_path, 500_000)
    assert big <= CHUNK
    push(store, image, parse_reference(f"{proxy.host}/team/small:v1"), registries(tmp_path))
    assert proxy.patches == [] and proxy.refused == []
    round_trip(tmp_path, server, image, "team/small:v1")


def test_a_chunk_whose_answer_was_lost_starts_the_blob_over(tmp_path, proxied, small_chunks):
    """The 2nd PATCH reaches the registry but its answer is lost (a 502 from the proxy). distribution's
    upload state then no longer matches (BLOB_UPLOAD_INVALID on the status request), so the blob is sent
    again in a new upload, and the push completes."""
    server, proxy = proxied
    store, image, big = big_image(tmp_path, 3_500_000)
    proxy.hook = lambda method, patches: (502, True) if method == "PATCH" and patches == 2 else None
    push(store, image, parse_reference(f"{proxy.host}/team/big:v1"), registries(tmp_path))
    whole = [CHUNK] * (big // CHUNK) + [big % CHUNK]
    assert proxy.patches == [CHUNK, CHUNK] + whole, "two chunks, then the whole blob in a new upload"
    round_trip(tmp_path, server, image, "team/big:v1")


def test_a_chunk_that_never_arrived_is_sent_again(tmp_path, proxied, small_chunks):
    server, proxy = proxied
    store, image, big = big_image(tmp_path, 3_500_000)
    proxy.hook = lambda method, patches: (503, False) if method == "PATCH" and patches == 3 else None
    push(store, image, parse_reference(f"{proxy.host}/team/big:v1"), registries(tmp_path))
    assert proxy.patches[2] == proxy.patches[3] == CHUNK, "the 3rd chunk again, from the registry's offset"
    assert len(proxy.patches) == math.ceil(big / CHUNK) + 1
    round_trip(tmp_path, server, image, "team/big:v1")
