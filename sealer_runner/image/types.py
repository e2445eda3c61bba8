"""OCI image types: media types, descriptors, manifests, indexes, configs.

Only types and (de)serialisation live here; storage backends (store, archive,
registry) produce and consume them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import StoreError
from .digest import Digest

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_LIST})

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"
# sealer's metadata conventions, shared so that images of both tools can be bases of each other.
ANNOTATION_IMAGE_EXTENSION = "sealer.image.extension"
ANNOTATION_CONTAINER_IMAGES = "sealer.image.container.images"


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: the same object always has the same digest."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            from ..errors import InputError

            raise InputError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        out = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Platform":
        return cls(str(data.get("os", "")), str(data.get("architecture", "")), str(data.get("variant", "")))


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Descriptor":
        try:
            platform = Platform.from_json(data["platform"]) if data.get("platform") else None
            return cls(
                media_type=str(data.get("mediaType", "")),
                digest=Digest.parse(str(data["digest"])),
                size=int(data["size"]),
                annotations=dict(data.get("annotations") or {}),
                platform=platform,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"malformed descriptor {data!r}: {exc}") from exc

    def with_annotations(self, annotations: Mapping[str, str]) -> "Descriptor":
        return Descriptor(self.media_type, self.digest, self.size, dict(annotations), self.platform)


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    media_type: str = MT_OCI_MANIFEST

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Manifest":
        try:
            return cls(
                config=Descriptor.from_json(data["config"]),
                layers=tuple(Descriptor.from_json(d) for d in data.get("layers") or ()),
                annotations=dict(data.get("annotations") or {}),
                media_type=str(data.get("mediaType") or MT_OCI_MANIFEST),
            )
        except (KeyError, TypeError) as exc:
            raise StoreError(f"malformed manifest: {exc}") from exc


@dataclass(frozen=True)
class Index:
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    media_type: str = MT_OCI_INDEX

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Index":
        try:
            return cls(
                manifests=tuple(Descriptor.from_json(d) for d in data.get("manifests") or ()),
                annotations=dict(data.get("annotations") or {}),
                media_type=str(data.get("mediaType") or MT_OCI_INDEX),
            )
        except TypeError as exc:
            raise StoreError(f"malformed index: {exc}") from exc


def parse_json_blob(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON blob that must be an object."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise StoreError(f"{what}: not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise StoreError(f"{what}: expected a JSON object")
    return obj
