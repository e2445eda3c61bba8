"""The image-caching step of a build: every container image the content needs, stored inside the
cluster image as a registry storage directory (``registry/``), so it runs with no registry outside."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import BuildError, InputError, SealerError
from ..image.digest import Digest
from ..image.layer import LayerInfo, write_layer
from ..image.metadata import ImageExtension, read_container_images
from ..image.reference import Reference, parse_reference
from ..image.registry_layout import CachedImage, layout_entries
from ..image.rootfs import captures, remember
from ..image.store import PlatformManifest, Store
from ..image.types import Descriptor, Platform
from ..imagecache.collect import AppInfo, ImageContent, find_images
from ..imagecache.scan import scan_image_list
from ..registry.transfer import FetchedImage, Registries, TransferReporter, fetch
from ..util.fs import atomic_write_bytes
from . import tree

IMAGE_WORKERS = 3


@dataclass(frozen=True)
class ImageCacheOptions:
    registries: Registries
    image_lists: tuple[Path, ...] = ()
    ignored_lists: tuple[Path, ...] = ()
    ignore_missing: bool = False
    pull: bool = False  # re-resolve tags even when a copy fetched earlier is complete in the store


@dataclass(frozen=True)
class ImagesFound:
    """The images to cache on top of the parent's, with where each was referenced."""

    wanted: dict[Reference, list[str]] = field(default_factory=dict)
    inherited: list[dict[str, Any]] = field(default_factory=list)


def images_needed(store: Store, layers: list[Descriptor], apps: list[AppInfo], base: PlatformManifest | None,
                  options: ImageCacheOptions, content: ImageContent | None = None) -> ImagesFound:
    uses = find_images(store, layers, apps, content)
    for path in options.image_lists:
        uses += scan_image_list(_read(path), str(path))
    ignored = {parse_reference(u.image) for path in options.ignored_lists for u in scan_image_list(_read(path), str(path))}
    inherited = read_container_images(base.manifest) if base else []
    have = {parse_reference(str(r["image"])) for r in inherited if r.get("image")}
    wanted: dict[Reference, list[str]] = {}
    for use in uses:
        ref = parse_reference(use.image)
        if ref not in ignored and ref not in have:
            wanted.setdefault(ref, []).append(use.where)
    return ImagesFound(wanted, inherited)


def fetch_all(store: Store, found: ImagesFound, platform: Platform, options: ImageCacheOptions,
              reporter: TransferReporter, warn: Callable[[str], None]) -> list[tuple[FetchedImage, list[str]]]:
    """Fetch every wanted image for *platform* (in parallel); a missing one fails unless ignore_missing."""

    def one(item: tuple[Reference, list[str]]) -> tuple[FetchedImage, list[str]] | None:
        ref, where = item
        known = None if options.pull else _known(store, ref, platform)
        if known is not None:
            return known, where
        try:
            fetched = fetch(store, ref, options.registries, platforms=[platform], reporter=reporter)
            _remember(store, fetched, platform)
            return fetched, where
        except SealerError as exc:
            message = f"image {ref.familiar()} (referenced at {', '.join(where[:3])}) cannot be cached: {exc}"
            if options.ignore_missing:
                warn(message)
                return None
            raise BuildError(message + " (use --ignore-missing-images to build without it)") from exc

    items = sorted(found.wanted.items(), key=lambda kv: str(kv[0]))
    if not items:
        return []
    with ThreadPoolExecutor(min(IMAGE_WORKERS, len(items)), thread_name_prefix="image") as pool:
        results = list(pool.map(one, items))
    return [r for r in results if r is not None]


def _known_path(store: Store, ref: Reference, platform: Platform) -> Path:
    return store.state_dir("fetched") / hashlib.sha256(f"{ref} {platform}".encode()).hexdigest()


def _known(store: Store, ref: Reference, platform: Platform) -> FetchedImage | None:
    """The copy of *ref* fetched by an earlier build, if every blob of it is still in the store."""
    try:
        data = json.loads(_known_path(store, ref, platform).read_bytes())
        image = FetchedImage(ref, Descriptor.from_json(data["top"]),
                             tuple(Descriptor.from_json(m) for m in data["manifests"]),
                             frozenset(Digest.parse(b) for b in data["blobs"]))
    except (OSError, ValueError, KeyError, SealerError):
        return None
    return image if all(store.has_blob(d) for d in image.all_digests()) else None


def _remember(store: Store, image: FetchedImage, platform: Platform) -> None:
    record = {"top": image.top.to_json(), "manifests": [m.to_json() for m in image.manifests],
              "blobs": [str(b) for b in sorted(image.blobs)]}
    atomic_write_bytes(_known_path(store, image.reference, platform), json.dumps(record).encode())


def records(fetched: list[tuple[FetchedImage, list[str]]]) -> list[dict[str, Any]]:
    """The ``sealer.image.container.images`` entries (sealer's image/platform plus digests and sources)."""
    out = []
    for image, where in fetched:
        out.append({
            "image": str(image.reference),
            "digest": str(image.top.digest),
            "platforms": [str(m.platform) for m in image.manifests if m.platform],
            "manifests": [str(m.digest) for m in image.manifests],
            "blobs": [str(b) for b in sorted(image.blobs)],
            "referencedBy": sorted(set(where)),
        })
    return out


def write_registry_layer(store: Store, fetched: list[tuple[FetchedImage, list[str]]], inherited: list[dict[str, Any]],
                         progress: Callable[[int], None] | None = None) -> LayerInfo:
    below = frozenset(Digest.parse(d) for r in inherited
                      for d in [r.get("digest", ""), *r.get("manifests", []), *r.get("blobs", [])] if d)
    images = [CachedImage(image.reference, image.top.digest, tuple(m.digest for m in image.manifests),
                          tuple(sorted(image.blobs))) for image, _ in fetched]
    entries = list(layout_entries(store, images, skip_blobs=below))
    layer = write_layer(store, entries, progress=progress, capture=captures)
    remember(store, layer.descriptor, entries, layer.captured)
    tree.remember(store, layer.descriptor, entries)
    return layer


def app_infos(plan_apps, parent: ImageExtension | None) -> list[AppInfo]:
    apps = {a.name: AppInfo(a.name, a.type, tuple(a.cmds)) for a in (parent.applications if parent else ())}
    apps.update({a.name: AppInfo(a.name, a.type, tuple(a.cmds)) for a in plan_apps})
    return list(apps.values())


def annotation(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
