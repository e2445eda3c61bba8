"""Tar headers that cost memory or time (issue 10, item 8, the host side), and what a good layer keeps.

An extended header (pax, GNU long name) is refused over 1 MiB before it is read; pax records are checked
before CPython's regular expressions (quadratic before 3.12.6) see them; sparse members are refused. The
same bounded reader serves hosts, the build and the controller's layer readers. Modes are kept whole.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
import tracemalloc

import pytest

from sealer_runner.errors import StoreError
from sealer_runner.image.digest import Digest
from sealer_runner.image.rootfs import Selection, read_rootfs
from sealer_runner.image.store import Store
from sealer_runner.image.types import MT_OCI_LAYER_GZIP, Descriptor
from sealer_runner.imagecache.collect import find_images
from tests.security.layer_tars import (
    ERRORS,
    RUNNERS,
    Canary,
    digest_of,
    dir_,
    gz,
    hard,
    layers,
    reg,
    rootfs_of,
    sym,
    tar_of,
)


@pytest.fixture
def canary(tmp_path) -> Canary:
    """Files and a directory outside every root, checked untouched after each hostile layer."""
    return Canary(tmp_path)
END = b"\0" * 1024


def _header(name: str, kind: bytes, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size = kind, size
    return ti.tobuf(tarfile.GNU_FORMAT)


def _pax(records: bytes, then: str = "x") -> bytes:
    """A pax extended header holding *records* as they are, then an empty file *then*."""
    pad = b"\0" * (-len(records) % 512)
    return _header("././@PaxHeader", tarfile.XHDTYPE, len(records)) + records + pad + tar_of([reg(then, b"")])


def _record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


HOSTILE = {
    "pax-over-the-cap": lambda: _pax(_record("path", b"a" * (2 << 20))),
    "pax-claiming-3-GiB": lambda: _header("././@PaxHeader", tarfile.XHDTYPE, 3 << 30) + b"1" * (1 << 20) + END,
    "gnu-longname-over-the-cap": lambda: (_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 2 << 20)
                                          + b"a" * (2 << 20) + tar_of([reg("x", b"")])),
    "gnu-longlink-claiming-3-GiB": lambda: _header("././@LongLink", tarfile.GNUTYPE_LONGLINK, 3 << 30) + END,
    "pax-long-digit-run": lambda: _pax(_record("comment", b"9" * 200_000)),
    "pax-malformed-digits": lambda: _pax(b"9" * 200_000),
    "pax-records-overrunning": lambda: _pax(b"3 a" * 60_000 + b"=\n"),
    "pax-chain": lambda: b"".join(_header("././@PaxHeader", tarfile.XHDTYPE, 512)[:512]
                                  + _record("comment", b"x" * 497).ljust(512, b"\0") for _ in range(20)) + END,
    "gnu-sparse": lambda: _header("sparse", tarfile.GNUTYPE_SPARSE, 0) + END,
    "pax-gnu-sparse-1.0": lambda: _pax(_record("GNU.sparse.major", b"1") + _record("GNU.sparse.minor", b"0")
                                       + _record("GNU.sparse.name", b"s") + _record("GNU.sparse.realsize", b"10")),
    "pax-gnu-sparse-0.1": lambda: _pax(_record("GNU.sparse.map", b"0,1") + _record("GNU.sparse.size", b"1")),
}


@pytest.mark.parametrize("way", sorted(RUNNERS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_headers_that_cost_memory_or_time_are_refused_quickly(case, way, canary, tmp_path):
    blob = gz(HOSTILE[case]())
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(ERRORS[way], match="refused") as caught:
            RUNNERS[way](tmp_path, [blob])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest_of(blob) in str(caught.value)
    assert time.monotonic() - started < 10
    assert peak < 64 << 20, f"{peak >> 20} MiB held while refusing"
    assert canary.untouched()


def _stored(store: Store, blob: bytes) -> Descriptor:
    return Descriptor(MT_OCI_LAYER_GZIP, Digest(str(store.put_bytes(blob))), len(blob))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_controllers_layer_readers_refuse_the_same_headers(case, tmp_path):
    store = Store(tmp_path / "store")
    desc = _stored(store, gz(HOSTILE[case]()))
    with pytest.raises(StoreError, match="refused"):
        read_rootfs(store, [desc], Selection(read=("plugins/*.yaml",)))
    with pytest.raises(StoreError, match="refused"):
        find_images(store, [desc], [])


@pytest.mark.parametrize("name", ["charts/../../../../../../../../../tmp/escape/x.yaml", "plugins/../../p.yaml",
                                  ".wh...", "charts/a//b.yaml"])
def test_the_controllers_layer_readers_refuse_names_that_leave_the_root(name, canary, tmp_path):
    """The image scanner writes chart files into a temporary directory: a '..' name must never get there."""
    store = Store(tmp_path / "store")
    desc = _stored(store, gz(tar_of([reg(name, b"image: x\n")])))
    with pytest.raises(StoreError, match=f"{desc.digest} refused"):
        read_rootfs(store, [desc], Selection(read=("plugins/*.yaml",)))
    with pytest.raises(StoreError, match=f"{desc.digest} refused"):
        find_images(store, [desc], [])
    assert canary.untouched()


def test_a_pax_header_under_the_cap_with_long_names_is_fine(tmp_path):
    name = "d/" + "n" * 200 + "/" + "f" * 250
    RUNNERS["host-received"](tmp_path, [gz(tar_of([reg(name, b"long"), sym("l" * 250, name)]))])
    assert (rootfs_of(tmp_path, "host-received") / name).read_bytes() == b"long"


# ------------------------------------------------------------------ what a good layer keeps

MODES = [dir_("bin", 0o755), reg("bin/su", b"\x7fELF", 0o4755), reg("bin/wall", b"\x7fELF", 0o2755),
         reg("bin/both", b"x", 0o6711), dir_("tmp", 0o1777), dir_("srv", 0o2775), dir_("locked", 0o500),
         reg("locked/f", b"ro", 0o400)]


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_setuid_setgid_and_sticky_bits_survive(way, tmp_path):
    RUNNERS[way](tmp_path, [gz(tar_of(MODES))])
    root = rootfs_of(tmp_path, way)
    for ti, _ in MODES:
        assert stat.S_IMODE((root / ti.name).lstat().st_mode) == ti.mode, ti.name


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_owners_are_kept_when_running_as_root(way, tmp_path):
    f, d = reg("f", b"x", 0o4750), dir_("d", 0o1770)
    for ti, _ in (f, d):
        ti.uid, ti.gid, ti.uname, ti.gname = 1234, 5678, "", ""
    RUNNERS[way](tmp_path, [gz(tar_of([f, d]))])
    root = rootfs_of(tmp_path, way)
    expected = (1234, 5678) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    for name, mode in (("f", 0o4750), ("d", 0o1770)):
        st = (root / name).lstat()
        assert (st.st_uid, st.st_gid) == expected and stat.S_IMODE(st.st_mode) == mode  # chown cleared nothing


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_symlinks_and_hardlinks_inside_the_root_still_work(way, tmp_path):
    layer = [dir_("bin"), reg("bin/tool", b"#!/bin/sh\n", 0o755), sym("bin/rel", "tool"),
             sym("bin/abs", "/usr/bin/missing"), sym("bin/up", "../etc/conf"), hard("bin/hl", "./bin/tool"),
             dir_("etc"), reg("etc/conf", b"c"), hard("/etc/hl", "/etc/conf"), sym("bin/dir", "../etc"),
             sym("dangling", "nowhere/at/all")]
    RUNNERS[way](tmp_path, [gz(tar_of(layer))])
    root = rootfs_of(tmp_path, way)
    assert os.readlink(root / "bin/rel") == "tool" and os.readlink(root / "bin/abs") == "/usr/bin/missing"
    assert os.readlink(root / "bin/up") == "../etc/conf" and os.readlink(root / "dangling") == "nowhere/at/all"
    assert (root / "bin/hl").stat().st_ino == (root / "bin/tool").stat().st_ino
    assert (root / "etc/hl").stat().st_ino == (root / "etc/conf").stat().st_ino
    assert (root / "bin/dir/conf").read_bytes() == b"c"


def test_the_build_links_to_a_lower_layers_file(tmp_path):
    """On the controller a layer applies onto the root, so a hardlink may name a lower layer's file."""
    RUNNERS["build"](tmp_path, [gz(tar_of([reg("a", b"lower")])), gz(tar_of([hard("b", "a")]))])
    root = rootfs_of(tmp_path, "build")
    assert (root / "b").stat().st_ino == (root / "a").stat().st_ino


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_a_replaced_hardlink_source_does_not_change_its_link(way, tmp_path):
    """A member over an existing name is a new inode: the old inode's other links keep their content."""
    RUNNERS[way](tmp_path, [gz(tar_of([reg("a", b"one"), hard("b", "a"), reg("a", b"two")]))])
    root = rootfs_of(tmp_path, way)
    assert (root / "a").read_bytes() == b"two" and (root / "b").read_bytes() == b"one"


