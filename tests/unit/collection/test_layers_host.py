"""The host side of layer delivery (collection/plugins/module_utils/_layers.py), run here on real files.

The controller applies layers with sealer_runner.image.layer.apply_layer; hosts receive blobs as streams
(untarring them as they arrive) and apply them by moving the unpacked trees in. Both must give the same
rootfs, so the controller's implementation is the oracle for the host's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sealer_runner.image.layer import Entry, apply_layer, whiteout, write_layer

from .conftest import PLUGINS, load

layers = load("module_utils", "_layers")
LAYERS_PY = PLUGINS / "module_utils" / "_layers.py"


def _file(tmp: Path, name: str, data: bytes, mode: int = 0o644) -> Entry:
    src = tmp / ("src-" + hashlib.sha256(name.encode() + data).hexdigest()[:16])
    src.write_bytes(data)
    return Entry(name, "file", mode, size=len(data), source=str(src))


def _tree(root: Path) -> dict[str, object]:
    """Everything that matters of a tree: kind, mode and content (or link target) per path."""
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel == layers.APPLIED:
            continue
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", oct(st.st_mode & 0o7777))
        else:
            out[rel] = ("file", oct(st.st_mode & 0o7777), path.read_bytes())
    return out


@pytest.fixture
def image(store, tmp_path):
    """Three layers exercising whiteouts, an opaque dir, kind changes, symlinks and dir modes."""
    base = write_layer(store, [
        Entry("etc", "dir", 0o755), _file(tmp_path, "etc/a", b"a"), _file(tmp_path, "etc/b", b"b"),
        Entry("opt", "dir", 0o755), _file(tmp_path, "opt/old", b"old"), _file(tmp_path, "gone", b"x"),
        _file(tmp_path, "x", b"file becomes dir"), Entry("y", "dir", 0o755), _file(tmp_path, "y/inner", b"i"),
        Entry("bin", "dir", 0o755), _file(tmp_path, "bin/tool", b"#!/bin/sh\n", 0o755),
    ])
    middle = write_layer(store, [
        whiteout("gone"), whiteout("etc/a"), Entry("opt", "dir", 0o700), Entry("opt/.wh..wh..opq", "whiteout"),
        _file(tmp_path, "opt/new", b"new"), Entry("x", "dir", 0o755), _file(tmp_path, "x/y", b"inner"),
        whiteout("y"), _file(tmp_path, "y", b"dir becomes file"),
        Entry("new", "dir", 0o755), Entry("new/.wh.nothing", "whiteout"), _file(tmp_path, "new/f", b"f"),
    ])
    top = write_layer(store, [Entry("bin/link", "symlink", 0o777, linkname="tool"), _file(tmp_path, "etc/b", b"B2")])
    return [info.descriptor for info in (base, middle, top)]


def _oracle(store, descriptors, root: Path) -> dict[str, object]:
    root.mkdir()
    for desc in descriptors:
        apply_layer(store, desc, root)
    return _tree(root)


def _receive_all(store, descriptors, host_store: Path) -> list[str]:
    digests = []
    for desc in descriptors:
        with open(store._blob_path(desc.digest), "rb") as stream:
            layers.receive(str(host_store), str(desc.digest), stream)
        digests.append(str(desc.digest))
    return digests


def test_streamed_layers_applied_by_moving_equal_the_controllers_apply(store, image, tmp_path):
    expected = _oracle(store, image, tmp_path / "oracle")
    host = tmp_path / "host"
    digests = _receive_all(store, image, host / "layers")
    assert sorted(os.listdir(host / "layers" / layers.UNPACKED)) == sorted(d[7:] for d in digests)
    assert layers.apply(str(host / "layers"), str(host / "rootfs"), digests) == "rebuild"
    assert _tree(host / "rootfs") == expected
    assert os.listdir(host / "layers" / layers.UNPACKED) == [], "unpacked trees are consumed by apply"
    assert layers.apply(str(host / "layers"), str(host / "rootfs"), digests) == "none"


def test_layers_applied_from_blobs_alone_equal_the_controllers_apply(store, image, tmp_path):
    expected = _oracle(store, image, tmp_path / "oracle")
    host = tmp_path / "host"
    digests = _receive_all(store, image, host / "layers")
    for d in digests:  # e.g. a rebuild long after delivery: only the blobs remain
        layers._remove(layers.unpacked_path(str(host / "layers"), d))
    layers.apply(str(host / "layers"), str(host / "rootfs"), digests)
    assert _tree(host / "rootfs") == expected


def test_extending_a_rootfs_applies_only_the_new_layer(store, image, tmp_path):
    expected = _oracle(store, image, tmp_path / "oracle")
    host = tmp_path / "host"
    digests = _receive_all(store, image, host / "layers")
    assert layers.apply(str(host / "layers"), str(host / "rootfs"), digests[:2]) == "rebuild"
    assert layers.apply(str(host / "layers"), str(host / "rootfs"), digests) == "extend"
    assert _tree(host / "rootfs") == expected


def test_a_merge_cut_short_is_redone_from_the_blob(store, image, tmp_path):
    expected = _oracle(store, image, tmp_path / "oracle")
    host = tmp_path / "host"
    store_dir = str(host / "layers")
    digests = _receive_all(store, image, host / "layers")
    layers.apply(store_dir, str(host / "rootfs"), digests[:2])
    # the last layer was half moved in when the host died: its tree renamed aside, part of it gone
    tree = layers.unpacked_path(store_dir, digests[2])
    os.rename(tree, tree + ".merging")
    os.rename(os.path.join(tree + ".merging", "etc", "b"), host / "rootfs" / "etc" / "b")
    assert layers.apply(store_dir, str(host / "rootfs"), digests) == "extend"
    assert _tree(host / "rootfs") == expected
    assert not os.path.exists(tree + ".merging")


def test_a_stream_that_does_not_match_its_digest_leaves_nothing(store, image, tmp_path):
    host = tmp_path / "host" / "layers"
    data = store._blob_path(image[0].digest).read_bytes()
    with pytest.raises(layers.LayerError, match="does not match its digest"):
        layers.receive(str(host), str(image[1].digest), io.BytesIO(data))
    assert not layers.present(str(host), str(image[1].digest))
    assert [p.name for p in host.rglob("*")] == [layers.UNPACKED]


def test_a_torn_blob_counts_as_missing(store, image, tmp_path):
    host = tmp_path / "host" / "layers"
    _receive_all(store, image[:1], host)
    digest, size = str(image[0].digest), image[0].size
    assert layers.missing(str(host), [{"digest": digest, "size": size}]) == []
    with open(layers.blob_path(str(host), digest), "r+b") as f:
        f.truncate(size // 2)  # what a crash before writeback can leave
    assert layers.missing(str(host), [{"digest": digest, "size": size}]) == [digest]


def test_a_blob_that_is_not_a_tar_is_kept_but_cannot_be_applied(tmp_path):
    data = b"not a layer at all"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    host = tmp_path / "layers"
    layers.receive(str(host), digest, io.BytesIO(data))
    assert layers.present(str(host), digest) and not os.path.exists(layers.unpacked_path(str(host), digest))
    with pytest.raises(layers.LayerError, match="cannot extract"):
        layers.apply(str(host), str(tmp_path / "rootfs"), [digest])


def test_adopting_uploaded_blobs_verifies_them(store, image, tmp_path):
    incoming = tmp_path / "upload"
    incoming.mkdir()
    good = store._blob_path(image[0].digest)
    (incoming / str(image[0].digest)[7:]).write_bytes(good.read_bytes())
    assert layers.adopt_incoming(str(tmp_path / "layers"), str(incoming)) == [str(image[0].digest)]
    assert layers.present(str(tmp_path / "layers"), str(image[0].digest), image[0].size)
    (incoming / str(image[1].digest)[7:]).write_bytes(good.read_bytes())  # wrong content for its name
    with pytest.raises(layers.LayerError, match="does not match"):
        layers.adopt_incoming(str(tmp_path / "layers"), str(incoming))
    assert list(incoming.iterdir()) == []


def test_receiver_script_takes_the_blob_on_stdin(store, image, tmp_path):
    """The form the controller uses over SSH: `python3 -c <_layers.py> receive STORE DIGEST < blob`."""
    digest = str(image[0].digest)
    host = tmp_path / "layers"
    with open(store._blob_path(image[0].digest), "rb") as blob:
        done = subprocess.run([sys.executable, "-c", LAYERS_PY.read_text(), "receive", str(host), digest],
                              stdin=blob, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {"digest": digest, "size": image[0].size}
    with open(store._blob_path(image[0].digest), "rb") as blob:
        bad = subprocess.run([sys.executable, str(LAYERS_PY), "receive", str(host), str(image[1].digest)],
                             stdin=blob, capture_output=True, text=True)
    assert bad.returncode == 1 and "does not match its digest" in bad.stderr


@pytest.fixture
def layer_server(tmp_path):
    """The hosts' own layer server (`_layers.py serve`) over a store directory, as run during the fan-out."""
    import threading

    served = tmp_path / "served"
    served.mkdir()
    server = layers.make_server(str(served), "127.0.0.1", 0)
    server.RequestHandlerClass.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_layer_server_serves_complete_blobs_by_name_and_nothing_else(layer_server):
    import urllib.error
    import urllib.request

    served, url = layer_server
    name = hashlib.sha256(b"blob").hexdigest()
    (served / name).write_bytes(b"blob")
    (served / (name[:-1] + "0.part")).write_bytes(b"half")
    (served / layers.UNPACKED / name).mkdir(parents=True)
    (served / layers.UNPACKED / name / "secret").write_bytes(b"x")
    with urllib.request.urlopen(f"{url}/{name}") as resp:
        assert resp.read() == b"blob" and resp.headers["Content-Length"] == "4"
    with urllib.request.urlopen(urllib.request.Request(f"{url}/{name}", method="HEAD")) as resp:
        assert resp.headers["Content-Length"] == "4" and resp.read() == b""
    for path in ("", layers.UNPACKED + "/", f"{layers.UNPACKED}/{name}/secret", name[:-1] + "0.part",
                 name[:-1] + "0", f"../{name}", name.upper()):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/{path}")
        assert refused.value.code == 404, path


