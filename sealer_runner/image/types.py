"""OCI image types: media types, descriptors, manifests, indexes, configs.

Only types and (de)serialisation live here; storage backends (store, archive,
registry) produce and consume them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Mapping

from ..errors import InvalidImage, StoreError
from .digest import Digest, is_digest

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
CONFIG_TYPES = frozenset({MT_OCI_CONFIG, MT_DOCKER_CONFIG})
# Layers we can read: tar, plain or gzip'd (zstd and foreign layers are refused).
LAYER_TYPES = frozenset({MT_OCI_LAYER_GZIP, MT_OCI_LAYER_TAR, MT_DOCKER_LAYER_GZIP})

# Caps on what is read into memory from an archive or a registry (containerd caps manifests at 4 MiB).
MAX_MANIFEST_BYTES = 4 << 20  # a manifest, an index or a config
MAX_JSON_DEPTH = 64  # OCI documents nest about 5 deep; a config's labels and env are flat

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


# ----------------------------------------------------------------------------- strict decoding
#
# Everything read from an archive or a registry goes through these: each field's type is checked and
# every failure is an InvalidImage naming *where* (archive member, reference) and the field.


def decode_json(data: bytes, where: str, *, limit: int = MAX_MANIFEST_BYTES) -> dict[str, Any]:
    """A JSON object of at most *limit* bytes and :data:`MAX_JSON_DEPTH` levels."""
    if len(data) > limit:
        raise InvalidImage(f"{where}: {len(data)} bytes is over the {limit}-byte cap for image metadata")
    if _depth(data) > MAX_JSON_DEPTH:
        raise InvalidImage(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidImage(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidImage(f"{where}: expected a JSON object, got {_kind(obj)}")
    return obj


def _depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings (cheap: no recursion, no per-byte Python loop)."""
    stripped = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data)
    brackets = stripped.translate(None, bytes(b for b in range(256) if b not in b"[]{}"))
    steps = brackets.translate(bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02"))
    return max(accumulate(1 if b == 1 else -1 for b in steps), default=0)


def decode_descriptor(obj: Any, where: str, *, media_types: frozenset[str] | None = None) -> Descriptor:
    """One descriptor: mediaType (one of *media_types* if given), digest, size, annotations, platform."""
    obj = _object(obj, where)
    media_type = _string(obj, "mediaType", where)
    if media_types is not None and media_type not in media_types:
        raise InvalidImage(f"{where}: mediaType: unsupported media type {media_type!r} "
                           f"(expected one of: {', '.join(sorted(media_types))})")
    digest = _string(obj, "digest", where)
    if not is_digest(digest):
        raise InvalidImage(f"{where}: digest: {digest[:100]!r} is not a sha256:<64 hex digits> digest")
    size = obj.get("size")
    if type(size) is not int or size < 0:
        raise InvalidImage(f"{where}: size: expected a non-negative integer, got {_kind(size)}")
    platform = None
    if obj.get("platform") is not None:
        p = _object(obj["platform"], f"{where}: platform")
        platform = Platform(_string(p, "os", f"{where}: platform"), _string(p, "architecture", f"{where}: platform"),
                            _string(p, "variant", f"{where}: platform", required=False))
    return Descriptor(media_type, Digest(digest), size, _string_map(obj, "annotations", where), platform)


def decode_manifest(data: bytes, where: str) -> Manifest:
    """An image manifest (OCI or Docker v2): a config and layers of media types we can use."""
    obj = decode_json(data, where)
    _schema_version(obj, where)
    media_type = _string(obj, "mediaType", where, required=False) or MT_OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise InvalidImage(f"{where}: mediaType: {media_type!r} is not an image manifest")
    config = decode_descriptor(obj.get("config"), f"{where}: config", media_types=CONFIG_TYPES)
    layers = _list(obj, "layers", where)
    return Manifest(config, tuple(decode_descriptor(d, f"{where}: layers[{i}]", media_types=LAYER_TYPES)
                                  for i, d in enumerate(layers)),
                    _string_map(obj, "annotations", where), media_type)


def decode_index(data: bytes, where: str) -> Index:
    """An image index (OCI or Docker manifest list). Children of other media types are kept; callers skip them."""
    obj = decode_json(data, where)
    _schema_version(obj, where)
    media_type = _string(obj, "mediaType", where, required=False) or MT_OCI_INDEX
    if media_type not in INDEX_TYPES:
        raise InvalidImage(f"{where}: mediaType: {media_type!r} is not an image index")
    children = _list(obj, "manifests", where)
    return Index(tuple(decode_descriptor(d, f"{where}: manifests[{i}]") for i, d in enumerate(children)),
                 _string_map(obj, "annotations", where), media_type)


def decode_config(data: bytes, where: str, manifest: Manifest | None = None) -> dict[str, Any]:
    """An image config: the fields we read have the types we read them as; with *manifest*,
    it has one diff_id per layer."""
    obj = decode_json(data, where)
    for key in ("os", "architecture", "variant", "created"):
        _string(obj, key, where, required=False)
    rootfs = _object(obj.get("rootfs"), f"{where}: rootfs")
    diff_ids = _list(rootfs, "diff_ids", f"{where}: rootfs")
    for i, d in enumerate(diff_ids):
        if not isinstance(d, str) or not is_digest(d):
            raise InvalidImage(f"{where}: rootfs.diff_ids[{i}]: not a sha256 digest")
    if manifest is not None and len(diff_ids) != len(manifest.layers):
        raise InvalidImage(f"{where}: rootfs.diff_ids has {len(diff_ids)} entries for {len(manifest.layers)} layers")
    if obj.get("config") is not None:
        cfg = _object(obj["config"], f"{where}: config")
        for key in ("Env", "Cmd", "Entrypoint"):
            if cfg.get(key) is not None:
                _string_list(cfg, key, f"{where}: config")
        _string_map(cfg, "Labels", f"{where}: config")
    for i, h in enumerate(_list(obj, "history", where, required=False)):
        h = _object(h, f"{where}: history[{i}]")
        _string(h, "created_by", f"{where}: history[{i}]", required=False)
        if not isinstance(h.get("empty_layer", False), bool):
            raise InvalidImage(f"{where}: history[{i}].empty_layer: expected true or false")
    return obj


def _schema_version(obj: dict[str, Any], where: str) -> None:
    if obj.get("schemaVersion", 2) != 2:
        raise InvalidImage(f"{where}: schemaVersion: expected 2, got {obj.get('schemaVersion')!r}")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidImage(f"{where}: expected an object, got {_kind(value)}")
    return value


def _string(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidImage(f"{where}: {key}: expected a string, got {_kind(value)}")
    return value


def _list(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> list[Any]:
    value = obj.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise InvalidImage(f"{where}: {key}: expected a list, got {_kind(value)}")
    return value


def _string_list(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = _list(obj, key, where)
    if not all(isinstance(v, str) for v in value):
        raise InvalidImage(f"{where}: {key}: expected a list of strings")
    return value


def _string_map(obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidImage(f"{where}: {key}: expected an object of strings")
    return dict(value)
