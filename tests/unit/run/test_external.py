"""Pushing cached images to an external registry: what each push sends, and blobs read back out of
the image's registry/ layers."""

from __future__ import annotations

import json

import pytest

from sealer_runner.errors import StoreError
from sealer_runner.image.digest import Digest
from sealer_runner.image.layer import data_entry, write_layer
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.registry_layout import CachedImage, import_blobs, layout_entries
from sealer_runner.image.store import Store
from sealer_runner.image.types import MT_OCI_INDEX, Descriptor, Index, Platform
from sealer_runner.run.external import _plan, destination
from tests.conftest import make_image

ARM64 = Platform("linux", "arm64")


def two_platforms(store: Store, tmp_path):
    amd = make_image(store, "x/app:amd", [{"bin": b"amd"}], tmp_path)
    arm = make_image(store, "x/app:arm", [{"bin": b"arm"}], tmp_path, platform=ARM64)
    index = store.put_index(Index((amd.descriptor, arm.descriptor)))
    return amd, arm, index


def record(ref: str, top: Digest, manifests: list[Digest], store: Store) -> dict:
    blobs = sorted({str(d) for m in manifests for d in store.referenced_blobs(
        Descriptor("application/vnd.oci.image.manifest.v1+json", m, 0)) if d not in manifests})
    return {"image": ref, "digest": str(top), "manifests": [str(m) for m in manifests], "blobs": blobs}


def test_destination_keeps_the_source_domain_as_the_first_path_component():
    assert str(destination(parse_reference("nginx:1.25"), "harbor.example.com")) == \
        "harbor.example.com/docker.io/library/nginx:1.25"
    assert str(destination(parse_reference("127.0.0.1:5000/team/app:v2"), "r:8443")) == "r:8443/127.0.0.1_5000/team/app:v2"
    pinned = destination(parse_reference("quay.io/a/b@sha256:" + "a" * 64), "r")
    assert pinned.tag is None and pinned.digest == "sha256:" + "a" * 64


def test_plans_single_manifest_full_index_and_reduced_index(store, tmp_path):
    amd, arm, index = two_platforms(store, tmp_path)
    single, reduced = _plan(store, record("docker.io/x/app:amd", amd.descriptor.digest, [amd.descriptor.digest], store))
    assert not reduced and single.top.digest == amd.descriptor.digest and single.children == ()
    assert {d.digest for d in single.blobs} == store.referenced_blobs(amd.descriptor) - {amd.descriptor.digest}

    both = [amd.descriptor.digest, arm.descriptor.digest]
    full, reduced = _plan(store, record("docker.io/x/app:1", index.digest, both, store))
    assert not reduced and full.top.digest == index.digest and full.top.media_type == MT_OCI_INDEX
    assert [c.digest for c in full.children] == both

    partial, reduced = _plan(store, record("docker.io/x/app:1", index.digest, [arm.descriptor.digest], store))
    assert reduced and partial.top.digest != index.digest
    cut = json.loads(store.read_blob(partial.top.digest))
    assert [m["digest"] for m in cut["manifests"]] == [str(arm.descriptor.digest)]
    assert cut["manifests"][0]["platform"] == {"os": "linux", "architecture": "arm64"}
    again, _ = _plan(store, record("docker.io/x/app:1", index.digest, [arm.descriptor.digest], store))
    assert again.top == partial.top, "the same reduced index every run: re-pushes change nothing"


def registry_layer(store: Store, tmp_path):
    """A layer holding one cached image in the distribution layout, and that image's digests."""
    amd = make_image(store, "docker.io/library/app:1", [{"bin": b"cached-app"}], tmp_path)
    digests = sorted(store.referenced_blobs(amd.descriptor))
    manifest = store.get_manifest(amd.descriptor.digest)
    cached = CachedImage(amd.reference, amd.descriptor.digest, (amd.descriptor.digest,),
                         tuple(sorted([manifest.config.digest, *(lr.digest for lr in manifest.layers)])))
    layer = write_layer(store, layout_entries(store, [cached])).descriptor
    return layer, digests


def test_blobs_come_back_out_of_the_registry_layer_verified(store, tmp_path):
    layer, digests = registry_layer(store, tmp_path)
    elsewhere = Store(tmp_path / "elsewhere")
    with store.open_blob(layer.digest) as f:
        elsewhere.put_stream(f, layer.digest)
    absent = Digest.of_bytes(b"not cached")
    missing = import_blobs(elsewhere, [layer], {*digests, absent})
    assert missing == {absent}
    assert all(elsewhere.has_blob(d) for d in digests)
    assert import_blobs(elsewhere, [layer], set(digests)) == set(), "already there: nothing to read"


def test_a_damaged_cached_blob_is_refused(store, tmp_path):
    good = Digest.of_bytes(b"real content")
    path = f"registry/docker/registry/v2/blobs/sha256/{good.hex[:2]}/{good.hex}/data"
    layer = write_layer(store, [data_entry(path, b"tampered content")]).descriptor
    with pytest.raises(StoreError, match=f"cached blob {good} is damaged"):
        import_blobs(store, [layer], {good})
    assert not store.has_blob(good)
