"""What ``sealer_runner run`` shows while Ansible works.

Two halves. ``RunModel`` turns ansible-runner's events into phases (plays), the current task and
its hosts, and per-host task time; it never prints, and says what just finished. ``RunDisplay``
renders that model: on a terminal, a transient live area (phase, task, hosts done and still
working, elapsed times) above which finished phases and failures stay; elsewhere (CI, a pipe) the
same persistent lines, plain and never animated; with ``--debug``, Ansible's own output; with
``-q``, only the failures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ..run.runner import Failure, RunResult, failure_of
from .context import AppContext
from .format import human_size

# Ansible adds this task in front of every role that has an argument spec: not worth a line.
ARG_SPEC_ACTIONS = frozenset({"ansible.builtin.validate_argument_spec", "validate_argument_spec"})
TASK_STARTS = frozenset({"playbook_on_task_start", "playbook_on_handler_task_start"})
OUTCOMES = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
            "runner_on_unreachable": "unreachable"}
MAX_WAITING = 4  # hosts named on the "waiting on" line


@dataclass(frozen=True)
class Upload:
    """One ``layer_upload`` that sent something: to which host, how much, how long, and how."""

    host: str
    layers: int
    size: int
    seconds: float
    method: str


@dataclass(frozen=True)
class Note:
    """Something a successful task has to tell the user (a module's warning, a role's debug report)."""

    host: str
    text: str


@dataclass
class Task:
    name: str
    role: str
    started_at: float
    uuid: str = ""
    hosts: dict[str, float] = field(default_factory=dict)  # host -> when it started this task
    outcomes: dict[str, str] = field(default_factory=dict)  # host -> ok|changed|failed|ignored|skipped|unreachable

    @property
    def working(self) -> list[str]:
        return [host for host in self.hosts if host not in self.outcomes]


@dataclass
class Phase:
    """One play of the playbook: its counts over every host and task, and what it moved."""

    name: str
    started_at: float
    ended_at: float | None = None
    complete: bool = False  # False: the run stopped before the phase ended
    tasks: int = 0  # not counting the argument-spec checks
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    uploads: list[Upload] = field(default_factory=list)
    fetched: dict[str, int] = field(default_factory=dict)  # host -> layers it fetched

    @property
    def shown(self) -> bool:
        """A phase whose tasks were all left out by --tags ran nothing worth a line."""
        return bool(self.tasks or self.failed or self.unreachable)

    @property
    def ok_overall(self) -> bool:
        return self.complete and not self.failed and not self.unreachable

    def duration(self, now: float) -> float:
        return (self.ended_at if self.ended_at is not None else now) - self.started_at


class RunModel:
    """Phases, the current task and its hosts, from ansible-runner's events; never prints."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started_at = clock()
        self.phases: list[Phase] = []
        self.task: Task | None = None
        self.host_seconds: dict[str, float] = {}  # time spent in tasks, per host
        self._play = ""

    @property
    def phase(self) -> Phase | None:
        """The phase under way, if any."""
        return self.phases[-1] if self.phases and self.phases[-1].ended_at is None else None

    def feed(self, event: dict[str, Any]) -> list[Phase | Failure | Note]:
        """Take one event; return what it finished: a phase, a failure on a host, or a host's note."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        done: list[Phase | Failure | Note] = []
        if kind == "playbook_on_play_start":
            done += self._start_phase(str(data.get("play_uuid") or data.get("play") or ""), str(data.get("play", "")))
        elif kind == "playbook_on_stats":
            done += self._end_phase(complete=True)
        elif kind in TASK_STARTS:
            done += self._ensure_phase(data)
            self._start_task(data)
        elif kind == "runner_on_start":
            if self.task is not None and data.get("host") and self._same_task(self.task, data):
                self.task.hosts.setdefault(str(data["host"]), self.clock())
        elif kind in OUTCOMES:
            done += self._ensure_phase(data)
            self._outcome(OUTCOMES[kind], data)
            failure = failure_of(event)
            if failure is not None:
                done.append(failure)
            if kind == "runner_on_ok":
                done += [Note(str(data.get("host", "?")), text) for text in notes(data)]
        return done

    def finish(self) -> list[Phase]:
        """The run is over: a phase still open was cut short (cancelled, killed, timed out)."""
        return self._end_phase(complete=False)

    def _ensure_phase(self, data: dict[str, Any]) -> list[Phase]:
        play = str(data.get("play_uuid") or data.get("play") or "")
        if self.phase is not None and (not play or play == self._play):
            return []
        return self._start_phase(play, str(data.get("play", "")))

    def _start_phase(self, key: str, name: str) -> list[Phase]:
        done = self._end_phase(complete=True)
        self._play = key
        self.phases.append(Phase(name=name, started_at=self.clock()))
        return done

    def _end_phase(self, complete: bool) -> list[Phase]:
        phase, self.task = self.phase, None
        if phase is None:
            return []
        phase.ended_at, phase.complete = self.clock(), complete
        return [phase]

    def _start_task(self, data: dict[str, Any]) -> None:
        action = str(data.get("resolved_action") or data.get("task_action") or "")
        name = str(data.get("task", ""))
        if action in ARG_SPEC_ACTIONS or name.startswith("Validating arguments against arg spec"):
            self.task = None
            return
        self.task = Task(name=name, role=str(data.get("role") or ""), started_at=self.clock(),
                         uuid=str(data.get("task_uuid") or ""))
        if self.phase is not None:
            self.phase.tasks += 1

    def _outcome(self, outcome: str, data: dict[str, Any]) -> None:
        host = str(data.get("host", "?"))
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        if outcome == "ok" and res.get("changed"):
            outcome = "changed"
        if outcome == "failed" and data.get("ignore_errors"):
            outcome = "ignored"
        self.host_seconds[host] = self.host_seconds.get(host, 0.0) + float(data.get("duration") or 0)
        if self.task is not None and self._same_task(self.task, data):
            self.task.hosts.setdefault(host, self.clock())
            self.task.outcomes[host] = outcome
        phase = self.phase
        if phase is None:
            return
        if outcome in ("ok", "changed", "failed", "skipped", "unreachable"):
            setattr(phase, outcome, getattr(phase, outcome) + 1)
        if outcome == "changed":
            phase.ok += 1  # Ansible counts a change as ok, too
        self._transfers(phase, host, data, res)

    @staticmethod
    def _same_task(task: Task, data: dict[str, Any]) -> bool:
        if task.uuid and data.get("task_uuid"):
            return task.uuid == data["task_uuid"]
        return task.name == str(data.get("task", ""))

    @staticmethod
    def _transfers(phase: Phase, host: str, data: dict[str, Any], res: dict[str, Any]) -> None:
        action = str(data.get("resolved_action") or data.get("task_action") or "")
        if action.endswith("layer_upload") and res.get("uploaded"):
            phase.uploads.append(Upload(host=host, layers=len(res["uploaded"]), size=int(res.get("bytes") or 0),
                                        seconds=float(data.get("duration") or 0), method=str(res.get("method", ""))))
        if action.endswith(("layer_upload", "image_layer")) and res.get("fetched"):
            phase.fetched[host] = phase.fetched.get(host, 0) + len(res["fetched"])


def notes(data: dict[str, Any]) -> list[str]:
    """What a successful task has to tell the user: its modules' warnings (also those of each loop item),
    and the message of a debug task (the roles use debug only for reports meant to be read)."""
    res = data.get("res") or {}
    found = [str(w) for r in [res, *(res.get("results") or [])] if isinstance(r, dict) for w in r.get("warnings") or []]
    if str(data.get("task_action", "")).rpartition(".")[2] == "debug" and res.get("msg"):
        found.append(" ".join(str(res["msg"]).split()))
    return list(dict.fromkeys(found))


# ---- rendering -------------------------------------------------------------------------------------------------


def seconds(value: float) -> str:
    """A duration for a line that stays: ``0.4 s``, ``12.3 s``, ``2 min 05 s``."""
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(round(value)), 60)
    return f"{minutes} min {secs:02d} s"


def clock(value: float) -> str:
    """A duration for the live area: ``0:07``, ``12:03``, ``1:02:03``."""
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def phase_lines(phase: Phase, now: float, unicode: bool = True) -> list[Text]:
    """``✓ Deliver the image's rootfs to every host  12.3 s  4 changed``, then what it moved."""
    if phase.ok_overall:
        mark, style = ("✓" if unicode else "ok"), "green"
    elif phase.failed or phase.unreachable:
        mark, style = ("✗" if unicode else "FAILED"), "red"
    else:
        mark, style = ("-" if unicode else "--"), "yellow"
    line = Text.assemble((mark, style), " ", phase.name, "  ", (seconds(phase.duration(now)), "dim"))
    for count, label, tint in ((phase.changed, "changed", "yellow"), (phase.failed, "failed", "red"),
                               (phase.unreachable, "unreachable", "red")):
        if count:
            line.append_text(Text.assemble("  ", (f"{count} {label}", tint)))
    if not phase.complete:
        line.append("  stopped", style="yellow")
    lines = [line]
    for up in phase.uploads:
        rate = f", {human_size(int(up.size / up.seconds))}/s" if up.seconds >= 0.1 and up.size else ""
        lines.append(Text(f"    uploaded {plural(up.layers, 'layer')} ({human_size(up.size)}) to {up.host} "
                          f"in {seconds(up.seconds)}{rate}, {up.method}", style="dim"))
    if phase.fetched:
        counts = set(phase.fetched.values())
        layers = (plural(counts.pop(), "layer") + (" each" if len(phase.fetched) > 1 else "") if len(counts) == 1
                  else f"{plural(sum(phase.fetched.values()), 'layer')} in all")
        lines.append(Text(f"    {plural(len(phase.fetched), 'host')} fetched {layers}", style="dim"))
    return lines


