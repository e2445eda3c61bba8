"""Reading chosen files of an image's merged rootfs from its layers: later layers win, whiteouts remove,
and each layer is decompressed once."""

from pathlib import Path

import pytest

from sealer_runner.errors import StoreError
from sealer_runner.image.layer import Entry, data_entry, whiteout, write_layer
from sealer_runner.image.rootfs import RUN_CONTENT, Selection, captures, read_rootfs, remember
from sealer_runner.image.store import Store
from sealer_runner.image.types import Descriptor

PLUGINS = Selection(read=("plugins/*.yaml",), look_for=("bin/kubeadm",))


def layer(store: Store, *entries: Entry) -> Descriptor:
    return write_layer(store, entries).descriptor


def test_later_layers_win_and_only_selected_files_are_read(store):
    layers = [
        layer(store, data_entry("plugins/a.yaml", b"a1"), data_entry("plugins/b.yaml", b"b1"),
              data_entry("plugins/sub/deep.yaml", b"no"), data_entry("plugins/a.yml", b"no"),
              data_entry("other.yaml", b"no"), data_entry("bin/kubeadm", b"\x7fELF")),
        layer(store, data_entry("plugins/a.yaml", b"a2")),
    ]
    files = read_rootfs(store, layers, PLUGINS)
    assert dict(files.contents) == {"plugins/a.yaml": b"a2", "plugins/b.yaml": b"b1"}
    assert files.present == {"bin/kubeadm"}


def test_whiteouts_and_opaque_directories_remove_lower_files(store):
    base = layer(store, data_entry("plugins/a.yaml", b"a"), data_entry("plugins/b.yaml", b"b"),
                 data_entry("bin/kubeadm", b"k"))
    assert read_rootfs(store, [base, layer(store, whiteout("plugins/a.yaml"), whiteout("bin/kubeadm"))],
                       PLUGINS) == read_rootfs(store, [layer(store, data_entry("plugins/b.yaml", b"b"))], PLUGINS)
    opaque = layer(store, Entry("plugins/.wh..wh..opq", "whiteout"), data_entry("plugins/c.yaml", b"c"))
    assert dict(read_rootfs(store, [base, opaque], PLUGINS).contents) == {"plugins/c.yaml": b"c"}
    gone = layer(store, whiteout("plugins"), whiteout("bin"))
    files = read_rootfs(store, [base, gone], PLUGINS)
    assert not files.contents and not files.present


def test_a_file_or_directory_in_the_way_hides_lower_files(store):
    base = layer(store, data_entry("plugins/a.yaml", b"a"), data_entry("bin/kubeadm", b"k"))
    plugins_is_a_file = layer(store, data_entry("plugins", b"not a directory"), Entry("bin", "symlink", linkname="usr/bin"))
    files = read_rootfs(store, [base, plugins_is_a_file], PLUGINS)
    assert not files.contents and not files.present
    yaml_is_a_dir = layer(store, Entry("plugins/a.yaml", "dir", 0o755), Entry("bin/kubeadm", "dir", 0o755))
    files = read_rootfs(store, [base, yaml_is_a_dir], PLUGINS)
    assert not files.contents and not files.present


def test_each_layer_is_read_once_then_cached(store):
    first = layer(store, data_entry("plugins/a.yaml", b"a"))
    assert read_rootfs(store, [first], PLUGINS).contents == {"plugins/a.yaml": b"a"}
    Path(store.blob_source(first.digest)).unlink()
    assert read_rootfs(store, [first], PLUGINS).contents == {"plugins/a.yaml": b"a"}, "served from the cache"
    with pytest.raises(StoreError, match="missing"):
        read_rootfs(store, [first], Selection(read=("plugins/*.yml",)))


def test_oversized_files_and_damaged_layers_are_errors(store):
    big = layer(store, data_entry("plugins/big.yaml", b"x" * 100))
    with pytest.raises(StoreError, match="plugins/big.yaml is larger than 10 bytes"):
        read_rootfs(store, [big], Selection(read=("plugins/*.yaml",), limit=10))
    blob = Path(store.blob_source(big.digest))
    blob.write_bytes(blob.read_bytes()[:-8] + b"damaged!")
    with pytest.raises(StoreError):
        read_rootfs(store, [big], PLUGINS)


