"""APP type detection: helm charts, Kubernetes YAML, shell scripts."""

from __future__ import annotations

import io
import pathlib
import tarfile
from collections.abc import Callable, Mapping

import pytest

from sealer_runner.kubefile.apps import app_layout, detect_app
from sealer_runner.kubefile.problem import InstructionError

Files = Callable[[Mapping[str, str]], None]

DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
SERVICE = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n# trailing comment\n"
CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\n"


def chart_archive(path: pathlib.Path, chart_yaml: str = "web/Chart.yaml") -> None:
    """Write a gzipped tar holding one file named *chart_yaml*."""
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(chart_yaml)
        info.size = len(CHART)
        archive.addfile(info, io.BytesIO(CHART.encode()))


def detect(context: pathlib.Path, *names: str) -> tuple[str, tuple[str, ...]]:
    return detect_app("web", [context / name for name in names], context.resolve())


def test_helm_chart_directory(context: pathlib.Path, files: Files) -> None:
    files({"web/Chart.yaml": CHART, "web/values.yaml": "replicas: 1\n", "web/templates/d.yaml": "{{ .x }}"})
    assert detect(context, "web") == ("helm", (".",))


def test_helm_chart_archives(context: pathlib.Path) -> None:
    chart_archive(context / "web-0.1.0.tgz")
    chart_archive(context / "db-1.0.0.tar.gz", "./db/Chart.yaml")
    assert detect(context, "web-0.1.0.tgz", "db-1.0.0.tar.gz") == ("helm", ("db-1.0.0.tar.gz", "web-0.1.0.tgz"))


def test_tgz_without_chart_is_not_helm(context: pathlib.Path) -> None:
    chart_archive(context / "other.tgz", "Chart.yaml")
    (context / "broken.tgz").write_bytes(b"not gzip")
    for name in ("other.tgz", "broken.tgz"):
        with pytest.raises(InstructionError, match="cannot detect the type of app web"):
            detect(context, name)


def test_kube_yaml_files_and_directories(context: pathlib.Path, files: Files) -> None:
    files({"deploy.yaml": DEPLOYMENT, "manifests/svc.yml": SERVICE, "manifests/sub/more.YAML": DEPLOYMENT})
    assert detect(context, "deploy.yaml", "manifests") == ("kube", ("deploy.yaml", "sub/more.YAML", "svc.yml"))


@pytest.mark.parametrize(
    "content",
    ["just: config\n", "- a\n- b\n", "", "kind: Service\n", "apiVersion: v1\nkind: [unclosed\n", "\xff\xfe"],
)
def test_yaml_that_is_not_kubernetes_is_rejected(context: pathlib.Path, files: Files, content: str) -> None:
    files({"values.yaml": content})
    with pytest.raises(InstructionError, match="cannot detect the type of app web"):
        detect(context, "values.yaml")


def test_shell_scripts(context: pathlib.Path, files: Files) -> None:
    files({"install.sh": "echo hi\n", "scripts/a.sh": "", "scripts/b.SH": ""})
    assert detect(context, "install.sh", "scripts") == ("shell", ("a.sh", "b.SH", "install.sh"))


def test_mixed_files_are_rejected(context: pathlib.Path, files: Files) -> None:
    files({"app/deploy.yaml": DEPLOYMENT, "app/install.sh": "echo\n"})
    with pytest.raises(InstructionError) as info:
        detect(context, "app")
    assert "not a mix (files: deploy.yaml, install.sh)" in info.value.message


def test_unknown_files_are_rejected(context: pathlib.Path, files: Files) -> None:
    files({"README.md": "# hi"})
    with pytest.raises(InstructionError, match="cannot detect the type of app web"):
        detect(context, "README.md")


def test_empty_directory_has_no_files(context: pathlib.Path) -> None:
    (context / "empty").mkdir()
    with pytest.raises(InstructionError, match="app web has no files"):
        detect(context, "empty")


def test_yaml_symlinked_outside_the_context_is_not_read(context: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (tmp_path / "outside.yaml").write_text(DEPLOYMENT)
    (context / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    with pytest.raises(InstructionError, match="cannot detect"):
        detect(context, "link.yaml")


def test_layout_merges_directory_contents_and_files(context: pathlib.Path, files: Files) -> None:
    files({"d/x.yaml": "", "d/sub/y.yaml": "", "z.sh": ""})
    layout = app_layout([context / "d", context / "z.sh"])
    assert sorted(layout) == ["sub/y.yaml", "x.yaml", "z.sh"]
    assert layout["sub/y.yaml"] == context / "d" / "sub" / "y.yaml"