def test_no_path_depends_on_tarfile_filters(monkeypatch, canary, tmp_path):
    """Pythons without PEP 706 filters (before 3.11.4 and the backports) get the same extractor: there is
    no second path that trusts tarfile.extract."""
    monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    link = hard("h", "d/f")
    link[0].mode = 0o4755  # a hardlink member's attributes are its inode's, as tar writes them
    good = gz(tar_of([dir_("d", 0o1777), reg("d/f", b"ok", 0o4755), sym("l", "d/f"), link]))
    bad = gz(tar_of([dir_("etc"), hard("etc/x", str(canary.file)), reg("etc/x", b"pwned")]))
    for way in RUNNERS:
        (tmp_path / way).mkdir()
        RUNNERS[way](tmp_path / way, [good])
        assert stat.S_IMODE((rootfs_of(tmp_path / way, way) / "d" / "f").stat().st_mode) == 0o4755
        (tmp_path / way / "bad").mkdir()
        with pytest.raises(ERRORS[way], match="refused"):
            RUNNERS[way](tmp_path / way / "bad", [bad])
    assert canary.untouched()


def test_receiving_a_refused_layer_reads_it_whole_for_the_digest_first(canary, tmp_path):
    """The refusal is reported only for the layer that was sent: a torn copy is 'does not match'."""
    blob = gz(tar_of([sym("evil", str(canary.dir)), reg("evil/canary", b"pwned")] + [reg(f"pad{i}", os.urandom(4096))
                                                                                  for i in range(64)]))
    stream = io.BytesIO(blob)
    with pytest.raises(layers.UnsafeLayer):
        layers.receive(str(tmp_path / "layers"), digest_of(blob), stream)
    assert stream.tell() == len(blob)
    assert canary.untouched()
