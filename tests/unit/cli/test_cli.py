"""The CLI end to end in-process: exit codes, messages, JSON output; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealer_runner.cli.main import main


@pytest.fixture
def sr(tmp_path, capsys):
    root = tmp_path / "store"

    def run(*args: str) -> tuple[int, str, str]:
        rc = main(["--root", str(root), *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return rc, out, err

    return run


@pytest.fixture
def ctx(tmp_path) -> Path:
    path = tmp_path / "ctx"
    (path / "etc").mkdir(parents=True)
    (path / "etc" / "a.conf").write_text("a=1\n")
    (path / "Kubefile").write_text("FROM scratch\nLABEL team=x\nCOPY etc/ etc/\nCMDS [\"echo hi\"]\n")
    return path


def test_build_images_inspect_tag_rmi(sr, ctx):
    rc, out, err = sr("build", "-t", "example.com/a:v1", str(ctx))
    assert rc == 0 and out.strip().startswith("sha256:")
    assert "STEP 1/1" in err and "Tagged example.com/a:v1" in err
    rc, out, _ = sr("images", "--json")
    rows = json.loads(out)
    assert [(r["repository"], r["tag"], r["platforms"]) for r in rows] == [("example.com/a", "v1", ["linux/amd64"])]
    rc, out, _ = sr("inspect", "--json", "example.com/a:v1")
    info = json.loads(out)
    platform = info["platforms"][0]
    assert platform["labels"] == {"team": "x"}
    assert platform["extension"]["launch"]["cmds"] == ["echo hi"]
    assert [layer["instruction"] for layer in platform["layers"]] == ["COPY etc/ etc/"]
    rc, out, _ = sr("inspect", "example.com/a:v1")
    assert rc == 0 and "COPY etc/ etc/" in out and "echo hi" in out
    assert sr("tag", "example.com/a:v1", "b:v2")[0] == 0
    rc, out, _ = sr("rmi", "example.com/a:v1")
    assert rc == 0 and "Untagged: example.com/a:v1" in out
    rc, out, _ = sr("images", "--json")
    assert [r["repository"] for r in json.loads(out)] == ["docker.io/library/b"]


def test_kubefile_error_is_exit_2_with_file_and_line(sr, ctx):
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY etc/ etc/\nFROBNICATE now\n")
    rc, _, err = sr("build", "-t", "a:v1", str(ctx))
    assert rc == 2
    assert f"{ctx / 'Kubefile'}:3:" in err


def test_failed_run_is_exit_1(sr, ctx):
    (ctx / "Kubefile").write_text("FROM scratch\nRUN echo failing-step >&2; exit 7\n")
    rc, _, err = sr("build", "-t", "a:v1", str(ctx))
    assert rc == 1
    assert "Kubefile:2: RUN exited with status 7" in err and "failing-step" in err


@pytest.mark.parametrize("args, code, message", [
    (("rmi", "nothere:v1"), 1, "not found"),
    (("inspect", "Bad Name"), 2, "invalid reference"),
    (("tag", "nothere", "x"), 1, "not found"),
    (("build", "-t", "a:v1", "--build-arg", "novalue", "."), 2, "expected KEY=VALUE"),
    (("load", "-i", "/nonexistent.tar"), 2, "no such file"),
    (("frobnicate",), 2, "No such command"),
])
def test_errors_map_to_exit_codes(sr, args, code, message):
    rc, _, err = sr(*args)
    assert rc == code
    assert message in err


def test_save_load_round_trip_through_the_cli(sr, ctx, tmp_path):
    sr("build", "-t", "example.com/a:v1", str(ctx))
    archive = tmp_path / "a.tar"
    assert sr("save", "-o", str(archive), "example.com/a:v1")[0] == 0
    assert sr("rmi", "example.com/a:v1")[0] == 0
    rc, out, _ = sr("load", "-i", str(archive))
    assert rc == 0 and "Loaded image: example.com/a:v1" in out
    assert sr("inspect", "example.com/a:v1")[0] == 0


def test_quiet_prints_only_the_result(sr, ctx):
    rc, out, err = sr("-q", "build", "-t", "a:v1", str(ctx))
    assert rc == 0 and err == "" and out.startswith("sha256:")


def test_root_from_environment(tmp_path, ctx, capsys, monkeypatch):
    monkeypatch.setenv("SEALER_RUNNER_ROOT", str(tmp_path / "envroot"))
    assert main(["-q", "build", "-t", "a:v1", str(ctx)]) == 0
    assert (tmp_path / "envroot" / "oci" / "index.json").exists()


def test_version(sr):
    rc, out, _ = sr("version", "--json")
    assert rc == 0 and set(json.loads(out)) == {"sealer_runner", "python", "ansible-core"}


def test_run_pushes_to_an_external_registry_before_the_playbook(sr, ctx, tmp_path, monkeypatch):
    from sealer_runner.cli import run_cmd
    from sealer_runner.run.runner import RunResult

    calls = []
    monkeypatch.setattr(run_cmd, "push_for_cluster", lambda spec, store, regs, reporter: calls.append("push") or [])
    monkeypatch.setattr(run_cmd, "run_playbook", lambda request, display: calls.append(request.tags) or
                        RunResult("successful", 0))
    monkeypatch.setattr(run_cmd, "_pre_checks", lambda app, spec: calls.append("pre-checks"))
    assert sr("build", "-t", "c:v1", str(ctx))[0] == 0
    clusterfile = tmp_path / "Clusterfile"
    head = ("apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: demo}\nspec:\n  image: c:v1\n"
            "  ssh: {passwd: x}\n  hosts:\n    - {ips: [10.0.0.2], roles: [master]}\n  registry:\n")
    clusterfile.write_text(head + "    localRegistry: {}\n    externalRegistry: {domain: r.example.com}\n")
    rc, _, err = sr("run", "-f", str(clusterfile))
    assert rc == 2 and f"{clusterfile}:11: spec.registry: set localRegistry or externalRegistry, not both" in err
    assert calls == []
    clusterfile.write_text(head + "    externalRegistry: {domain: r.example.com}\n")
    assert sr("run", "-f", str(clusterfile))[0] == 0
    assert sr("run", "-f", str(clusterfile), "--tags", "rootfs")[0] == 0
    assert calls == ["pre-checks", "push", (), "pre-checks", ("rootfs",)], \
        "pre checks, then pushed first; not pushed when the registry phase is left out"


def test_run_keeps_the_applied_state_listed_by_clusters_and_used_by_exec(sr, ctx, tmp_path, monkeypatch):
    from sealer_runner.cli import check_cmds, run_cmd
    from sealer_runner.run.runner import RunResult

    def playbook(request, on_event):
        on_event({"event": "runner_on_ok", "event_data": {
            "host": "10.0.0.2", "res": {"ansible_facts": {"sealer_host_platform": "linux/amd64"}}}})
        return RunResult("successful", 0)

    monkeypatch.setattr(run_cmd, "run_playbook", playbook)
    monkeypatch.setattr(run_cmd, "_pre_checks", lambda app, spec: None)
    assert sr("build", "-t", "c:v1", str(ctx))[0] == 0
    rc, out, _ = sr("clusters", "--json")
    assert rc == 0 and json.loads(out) == []
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text("apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: demo}\nspec:\n  image: c:v1\n"
                           "  ssh: {passwd: the-ssh-password}\n  hosts:\n    - {ips: [10.0.0.2], roles: [master]}\n"
                           "    - {ips: [10.0.0.3], roles: [node]}\n")
    rc, _, err = sr("run", "-f", str(clusterfile))
    assert rc == 0 and "Applied state:" in err
    applied = tmp_path / "store" / "clusters" / "demo" / "applied"
    for path in (tmp_path / "store" / "clusters").rglob("*"):
        assert not path.is_file() or b"the-ssh-password" not in path.read_bytes(), path
    state = json.loads((applied / "state.json").read_text())
    assert state["platform"] == "linux/amd64" and state["hosts"][0]["platform"] == "linux/amd64"
    assert state["hosts"][1] == {"ip": "10.0.0.3", "roles": ["node"], "platform": ""}
    (tmp_path / "store" / "clusters" / "fresh").mkdir()

    rc, out, _ = sr("clusters", "--json")
    rows = json.loads(out)
    assert rc == 0 and [(r["name"], r["applied"]) for r in rows] == [("demo", True), ("fresh", False)]
    assert rows[0]["image"] == "c:v1" and rows[0]["hosts"] == 2 and rows[0]["masters"] == ["10.0.0.2"]
    assert rows[0]["runtime"] == "none" and "@" in rows[0]["applied_by"]
    rc, out, _ = sr("clusters")
    assert rc == 0 and "demo" in out and "c:v1" in out and "fresh" in out and "never applied" in out

    rc, _, err = sr("exec", "uptime")
    assert rc == 2 and "cluster demo was applied with SSH passwords" in err and "-f" in err

    clusterfile.write_text(clusterfile.read_text().replace("  ssh: {passwd: the-ssh-password}\n", ""))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("KEY")
    assert sr("run", "-f", str(clusterfile))[0] == 0
    seen = []
    monkeypatch.setattr(check_cmds, "run_exec", lambda request, cluster: seen.append(cluster.name) or [])
    assert sr("exec", "uptime")[0] == 0 and seen == ["demo"], "the applied Clusterfile of the one cluster"


def test_run_passes_limit_extra_vars_and_verbosity_to_the_playbook(sr, ctx, tmp_path, monkeypatch):
    """Ops parity: --limit, --extra-vars (KEY=VALUE, @FILE, JSON; later wins; over the generated values)
    and -v reach the request the playbook runs with; -e stays the cluster env."""
    from sealer_runner.cli import run_cmd
    from sealer_runner.run.runner import RunResult

    seen = []
    monkeypatch.setattr(run_cmd, "run_playbook", lambda request, display: seen.append(request) or
                        RunResult("successful", 0))
    monkeypatch.setattr(run_cmd, "_pre_checks", lambda app, spec: None)
    assert sr("build", "-t", "c:v1", str(ctx))[0] == 0
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text("apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: demo}\nspec:\n  image: c:v1\n"
                           "  ssh: {passwd: x}\n  hosts:\n    - {ips: [10.0.0.2], roles: [master]}\n"
                           "    - {ips: [10.0.0.3], roles: [node]}\n")
    (tmp_path / "vars.yml").write_text("sealer_layer_wait: 60\nsealer_prepare_strict: 'false'\n")
    rc, _, err = sr("run", "-f", str(clusterfile), "--limit", "node", "-vv", "--extra-vars", "sealer_layer_port=6000",
                    "--extra-vars", f"@{tmp_path / 'vars.yml'}", "--extra-vars", '{"sealer_layer_wait": 90}')
    assert rc == 0, err
    (request,) = seen
    assert request.limit == "node" and request.verbosity == 2
    assert request.extravars["sealer_layer_port"] == "6000"
    assert request.extravars["sealer_layer_wait"] == 90, "the later --extra-vars wins"
    assert request.extravars["sealer_prepare_strict"] == "false"
    assert request.extravars["sealer_cluster_name"] == "demo", "the generated values stay"
    for bad, said in (("novalue", "expected KEY=VALUE"), ("@" + str(tmp_path / "absent.yml"), "No such file"),
                      ("[1, 2]", "expected KEY=VALUE"), ('{"a": 1', "--extra-vars: not YAML/JSON")):
        rc, _, err = sr("run", "-f", str(clusterfile), "--extra-vars", bad)
        assert rc == 2, (bad, rc, err)
        assert said in err, (bad, err)