LAYER_CASES = {
    "plugins and kubeadm": [data_entry("plugins/a.yaml", b"a1"), data_entry("plugins/b.yml", b"b"),
                            data_entry("plugins/sub/deep.yaml", b"no"), data_entry("bin/kubeadm", b"\x7fELF")],
    "whiteouts": [whiteout("plugins/a.yaml"), whiteout("bin/kubeadm")],
    "opaque": [Entry("plugins/.wh..wh..opq", "whiteout"), data_entry("plugins/c.yaml", b"c")],
    "in the way": [data_entry("plugins", b"not a directory"), Entry("bin", "symlink", linkname="usr/bin")],
    "directories": [Entry("plugins", "dir", 0o755), Entry("plugins/a.yaml", "dir", 0o755), Entry("bin", "dir", 0o755)],
    "nothing selected": [data_entry("etc/x.conf", b"x"), Entry("registry", "dir", 0o755)],
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_a_layer_indexed_as_written_reads_as_its_scan_does(store, tmp_path, case):
    """`remember` (build time, from the entries) and the scan of the written blob agree, cache file for cache file."""
    source = tmp_path / "on-disk.yaml"
    source.write_bytes(b"from a file")
    entries = [*LAYER_CASES[case], Entry("plugins/disk.yaml", "file", size=source.stat().st_size, source=str(source))]
    info = write_layer(store, entries, capture=captures)
    written = info.descriptor
    source.write_bytes(b"edited after the layer was written")  # the index holds what the blob holds
    remember(store, written, entries, info.captured)
    cache = store.state_dir("rootfs") / f"{written.digest.hex}-{RUN_CONTENT.key}.json"
    indexed = cache.read_bytes()
    cache.unlink()
    scanned = read_rootfs(store, [written], RUN_CONTENT)
    assert cache.read_bytes() == indexed
    Path(store.blob_source(written.digest)).unlink()
    assert read_rootfs(store, [written], RUN_CONTENT) == scanned, "the index is enough: no blob needed"


def test_an_oversized_selected_file_is_left_to_the_scan_to_report(store):
    entries = [data_entry("plugins/big.yaml", b"x" * (RUN_CONTENT.limit + 1))]
    info = write_layer(store, entries, capture=captures)
    big = info.descriptor
    assert "plugins/big.yaml" not in info.captured, "over write_layer's capture limit"
    remember(store, big, entries, info.captured)
    with pytest.raises(StoreError, match="plugins/big.yaml is larger than"):
        read_rootfs(store, [big], RUN_CONTENT)


def test_patterns_never_cross_directories():
    selection = Selection(read=("plugins/*.yaml", "a/*/c"))
    assert selection.reads("plugins/x.yaml") and selection.reads("a/b/c")
    assert not selection.reads("plugins/x/y.yaml") and not selection.reads("x/plugins/a.yaml")
    assert not selection.reads("a/b/d/c")
    assert Selection(read=("x",)).key != Selection(read=("y",)).key


def test_a_directory_looked_under_is_present_while_a_file_lies_beneath_it(store):
    cached = Selection(look_under=("registry",))
    images = layer(store, data_entry("registry/docker/registry/v2/blobs/x", b"blob"), data_entry("bin/registry", b"r"))
    assert read_rootfs(store, [images], cached).present == {"registry"}
    assert read_rootfs(store, [layer(store, Entry("registry", "dir", 0o755), data_entry("registryx/f", b"f"))],
                       cached).present == frozenset(), "an empty directory or a look-alike name is not enough"
    assert read_rootfs(store, [images, layer(store, whiteout("registry"))], cached).present == frozenset()
    assert read_rootfs(store, [images, layer(store, data_entry("registry", b"a file now"))], cached).present \
        == frozenset()
    assert "registry" in RUN_CONTENT.look_under