def test_fetch_waits_for_a_parent_still_fetching_the_layer(store, image, tmp_path, layer_server):
    served, url = layer_server
    desc = image[0]
    blob = store._blob_path(desc.digest).read_bytes()
    asked = []

    def sleep(_seconds):  # the parent gets the layer after being asked three times
        asked.append(1)
        if len(asked) == 3:
            (served / str(desc.digest)[7:]).write_bytes(blob)

    host = tmp_path / "host"
    assert layers.fetch(str(host), [url], str(desc.digest), wait=60, sleep=sleep) == desc.size
    assert len(asked) == 3 and layers.present(str(host), str(desc.digest), desc.size)


def test_fetch_falls_back_to_master0_when_the_parent_cannot_serve(store, image, tmp_path, layer_server):
    served, master0 = layer_server
    desc = image[0]
    (served / str(desc.digest)[7:]).write_bytes(store._blob_path(desc.digest).read_bytes())
    dead_parent = "http://127.0.0.1:9"  # discard port: nothing listens
    host = tmp_path / "host"
    assert layers.fetch(str(host), [dead_parent, master0], str(desc.digest), wait=60) == desc.size
    with pytest.raises(layers.LayerError, match="127.0.0.1:9") as failure:
        layers.fetch(str(host), [dead_parent, master0], str(image[1].digest), wait=0)
    assert "404" in str(failure.value), "both sources are named in the error"


