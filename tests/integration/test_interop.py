"""Interoperability with real OCI tools: images made by umoci/skopeo are bases, and what we save
is read by skopeo and unpacked by umoci. These tests drive the Debian packages for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sealer_runner.cli.main import main as cli_main

pytestmark = pytest.mark.integration

for tool in ("skopeo", "umoci"):
    if shutil.which(tool) is None:  # scripts/install.sh installs both; a bare checkout says why it skips
        pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=f"{tool} not installed (run scripts/install.sh)")]

ROOTLESS = [] if os.geteuid() == 0 else ["--rootless"]


def run(*cmd: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def sr(root: Path, *args: str) -> int:
    return cli_main(["--root", str(root), "-q", *args])


@pytest.fixture
def busybox_base(tmp_path: Path) -> Path:
    """An OCI archive of a busybox image made only with umoci and skopeo."""
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:v1")
    run("umoci", "unpack", *ROOTLESS, "--image", f"{layout}:v1", str(bundle))
    (bundle / "rootfs" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", bundle / "rootfs" / "bin" / "busybox")
    (bundle / "rootfs" / "etc").mkdir(exist_ok=True)
    (bundle / "rootfs" / "etc" / "from-base").write_text("base\n")
    run("umoci", "repack", "--image", f"{layout}:v1", str(bundle))
    archive = tmp_path / "base.tar"
    run("skopeo", "copy", "--quiet", f"oci:{layout}:v1", f"oci-archive:{archive}:example.com/tools/busybox:v1")
    return archive


def test_foreign_base_build_save_and_read_back_by_skopeo_and_umoci(tmp_path, busybox_base):
    root = tmp_path / "store"
    assert sr(root, "load", "-i", str(busybox_base)) == 0
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (ctx / "Kubefile").write_text(
        "FROM example.com/tools/busybox:v1\n"
        "APP app local://app.yaml\n"
        "RUN ./bin/busybox cat etc/from-base > copied && ./bin/busybox rm etc/from-base\n"
    )
    assert sr(root, "build", "-t", "example.com/cluster:v1", str(ctx)) == 0
    out = tmp_path / "cluster.tar"
    assert sr(root, "save", "-o", str(out), "example.com/cluster:v1") == 0

    in_place = json.loads(run("skopeo", "inspect", f"oci:{root / 'oci'}:example.com/cluster:v1"))
    info = json.loads(run("skopeo", "inspect", f"oci-archive:{out}:v1"))
    assert in_place["Digest"] == info["Digest"]
    assert len(info["Layers"]) == 3  # umoci's layer + APP + RUN
    assert "sealer.image.extension" not in info.get("Labels", {})
    raw = json.loads(run("skopeo", "inspect", "--raw", f"oci-archive:{out}:v1"))
    ext = json.loads(raw["annotations"]["sealer.image.extension"])
    assert ext["applications"][0]["name"] == "app"

    layout, bundle = tmp_path / "out-layout", tmp_path / "out-bundle"
    run("skopeo", "copy", "--quiet", f"oci-archive:{out}:v1", f"oci:{layout}:v1")
    run("umoci", "unpack", *ROOTLESS, "--image", f"{layout}:v1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "copied").read_text() == "base\n"
    assert not (rootfs / "etc" / "from-base").exists(), "the RUN's whiteout must hide the base's file"
    assert (rootfs / "application" / "apps" / "app" / "app.yaml").exists()


def test_docker_archive_is_read_by_skopeo(tmp_path):
    root = tmp_path / "store"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("x\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY f etc/f\n")
    assert sr(root, "build", "-t", "example.com/d:v1", str(ctx)) == 0
    out = tmp_path / "d.tar"
    assert sr(root, "save", "--format", "docker-archive", "-o", str(out), "example.com/d:v1") == 0
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{out}:example.com/d:v1"))
    assert info["Name"] == "example.com/d"
    assert len(info["Layers"]) == 1
    fresh = tmp_path / "fresh"
    assert sr(fresh, "load", "-i", str(out)) == 0
    assert sr(fresh, "inspect", "example.com/d:v1") == 0