def failure_line(failure: Failure, unicode: bool = True) -> Text:
    """``  ✗ 10.0.0.12 failed at rootfs: Layers this host lacks: <message>``: one line, as it happens."""
    return Text(f"  {'✗' if unicode else 'x'} {failure}", style="red")


def note_line(note: Note) -> Text:
    """``  10.0.0.12: <warning>``: one line, as it happens."""
    return Text(f"  {note.host}: {note.text}", style="yellow")


def status(model: RunModel, now: float, spinner: Spinner | None = None) -> RenderableType:
    """The live area: the phase and its elapsed time, the task, how many hosts are done, who is slow."""
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    mark = spinner or Text("*")
    total = f"total {clock(now - model.started_at)}"
    phase = model.phase
    if phase is None:
        grid.add_row(mark, Text("Ansible is starting" if not model.phases else "Finishing"), Text(total, "dim"))
        return grid
    grid.add_row(mark, Text(phase.name, style="bold"), Text(f"{clock(phase.duration(now))}  {total}", "dim"))
    task = model.task
    if task is not None:
        where = Text.assemble((f"{task.role} › ", "dim") if task.role else "", task.name)
        done, started = len(task.outcomes), len(task.hosts)
        hosts = f"{done}/{plural(started, 'host')}  " if started else ""
        grid.add_row("", where, Text(f"{hosts}{clock(now - task.started_at)}", "dim"))
        working = task.working
        if working and done:  # some hosts are done: name the ones still at it
            names = ", ".join(working[:MAX_WAITING]) + (f" +{len(working) - MAX_WAITING}"
                                                         if len(working) > MAX_WAITING else "")
            grid.add_row("", Text(f"waiting on {names}", style="yellow"), "")
    return grid


