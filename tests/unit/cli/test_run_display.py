"""The run display: ansible-runner events into a model of phases, tasks and hosts, and its rendering.

``testdata/events_*.json`` are real event streams, trimmed to the fields the display reads, from
tests/integration/test_run_local.py (one local host, ``--tags validate,rootfs,apps``): a first
delivery, and a run whose input check fails. The multi-host cases are synthetic events of the same
shapes."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from sealer_runner.cli.context import AppContext
from sealer_runner.cli.run_display import (
    Note,
    Phase,
    RunDisplay,
    RunModel,
    Upload,
    clock,
    notes,
    phase_lines,
    seconds,
    status,
)
from sealer_runner.run.runner import Failure, HostStats, RunResult

TESTDATA = Path(__file__).parent / "testdata"
HOSTS = [f"10.0.0.{i}" for i in range(11, 17)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def recorded(name: str) -> list[dict]:
    return json.loads((TESTDATA / f"events_{name}.json").read_text())


def ev(kind: str, **data) -> dict:
    return {"event": kind, "event_data": data, "stdout": ""}


def play(name: str) -> dict:
    return ev("playbook_on_play_start", play=name, play_uuid=f"play-{name}")


def task(play_name: str, name: str, uuid: str, role: str = "rootfs", action: str = "ansible.builtin.command") -> dict:
    return ev("playbook_on_task_start", play=play_name, play_uuid=f"play-{play_name}", task=name, task_uuid=uuid,
              role=role, task_action=action, resolved_action=action)


def result(kind: str, play_name: str, uuid: str, host: str, duration: float = 1.0, role: str = "rootfs",
           action: str = "ansible.builtin.command", **res) -> dict:
    """A host's outcome of task ``uuid`` (whose name is its uuid too)."""
    return ev(kind, play=play_name, play_uuid=f"play-{play_name}", task=uuid, task_uuid=uuid, role=role, host=host,
              task_action=action, resolved_action=action, duration=duration, res=res)


DELIVER = "Deliver the image's rootfs to every host"
CONFIG = "Apply the Configs and render the templates in every rootfs"


def deliver_to_three_hosts(feed, tick: FakeClock) -> list:
    """A rootfs phase on three hosts: an upload to master0, a fan-out, one host failing to apply."""
    out: list = []

    def add(event: dict) -> None:
        out.extend(feed(event) or [])

    add(play(DELIVER))
    add(task(DELIVER, "Validating arguments against arg spec 'main' - Deliver", "t0",
             action="ansible.builtin.validate_argument_spec"))
    for host in HOSTS[:3]:
        add(ev("runner_on_start", host=host, task_uuid="t0"))
        add(result("runner_on_ok", DELIVER, "t0", host, 0.1, changed=False))
    add(task(DELIVER, "Send master0 the layers it lacks", "t1", action="sealer.cluster.layer_upload"))
    for host in HOSTS[:3]:
        add(ev("runner_on_start", host=host, task_uuid="t1"))
    add(result("runner_on_skipped", DELIVER, "t1", HOSTS[2], 0.2))
    tick.tick(8.0)
    add(result("runner_on_ok", DELIVER, "t1", HOSTS[0], 8.0, action="sealer.cluster.layer_upload", changed=True,
               uploaded=["sha256:aa", "sha256:bb"], bytes=1_000_000_000, method="ssh-stream"))
    # the same task fetches on the other hosts (from master0's tree), while master0 receives
    add(result("runner_on_ok", DELIVER, "t1", HOSTS[1], 8.5, action="sealer.cluster.layer_upload", changed=True,
               uploaded=[], bytes=0, method="fetch", fetched=["sha256:aa", "sha256:bb"]))
    # a standalone playbook may fetch with image_layer itself
    add(task(DELIVER, "Fetch the missing layers from master0", "t2", action="sealer.cluster.image_layer"))
    add(result("runner_on_skipped", DELIVER, "t2", HOSTS[0], 0.1))
    add(result("runner_on_ok", DELIVER, "t2", HOSTS[2], 3.0, action="sealer.cluster.image_layer", changed=True,
               missing=["sha256:aa"], fetched=["sha256:aa", "sha256:bb"]))
    tick.tick(3.0)
    add(task(DELIVER, "Rootfs equal to the image's layers", "t3", action="sealer.cluster.image_layer"))
    add(result("runner_on_ok", DELIVER, "t3", HOSTS[0], 1.0, changed=True, fetched=[]))
    add(result("runner_on_ok", DELIVER, "t3", HOSTS[1], 1.0, changed=True, fetched=[]))
    add(result("runner_on_failed", DELIVER, "t3", HOSTS[2], 1.0, msg="no space left on device\nmore"))
    tick.tick(1.0)
    return out


