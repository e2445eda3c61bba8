"""Render Helm charts offline with the real Helm engine (helm-python-sdk), to find their images."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import BuildError

def _engine() -> Any:
    """The Helm engine (a native library, loaded on first use; linux/x86_64 wheels only), or None."""
    try:
        import helm_python
    except ImportError:  # pragma: no cover - platforms without the wheel
        return None
    return helm_python


def render(chart: Path | bytes, values: dict[str, Any], *, release: str, where: str,
           kube_version: str | None = None) -> dict[str, str]:
    """``helm template RELEASE CHART`` with *values*: template name -> rendered text (CRDs included).

    *kube_version* (``v1.30.2``) is what ``.Capabilities.KubeVersion`` says, as ``helm template
    --kube-version`` does; without it, Helm's built-in default.
    """
    _helm = _engine()
    if _helm is None:
        raise BuildError(f"{where}: cannot render Helm charts here: helm-python-sdk is not available on this platform")
    try:
        loaded = _helm.Chart.load_archive(chart) if isinstance(chart, bytes) else _helm.Chart.load(str(chart))
        with loaded as ch:
            out = _render(_helm, ch, values, release, kube_version)
            crds = _crd_texts(ch)
    except _helm.HelmError as exc:
        raise BuildError(f"{where}: helm could not render the chart: {exc}") from exc
    rendered = {name: text for name, text in out.items() if not name.endswith("NOTES.txt") and text.strip()}
    rendered.update(crds)
    return rendered


def _render(helm: Any, chart: Any, values: dict[str, Any], release: str, kube_version: str | None) -> dict[str, str]:
    opts = {"name": release, "namespace": "default", "is_install": True}
    if kube_version:
        # Chart.render() (0.2.x) does not pass kube_version on, though the engine reads it: call the engine.
        try:
            from helm_python import _native
            from helm_python.chart import _dumps
        except ImportError:  # pragma: no cover - another helm-python-sdk layout: render as Helm's default
            pass
        else:
            text = _native.call_string("helm_render", chart._raw(), _dumps(values or None),
                                       json.dumps({**opts, "kube_version": kube_version}))
            return json.loads(text)
    return chart.render(values or None, **opts)


def _crd_texts(chart: Any) -> dict[str, str]:
    """CRDs are not templates: helm-python-sdk lists them apart (``{"filename", "data"}``)."""
    out = {}
    for crd in chart.crds or []:
        data = crd.get("data")
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        if isinstance(data, str):
            out[str(crd.get("filename") or crd.get("name"))] = data
    return out


def values_from_commands(cmds: Iterable[str], app_dir: Path, where: str) -> dict[str, Any]:
    """The values a ``helm install|upgrade|template`` launch command passes (-f/--values, --set...)."""
    merged: dict[str, Any] = {}
    for cmd in cmds:
        try:
            words = shlex.split(cmd)
        except ValueError:
            continue
        if "helm" not in words:
            continue
        args = words[words.index("helm") + 1:]
        for flag, value in _flags(args):
            if flag in ("-f", "--values"):
                merged = deep_merge(merged, _values_file(app_dir / value, where))
            elif flag in ("--set", "--set-string") and (_helm := _engine()) is not None:
                parser = _helm.parse_set_string if flag == "--set" else _helm.parse_set_string_values
                try:
                    merged = deep_merge(merged, parser(value))
                except _helm.HelmError as exc:
                    raise BuildError(f"{where}: {flag} {value}: {exc}") from exc
    return merged


def _flags(args: list[str]) -> Iterable[tuple[str, str]]:
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("--") and "=" in word:
            flag, value = word.split("=", 1)
            yield flag, value
        elif word in ("-f", "--values", "--set", "--set-string") and i + 1 < len(args):
            yield word, args[i + 1]
            i += 1
        i += 1


def _values_file(path: Path, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise BuildError(f"{where}: values file {path.name} named by the launch command is not in the app") from None
    except (OSError, yaml.YAMLError) as exc:
        raise BuildError(f"{where}: values file {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise BuildError(f"{where}: values file {path.name} is not a mapping")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
