"""COPY into a destination that is a directory in the image so far goes *into* it (issue 11, item 1).

Docker, buildah and sealer copy ``COPY f dir`` to ``dir/f`` when ``dir`` is a directory of the base
image or of an earlier layer; writing a file named ``dir`` over it loses the directory's content.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from sealer_runner.build import tree
from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.image.store import Store
from sealer_runner.imagecache.collect import find_images
from tests.conftest import make_image

AMD64 = ("linux/amd64",)


def write_context(root: Path, kubefile: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Kubefile").write_text(kubefile)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def build(store: Store, ctx: Path, tag: str = "test/copy:v1"):
    options = BuildOptions(kubefile=ctx / "Kubefile", context=ctx, tags=(tag,), platforms=AMD64)
    result = Builder(store).build(options)
    return store.get_manifest(store.platform_manifests(result.descriptor)[0].descriptor.digest)


def members(store: Store, layer) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(store.read_blob(layer.digest)))) as tar:
        return {m.name: m for m in tar.getmembers()}


def last_layer(store: Store, manifest) -> dict[str, tarfile.TarInfo]:
    return members(store, manifest.layers[-1])


@pytest.fixture
def base(store, tmp_path):
    """A base image with manifests/, etc/ and plugin/ directories (implied by their files only, as many
    images' layers are) and a file etc/kubeadm.conf."""
    make_image(store, "example.com/base:v1", [
        {"manifests/imageList": b"docker.io/library/busybox:1.36\n", "etc/kubeadm.conf": b"x: 1\n"},
        {"plugin/hostname.yaml": b"kind: Plugin\n"},
    ], tmp_path)
    return "example.com/base:v1"


def test_copy_into_a_directory_made_by_run_mkdir(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nRUN mkdir zookeeper\nCOPY manifest.yaml zookeeper\n",
                        {"manifest.yaml": "kind: List\n"})
    layer = last_layer(store, build(store, ctx))
    assert layer["zookeeper/manifest.yaml"].isfile()
    assert not layer.get("zookeeper", tarfile.TarInfo()).isfile()


@pytest.mark.parametrize(("source", "dest"), [("imageList", "manifests"), ("kubeadm.yml", "etc"),
                                               ("plugin.yaml", "plugin")])
def test_copy_into_a_directory_of_the_base_image(store, tmp_path, base, source, dest):
    ctx = write_context(tmp_path / "ctx", f"FROM {base}\nCOPY {source} {dest}\n", {source: "data\n"})
    layer = last_layer(store, build(store, ctx))
    assert layer[f"{dest}/{source}"].isfile()
    assert dest not in layer or layer[dest].isdir()


def test_image_list_copied_into_manifests_is_read_by_the_image_cache_step(store, tmp_path, base):
    listed = [f"docker.io/library/app{i}:1.{i}" for i in range(8)]
    ctx = write_context(tmp_path / "ctx", f"FROM {base}\nCOPY imageList manifests\n",
                        {"imageList": "\n".join(listed) + "\n"})
    manifest = build(store, ctx)
    assert last_layer(store, manifest)["manifests/imageList"].isfile()
    found = {use.image for use in find_images(store, manifest.layers, [])}
    assert set(listed) <= found  # the 8 listed images (the base's own list is replaced by this one)
    assert len(found) == 8


def test_copy_into_a_directory_made_by_an_earlier_copy(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY a.yaml manifests/\nCOPY imageList manifests\n",
                        {"a.yaml": "a\n", "imageList": "nginx:1\n"})
    assert last_layer(store, build(store, ctx))["manifests/imageList"].isfile()


def test_a_new_name_or_an_existing_file_is_still_a_file_destination(store, tmp_path, base):
    ctx = write_context(tmp_path / "ctx", f"FROM {base}\nCOPY a.yaml renamed.yaml\nCOPY b.conf etc/kubeadm.conf\n",
                        {"a.yaml": "a\n", "b.conf": "b\n"})
    manifest = build(store, ctx)
    assert members(store, manifest.layers[-2])["renamed.yaml"].isfile()
    assert members(store, manifest.layers[-1])["etc/kubeadm.conf"].isfile()


def test_a_removed_directory_is_no_destination_directory(store, tmp_path, base):
    ctx = write_context(tmp_path / "ctx", f"FROM {base}\nRUN rm -rf manifests\nCOPY imageList manifests\n",
                        {"imageList": "nginx:1\n"})
    assert last_layer(store, build(store, ctx))["manifests"].isfile()


def test_a_file_over_a_directory_in_a_later_layer_wins(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nRUN mkdir d && rm -r d && echo x > d\nCOPY f d\n",
                        {"f": "f\n"})
    assert last_layer(store, build(store, ctx))["d"].isfile()


def test_base_layers_are_indexed_once_then_never_read_again(store, tmp_path, base, monkeypatch):
    ctx = write_context(tmp_path / "ctx", f"FROM {base}\nCOPY imageList manifests\n", {"imageList": "nginx:1\n"})
    build(store, ctx)
    assert list(store.state_dir("tree").glob("*.json"))

    def no_scan(*args):
        raise AssertionError("a layer was scanned although its index exists")

    monkeypatch.setattr(tree, "_scan", no_scan)
    other = write_context(tmp_path / "other", f"FROM {base}\nCOPY kubeadm.yml etc\n", {"kubeadm.yml": "k\n"})
    assert last_layer(store, build(store, other, "test/other:v1"))["etc/kubeadm.yml"].isfile()


def test_layer_tree_whiteouts_opaque_and_implied_directories():
    layer = tree._tree([("a/b/file", False), ("c/.wh..wh..opq", False), (".wh.gone", False), ("link", False)])
    assert {"", "a", "a/b", "c"} <= layer.dirs
    assert layer.others == {"a/b/file", "link"}
    assert layer.removed == {"gone"} and layer.opaque == {"c"}
