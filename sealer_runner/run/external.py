"""An external registry (``registry.externalRegistry``): the controller pushes the image's cached
container images there before the playbook runs, and the hosts pull them from it.

Each cached image goes to ``<external>/<source domain>/<path>:<tag>`` (``docker.io/library/nginx``),
the repository the embedded registry would serve it under, so the hosts' ``hosts.toml`` is the same
for both. The blobs come from the store, or from the cluster image's ``registry/`` layers when the
image was pulled or loaded rather than built here. Blobs the registry already has are skipped.

A cached image is often one platform of a multi-platform index. A registry refuses an index whose
other manifests it lacks (``MANIFEST_BLOB_UNKNOWN``), so such an image gets an index of the platforms
cached instead: the tag resolves as before; the original index digest does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..clusterfile.models import ClusterSpec
from ..errors import StoreError
from ..image.digest import Digest
from ..image.metadata import read_container_images
from ..image.reference import Reference, parse_reference
from ..image.registry_layout import import_blobs, repository_name
from ..image.store import Store
from ..image.types import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    canonical_json,
    parse_json_blob,
)
from ..registry.transfer import PushPlan, Registries, TransferReporter, push_plan
from .cluster import host_manifest
from .registry_access import registry_credentials


@dataclass(frozen=True)
class PushedImage:
    source: str  # docker.io/library/nginx:1.25
    destination: str  # reg.example.com/docker.io/library/nginx:1.25
    digest: Digest  # what the destination's tag points at
    reduced: bool  # an index cut down to the cached platforms (its digest differs from the source's)


def push_for_cluster(spec: ClusterSpec, store: Store, registries: Registries,
                     reporter: TransferReporter | None = None) -> list[PushedImage]:
    """Push the cluster image's cached images to the Clusterfile's external registry (none: nothing),
    with the Clusterfile's credentials, else those kept by ``sealer_runner login``."""
    external = spec.cluster.registry.external
    if external is None:
        return []
    _, chosen = host_manifest(store, spec.cluster.image)
    credentials = registry_credentials(spec)  # the Clusterfile's; *registries* finds the kept ones itself
    if credentials is not None:
        registries = registries.with_credentials(external.host, credentials)
    return push_cached_images(store, chosen.manifest, external.host, registries, reporter)


def push_cached_images(store: Store, manifest: Manifest, host: str, registries: Registries,
                       reporter: TransferReporter | None = None) -> list[PushedImage]:
    """Push every container image cached in the cluster image whose platform manifest is *manifest*
    to the registry *host* (``domain[:port]``)."""
    records = [r for r in read_container_images(manifest) if r.get("image")]
    wanted = {Digest.parse(str(d)) for r in records for d in _digests(r)}
    with store.writing():  # blobs imported here belong to no tag: garbage collection waits for the push
        missing = import_blobs(store, manifest.layers, wanted)
        if missing:
            raise StoreError(f"{len(missing)} blob(s) of the cached images are neither in the store nor in the "
                             f"image's registry/ layers, e.g. {sorted(missing)[0]}")
        out = []
        for record in records:
            source = parse_reference(str(record["image"]))
            plan, reduced = _plan(store, record)
            dest = destination(source, host)
            digest = push_plan(store, plan, dest, registries, reporter)
            out.append(PushedImage(str(source), str(dest), digest, reduced))
    return out


def destination(source: Reference, host: str) -> Reference:
    """Where *source* goes in the registry *host*: its domain becomes the first path component."""
    return Reference(host, repository_name(source), source.tag, None if source.tag else source.digest)


def _digests(record: dict[str, Any]) -> list[str]:
    return [str(record.get("digest", "")), *map(str, record.get("manifests") or ()),
            *map(str, record.get("blobs") or ())]


def _plan(store: Store, record: dict[str, Any]) -> tuple[PushPlan, bool]:
    """The push of one cached image, and whether its index had to be reduced."""
    top_digest = Digest.parse(str(record["digest"]))
    top_data = store.read_blob(top_digest)
    top_type = _media_type(top_data, str(record["image"]))
    blobs = tuple(_blob_descriptors(store, [Digest.parse(str(d)) for d in record.get("manifests") or ()]))
    top = Descriptor(top_type, top_digest, len(top_data))
    if top_type in MANIFEST_TYPES:
        return PushPlan(blobs, (), top), False
    index = Index.from_json(parse_json_blob(top_data, f"index of {record['image']}"))
    cached = {str(d) for d in record.get("manifests") or ()}
    children = tuple(d for d in index.manifests if str(d.digest) in cached)
    if len(children) == len(index.manifests):
        return PushPlan(blobs, children, top), False
    reduced = canonical_json(Index(children, index.annotations, index.media_type).to_json())
    return PushPlan(blobs, children, Descriptor(index.media_type, store.put_bytes(reduced), len(reduced))), True


def _blob_descriptors(store: Store, manifests: list[Digest]) -> list[Descriptor]:
    """Configs and layers of the platform manifests, each once."""
    seen: dict[Digest, Descriptor] = {}
    for digest in manifests:
        manifest = store.get_manifest(digest)
        for desc in (manifest.config, *manifest.layers):
            seen.setdefault(desc.digest, desc)
    return list(seen.values())


def _media_type(data: bytes, what: str) -> str:
    obj = parse_json_blob(data, f"top manifest of {what}")
    media_type = str(obj.get("mediaType") or "")
    if media_type in INDEX_TYPES or media_type in MANIFEST_TYPES:
        return media_type
    if not media_type:  # OCI allows leaving it out
        return MT_OCI_INDEX if "manifests" in obj else MT_OCI_MANIFEST
    raise StoreError(f"{what}: unsupported manifest media type {media_type!r}")