def summary_table(result: RunResult, host_seconds: dict[str, float]) -> Table:
    """The final per-host table: Ansible's counts, and the time spent in tasks on each host."""
    table = Table(box=None, pad_edge=False)
    for column in ("HOST", "OK", "CHANGED", "FAILED", "UNREACHABLE", "SKIPPED", "TIME"):
        table.add_column(column)
    for host, s in result.stats.items():
        table.add_row(host, str(s.ok), Text(str(s.changed), "yellow" if s.changed else ""),
                      Text(str(s.failed), "red" if s.failed else ""),
                      Text(str(s.unreachable), "red" if s.unreachable else ""), str(s.skipped),
                      seconds(host_seconds.get(host, 0.0)))
    return table


def animated(console: Console) -> bool:
    return console.is_terminal and not console.is_dumb_terminal


class RunDisplay:
    """The ``event_handler`` of a run, and a context manager around it for the live area.

    Modes: ``live`` (a terminal), ``plain`` (not a terminal), ``debug`` (Ansible's own output)
    and ``quiet`` (failures only).
    """

    def __init__(self, app: AppContext, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = app.err
        self.model = RunModel(clock)
        self.mode = ("debug" if app.debug else "quiet" if app.quiet
                     else "live" if animated(self.console) else "plain")
        self._unicode = self.console.encoding.lower().startswith("utf")
        self._lock = threading.Lock()  # the model is fed here and read by the live area's refresh thread
        self._live: Live | None = None
        self._spinner = Spinner("dots", style="cyan")

    def __enter__(self) -> RunDisplay:
        if self.mode == "live":
            self._live = Live(console=self.console, get_renderable=self._status, transient=True,
                              refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        with self._lock:
            done = self.model.finish()
        self._show(done)

    def __call__(self, event: dict[str, Any]) -> None:
        if self.mode == "debug" and event.get("stdout"):
            self.console.print(event["stdout"], markup=False, highlight=False)
        with self._lock:
            done = self.model.feed(event)
        self._show(done)  # outside the lock: printing waits for the live area, which takes the lock

    def summary(self, result: RunResult) -> None:
        if self.mode != "quiet":
            self.console.print(summary_table(result, self.model.host_seconds))

    def _show(self, done: list[Phase | Failure | Note]) -> None:
        for item in done:
            if isinstance(item, Failure):
                if self.mode != "debug":  # Ansible's own output already says it
                    self.console.print(failure_line(item, self._unicode))
            elif isinstance(item, Note):
                if self.mode != "debug":
                    self.console.print(note_line(item))
            elif self.mode in ("live", "plain") and item.shown:
                for line in phase_lines(item, self.model.clock(), self._unicode):
                    self.console.print(line)

    def _status(self) -> RenderableType:
        with self._lock:
            return status(self.model, self.model.clock(), self._spinner)
