import os
import tarfile
import gzip
from pathlib import Path

import pytest

from sealer_runner.errors import DigestMismatch, StoreError
from sealer_runner.image.layer import Entry, apply_layer, whiteout, write_layer


def _file(tmp: Path, name: str, data: bytes, mtime: int = 1_600_000_000) -> Entry:
    path = tmp / name.replace("/", "_")
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return Entry(name, "file", 0o644, size=len(data), source=str(path))


def test_same_entries_same_digest_regardless_of_order_and_mtime(store, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = [_file(tmp_path / "a", "x/1", b"one", 1), _file(tmp_path / "a", "y", b"two", 2), Entry("x", "dir", 0o755)]
    second = [Entry("x", "dir", 0o755), _file(tmp_path / "b", "y", b"two", 99), _file(tmp_path / "b", "x/1", b"one", 7)]
    assert write_layer(store, first) == write_layer(store, second)


def test_different_content_different_digest(store, tmp_path):
    a = write_layer(store, [_file(tmp_path, "f", b"one")])
    b = write_layer(store, [_file(tmp_path, "f", b"two")])
    assert a.descriptor.digest != b.descriptor.digest


def test_layer_is_plain_reproducible_tar_gzip(store, tmp_path):
    info = write_layer(store, [Entry("d", "dir", 0o755, uid=1000, gid=1000), _file(tmp_path, "d/f", b"hello"),
                               Entry("d/l", "symlink", 0o777, linkname="f")])
    raw = store.read_blob(info.descriptor.digest)
    assert raw[4:8] == b"\x00\x00\x00\x00", "gzip header mtime must be zero"
    tar_bytes = gzip.decompress(raw)
    import hashlib
    assert "sha256:" + hashlib.sha256(tar_bytes).hexdigest() == str(info.diff_id)
    with tarfile.open(fileobj=__import__("io").BytesIO(tar_bytes)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["d", "d/f", "d/l"]
    assert all(m.mtime == 0 and m.uname == "" and m.gname == "" for m in members)
    assert (members[0].uid, members[0].gid) == (1000, 1000)
    assert members[2].issym() and members[2].linkname == "f"


def test_apply_layers_with_whiteouts_and_opaque_dirs(store, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    lower = write_layer(store, [Entry("etc", "dir", 0o755), _file(tmp_path, "etc/a", b"a"), _file(tmp_path, "etc/b", b"b"),
                                Entry("opt", "dir", 0o755), _file(tmp_path, "opt/old", b"old"), _file(tmp_path, "gone", b"x")])
    upper = write_layer(store, [whiteout("gone"), whiteout("etc/a"), Entry("opt", "dir", 0o755),
                                Entry("opt/.wh..wh..opq", "whiteout"), _file(tmp_path, "opt/new", b"new")])
    apply_layer(store, lower.descriptor, root)
    apply_layer(store, upper.descriptor, root)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["etc", "etc/b", "opt", "opt/new"]
    assert (root / "opt/new").read_bytes() == b"new"


def test_whiteout_does_not_delete_what_the_same_layer_adds(store, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "keep").write_text("lower")
    layer = write_layer(store, [_file(tmp_path, "keep", b"upper"), whiteout("keep")])
    apply_layer(store, layer.descriptor, root)
    assert (root / "keep").read_bytes() == b"upper"


def test_apply_detects_a_corrupted_layer(store, tmp_path):
    info = write_layer(store, [_file(tmp_path, "f", os.urandom(4096))])
    blob = store._blob_path(info.descriptor.digest)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[-12] ^= 0xFF  # inside the gzip trailer/payload: the digest no longer matches
    blob.write_bytes(bytes(data))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises((StoreError, DigestMismatch)):
        apply_layer(store, info.descriptor, root)


def test_file_replaced_by_directory_in_upper_layer(store, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    lower = write_layer(store, [_file(tmp_path, "x", b"file")])
    upper = write_layer(store, [Entry("x", "dir", 0o755), _file(tmp_path, "x/y", b"inner")])
    apply_layer(store, lower.descriptor, root)
    apply_layer(store, upper.descriptor, root)
    assert (root / "x" / "y").read_bytes() == b"inner"
