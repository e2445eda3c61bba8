import multiprocessing
import os

import pytest

from sealer_runner.errors import DigestMismatch, ImageNotFound, InvalidReference
from sealer_runner.image.digest import Digest
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from tests.conftest import make_image


def test_blob_round_trip_and_verification_on_read(store):
    digest = store.put_bytes(b"payload")
    assert store.read_blob(digest) == b"payload"
    path = store._blob_path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(DigestMismatch, match="expected " + str(digest)):
        store.read_blob(digest)


def test_blob_writer_discards_uncommitted_and_rejects_wrong_digest(store):
    with store.blob_writer() as w:
        w.write(b"abc")
        with pytest.raises(DigestMismatch):
            w.commit(Digest.of_bytes(b"other"))
    assert not store.has_blob(Digest.of_bytes(b"abc"))
    assert list(store._tmp.iterdir()) == []


def test_tag_lookup_by_name_and_id_prefix(store, tmp_path):
    image = make_image(store, "example.com/team/app:v1", [{"a": b"1"}], tmp_path)
    assert store.lookup("example.com/team/app:v1") == image
    assert store.lookup(image.descriptor.digest.hex[:8]) == image
    assert store.lookup(str(image.descriptor.digest)) == image
    with pytest.raises(ImageNotFound, match="not found"):
        store.lookup("example.com/team/app:v2")


def test_tag_requires_a_tag_or_digest(store, tmp_path):
    image = make_image(store, "a:v1", [{"a": b"1"}], tmp_path)
    with pytest.raises(InvalidReference):
        store.tag(parse_reference("a", default_tag=False), image.descriptor)
    by_digest = parse_reference(f"a@{image.descriptor.digest}")
    store.tag(by_digest, image.descriptor)
    assert by_digest in [i.reference for i in store.list_images()]
    assert store.lookup(f"a@{image.descriptor.digest}").descriptor.digest == image.descriptor.digest


def test_gc_keeps_blobs_shared_with_other_images(store, tmp_path):
    shared = {"shared": b"s" * 1000}
    one = make_image(store, "one:v1", [shared, {"own1": b"1"}], tmp_path)
    two = make_image(store, "two:v1", [shared, {"own2": b"2"}], tmp_path)
    store.untag(one.reference)
    removed, _ = store.collect_garbage()
    assert removed == 3  # one's manifest, config and own layer
    for digest in store.referenced_blobs(two.descriptor):
        store.read_blob(digest)  # still present and intact
    assert [i.reference for i in store.list_images()] == [two.reference]


def _tag_many(root: str, prefix: str, n: int) -> None:
    store = Store(root)
    desc = store.lookup("base:v1").descriptor
    for i in range(n):
        store.tag(parse_reference(f"{prefix}:{i}"), desc)


def test_concurrent_taggers_lose_nothing(store, tmp_path):
    make_image(store, "base:v1", [{"a": b"1"}], tmp_path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_tag_many, args=(str(store.root), p, 25)) for p in ("left", "right")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = {i.reference.familiar() for i in store.list_images()}
    assert {f"left:{i}" for i in range(25)} <= names
    assert {f"right:{i}" for i in range(25)} <= names