# ---- the model -----------------------------------------------------------------------------------------------------


def test_model_follows_the_task_and_which_hosts_are_still_working():
    tick = FakeClock()
    model = RunModel(tick)
    model.feed(play(DELIVER))
    model.feed(task(DELIVER, "Send master0 the layers it lacks", "t1", action="sealer.cluster.layer_upload"))
    for host in HOSTS:
        model.feed(ev("runner_on_start", host=host, task_uuid="t1"))
    for host in HOSTS[1:]:
        model.feed(result("runner_on_skipped", DELIVER, "t1", host, 0.1))
    assert model.phase is not None and model.phase.name == DELIVER
    assert model.task is not None and model.task.name == "Send master0 the layers it lacks"
    assert model.task.role == "rootfs"
    assert model.task.working == [HOSTS[0]]
    assert set(model.task.outcomes) == set(HOSTS[1:]) and set(model.task.outcomes.values()) == {"skipped"}


def test_model_counts_a_phase_and_returns_it_when_the_next_one_starts():
    tick = FakeClock()
    model = RunModel(tick)
    done = deliver_to_three_hosts(model.feed, tick)
    failures = [item for item in done if isinstance(item, Failure)]
    assert [str(f) for f in failures] == [f"{HOSTS[2]} failed at rootfs: t3: no space left on device more"]
    assert not any(item for item in done if not isinstance(item, Failure)), "the phase is still running"

    finished = model.feed(play(CONFIG))
    assert len(finished) == 1
    phase = finished[0]
    assert phase.name == DELIVER and phase.complete and not phase.ok_overall
    assert phase.tasks == 3, "the argument-spec check is not a task of its own"
    assert (phase.changed, phase.failed, phase.skipped, phase.unreachable) == (5, 1, 2, 0)
    assert phase.duration(tick()) == 12.0
    assert phase.uploads == [Upload(host=HOSTS[0], layers=2, size=1_000_000_000, seconds=8.0, method="ssh-stream")]
    assert phase.fetched == {HOSTS[1]: 2, HOSTS[2]: 2}
    assert model.phase is not None and model.phase.name == CONFIG
    assert model.host_seconds == pytest.approx({HOSTS[0]: 9.2, HOSTS[1]: 9.6, HOSTS[2]: 4.3}), "task time per host"


def test_model_ignored_errors_unreachable_hosts_and_a_run_cut_short():
    tick = FakeClock()
    model = RunModel(tick)
    reach = "Reach every host before changing any"
    model.feed(play(reach))
    model.feed(task(reach, "Host answers over SSH", "t1", role="", action="ansible.builtin.wait_for_connection"))
    ignored = result("runner_on_failed", reach, "t1", HOSTS[0], msg="meh")
    ignored["event_data"]["ignore_errors"] = True
    assert model.feed(ignored) == []
    down = model.feed(result("runner_on_unreachable", reach, "t1", HOSTS[1], 20.0, unreachable=True,
                             msg="Failed to connect to the host via ssh: ssh: connect to host 10.0.0.12 port 22: "
                                 "No route to host"))
    assert len(down) == 1 and down[0].unreachable and down[0].host == HOSTS[1]
    assert model.task is not None and model.task.outcomes == {HOSTS[0]: "ignored", HOSTS[1]: "unreachable"}
    tick.tick(20.0)
    [phase] = model.finish()
    assert not phase.complete and phase.unreachable == 1 and phase.failed == 0
    assert phase.duration(tick()) == 20.0
    assert model.phase is None and model.finish() == [], "finish is idempotent"


