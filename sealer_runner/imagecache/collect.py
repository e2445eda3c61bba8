"""Which container images an image's content needs: scan its layers' YAML, image lists and charts.

Layers are read as the tar streams they are (verified), and only small files
that can matter are kept. What one layer holds never changes, so its findings
are cached under ``<root>/cache/scan/`` and a rebuild scans nothing again.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from ..errors import StoreError, UnsafeLayerError
from ..image.layer import UnsafeLayer, VerifyingReader, classify, open_layer_tar
from ..image.store import Store
from ..image.types import Descriptor
from ..util.fs import atomic_write_bytes
from .charts import render, values_from_commands
from .scan import ImageUse, scan_image_list, scan_yaml

TEXT_LIMIT = 4 << 20
CHART_ARCHIVE_LIMIT = 64 << 20
YAML_SUFFIXES = (".yaml", ".yml", ".tmpl")
APPS = "application/apps"
SCAN_FORMAT = 1


@dataclass(frozen=True)
class AppInfo:
    """What the scanner needs to know of an app: where it is and how it is launched."""

    name: str
    type: str
    cmds: tuple[str, ...]


class ImageContent:
    """The merged files of an image's layers that the scanners read, and its Helm charts, rendered once.

    The image scan (container images) and the build-time validation (Kubernetes objects) both read
    it: a chart is rendered at most once per build, whichever asks first.
    """

    def __init__(self, files: Mapping[str, bytes], apps: Iterable[AppInfo]) -> None:
        self.files = dict(files)
        self._app_cmds = {f"{APPS}/{a.name}": a.cmds for a in apps}
        self._charts = _chart_roots(self.files)
        self._rendered: list[tuple[str, dict[str, str]]] | None = None
        self.kube_version: str | None = None
        """``.Capabilities.KubeVersion`` for the charts (``v1.30.2``); set before the first rendering."""

    def texts(self) -> Iterable[tuple[str, str]]:
        """(path, text) of every UTF-8 file outside chart directories, sorted by path."""
        for path, data in sorted(self.files.items()):
            if any(path.startswith(root + "/") for root in self._charts):
                continue
            text = _text(data)
            if text is not None:
                yield path, text

    def yaml_texts(self) -> Iterable[tuple[str, str]]:
        """(path, text) of the YAML files (``.yaml``, ``.yml``, ``.tmpl``) outside chart directories."""
        return ((path, text) for path, text in self.texts() if path.endswith(YAML_SUFFIXES))

    def chart_metadata(self) -> list[tuple[str, str, str]]:
        """(chart path, where its Chart.yaml is, the Chart.yaml text) of every chart directory and archive."""
        out = [(root, f"{root}/Chart.yaml", _text(self.files.get(f"{root}/Chart.yaml", b"")) or "")
               for root in self._charts]
        for path, data in sorted(self.files.items()):
            if path.endswith(".tgz") and path.startswith((APPS + "/", "charts/")):
                name, text = _archive_chart_yaml(data)
                out.append((path, f"{path} ({name})", text))
        return out

    def rendered_charts(self) -> list[tuple[str, dict[str, str]]]:
        """(chart path, {template name: rendered text}) for every chart directory and chart archive."""
        if self._rendered is None:
            kube = self.kube_version
            rendered = [(root, _render_chart(self.files, root, self._app_cmds, kube)) for root in self._charts]
            for path, data in sorted(self.files.items()):
                if path.endswith(".tgz") and path.startswith((APPS + "/", "charts/")):
                    rendered.append((path, _render_chart_archive(path, data, self._app_cmds, self.files, kube)))
            self._rendered = rendered
        return self._rendered


def read_content(store: Store, layers: Iterable[Descriptor], apps: Iterable[AppInfo]) -> ImageContent:
    """The merged content of *layers* (later layers win, whiteouts honoured)."""
    files: dict[str, bytes] = {}
    for layer in layers:
        kept, removed = _layer_files(store, layer)
        for path in removed:
            prefix = path.rstrip("/") + "/"
            for name in [n for n in files if n == path or n.startswith(prefix)]:
                del files[name]
        files.update(kept)
    return ImageContent(files, apps)


def find_images(store: Store, layers: Iterable[Descriptor], apps: Iterable[AppInfo],
                content: ImageContent | None = None) -> list[ImageUse]:
    """Image references in the merged content of *layers* (or in *content*, already read from them)."""
    content = content if content is not None else read_content(store, layers, apps)
    uses: list[ImageUse] = []
    for path, text in content.texts():
        if PurePosixPath(path).name == "imageList":
            uses += scan_image_list(text, path)
        elif path.endswith(YAML_SUFFIXES):
            uses += scan_yaml(text, path)
    for where, rendered in content.rendered_charts():
        uses += _scan_rendered(rendered, where)
    return uses


# ------------------------------------------------------------------ layer reading


def _wanted(path: str, size: int) -> bool:
    name = PurePosixPath(path).name
    if path.endswith(".tgz"):
        return size <= CHART_ARCHIVE_LIMIT and path.startswith((APPS + "/", "charts/"))
    return size <= TEXT_LIMIT and (path.endswith(YAML_SUFFIXES) or name in ("imageList", "Chart.yaml", "Chart.lock")
                                   or path.endswith((".tpl", ".json", ".txt")) or name == ".helmignore")


def _layer_files(store: Store, layer: Descriptor) -> tuple[dict[str, bytes], list[str]]:
    cache = store.state_dir("scan") / layer.digest.hex
    try:
        data = json.loads(cache.read_bytes())
        if data.get("format") == SCAN_FORMAT:
            return {k: base64.b64decode(v) for k, v in data["files"].items()}, list(data["removed"])
    except (OSError, ValueError, KeyError):
        pass
    files, removed = _read_layer(store, layer)
    record = {"format": SCAN_FORMAT, "files": {k: base64.b64encode(v).decode() for k, v in files.items()},
              "removed": removed}
    atomic_write_bytes(cache, json.dumps(record).encode())
    return files, removed


def _read_layer(store: Store, layer: Descriptor) -> tuple[dict[str, bytes], list[str]]:
    files: dict[str, bytes] = {}
    removed: list[str] = []
    reader = VerifyingReader(store, layer.digest)
    try:
        with open_layer_tar(reader) as tar:
            for member in tar:
                kind, path = classify(member.name, layer.digest)
                if kind in ("opaque", "whiteout"):
                    removed.append(path)
                elif kind == "entry" and member.isfile() and _wanted(path, member.size):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[path] = handle.read()
        reader.drain()
    except UnsafeLayer as exc:
        raise UnsafeLayerError(f"layer {layer.digest} refused: {exc}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise StoreError(f"cannot scan layer {layer.digest}: {exc}") from exc
    return files, removed


# ------------------------------------------------------------------ charts


def _chart_roots(files: Mapping[str, bytes]) -> list[str]:
    """Directories holding a Chart.yaml, leaving out subcharts (those under another chart)."""
    roots = sorted(str(PurePosixPath(p).parent) for p in files if PurePosixPath(p).name == "Chart.yaml")
    out: list[str] = []
    for root in roots:
        if not any(root.startswith(parent + "/") for parent in out):
            out.append(root)
    return out


def _app_context(path: str, app_cmds: Mapping[str, tuple[str, ...]]) -> tuple[str, tuple[str, ...]]:
    for app_dir, cmds in app_cmds.items():
        if path == app_dir or path.startswith(app_dir + "/"):
            return app_dir, cmds
    return "", ()


def _render_chart(files: Mapping[str, bytes], root: str, app_cmds: Mapping[str, tuple[str, ...]],
                  kube_version: str | None) -> dict[str, str]:
    app_dir, cmds = _app_context(root, app_cmds)
    with tempfile.TemporaryDirectory(prefix="sr-chart-") as tmp:
        rootfs = _materialize(files, app_dir or root, Path(tmp))
        values = values_from_commands(cmds, rootfs / app_dir, root) if app_dir else {}
        return render(rootfs / root, values, release=PurePosixPath(app_dir or root).name, where=root,
                      kube_version=kube_version)


def _render_chart_archive(path: str, data: bytes, app_cmds: Mapping[str, tuple[str, ...]],
                          files: Mapping[str, bytes], kube_version: str | None) -> dict[str, str]:
    app_dir, cmds = _app_context(path, app_cmds)
    with tempfile.TemporaryDirectory(prefix="sr-chart-") as tmp:
        rootfs = _materialize(files, app_dir, Path(tmp)) if app_dir else Path(tmp)
        values = values_from_commands(cmds, rootfs / app_dir, path) if app_dir else {}
        release = PurePosixPath(app_dir).name if app_dir else PurePosixPath(path).stem
        return render(data, values, release=release, where=path, kube_version=kube_version)


def _archive_chart_yaml(data: bytes) -> tuple[str, str]:
    """The name and text of a chart archive's top ``<chart>/Chart.yaml`` (("Chart.yaml", "") if none)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                parts = member.name.strip("/").split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile() and member.size <= TEXT_LIMIT:
                    handle = tar.extractfile(member)
                    text = _text(handle.read()) if handle is not None else None
                    return "/".join(parts), text or ""
    except (tarfile.TarError, OSError, EOFError):
        pass
    return "Chart.yaml", ""


def _materialize(files: Mapping[str, bytes], prefix: str, base: Path) -> Path:
    """Write the kept files under *prefix* into *base*/rootfs; returns that rootfs."""
    rootfs = base / "rootfs"
    for path, data in files.items():
        if path.startswith(prefix + "/"):
            target = rootfs / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return rootfs


def _scan_rendered(rendered: Mapping[str, str], where: str) -> list[ImageUse]:
    uses: list[ImageUse] = []
    for name, text in sorted(rendered.items()):
        uses += scan_yaml(text, f"{where} (rendered {name})")
    return uses


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
