import gzip
import io
import os
import random
import zlib

import pytest

from sealer_runner.image.pgzip import ParallelGzipWriter


def _compress(data: bytes, workers: int, chunk: int = 1 << 16, pieces: int = 7) -> bytes:
    out = io.BytesIO()
    w = ParallelGzipWriter(out, workers=workers, chunk=chunk)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        w.write(data[i:i + step])
    w.close()
    return out.getvalue()


def _mixed(n: int) -> bytes:
    rng = random.Random(1)
    parts = []
    while sum(map(len, parts)) < n:
        parts.append(os.urandom(rng.randint(1, 70_000)) if rng.random() < 0.5
                     else b"repeated text line\n" * rng.randint(1, 4000))
    return b"".join(parts)[:n]


@pytest.mark.parametrize("size", [0, 1, 1000, 65536, 65537, 600_000])
def test_output_is_standard_gzip(size):
    data = _mixed(size)
    blob = _compress(data, workers=3)
    assert gzip.decompress(blob) == data
    assert zlib.decompressobj(31).decompress(blob) == data


def test_deterministic_whatever_the_worker_count():
    data = _mixed(900_000)
    assert _compress(data, workers=1) == _compress(data, workers=4) == _compress(data, workers=2, pieces=100)


def test_incompressible_chunks_are_stored_and_text_is_compressed():
    random_data = os.urandom(300_000)
    assert len(_compress(random_data, 2)) < len(random_data) * 1.01
    text = b"the same line again and again\n" * 20_000
    assert len(_compress(text, 2)) < len(text) / 20
