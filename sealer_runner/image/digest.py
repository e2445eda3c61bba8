"""Content digests (``sha256:<hex>``) and hashing streams."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from ..errors import DigestMismatch, InputError

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z")
CHUNK = 1 << 20


@dataclass(frozen=True, order=True)
class Digest:
    """A validated ``sha256:<hex>`` digest."""

    value: str

    @classmethod
    def parse(cls, text: str) -> "Digest":
        if not _DIGEST_RE.match(text):
            raise InputError(f"invalid digest {text!r}: expected sha256:<64 hex digits>")
        return cls(text)

    @classmethod
    def of_bytes(cls, data: bytes) -> "Digest":
        return cls("sha256:" + hashlib.sha256(data).hexdigest())

    @property
    def hex(self) -> str:
        return self.value.split(":", 1)[1]

    @property
    def short(self) -> str:
        return self.hex[:12]

    def __str__(self) -> str:
        return self.value


def is_digest(text: str) -> bool:
    return bool(_DIGEST_RE.match(text))


def sha256_file(path: str, chunk: int = CHUNK) -> Digest:
    """Digest of a file's whole content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return Digest("sha256:" + h.hexdigest())


def iter_verified(stream: BinaryIO, expected: Digest, what: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield a stream's chunks; raise :class:`DigestMismatch` at the end if it does not hash to *expected*."""
    h = hashlib.sha256()
    while block := stream.read(chunk):
        h.update(block)
        yield block
    actual = "sha256:" + h.hexdigest()
    if actual != expected.value:
        raise DigestMismatch(what, expected.value, actual)


class HashingWriter:
    """A write-only file wrapper that hashes and counts what passes through."""

    def __init__(self, inner: BinaryIO | None) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._hash.update(data)
        self.size += len(data)
        if self._inner is not None:
            self._inner.write(data)
        return len(data)

    def flush(self) -> None:
        if self._inner is not None:
            self._inner.flush()

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())
