"""The mutable state instruction handlers update, and its freezing into a BuildPlan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .plan import LABEL_KUBE_CNI, LABEL_KUBE_CSI, AppSpec, BuildPlan, Step

_APP_LABELS = {"CNI": LABEL_KUBE_CNI, "CSI": LABEL_KUBE_CSI}


@dataclass
class AppDraft:
    """An app being declared; APPCMDS and APPENV complete it later."""

    name: str
    keyword: str
    """APP, CNI or CSI."""
    line: int
    type: str
    files: tuple[str, ...]
    cmds: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def spec(self) -> AppSpec:
        """The frozen :class:`AppSpec`."""
        return AppSpec(self.name, self.type, self.files, self.cmds, tuple(sorted(self.env.items())))


@dataclass
class BuildState:
    """What the instructions seen so far have declared."""

    context: Path
    """The build context, resolved."""
    build_args: Mapping[str, str]
    base_apps: frozenset[str] | None = frozenset()
    """Apps of the base image LAUNCH may name; None while the base is not known yet (no check)."""
    from_line: int | None = None
    base: str | None = None
    platforms: tuple[str, ...] = ()
    meta_args: dict[str, str] = field(default_factory=dict)
    """ARGs declared before FROM (with a value): only FROM sees them."""
    args: dict[str, str] = field(default_factory=dict)
    """ARGs declared after FROM (with a value)."""
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    cmds: list[str] = field(default_factory=list)
    cmd_line: int | None = None
    """Line of the first CMD or CMDS."""
    launch_apps: tuple[str, ...] = ()
    launch_line: int | None = None
    apps: dict[str, AppDraft] = field(default_factory=dict)

    @property
    def arg_scope(self) -> dict[str, str]:
        """The ARG table the current position reads and writes."""
        return self.args if self.from_line is not None else self.meta_args

    def variables(self) -> dict[str, str]:
        """What ``$NAME`` sees here: ARG values, overridden by ENV."""
        return {**self.arg_scope, **self.env}

    def to_plan(self) -> BuildPlan:
        """Freeze the state; CNI/CSI names become JSON-list labels as sealer stores them."""
        labels = dict(self.labels)
        for keyword, label in _APP_LABELS.items():
            names = sorted(app.name for app in self.apps.values() if app.keyword == keyword)
            if names:
                labels[label] = json.dumps(names, separators=(",", ":"))
        return BuildPlan(
            base=self.base,
            platforms=self.platforms,
            steps=tuple(self.steps),
            args=tuple(sorted(self.args.items())),
            env=tuple(sorted(self.env.items())),
            labels=tuple(sorted(labels.items())),
            cmds=tuple(self.cmds),
            launch_apps=self.launch_apps,
            apps=tuple(app.spec() for app in self.apps.values()),
        )
