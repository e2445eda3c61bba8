"""A plain description of a stored image, for ``images`` and ``inspect``."""

from __future__ import annotations

from typing import Any

from .metadata import read_container_images, read_extension
from .store import PlatformManifest, Store, TaggedImage


def image_size(store: Store, image: TaggedImage) -> int:
    """Bytes of every distinct blob the image references (what ``save`` would write, roughly)."""
    return sum(store.blob_size(d) for d in store.referenced_blobs(image.descriptor))


def describe(store: Store, image: TaggedImage) -> dict[str, Any]:
    """Everything ``inspect`` shows, as JSON-ready data."""
    platforms = store.platform_manifests(image.descriptor)
    return {
        "name": str(image.reference),
        "id": str(image.descriptor.digest),
        "mediaType": image.descriptor.media_type,
        "tagged": image.tagged_at,
        "size": image_size(store, image),
        "platforms": [_describe_platform(pm) for pm in platforms],
    }


def _describe_platform(pm: PlatformManifest) -> dict[str, Any]:
    cfg = pm.config.get("config") or {}
    extension = read_extension(pm.manifest)
    return {
        "platform": str(pm.platform),
        "manifest": str(pm.descriptor.digest),
        "created": pm.config.get("created", ""),
        "layers": _layers(pm),
        "env": list(cfg.get("Env") or []),
        "labels": dict(cfg.get("Labels") or {}),
        "annotations": {k: v for k, v in pm.manifest.annotations.items()},
        "extension": extension.to_json() if extension else None,
        "containerImages": read_container_images(pm.manifest),
    }


def _layers(pm: PlatformManifest) -> list[dict[str, Any]]:
    """Each layer with the instruction that made it (from the config's history)."""
    producers = [h.get("created_by", "") for h in pm.config.get("history") or [] if not h.get("empty_layer")]
    if len(producers) != len(pm.manifest.layers):
        producers = [""] * len(pm.manifest.layers)
    return [
        {"digest": str(layer.digest), "size": layer.size, "mediaType": layer.media_type, "instruction": text}
        for layer, text in zip(pm.manifest.layers, producers, strict=True)
    ]