def test_recorded_delivery_phases_and_upload():
    model = RunModel(FakeClock())
    done = [item for event in recorded("deliver") for item in model.feed(event)]
    assert all(not isinstance(item, Failure) for item in done)
    assert model.phase is None, "playbook_on_stats ends the last phase"
    shown = [(p.name, p.changed, p.tasks) for p in done if p.shown]
    assert shown == [
        ("Validate inputs (no host is touched)", 0, 3),
        ("Reach every host before changing any (one unreachable host stops the run here)", 0, 1),
        (DELIVER, 2, 8),
        (CONFIG, 0, 1),
        ("Launch the apps", 2, 2),
    ], "plays whose roles --tags left out (only their argument-spec check ran) are not shown"
    deliver = next(p for p in done if p.name == DELIVER)
    assert deliver.uploads == [Upload(host="127.0.0.1", layers=2, size=230, seconds=pytest.approx(1.893944),
                                      method="put_file")]
    stats = next(e for e in recorded("deliver") if e["event"] == "playbook_on_stats")["event_data"]
    assert sum(p.changed for p in done) == stats["changed"]["127.0.0.1"], "phase changes add up to Ansible's"


def test_recorded_failure_is_reported_once_with_host_task_and_message():
    model = RunModel(FakeClock())
    done = [item for event in recorded("invalid_input") for item in model.feed(event)]
    failures = [item for item in done if isinstance(item, Failure)]
    assert len(failures) == 1
    assert failures[0].host == "127.0.0.1" and failures[0].task == "Every layer to upload exists on the controller"
    assert failures[0].message.startswith("layer files missing on the controller")
    [phase] = [item for item in done if not isinstance(item, Failure)]
    assert phase.failed == 1 and not phase.ok_overall


# ---- rendering -----------------------------------------------------------------------------------------------------


def plain_app(**kwargs) -> tuple[AppContext, StringIO]:
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=False, width=200, highlight=False, soft_wrap=True)
    return AppContext(root=Path("/nonexistent"), err=console, **kwargs), buffer


def feed_all(display: RunDisplay, events: list[dict], tick: FakeClock, step: float = 0.5) -> None:
    with display:
        for event in events:
            tick.tick(step)
            display(event)


def test_plain_output_is_stable_lines_without_escape_codes():
    tick = FakeClock()
    app, buffer = plain_app()
    display = RunDisplay(app, clock=tick)
    assert display.mode == "plain"
    with display:
        deliver_to_three_hosts(display, tick)
        display(play(CONFIG))
        display(task(CONFIG, "Configs written", "c1", role="config"))
        display(result("runner_on_ok", CONFIG, "c1", HOSTS[0], 2.0, changed=False))
        tick.tick(2.5)
        display(ev("playbook_on_stats"))
    display.summary(RunResult(status="failed", rc=2, stats={
        HOSTS[0]: HostStats(ok=4, changed=2), HOSTS[1]: HostStats(ok=3, changed=2, skipped=1),
        HOSTS[2]: HostStats(ok=2, changed=1, failed=1, skipped=1)}))
    text = buffer.getvalue()
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines() == [
        f"  ✗ {HOSTS[2]} failed at rootfs: t3: no space left on device more",
        f"✗ {DELIVER}  12.0 s  5 changed  1 failed",
        f"    uploaded 2 layers (1.0 GB) to {HOSTS[0]} in 8.0 s, 125.0 MB/s, ssh-stream",
        "    2 hosts fetched 2 layers each",
        f"✓ {CONFIG}  2.5 s",
        "HOST       OK  CHANGED  FAILED  UNREACHABLE  SKIPPED  TIME  ",
        f"{HOSTS[0]}  4   2        0       0            0        11.2 s",
        f"{HOSTS[1]}  3   2        0       0            1        9.6 s ",
        f"{HOSTS[2]}  2   1        1       0            1        4.3 s ",
    ]


