"""``load`` of hostile archives: refused with a clear ArchiveError (exit 2), the store left as it was."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from sealer_runner.cli.main import main
from sealer_runner.errors import ArchiveError, InputError, InvalidImage
from sealer_runner.image import archive
from sealer_runner.image.store import Store
from sealer_runner.image.types import MT_OCI_CONFIG, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_TAR
from tests.conftest import make_image
from tests.security.archives import (
    config_for,
    desc,
    digest,
    good_layer,
    image_archive,
    manifest_for,
    tar_of,
    write_archive,
)
from tests.security.layer_tars import dir_, gz, hard, node, reg, sym
from tests.security.layer_tars import tar_of as hostile_tar


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    make_image(store, "keep:v1", [{"a": b"kept"}], tmp_path)
    return store


def _state(store: Store) -> tuple[list[str], set[str], list[str]]:
    blobs = {p.name for p in (store.root / "oci" / "blobs" / "sha256").iterdir()}
    tmp = sorted(p.name for p in (store.root / "tmp").iterdir() if p.name != "partial")
    return [str(i.reference) for i in store.list_images()], blobs, tmp


def _refused(store: Store, path: Path, match: str) -> ArchiveError:
    before = _state(store)
    with pytest.raises(ArchiveError, match=match) as info:
        archive.load(store, path)
    assert _state(store) == before, "a refused archive must leave the store (and tmp/) as it was"
    rc = main(["-q", "--root", str(store.root), "load", "-i", str(path)])
    assert rc == 2
    assert _state(store) == before
    assert main(["-q", "--root", str(store.root), "images"]) == 0
    return info.value


def test_the_error_classes_are_input_errors():
    assert issubclass(ArchiveError, InvalidImage) and issubclass(InvalidImage, InputError)


def test_a_good_hand_made_archive_loads(store, tmp_path):
    loaded = archive.load(store, image_archive(tmp_path / "a.tar"))
    assert [str(i.reference) for i in loaded] == ["evil.example.com/x:v1"]
    assert len(store.platform_manifests(loaded[0].descriptor)) == 1


@pytest.mark.parametrize("config, match", [
    (b"not json", "config .*not valid JSON"),
    (b"[1, 2]", "expected a JSON object, got a list"),
    (json.dumps({"os": "linux", "rootfs": {"diff_ids": "x"}}).encode(), "rootfs: diff_ids: expected a list"),
    (json.dumps({"os": 7, "rootfs": {"diff_ids": []}}).encode(), "os: expected a string"),
    (json.dumps({"rootfs": {"diff_ids": []}}).encode(), "diff_ids has 0 entries for 1 layers"),
    (json.dumps({"rootfs": {"diff_ids": [digest(b"")]}, "config": {"Env": "A=1"}}).encode(), "Env: expected a list"),
])
def test_broken_config_is_refused(store, tmp_path, config, match):
    path = image_archive(tmp_path / "a.tar", config=config)
    error = _refused(store, path, match)
    assert f"blobs/sha256/{digest(config)[7:]}" in str(error), "the message names the archive member"


def test_unknown_config_media_type_is_refused(store, tmp_path):
    _refused(store, image_archive(tmp_path / "a.tar", config_type="application/x-evil"),
             "config: mediaType: unsupported media type 'application/x-evil'")


def test_unknown_layer_media_type_is_refused(store, tmp_path):
    _refused(store, image_archive(tmp_path / "a.tar", layers=[("application/vnd.oci.image.layer.v1.tar+zstd",
                                                                good_layer())]),
             r"layers\[0\]: mediaType: unsupported media type")


@pytest.mark.parametrize("layer, media_type, match", [
    (b"this is not a tar" * 100, MT_OCI_LAYER_TAR, "not a readable tar"),
    (gzip.compress(b"gzip'd, but no tar inside" * 100), MT_OCI_LAYER_GZIP, "not a readable gzip'd tar"),
    (b"\x1f\x8b" + b"\x00" * 300, MT_OCI_LAYER_GZIP, "not a readable gzip'd tar"),
    (tar_of({"a": b"plain"}), MT_OCI_LAYER_GZIP, "plain tar but its media type says"),
    (gzip.compress(tar_of({"a": bytes(range(256)) * 40}))[:-30], MT_OCI_LAYER_GZIP, "not a readable gzip.d tar"),
    (b"", MT_OCI_LAYER_TAR, "not a readable tar: empty file"),
])
def test_a_layer_that_is_not_a_tar_is_refused(store, tmp_path, layer, media_type, match):
    path = image_archive(tmp_path / "a.tar", layers=[(media_type, layer)], config=config_for([layer]))
    _refused(store, path, match)


@pytest.mark.parametrize("index, match", [
    (b"[]", "index.json: expected a JSON object, got a list"),
    (b"{}", "index.json: manifests: expected a list, got null"),
    (b'{"manifests": {"a": 1}}', "manifests: expected a list, got an object"),
    (b'{"manifests": ["x"]}', r"manifests\[0\]: expected an object, got a string"),
    (b'{"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1}]}',
     r"manifests\[0\]: digest: expected a string, got null"),
    (json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": digest(b""), "size": "12"}]}).encode(),
     r"manifests\[0\]: size: expected a non-negative integer, got a string"),
    (json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": "sha256:../../etc", "size": 1}]}).encode(), "is not a sha256"),
    (json.dumps({"manifests": [{"mediaType": "text/html", "digest": digest(b""), "size": 0}]}).encode(),
     "'text/html' is not an image manifest or index"),
    (b"[" * 1200 + b"]" * 1200, "nested more than 64 levels"),
    (b'{"a":' * 1200 + b"1" + b"}" * 1200, "nested more than 64 levels"),
    (b'{"schemaVersion": 1, "manifests": []}', "schemaVersion: expected 2"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_malformed_index_json_is_refused(store, tmp_path, index, match):
    _refused(store, write_archive(tmp_path / "a.tar", index=index), match)


@pytest.mark.parametrize("manifest, match", [
    (b'{"Config": "blobs/sha256/x"}', r"manifest.json: expected a list of images"),
    (b'[{"Config": 1, "Layers": []}]', r"\[0\].Config: expected a string"),
    (b'[{"Config": "blobs/sha256/' + b"a" * 64 + b'", "Layers": "x"}]', r"\[0\].Layers: expected a list"),
    (b'["x"]', r"\[0\]: expected an object"),
    (b'[{"Config": "../../etc/passwd", "Layers": []}]', "only blobs/sha256/<digest> layouts"),
    (b"[" * 1200 + b"]" * 1200, "nested more than 64 levels"),
])
def test_malformed_docker_manifest_json_is_refused(store, tmp_path, manifest, match):
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    _refused(store, path, match)


def test_a_config_string_in_the_manifest_is_refused(store, tmp_path):
    manifest = json.dumps({"schemaVersion": 2, "config": "x", "layers": []}).encode()
    _refused(store, write_archive(tmp_path / "a.tar", manifest=manifest), "config: expected an object, got a string")


def test_unreferenced_blobs_are_not_adopted(store, tmp_path):
    stray = b"no image references me" * 100
    path = image_archive(tmp_path / "a.tar", extra=[stray])
    archive.load(store, path)
    assert not store.has_blob(__import__("sealer_runner.image.digest", fromlist=["Digest"]).Digest(digest(stray)))
    assert _state(store)[2] == []


def test_blobs_after_the_graph_is_complete_are_not_even_written(store, tmp_path, monkeypatch):
    """With index.json and every manifest already read, a later blob nobody references is skipped unread."""
    written = []
    real = archive._stage_blob
    monkeypatch.setattr(archive, "_stage_blob", lambda tar, m, *a: written.append(m.name) or real(tar, m, *a))
    image_archive(tmp_path / "a.tar", extra=[b"\0" * (1 << 20)])
    archive.load(store, tmp_path / "a.tar")
    assert len(written) == 3  # manifest, config, layer


def test_oversized_blob_fails_before_it_is_written(store, tmp_path, monkeypatch):
    """A member bigger than its descriptor is refused on its tar header: a 64 MiB 'layer' said to be
    100 bytes, gzip'd to a few KiB, writes nothing."""
    layer = good_layer()
    config = config_for([layer])
    manifest = manifest_for(config, [(MT_OCI_LAYER_GZIP, layer)])
    bomb = b"\0" * (64 << 20)
    path = write_archive(tmp_path / "a.tar.gz", manifest=manifest, blobs=[config],
                         members={f"blobs/sha256/{digest(layer)[7:]}": bomb}, compress=True)
    assert path.stat().st_size < 1 << 20
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k))
    _refused(store, path, f"size {64 << 20} does not match the {len(layer)} bytes its descriptor records")
    assert not any(digest(layer)[7:] in p for p in opened), "the oversized member was never opened for writing"


