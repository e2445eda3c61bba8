"""sealer's cluster-image metadata: the ``sealer.image.extension`` annotation.

Kept compatible with sealer's ``ImageExtension`` (schemaVersion v1alpha1) so an
image built by either tool can be the base of the other's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..errors import StoreError
from .types import ANNOTATION_CONTAINER_IMAGES, ANNOTATION_IMAGE_EXTENSION, Manifest

SCHEMA_VERSION = "v1alpha1"
KUBE_INSTALLER = "kube-installer"
APP_INSTALLER = "app-installer"
IMAGE_TYPES = (KUBE_INSTALLER, APP_INSTALLER)


@dataclass(frozen=True)
class Application:
    """sealer's v1 Application: ``{"name", "type", "files", "version": "v1", "env", "cmds"}``."""

    name: str
    type: str
    launch_files: tuple[str, ...] = ()
    cmds: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "files": list(self.launch_files), "version": "v1"}
        if self.cmds:
            out["cmds"] = list(self.cmds)
        if self.env:
            out["env"] = dict(self.env)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Application":
        return cls(
            name=str(data.get("name", "")),
            type=str(data.get("type", "")),
            launch_files=tuple(str(f) for f in data.get("files") or ()),
            cmds=tuple(str(c) for c in data.get("cmds") or ()),
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        )


@dataclass(frozen=True)
class ImageExtension:
    type: str = KUBE_INSTALLER
    applications: tuple[Application, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    launch_cmds: tuple[str, ...] = ()
    launch_app_names: tuple[str, ...] = ()
    build_client: Mapping[str, str] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        launch: dict[str, Any] = {}
        if self.launch_cmds:
            launch["cmds"] = list(self.launch_cmds)
        if self.launch_app_names:
            launch["app_names"] = list(self.launch_app_names)
        return {
            "buildClient": dict(self.build_client),
            "schemaVersion": self.schema_version,
            "type": self.type,
            "applications": [a.to_json() for a in self.applications],
            "env": dict(self.env),
            "labels": dict(self.labels),
            "launch": launch,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageExtension":
        launch = data.get("launch") or {}
        return cls(
            type=str(data.get("type") or KUBE_INSTALLER),
            applications=tuple(Application.from_json(a) for a in data.get("applications") or ()),
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            launch_cmds=tuple(str(c) for c in launch.get("cmds") or ()),
            launch_app_names=tuple(str(a) for a in launch.get("app_names") or ()),
            build_client={str(k): str(v) for k, v in (data.get("buildClient") or {}).items()},
            schema_version=str(data.get("schemaVersion") or SCHEMA_VERSION),
        )

    def evolve(self, **changes: Any) -> "ImageExtension":
        return replace(self, **changes)


def read_extension(manifest: Manifest) -> ImageExtension | None:
    """The extension annotation of *manifest*, or None for plain container images."""
    raw = manifest.annotations.get(ANNOTATION_IMAGE_EXTENSION)
    if raw is None:
        return None
    try:
        return ImageExtension.from_json(json.loads(raw))
    except (ValueError, AttributeError, TypeError) as exc:
        raise StoreError(f"malformed {ANNOTATION_IMAGE_EXTENSION} annotation: {exc}") from exc


def read_container_images(manifest: Manifest) -> list[dict[str, Any]]:
    """The cached container images recorded in *manifest* (empty when none)."""
    raw = manifest.annotations.get(ANNOTATION_CONTAINER_IMAGES)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise StoreError(f"malformed {ANNOTATION_CONTAINER_IMAGES} annotation: {exc}") from exc
    return value if isinstance(value, list) else []