def test_plain_output_of_a_recorded_run():
    tick = FakeClock()
    app, buffer = plain_app()
    feed_all(RunDisplay(app, clock=tick), recorded("deliver"), tick)
    lines = buffer.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "✓ Validate inputs (no host is touched)",
        "✓ Reach every host before changing any (one unreachable host stops the run here)",
        f"✓ {DELIVER}",
        "",  # the upload line, indented
        f"✓ {CONFIG}",
        "✓ Launch the apps",
    ]
    assert lines[2].endswith("  2 changed") and lines[5].endswith("  2 changed")
    assert lines[3].startswith("    uploaded 2 layers (230 B) to 127.0.0.1 in 1.9 s") and lines[3].endswith("put_file")
    assert "Validating arguments" not in buffer.getvalue()


def test_a_run_cut_short_says_so():
    tick = FakeClock()
    app, buffer = plain_app()
    with RunDisplay(app, clock=tick) as display:
        display(play(DELIVER))
        display(task(DELIVER, "Send master0 the layers it lacks", "t1"))
        tick.tick(61.0)
    assert buffer.getvalue() == f"- {DELIVER}  1 min 01 s  stopped\n"


def test_phase_lines_without_unicode_and_with_uneven_fetches():
    phase = Phase(name="Deliver", started_at=0.0, ended_at=2.0, complete=True, tasks=1, changed=3,
                  fetched={"a": 1, "b": 2})
    assert [line.plain for line in phase_lines(phase, 5.0, unicode=False)] == [
        "ok Deliver  2.0 s  3 changed", "    2 hosts fetched 3 layers in all"]
    phase.failed, phase.fetched = 1, {"a": 2}
    assert [line.plain for line in phase_lines(phase, 5.0, unicode=False)] == [
        "FAILED Deliver  2.0 s  3 changed  1 failed", "    1 host fetched 2 layers"]


def test_debug_shows_ansible_output_and_no_phase_lines():
    tick = FakeClock()
    app, buffer = plain_app(debug=True)
    display = RunDisplay(app, clock=tick)
    assert display.mode == "debug"
    feed_all(display, recorded("invalid_input"), tick)
    text = buffer.getvalue()
    assert "PLAY [Validate inputs (no host is touched)]" in text and "fatal: [127.0.0.1" in text
    assert "✓" not in text and "✗" not in text, "Ansible's output says it all; nothing is said twice"
    assert "\x1b" not in text


def test_quiet_prints_failures_only():
    tick = FakeClock()
    app, buffer = plain_app(quiet=True)
    display = RunDisplay(app, clock=tick)
    assert display.mode == "quiet"
    feed_all(display, recorded("invalid_input") + recorded("deliver"), tick)
    display.summary(RunResult(status="failed", rc=2, stats={"127.0.0.1": HostStats(failed=1)}))
    assert buffer.getvalue().splitlines() == [
        "  ✗ 127.0.0.1 failed at validate: Every layer to upload exists on the controller: layer files missing on "
        "the controller: ['/tmp/t']"]


