"""Build a cluster image from a Kubefile: one layer per content-changing instruction, cached."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection, Mapping

from .. import __version__
from ..errors import BuildError, ImageNotFound
from ..image.layer import Entry, LayerInfo, write_layer
from ..image.metadata import Application, ImageExtension, read_extension
from ..image.platform import host_platform
from ..image.reference import Reference, parse_reference
from ..image.rootfs import captures, remember
from ..image.store import PlatformManifest, Store
from ..image.types import (
    ANNOTATION_CONTAINER_IMAGES,
    ANNOTATION_IMAGE_EXTENSION,
    MT_OCI_CONFIG,
    Descriptor,
    Index,
    Manifest,
    Platform,
    canonical_json,
)
from ..imagecache.collect import ImageContent, read_content
from ..kubefile import parse_kubefile, read_kubefile
from ..kubefile.plan import BuildPlan, CopyStep, RunStep
from ..registry.transfer import TransferReporter
from . import images as images_step
from . import validate
from .cache import BuildCache, StepResult, cache_key
from .copy import content_key, copy_entries
from .filehash import FileHashCache
from .images import ImageCacheOptions
from .rootfs import Workspace
from .tree import RootfsTree

RUN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ANNOTATION_BASE_NAME = "org.opencontainers.image.base.name"
ANNOTATION_BASE_DIGEST = "org.opencontainers.image.base.digest"


class BuildReporter:
    """Receives build progress. The default does nothing; the CLI renders it."""

    def step(self, platform: Platform, index: int, total: int, text: str) -> None: ...
    def cached(self, layer: LayerInfo | None) -> None: ...
    def layer_written(self, layer: LayerInfo | None, seconds: float) -> None: ...
    def output(self, line: str) -> None: ...
    def note(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def transfer(self) -> TransferReporter:
        """Progress of container-image fetching (per blob), until transfer_done()."""
        return TransferReporter()
    def transfer_done(self) -> None: ...
    def archiving(self, total_bytes: int) -> None: ...
    def bytes_archived(self, n: int) -> None: ...
    def archived(self) -> None: ...


BaseResolver = Callable[[str, Platform], PlatformManifest]


@dataclass(frozen=True)
class BuildOptions:
    kubefile: Path
    context: Path
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    no_cache: bool = False
    image_type: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    skip_validation: bool = False  # do not check the image's Kubernetes objects against its version


@dataclass(frozen=True)
class BuildResult:
    descriptor: Descriptor  # the index (several platforms) or the manifest (one)
    tags: tuple[Reference, ...]
    layers_written: int
    layers_cached: int


def created_timestamp() -> str:
    """The image creation time: SOURCE_DATE_EPOCH when set, else the epoch (reproducible either way)."""
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_base_resolver(store: Store) -> BaseResolver:
    """Resolve FROM images from the local store only."""

    def resolve(name: str, platform: Platform) -> PlatformManifest:
        try:
            image = store.lookup(name)
        except ImageNotFound:
            raise ImageNotFound(
                f"base image {name} is not in the local store: load it (sealer_runner load) or pull it first"
            ) from None
        candidates = store.platform_manifests(image.descriptor)
        for pm in candidates:
            if (pm.platform.os, pm.platform.architecture) == (platform.os, platform.architecture):
                return pm
        have = ", ".join(str(pm.platform) for pm in candidates)
        raise ImageNotFound(f"base image {name} has no {platform} variant (it has: {have})")

    return resolve


class Builder:
    def __init__(self, store: Store, reporter: BuildReporter | None = None, resolve_base: BaseResolver | None = None,
                 images: ImageCacheOptions | None = None):
        self._store = store
        self._images = images
        self._reporter = reporter or BuildReporter()
        self._resolve_base = resolve_base or local_base_resolver(store)
        self._cache = BuildCache(store)
        self._hashes = FileHashCache(store.state_dir("files") / "hashes.json")
        self._tree = RootfsTree(store)
        self._warned: set[str] = set()
        self._written = 0
        self._cached = 0

    def build(self, options: BuildOptions) -> BuildResult:
        text = read_kubefile(options.kubefile)  # UTF-8, size-capped; a bad byte is named by line and column
        tags = tuple(parse_reference(t) for t in options.tags)
        with self._store.writing():
            platforms = self._platforms(text, options)
            descriptors = [self._build_platform(text, options, p) for p in platforms]
            self._hashes.save()
            if len(descriptors) == 1:
                top = descriptors[0]
            else:
                top = self._store.put_index(Index(tuple(descriptors)))
            for ref in tags:
                self._store.tag(ref, top)
        return BuildResult(top, tags, self._written, self._cached)

    # ------------------------------------------------------------ planning
    def _parse(self, text: str, options: BuildOptions, platform: Platform,
               base_apps: Collection[str] | None = None) -> BuildPlan:
        args = {
            "TARGETPLATFORM": str(platform),
            "TARGETOS": platform.os,
            "TARGETARCH": platform.architecture,
            "TARGETVARIANT": platform.variant,
            "BUILDPLATFORM": str(host_platform()),
            **options.build_args,
        }
        predefined = {  # sealer substitutes ${ARCH} for each platform built; no ARG needed for these
            "ARCH": platform.architecture,
            "TARGETPLATFORM": str(platform),
            "TARGETOS": platform.os,
            "TARGETARCH": platform.architecture,
            "TARGETVARIANT": platform.variant,
            "BUILDPLATFORM": str(host_platform()),
        }
        plan = parse_kubefile(text, filename=str(options.kubefile), context_dir=options.context, build_args=args,
                              base_apps=base_apps, predefined=predefined)
        for warning in plan.warnings:  # a Kubefile is parsed several times: each warning is reported once
            if warning not in self._warned:
                self._warned.add(warning)
                self._reporter.warning(warning)
        return plan

    def _platforms(self, text: str, options: BuildOptions) -> list[Platform]:
        if options.platforms:
            return [Platform.parse(p) for p in options.platforms]
        plan = self._parse(text, options, host_platform())
        return [Platform.parse(p) for p in plan.platforms] or [host_platform()]

    # ------------------------------------------------------------ building
    def _build_platform(self, text: str, options: BuildOptions, platform: Platform) -> Descriptor:
        plan = self._parse(text, options, platform)
        base = self._resolve_base(plan.base, platform) if plan.base else None
        base_ext = read_extension(base.manifest) if base else None
        plan = self._parse(text, options, platform, [a.name for a in base_ext.applications] if base_ext else [])
        layers = list(base.manifest.layers) if base else []
        diff_ids = list((base.config.get("rootfs") or {}).get("diff_ids") or []) if base else []
        history = list(base.config.get("history") or []) if base else []
        chain = cache_key("base", str(base.descriptor.digest) if base else "scratch", str(platform))
        with self._store.scratch("build-") as scratch:  # removed even when RUN left read-only dirs
            workspace = Workspace(self._store, scratch)
            for index, step in enumerate(plan.steps, 1):
                self._reporter.step(platform, index, len(plan.steps), step.text)
                result = self._step(step, chain, options, workspace, layers)
                chain = result.key
                if result.layer is not None:
                    layers.append(result.layer.descriptor)
                    diff_ids.append(str(result.layer.diff_id))
                history.append({"created": created_timestamp(), "created_by": step.text, "empty_layer": result.layer is None})
        content = None
        if self._images is not None or not options.skip_validation:
            content = read_content(self._store, layers, images_step.app_infos(plan.apps, base_ext))
        self._validate(plan, base, options, content)
        cached: list[dict] = []
        if self._images is not None:
            cached, step = self._cache_images(plan, layers, platform, base, base_ext, chain, content)
            if step is not None:
                if step.layer is not None:
                    layers.append(step.layer.descriptor)
                    diff_ids.append(str(step.layer.diff_id))
                history.append({"created": created_timestamp(), "empty_layer": step.layer is None,
                                "created_by": f"sealer_runner: cache {len(cached)} container image(s) in registry/"})
        config = self._config(plan, base, platform, diff_ids, history, options)
        annotations = self._annotations(plan, base, options)
        if cached:
            annotations[ANNOTATION_CONTAINER_IMAGES] = images_step.annotation(cached)
        manifest = Manifest(config, tuple(layers), annotations)
        desc = self._store.put_manifest(manifest)
        return Descriptor(desc.media_type, desc.digest, desc.size, platform=platform)

    def _step(self, step: CopyStep | RunStep, chain: str, options: BuildOptions, ws: Workspace,
              layers: list[Descriptor]) -> StepResult:
        if isinstance(step, CopyStep):
            if not step.dest_is_dir and step.dest and self._tree.is_directory(layers, step.dest):
                step = replace(step, dest_is_dir=True)  # into a directory of the image so far, as Docker does
            entries = copy_entries(step, kubefile=str(options.kubefile))
            key = cache_key(chain, step.text, content_key(entries, self._hashes))
        else:
            entries = None
            key = cache_key(chain, step.text, list(step.command), list(step.env))
        hit = None if options.no_cache else self._cache.get(key)
        if hit is not None:
            self._cached += 1
            self._reporter.cached(hit.layer)
            return hit
        started = time.monotonic()
        if entries is not None:
            layer = self._write(entries) if entries else None
        else:
            layer = self._run(step, ws, layers, options)  # type: ignore[arg-type]
        self._written += layer is not None
        self._reporter.layer_written(layer, time.monotonic() - started)
        return self._cache.put(key, layer)

    def _validate(self, plan: BuildPlan, base: PlatformManifest | None, options: BuildOptions,
                  content: ImageContent | None) -> None:
        """Every Kubernetes object of the image against the image's Kubernetes version (ImageContentError if not)."""
        if options.skip_validation:
            self._warn_once("Kubernetes objects not validated (--skip-validation)")
        if content is None:
            return
        try:
            target = validate.target_of(self._labels(plan, base, options), content.files)
        except BuildError:
            if not options.skip_validation:
                raise
            target = None
        content.kube_version = target.render_version if target else None  # charts render for that version
        if options.skip_validation:
            return
        objects, problems = validate.image_objects(content)
        if not objects and not problems:
            return
        if target is None:  # a note, not a warning: sealer's app images often name no version
            self._reporter.note(f"{len(objects)} Kubernetes object(s) not validated: the image names no Kubernetes "
                                "version (label cluster.alpha.sealer.io/cluster-runtime-version, kubernetesVersion "
                                "in etc/kubeadm.yml, or KUBEVERSION)")
            return
        result = validate.validate(objects, target)
        result.problems[:0] = problems + validate.chart_problems(content, target)
        for message in result.notes:
            self._reporter.note(message)
        for message in result.warnings:
            self._warn_once(message)
        if result.problems:
            raise result.error()
        self._reporter.note(f"{result.objects} Kubernetes object(s) valid for {target.describe()}")

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._reporter.warning(message)

    def _cache_images(self, plan: BuildPlan, layers: list[Descriptor], platform: Platform,
                      base: PlatformManifest | None, base_ext: ImageExtension | None, chain: str,
                      content: ImageContent | None = None) -> tuple[list[dict], StepResult | None]:
        """Find, fetch and store the container images the content needs; the records cover parent's too."""
        assert self._images is not None
        apps = images_step.app_infos(plan.apps, base_ext)
        found = images_step.images_needed(self._store, layers, apps, base, self._images, content)
        if not found.wanted:
            return found.inherited, None
        self._reporter.note(f"caching {len(found.wanted)} container image(s) for {platform}")
        try:
            fetched = images_step.fetch_all(self._store, found, platform, self._images, self._reporter.transfer(),
                                            self._reporter.warning)
        finally:
            self._reporter.transfer_done()
        new = images_step.records(fetched)
        if not new:
            return found.inherited, None
        key = cache_key(chain, "cache-images", [(r["image"], r["digest"]) for r in new])
        hit = self._cache.get(key)
        if hit is not None:
            self._cached += 1
            self._reporter.cached(hit.layer)
            return found.inherited + new, hit
        started = time.monotonic()
        layer = images_step.write_registry_layer(self._store, fetched, found.inherited,
                                                 progress=self._reporter.bytes_archived)
        self._written += 1
        self._reporter.layer_written(layer, time.monotonic() - started)
        return found.inherited + new, self._cache.put(key, layer)

    def _run(self, step: RunStep, ws: Workspace, layers: list[Descriptor], options: BuildOptions) -> LayerInfo | None:
        ws.sync(layers)
        before = ws.snapshot()
        env = {"PATH": RUN_PATH, "HOME": "/root", "SEALER_ROOTFS": str(ws.rootfs), **dict(step.env)}
        try:
            proc = subprocess.Popen(list(step.command), cwd=ws.rootfs, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise BuildError(f"{options.kubefile}:{step.line}: cannot start RUN command: {exc}") from exc
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._reporter.output(raw.decode("utf-8", "replace").rstrip("\n"))
        if (rc := proc.wait()) != 0:
            raise BuildError(f"{options.kubefile}:{step.line}: RUN exited with status {rc}: {step.text}")
        entries = ws.diff(before)
        if not entries:
            return None
        layer = self._write(entries)
        ws.record(layer.descriptor)
        return layer

    def _write(self, entries: list[Entry]) -> LayerInfo:
        self._reporter.archiving(sum(e.size for e in entries))
        try:
            layer = write_layer(self._store, entries, progress=self._reporter.bytes_archived, capture=captures)
            remember(self._store, layer.descriptor, entries, layer.captured)
            self._tree.remember(layer.descriptor, entries)
            return layer
        finally:
            self._reporter.archived()

    # ------------------------------------------------------------ metadata
    def _config(self, plan: BuildPlan, base: PlatformManifest | None, platform: Platform, diff_ids: list[str],
                history: list[dict], options: BuildOptions) -> Descriptor:
        base_cfg = (base.config.get("config") or {}) if base else {}
        env = _env_map(base_cfg.get("Env") or [])
        env.update(dict(plan.env))
        labels = self._labels(plan, base, options)
        config: dict = {
            "created": created_timestamp(),
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {"Env": [f"{k}={v}" for k, v in env.items()], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        if platform.variant:
            config["variant"] = platform.variant
        return self._store.put_json(config, MT_OCI_CONFIG)

    @staticmethod
    def _labels(plan: BuildPlan, base: PlatformManifest | None, options: BuildOptions) -> dict[str, str]:
        base_cfg = (base.config.get("config") or {}) if base else {}
        return {**(base_cfg.get("Labels") or {}), **dict(plan.labels), **dict(options.labels)}

    def _annotations(self, plan: BuildPlan, base: PlatformManifest | None, options: BuildOptions) -> dict[str, str]:
        parent = read_extension(base.manifest) if base else None
        ext = _extension(plan, parent, options)
        out = {ANNOTATION_IMAGE_EXTENSION: canonical_json(ext.to_json()).decode()}
        if base is not None and plan.base:
            out[ANNOTATION_BASE_NAME] = str(parse_reference(plan.base))
            out[ANNOTATION_BASE_DIGEST] = str(base.descriptor.digest)
        return out


def _env_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def _extension(plan: BuildPlan, parent: ImageExtension | None, options: BuildOptions) -> ImageExtension:
    parent = parent or ImageExtension()
    apps = {a.name: a for a in parent.applications}
    for spec in plan.apps:
        apps[spec.name] = Application(spec.name, spec.type, tuple(spec.files), tuple(spec.cmds), dict(spec.env))
    declares_launch = bool(plan.cmds or plan.launch_apps)
    return ImageExtension(
        type=options.image_type or parent.type,
        applications=tuple(apps.values()),
        env={**parent.env, **dict(plan.env)},
        labels={**parent.labels, **dict(plan.labels), **dict(options.labels)},
        launch_cmds=tuple(plan.cmds) if declares_launch else parent.launch_cmds,
        launch_app_names=tuple(plan.launch_apps) if declares_launch else parent.launch_app_names,
        build_client={"sealerRunnerVersion": __version__},
    )
