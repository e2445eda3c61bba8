"""Parallel, deterministic gzip: compress 1 MiB chunks on every core, pigz-style.

Each chunk is deflated independently, primed with the previous chunk's last
32 KiB as dictionary, and ends on a byte boundary (``Z_SYNC_FLUSH``), so the
concatenation is one valid deflate stream. The output depends only on the
input bytes, the chunk size and the level, never on thread timing: layers stay
reproducible. zlib releases the GIL, so the chunks really run in parallel.

A chunk whose first 16 KiB does not compress at level 1 (binaries, already
compressed archives) is stored instead: deflate would store it anyway after
spending the time to find out.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

CHUNK = 1 << 20
WINDOW = 1 << 15
PROBE = 16 << 10
# magic, deflate, no flags, mtime 0, no extra flags, OS "unknown": no name, no time.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _incompressible(chunk: bytes) -> bool:
    probe = chunk[:PROBE]
    return len(probe) == PROBE and len(zlib.compress(probe, 1)) > len(probe) * 0.97


def _deflate(chunk: bytes, dictionary: bytes, level: int, final: bool) -> bytes:
    use = 0 if _incompressible(chunk) else level
    if dictionary:
        comp = zlib.compressobj(use, zlib.DEFLATED, -15, zdict=dictionary)
    else:
        comp = zlib.compressobj(use, zlib.DEFLATED, -15)
    return comp.compress(chunk) + comp.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


class ParallelGzipWriter:
    """A write-only gzip stream over *out*; call :meth:`close` to finish it (does not close *out*)."""

    def __init__(self, out: BinaryIO, level: int = 6, workers: int | None = None, chunk: int = CHUNK) -> None:
        self._out = out
        self._level = level
        self._chunk = chunk
        self._workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="pgzip")
        self._pending: deque[Future[bytes]] = deque()
        self._buf = bytearray()
        self._tail = b""
        self._crc = 0
        self._size = 0
        self._closed = False
        out.write(GZIP_HEADER)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        if self._buf:
            need = self._chunk - len(self._buf)
            self._buf += view[:need]
            view = view[need:]
            if len(self._buf) < self._chunk:
                return len(data)
            self._submit(bytes(self._buf), final=False)
            self._buf = bytearray()
        while len(view) >= self._chunk:
            self._submit(view[: self._chunk].tobytes(), final=False)
            view = view[self._chunk:]
        self._buf += view
        return len(data)

    def flush(self) -> None:
        """Chunks are written as they complete; there is nothing to force before close()."""

    def _submit(self, chunk: bytes, final: bool) -> None:
        self._crc = zlib.crc32(chunk, self._crc)
        self._size += len(chunk)
        self._pending.append(self._pool.submit(_deflate, chunk, self._tail, self._level, final))
        self._tail = (self._tail + chunk)[-WINDOW:] if len(chunk) < WINDOW else chunk[-WINDOW:]
        while len(self._pending) > 2 * self._workers:
            self._out.write(self._pending.popleft().result())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._submit(bytes(self._buf), final=True)
            while self._pending:
                self._out.write(self._pending.popleft().result())
            self._out.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
