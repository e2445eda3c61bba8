"""Layers from hostile images never write, link or delete outside their root (issue 10, items 1, 2, 3, 10, 8).

Every case is a list of layers, tar members made by hand. Each goes through every way a layer reaches a
filesystem: the controller's build (apply_layer), a host that received it (untarred on arrival, then
merged) and a host applying it from the blob alone. Each must end in the clear error (StoreError on the
controller, UnsafeLayer on hosts) naming the layer and the member, with the canary outside untouched.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Callable

import pytest

from tests.security.layer_tars import (
    ERRORS,
    RUNNERS,
    Canary,
    Member,
    digest_of,
    dir_,
    gz,
    hard,
    layers,
    node,
    reg,
    rootfs_of,
    sym,
    tar_of,
    up_to_root,
)


@pytest.fixture
def canary(tmp_path) -> Canary:
    """Files and a directory outside every root, checked untouched after each hostile layer."""
    return Canary(tmp_path)
# A case: the canary -> (layers as member lists, what the error must mention besides the layer digest).
Case = Callable[[Canary], tuple[list[list[Member]], str]]

CASES: dict[str, Case] = {
    # 1. hardlinks: overwrite an outside file through a link, by every kind of target
    "hardlink-absolute-then-file": lambda c: ([[dir_("etc"), hard("etc/x", str(c.file)), reg("etc/x", b"pwned")]],
                                              "etc/x"),
    "hardlink-dotdot-then-file": lambda c: ([[dir_("etc"), hard("etc/x", up_to_root(c.file)), reg("etc/x", b"pwned")]],
                                            "etc/x"),
    "hardlink-to-inroot-symlink": lambda c: ([[sym("lnk", str(c.file)), hard("h", "lnk"), reg("h", b"pwned")]], "'h'"),
    "hardlink-beneath-symlink": lambda c: ([[sym("d", str(c.dir)), hard("h", "d/canary"), reg("h", b"pwned")]], "'h'"),
    "hardlink-to-directory": lambda c: ([[dir_("d"), hard("h", "d")]], "'h'"),
    "hardlink-to-missing": lambda c: ([[hard("h", "nowhere")]], "'h'"),
    "hardlink-across-layers-beneath-symlink": lambda c: ([[sym("d", str(c.dir))], [hard("h", "d/canary"),
                                                                                  reg("h", b"pwned")]], "'h'"),
    # 2. whiteouts that name the root's parent, or nothing
    "whiteout-of-dotdot": lambda c: ([[reg("keep"), reg(".wh...", b"")]], ".wh..."),
    "whiteout-of-dot": lambda c: ([[reg("keep"), reg(".wh..", b"")]], ".wh.."),
    "whiteout-of-dot-below": lambda c: ([[dir_("a"), reg("a/.wh..", b"")]], "a/.wh.."),
    "whiteout-of-nothing": lambda c: ([[reg(".wh.", b"")]], ".wh."),
    "whiteout-with-dotdot-path": lambda c: ([[reg(up_to_root(c.dir / ".wh.canary"), b"")]], ".."),
    "empty-component": lambda c: ([[reg("a//b")]], "a//b"),
    "dot-component": lambda c: ([[reg("a/./b")]], "a/./b"),
    "dotdot-member": lambda c: ([[reg(up_to_root(c.dir / "new"), b"pwned")]], ".."),
    "dotdot-inside-name": lambda c: ([[dir_("a"), reg("a/../../../../../../../../../../../../x", b"pwned")]], ".."),
    "dotdot-symlink-name": lambda c: ([[sym(up_to_root(c.dir / "lnk"), "/")]], ".."),
    "dotdot-directory": lambda c: ([[dir_(up_to_root(c.dir / "sub"), 0o777)]], ".."),
    # 3. deleting outside: opaque markers and whiteouts out of the root or beneath a symlink
    "opaque-outside": lambda c: ([[reg(up_to_root(c.dir / ".wh..wh..opq"), b"")]], ".wh..wh..opq"),
    "symlink-then-whiteout": lambda c: ([[sym("evil", str(c.dir)), reg("evil/.wh.canary", b"")]], "evil"),
    "symlink-then-opaque": lambda c: ([[sym("evil", str(c.dir)), reg("evil/.wh..wh..opq", b"")]], "evil"),
    "symlink-then-whiteout-across-layers": lambda c: ([[sym("evil", str(c.dir))], [reg("evil/.wh.canary", b"")]],
                                                      "evil"),
    "symlink-then-opaque-across-layers": lambda c: ([[sym("evil", str(c.dir))], [reg("evil/.wh..wh..opq", b"")]],
                                                    "evil"),
    "symlink-then-file": lambda c: ([[sym("evil", str(c.dir)), reg("evil/canary", b"pwned")]], "evil"),
    "symlink-then-file-across-layers": lambda c: ([[sym("evil", str(c.dir))], [reg("evil/canary", b"pwned")]], "evil"),
    "symlink-then-new-file": lambda c: ([[sym("evil", str(c.dir)), reg("evil/new", b"pwned")]], "evil"),
    "symlink-then-dir": lambda c: ([[sym("evil", str(c.dir)), dir_("evil/sub", 0o777)]], "evil"),
    "symlink-then-symlink": lambda c: ([[sym("evil", str(c.dir)), sym("evil/canary", "/etc/passwd")]], "evil"),
    "symlink-then-hardlink": lambda c: ([[reg("f"), sym("evil", str(c.dir)), hard("evil/canary", "f")]], "evil"),
    "relative-symlink-then-file": lambda c: ([[sym("evil", up_to_root(c.dir)), reg("evil/canary", b"pwned")]],
                                             "evil"),
    "symlink-to-dot-then-deep-file": lambda c: ([[sym("loop", "."), reg("loop/loop/x")]], "loop"),
    "nested-symlink-parent": lambda c: ([[dir_("a"), sym("a/b", str(c.dir)), reg("a/b/sub/inner", b"pwned")]], "a/b"),
    "file-as-parent": lambda c: ([[reg("f"), reg("f/x")]], "'f'"),
    # 10. device nodes and FIFOs
    "char-device": lambda c: ([[node("dev/null", tarfile.CHRTYPE)]], "dev/null"),
    "block-device": lambda c: ([[node("dev/sda", tarfile.BLKTYPE)]], "dev/sda"),
    "fifo": lambda c: ([[node("run/pipe", tarfile.FIFOTYPE)]], "run/pipe"),
    "device-named-like-canary": lambda c: ([[node(up_to_root(c.file), tarfile.CHRTYPE)]], ".."),
}


@pytest.mark.parametrize("way", sorted(RUNNERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_layer_is_refused_and_nothing_outside_changes(case, way, canary, tmp_path):
    members, mention = CASES[case](canary)
    blobs = [gz(tar_of(m)) for m in members]
    with pytest.raises(ERRORS[way]) as caught:
        RUNNERS[way](tmp_path, blobs)
    message = str(caught.value)
    assert "refused" in message and mention in message, message
    assert any(digest_of(b) in message for b in blobs), f"the layer is not named: {message}"
    assert canary.untouched()


SAME_LAYER = sorted(k for k in CASES if "across" not in k)


@pytest.mark.parametrize("case", SAME_LAYER)
def test_a_host_refuses_a_hostile_layer_as_it_arrives_and_keeps_nothing(case, canary, tmp_path):
    members, mention = CASES[case](canary)
    store = tmp_path / "layers"
    for lower in members[:-1]:
        blob = gz(tar_of(lower))
        layers.receive(str(store), digest_of(blob), io.BytesIO(blob))
    blob = gz(tar_of(members[-1]))
    with pytest.raises(layers.UnsafeLayer, match="refused") as caught:
        layers.receive(str(store), digest_of(blob), io.BytesIO(blob))
    assert digest_of(blob) in str(caught.value) and mention in str(caught.value)
    assert not layers.present(str(store), digest_of(blob))
    assert not os.path.exists(layers.unpacked_path(str(store), digest_of(blob)))
    assert not [p for p in os.listdir(store / layers.UNPACKED) if p.startswith(digest_of(blob)[7:])]
    assert canary.untouched()


def test_the_receiver_script_refuses_a_hostile_layer_with_its_reason(canary, tmp_path, monkeypatch):
    blob = gz(tar_of([dir_("etc"), hard("etc/x", str(canary.file)), reg("etc/x", b"pwned")]))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(blob)))
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert layers._main(["_layers.py", "receive", str(tmp_path / "layers"), digest_of(blob)]) == 1
    assert "refused" in err.getvalue() and "etc/x" in err.getvalue()
    assert canary.untouched()


def test_a_layer_that_does_not_match_its_digest_says_so_rather_than_refused(canary, tmp_path):
    blob = gz(tar_of([sym("evil", str(canary.dir)), reg("evil/canary", b"pwned")]))
    with pytest.raises(layers.LayerError, match="does not match its digest"):
        layers.receive(str(tmp_path / "layers"), "sha256:" + "0" * 64, io.BytesIO(blob))
    assert canary.untouched()


@pytest.mark.parametrize("tree", [
    {".wh...": b""},  # what an older receiver could have left unpacked
    {".wh..": b""},
    {"a/.wh..": b"", "a/x": b""},
])
def test_merge_checks_an_unpacked_tree_again(tree, canary, tmp_path):
    unpacked, root = tmp_path / "tree", tmp_path / "root" / "rootfs"
    root.mkdir(parents=True)
    (root / "keep").write_bytes(b"k")
    (root / "a").mkdir()
    for name, data in tree.items():
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(data)
    with pytest.raises(layers.UnsafeLayer, match="refused"):
        layers.merge(str(unpacked), str(root), layer="sha256:test")
    assert (root / "keep").read_bytes() == b"k" and canary.untouched()


def test_a_refused_merge_changes_nothing_in_the_rootfs(canary, tmp_path):
    """The tree is checked whole before anything moves: a hostile directory deep in it leaves the rest out."""
    lower = gz(tar_of([dir_("z"), sym("z/evil", str(canary.dir)), reg("old", b"old")]))
    upper = gz(tar_of([reg(".wh.old", b""), reg("a-new", b"new"), dir_("z"), reg("z/evil/canary", b"pwned")]))
    store = tmp_path / "layers"
    for blob in (lower, upper):
        layers.receive(str(store), digest_of(blob), io.BytesIO(blob))
    root = tmp_path / "rootfs"
    layers.apply(str(store), str(root), [digest_of(lower)])
    with pytest.raises(layers.UnsafeLayer, match="z/evil"):
        layers.apply(str(store), str(root), [digest_of(lower), digest_of(upper)])
    assert sorted(os.listdir(root)) == sorted([".sealer-layers.json", "old", "z"])
    assert canary.untouched()


# ------------------------------------------------------------------ what stays inside and works


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_absolute_names_land_inside_the_root(way, canary, tmp_path):
    RUNNERS[way](tmp_path, [gz(tar_of([reg(str(canary.file), b"inside"), reg("/etc/motd", b"hi")]))])
    root = rootfs_of(tmp_path, way)
    assert (root / str(canary.file).lstrip("/")).read_bytes() == b"inside"
    assert (root / "etc" / "motd").read_bytes() == b"hi"
    assert canary.untouched()


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_a_file_replaces_a_lower_layers_symlink_instead_of_writing_through_it(way, canary, tmp_path):
    lower = gz(tar_of([sym("f", str(canary.file)), sym("d", str(canary.dir))]))
    upper = gz(tar_of([reg("f", b"mine"), dir_("d", 0o700), reg("d/canary", b"mine too")]))
    RUNNERS[way](tmp_path, [lower, upper])
    root = rootfs_of(tmp_path, way)
    assert not (root / "f").is_symlink() and (root / "f").read_bytes() == b"mine"
    assert not (root / "d").is_symlink() and (root / "d" / "canary").read_bytes() == b"mine too"
    assert canary.untouched()


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_a_directory_replaced_by_a_symlink_in_its_layer_gets_no_attributes_through_it(way, canary, tmp_path):
    """Directory attributes are set last: by then `d` is a symlink to the canary, which must keep its mode."""
    RUNNERS[way](tmp_path, [gz(tar_of([dir_("d", 0o777), reg("d/f"), sym("d", str(canary.dir))]))])
    assert os.readlink(rootfs_of(tmp_path, way) / "d") == str(canary.dir)
    assert canary.untouched()


@pytest.mark.parametrize("way", sorted(RUNNERS))
def test_whiteouts_and_opaque_markers_inside_the_root_still_work(way, canary, tmp_path):
    lower = gz(tar_of([dir_("etc"), reg("etc/a"), reg("etc/b"), dir_("opt"), reg("opt/old"), reg("gone"),
                       sym("link", str(canary.dir))]))
    upper = gz(tar_of([reg(".wh.gone", b""), reg("etc/.wh.a", b""), dir_("opt"), reg("opt/.wh..wh..opq", b""),
                       reg("opt/new"), reg(".wh.link", b""), dir_("link"), reg("link/canary", b"mine"),
                       reg(".wh..wh.plnk", b"")]))
    RUNNERS[way](tmp_path, [lower, upper])
    root = rootfs_of(tmp_path, way)
    assert sorted(p.name for p in root.iterdir() if p.name != layers.APPLIED) == ["etc", "link", "opt"]
    assert os.listdir(root / "etc") == ["b"] and os.listdir(root / "opt") == ["new"]
    assert (root / "link" / "canary").read_bytes() == b"mine"
    assert canary.untouched()


def test_an_aufs_metadata_name_is_ignored_not_taken_as_a_whiteout(tmp_path):
    """``.wh..wh.*`` (other than the opaque marker) is aufs bookkeeping, ignored as Docker does; and the
    receiver's own IMPLICIT marker name cannot come from a layer."""
    lower = gz(tar_of([reg("plnk")]))
    upper = gz(tar_of([reg(".wh..wh.plnk", b""), reg(layers.IMPLICIT, b""), dir_("d"), reg("d/" + layers.IMPLICIT)]))
    for way in RUNNERS:
        RUNNERS[way](tmp_path, [lower, upper])
        root = rootfs_of(tmp_path, way)
        assert sorted(p.name for p in root.iterdir() if p.name != layers.APPLIED) == ["d", "plnk"], way
        assert os.listdir(root / "d") == []


