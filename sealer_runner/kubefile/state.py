"""The mutable state instruction handlers update, and its freezing into a BuildPlan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .limits import MAX_VARIABLES
from .plan import LABEL_KUBE_CNI, LABEL_KUBE_CSI, AppSpec, BuildPlan, Step
from .problem import InstructionError
from .words import Budget, Scope

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
    undetected: str | None = None
    """Why the type could not be detected: an error at the end of the parse unless APPCMDS gives the commands."""

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
    predefined: Mapping[str, str] = field(default_factory=dict)
    """Variables every instruction sees without an ARG (``ARCH``, ``TARGETARCH``...); ARG and ENV win."""
    warnings: list[tuple[int, str]] = field(default_factory=list)
    """``(line, message)``: what was accepted but ignored or read differently from how it is written."""
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
    budget: Budget = field(default_factory=Budget)
    """What variable expansion may still produce in this parse."""
    _scope: Scope | None = field(default=None, repr=False)
    _scope_from: int | None = field(default=None, repr=False)
    _run_env: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    _pairs: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def arg_scope(self) -> dict[str, str]:
        """The ARG table the current position reads and writes."""
        return self.args if self.from_line is not None else self.meta_args

    def set_arg(self, name: str, value: str) -> None:
        self.arg_scope[name] = value
        self._changed()

    def set_env(self, pairs: list[tuple[str, str]]) -> None:
        self.env.update(pairs)
        self._changed()

    def _changed(self) -> None:
        self._scope = self._run_env = None
        if len(self.meta_args) + len(self.args) + len(self.env) > MAX_VARIABLES:
            raise InstructionError(f"more than {MAX_VARIABLES} ARG and ENV variables in one Kubefile")

    def variables(self) -> Scope:
        """What ``$NAME`` sees here: ARG values, overridden by ENV (one object until they change)."""
        if self._scope is None or self._scope_from != self.from_line:
            self._scope = Scope({**self.predefined, **self.arg_scope, **self.env}, self.budget)
            self._scope_from, self._run_env = self.from_line, None
        return self._scope

    def run_env(self) -> tuple[tuple[str, str], ...]:
        """The sorted variables for a RUN step; steps in a row share it, and every step shares the pairs."""
        self.variables()  # resets _run_env when the scope changed
        if self._run_env is None:
            pairs = {**self.arg_scope, **self.env}.items()  # predefined variables are not exported
            self._run_env = tuple(sorted(self._pairs.setdefault(pair, pair) for pair in pairs))
        return self._run_env

    def check_apps(self) -> None:
        """At the end of the parse: an app whose type was not detected needs its APPCMDS."""
        for app in self.apps.values():
            if app.undetected is not None and not app.cmds:
                raise InstructionError(app.undetected, line=app.line)

    def to_plan(self, filename: str = "Kubefile") -> BuildPlan:
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
            warnings=tuple(f"{filename}:{line}: {message}" for line, message in self.warnings),
        )