def test_index_children_sizes_are_checked(store, tmp_path):
    layer = good_layer()
    config = config_for([layer])
    manifest = manifest_for(config, [(MT_OCI_LAYER_GZIP, layer)])
    index = json.dumps({"manifests": [{**desc("application/vnd.oci.image.manifest.v1+json", manifest), "size": 10,
                                       "annotations": {"io.containerd.image.name": "x:v1"}}]}).encode()
    _refused(store, write_archive(tmp_path / "a.tar", index=index, blobs=[manifest, config, layer]),
             "does not match the 10 bytes")


def test_oversized_metadata_is_refused(store, tmp_path):
    index = b'{"manifests": [], "pad": "' + b"x" * (4 << 20) + b'"}'
    _refused(store, write_archive(tmp_path / "a.tar", index=index), "over the 4194304-byte cap")


def test_killed_loads_leave_nothing_that_outlives_the_next_writer(store, tmp_path):
    """Leftovers of a killed process are reclaimed by the next store-writing command; a live process's
    scratch directory (its .owner lock held) and fresh files are left alone."""
    tmp = store.root / "tmp"
    dead = tmp / "load-dead"
    dead.mkdir()
    (dead / ".owner").write_text("999999\n")
    (dead / "big").write_bytes(b"x" * 1000)
    old_blob = tmp / "blob-old"
    old_blob.write_bytes(b"half a blob")
    os.utime(old_blob, (time.time() - 7200, time.time() - 7200))
    fresh_blob = tmp / "blob-fresh"
    fresh_blob.write_bytes(b"being written")
    with store.scratch("load-") as live:
        archive.load(store, image_archive(tmp_path / "a.tar"))
        assert live.is_dir()
        assert not dead.exists() and not old_blob.exists() and fresh_blob.exists()
    assert not live.exists()