def test_live_area_names_the_phase_task_and_the_hosts_still_working():
    tick = FakeClock()
    model = RunModel(tick)
    model.feed(play(DELIVER))
    tick.tick(3.0)
    model.feed(task(DELIVER, "Send master0 the layers it lacks", "t1", action="sealer.cluster.layer_upload"))
    for host in HOSTS:
        model.feed(ev("runner_on_start", host=host, task_uuid="t1"))
    assert "0/6 hosts" in render(status(model, tick())) and "waiting on" not in render(status(model, tick()))
    for host in HOSTS[1:]:
        model.feed(result("runner_on_skipped", DELIVER, "t1", host, 0.1))
    tick.tick(47.0)
    lines = render(status(model, tick())).splitlines()
    assert lines[0].startswith(f"* {DELIVER}") and lines[0].rstrip().endswith("0:50  total 0:50")
    assert "rootfs › Send master0 the layers it lacks" in lines[1] and lines[1].rstrip().endswith("5/6 hosts  0:47")
    assert lines[2].strip() == f"waiting on {HOSTS[0]}"


def test_live_area_names_at_most_four_slow_hosts():
    tick = FakeClock()
    model = RunModel(tick)
    model.feed(play(CONFIG))
    model.feed(task(CONFIG, "Configs written", "c1", role="config"))
    for host in HOSTS:
        model.feed(ev("runner_on_start", host=host, task_uuid="c1"))
    model.feed(result("runner_on_ok", CONFIG, "c1", HOSTS[0], 1.0))
    assert f"waiting on {', '.join(HOSTS[1:5])} +1" in render(status(model, tick()))


def test_live_mode_on_a_terminal_keeps_the_phase_lines():
    tick = FakeClock()
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    display = RunDisplay(AppContext(root=Path("/nonexistent"), err=console), clock=tick)
    assert display.mode == "live"
    feed_all(display, recorded("deliver"), tick)
    text = buffer.getvalue()
    assert "Launch the apps" in text and "uploaded 2 layers (230 B)" in text
    assert display._live is None, "the live area is stopped"


@pytest.mark.parametrize("value, short, long", [(0.04, "0:00", "0.0 s"), (12.34, "0:12", "12.3 s"),
                                                 (125.0, "2:05", "2 min 05 s"), (3725.0, "1:02:05", "62 min 05 s")])
def test_durations(value, short, long):
    assert clock(value) == short and seconds(value) == long


def render(renderable) -> str:
    console = Console(file=StringIO(), force_terminal=False, width=100)
    console.print(renderable)
    return console.file.getvalue()


# ---- notes: what the display shows of successful tasks (module warnings, the roles' debug reports) ----


def test_warnings_of_a_task_and_of_its_loop_items_once_each():
    data = {"task_action": "sealer.cluster.sysctl_values",
            "res": {"warnings": ["a"], "results": [{"warnings": ["a", "b"]}, "not a result", {"changed": True}]}}
    assert notes(data) == ["a", "b"]


def test_debug_messages_are_shown_on_one_line_and_other_messages_are_not():
    assert notes({"task_action": "ansible.builtin.debug", "res": {"msg": "warning:  clock\n  is off"}}) == [
        "warning: clock is off"]
    assert notes({"task_action": "debug", "res": {"msg": "skipped"}}) == ["skipped"]
    assert notes({"task_action": "ansible.builtin.command", "res": {"msg": "non-zero"}}) == []
    assert notes({}) == []


def test_notes_come_as_they_happen_in_plain_and_quiet_output_but_not_with_debug():
    prepare = "Prepare hosts"
    warned = result("runner_on_ok", prepare, "p1", HOSTS[1], role="prepare", action="sealer.cluster.sysctl_values",
                    warnings=["net.bridge.bridge-nf-call-iptables: not in this container"])
    model = RunModel(FakeClock())
    model.feed(play(prepare))
    assert model.feed(warned) == [Note(HOSTS[1], "net.bridge.bridge-nf-call-iptables: not in this container")]
    for mode in ({}, {"quiet": True}, {"debug": True}):
        tick = FakeClock()
        app, buffer = plain_app(**mode)
        feed_all(RunDisplay(app, clock=tick), [play(prepare), warned, ev("playbook_on_stats")], tick)
        line = f"  {HOSTS[1]}: net.bridge.bridge-nf-call-iptables: not in this container"
        assert (line in buffer.getvalue().splitlines()) is (not mode.get("debug")), mode
