import io
import json
import tarfile

import pytest

from sealer_runner.errors import ArchiveError, InputError, StoreError
from sealer_runner.image import archive
from sealer_runner.image.store import Store
from tests.conftest import make_image


def _rewrite(src, dst, mutate):
    """Copy a tar archive, passing each member's bytes through mutate(name, data) -> data | None (drop)."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else b""
            data = mutate(m.name, data)
            if data is None:
                continue
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


@pytest.fixture
def saved(store, tmp_path):
    one = make_image(store, "reg.example.com/app/one:v1", [{"a": b"A" * 5000}, {"b": b"B"}], tmp_path)
    two = make_image(store, "two:v2", [{"a": b"A" * 5000}], tmp_path)
    out = tmp_path / "images.tar"
    archive.save(store, [one, two], out)
    return out, [one, two]


@pytest.mark.parametrize("fmt", archive.FORMATS)
def test_round_trip_keeps_names_and_digests(store, tmp_path, fmt):
    one = make_image(store, "reg.example.com/app/one:v1", [{"a": b"A" * 5000}, {"b": b"B"}], tmp_path)
    out = tmp_path / "one.tar"
    archive.save(store, [one], out, fmt)
    fresh = Store(tmp_path / "fresh")
    loaded = archive.load(fresh, out)
    assert [(i.reference, i.descriptor.digest) for i in loaded] == [(one.reference, one.descriptor.digest)]
    assert fresh.referenced_blobs(loaded[0].descriptor) == store.referenced_blobs(one.descriptor)


def test_oci_archive_holds_docker_manifest_too(store, saved):
    out, (one, two) = saved
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {"oci-layout", "index.json", "manifest.json"} <= names
    assert [m["RepoTags"] for m in manifest] == [["reg.example.com/app/one:v1"], ["two:v2"]]
    one_manifest = store.get_manifest(one.descriptor.digest)
    assert manifest[0]["Config"] == f"blobs/sha256/{one_manifest.config.digest.hex}"
    assert manifest[0]["Layers"] == [f"blobs/sha256/{layer.digest.hex}" for layer in one_manifest.layers]


def test_shared_blobs_written_once(store, saved):
    out, images = saved
    with tarfile.open(out) as tar:
        blobs = [n for n in tar.getnames() if n.startswith("blobs/")]
    expected = set().union(*(store.referenced_blobs(i.descriptor) for i in images))
    assert len(blobs) == len(set(blobs)) == len(expected)


def test_tampered_blob_is_refused_and_nothing_is_stored(saved, tmp_path):
    out, _ = saved
    bad = tmp_path / "bad.tar"

    def flip(name, data):
        if name.startswith("blobs/") and len(data) > 100:
            data = bytearray(data)
            data[50] ^= 1
            return bytes(data)
        return data

    _rewrite(out, bad, flip)
    fresh = Store(tmp_path / "fresh")
    with pytest.raises(ArchiveError, match="does not match its digest"):
        archive.load(fresh, bad)
    assert fresh.list_images() == []
    assert list((fresh.root / "oci" / "blobs" / "sha256").iterdir()) == []


def test_missing_blob_is_refused(saved, tmp_path):
    out, (one, _) = saved
    victim = f"blobs/sha256/{one.descriptor.digest.hex}"
    bad = tmp_path / "bad.tar"
    _rewrite(out, bad, lambda name, data: None if name == victim else data)
    fresh = Store(tmp_path / "fresh")
    with pytest.raises(ArchiveError, match="missing from the archive"):
        archive.load(fresh, bad)
    assert fresh.list_images() == []


def test_descriptor_size_lie_is_refused(saved, tmp_path):
    out, _ = saved
    bad = tmp_path / "bad.tar"

    def lie(name, data):
        if name == "index.json":
            index = json.loads(data)
            index["manifests"][0]["size"] += 1
            return json.dumps(index).encode()
        return data

    _rewrite(out, bad, lie)
    with pytest.raises(ArchiveError, match="does not match"):
        archive.load(Store(tmp_path / "fresh"), bad)


def test_not_an_archive(tmp_path, store):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar file at all" * 100)
    with pytest.raises(ArchiveError, match="not a readable image archive"):
        archive.load(store, junk)
    with pytest.raises(InputError, match="no such file"):
        archive.load(store, tmp_path / "absent.tar")


def test_failed_save_leaves_no_file(store, tmp_path, saved):
    _, (one, _) = saved
    store._blob_path(one.descriptor.digest).unlink()
    out = tmp_path / "partial.tar"
    with pytest.raises(StoreError, match="missing from the store"):
        archive.save(store, [one], out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial.tar")]