def test_a_host_whose_delivery_failed_sends_its_children_on_at_once(store, image, tmp_path, layer_server):
    """A parent that will never have the layer answers 410: the child tries master0 without waiting, and
    when master0 cannot serve either it fails and marks its own store, so its children stop too."""
    served, parent = layer_server
    layers.mark_failed(str(served))
    desc = image[0]
    child = tmp_path / "child"
    slept = []
    with pytest.raises(layers.LayerError, match="410") as failure:
        layers.fetch(str(child), [parent, "http://127.0.0.1:9"], str(desc.digest), wait=300, sleep=slept.append)
    assert not slept, "no waiting on a source that answered 410"
    assert "127.0.0.1:9" in str(failure.value)
    (served / str(desc.digest)[7:]).write_bytes(store._blob_path(desc.digest).read_bytes())
    assert layers.fetch(str(child), [parent], str(desc.digest)) == desc.size, "what it has, it still serves"


def test_a_layer_server_started_for_a_new_run_forgets_the_last_runs_failure(tmp_path):
    import socket
    import time
    import urllib.error
    import urllib.request

    store = tmp_path / "store"
    layers.mark_failed(str(store))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(LAYERS_PY), "serve", str(store), "127.0.0.1", str(port)],
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/{'0' * 64}")
            except urllib.error.HTTPError as answer:
                assert answer.code == 404, "not 410: this run has not failed"
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        assert not (store / layers.FAILED).exists()
    finally:
        server.terminate()
        server.wait()


def test_one_wait_covers_the_layer_whichever_source_is_asked(image, tmp_path, layer_server, monkeypatch):
    """A host waits `wait` seconds for a layer in all: its parent's 404s use the budget, and master0 is
    then asked once, not waited on for as long again."""
    import time

    _served, url = layer_server
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    with pytest.raises(layers.LayerError, match="404"):
        layers.fetch(str(tmp_path / "host"), [url, url + "/"], str(image[0].digest), wait=1.0, sleep=sleep)
    assert sum(slept) == pytest.approx(1.0), "the second source gets what is left of the budget: nothing"


def test_keep_heap_tunes_glibc_once_and_tolerates_a_libc_without_mallopt(monkeypatch):
    import ctypes

    calls: list[tuple[int, int]] = []

    class Glibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(layers, "_HEAP_KEPT", [])
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: Glibc())
    layers.keep_heap()
    layers.keep_heap()
    assert calls == [(-3, 64 << 20), (-1, 256 << 20), (-2, 16 << 20)], "M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD, once"

    monkeypatch.setattr(layers, "_HEAP_KEPT", [])
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: object())  # musl: no mallopt
    layers.keep_heap()
    assert layers._HEAP_KEPT == [True]