def test_scratch_is_removed_even_with_read_only_dirs(store):
    with store.scratch("build-") as scratch:
        (scratch / "ro" / "sub").mkdir(parents=True)
        (scratch / "ro" / "sub" / "f").write_bytes(b"x")
        os.chmod(scratch / "ro" / "sub", 0o555)
        os.chmod(scratch / "ro", 0o555)
    assert not scratch.exists()


def test_a_broken_image_in_the_store_does_not_break_images(store, tmp_path, capsys):
    """An image damaged in the store (here: a config that is not JSON) is skipped with a warning."""
    from sealer_runner.image.reference import parse_reference
    from sealer_runner.image.types import Descriptor, Manifest

    bad_config = store.put_bytes(b"not json")
    manifest = store.put_manifest(Manifest(Descriptor(MT_OCI_CONFIG, bad_config, 8), ()))
    store.tag(parse_reference("broken:v1"), manifest)
    capsys.readouterr()
    rc = main(["--root", str(store.root), "images", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert [r["repository"] for r in json.loads(out)] == ["docker.io/library/keep"]
    assert "warning: skipping broken:v1" in err and "not valid JSON" in err
    rc = main(["--root", str(store.root), "inspect", "broken:v1"])
    out, err = capsys.readouterr()
    assert rc == 1 and "damaged image in the store" in err and "Traceback" not in err


# A layer breaking the layer rules every host applies is refused when it arrives, not when a build or a
# host meets it: `load` (and `pull`, in test_registry_pull.py) read each member's header, never its data.
HOSTILE_LAYERS = {
    "dot-dot name": ([reg("../../escape")], "a '..' component"),
    "whiteout of ..": ([reg("etc/.wh...")], "a whiteout of '..'"),
    "hardlink out": ([hard("etc/passwd", "../../../etc/passwd")], "hardlink target"),
    "hardlink through ..": ([reg("a"), hard("b", "x/../../a")], "hardlink target"),
    "character device": ([node("dev/mem", tarfile.CHRTYPE)], "device nodes and FIFOs"),
    "fifo": ([node("run/fifo", tarfile.FIFOTYPE)], "device nodes and FIFOs"),
    "symlink (the control)": ([sym("a", "/anywhere")], None),  # symlinks may point anywhere
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LAYERS))
def test_a_layer_breaking_the_layer_rules_is_refused_on_load(store, tmp_path, name):
    members, match = HOSTILE_LAYERS[name]
    layer = gz(hostile_tar(members))
    path = image_archive(tmp_path / "a.tar", layers=[(MT_OCI_LAYER_GZIP, layer)], config=config_for([layer]))
    if match is None:
        archive.load(store, path)
        return
    error = _refused(store, path, f"refused by the layer rules: .*{match}")
    assert error.exit_code == 2


def test_links_inside_the_root_still_load(store, tmp_path):
    layer = gz(hostile_tar([dir_("etc"), reg("etc/a"), hard("etc/b", "etc/a"), hard("c", "./etc/a"),
                            sym("d", "/etc/passwd"), sym("e", "../../outside")]))
    path = image_archive(tmp_path / "a.tar", layers=[(MT_OCI_LAYER_GZIP, layer)], config=config_for([layer]))
    assert archive.load(store, path)