def test_member_names_with_nul_are_refused():
    with pytest.raises(layers.UnsafeLayer, match="NUL"):
        layers.member_path("etc/x\0/../../y")


@pytest.mark.parametrize("name, path", [
    ("./etc/x", "etc/x"), ("/etc/x", "etc/x"), ("etc/dir/", "etc/dir"), ("././a", "a"), (".", ""), ("./", ""),
    ("/", ""), ("//etc//x"[1:], None), ("a/../b", None), ("..", None), ("a/.", None), ("...", "..."),
])
def test_member_path_rules(name, path):
    if path is None:
        with pytest.raises(layers.UnsafeLayer):
            layers.member_path(name)
    else:
        assert layers.member_path(name) == path


@pytest.mark.parametrize("name", [".wh..", ".wh...", "a/.wh..", ".wh.", "a/b/.wh."])
def test_whiteouts_of_dot_dotdot_and_nothing_are_refused_by_classify(name):
    with pytest.raises(layers.UnsafeLayer, match="whiteout"):
        layers.classify(name)


def test_a_tree_unpacked_by_an_older_receiver_is_not_trusted(canary, tmp_path):
    """Only trees this extractor made (TREE_MARK) are merged; any other is dropped and the blob re-checked."""
    blob = gz(tar_of([sym("evil", str(canary.dir)), reg("evil/canary", b"pwned")]))
    store = tmp_path / "layers"
    store.mkdir()
    (store / digest_of(blob)[7:]).write_bytes(blob)
    old_tree = Path(layers.unpacked_path(str(store), digest_of(blob)))
    (old_tree / "dev").mkdir(parents=True)
    os.mkfifo(old_tree / "dev" / "pipe")  # what a receiver trusting tarfile's "tar" filter could leave
    with pytest.raises(layers.UnsafeLayer, match="evil"):
        layers.apply(str(store), str(tmp_path / "rootfs"), [digest_of(blob)])
    assert not old_tree.exists() and canary.untouched()
