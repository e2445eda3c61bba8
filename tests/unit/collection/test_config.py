"""module_utils/_config.py: Configs and templates in a rootfs, idempotent and reversible."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import load

cfg = load("module_utils", "_config")
cd = load("plugin_utils", "_config_data")

KUBEADM_TMPL = "networking:\n  podSubnet: {{ .PodCIDR }}\n  serviceSubnet: {{ .SvcCIDR }}\n"
ENV = {"PodCIDR": "100.64.0.0/10", "SvcCIDR": "10.96.0.0/22"}


def image(root: Path) -> Path:
    """A small rootfs as the rootfs phase leaves it: the image's files only."""
    files = {
        "etc/kubeadm.yml.tmpl": KUBEADM_TMPL,
        "etc/app.yaml": "server:\n  port: 80\n  workers: 2\nlog: info\n",
        "etc/secret.conf": "token=image\n",
        "application/apps/web/values.yaml": "replicas: 1\nimage: web:v1\n",
        "scripts/run.sh.tmpl": "echo {{ .Missing }}\n",  # outside the template dirs: never rendered
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.chmod(root / "etc/secret.conf", 0o600)
    return root


def apply(root: Path, configs: list[dict], env: dict | None = None, dirs=cfg.DEFAULT_TEMPLATE_DIRS,
          check: bool = False) -> list[dict]:
    """What one task does: the action plugin's query and resolve, then the module's plan and apply."""
    checked = cfg.check_configs(configs)
    resolved = cd.resolve(checked, cfg.bases(str(root), checked))
    changes, record, originals = cfg.plan(str(root), cfg.check_configs(resolved), ENV if env is None else env,
                                          list(dirs))
    if not check:
        cfg.apply(str(root), changes, record, originals)
    return [c.summary() for c in changes]


def config(name: str, path: str, data: str, strategy: str = "overwrite", process=()) -> dict:
    return {"name": name, "path": path, "data": data, "strategy": strategy, "process": list(process)}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o7777)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".sealer-configs")
            and ".sealer-configs" not in p.parts}


def test_templates_render_next_to_themselves_only_in_the_template_dirs(tmp_path):
    root = image(tmp_path)
    changed = apply(root, [])
    assert changed == [{"path": "etc/kubeadm.yml", "action": "created", "by": "template etc/kubeadm.yml.tmpl"}]
    assert (root / "etc/kubeadm.yml").read_text() == "networking:\n  podSubnet: 100.64.0.0/10\n" \
                                                     "  serviceSubnet: 10.96.0.0/22\n"
    assert not (root / "scripts/run.sh").exists()
    assert apply(root, []) == [], "a second run changes nothing"
    assert apply(root, [], dict(ENV, PodCIDR="10.0.0.0/8"))[0]["action"] == "updated"
    assert "10.0.0.0/8" in (root / "etc/kubeadm.yml").read_text()


def test_the_whole_rootfs_can_be_a_template_dir_and_unknown_names_fail_naming_file_and_line(tmp_path):
    root = image(tmp_path)
    with pytest.raises(cfg.ConfigError, match=r"^template scripts/run.sh.tmpl:1: no variable Missing"):
        apply(root, [], dirs=["."])
    assert not (root / "etc/kubeadm.yml").exists(), "nothing is written when any template fails"
    apply(root, [], dict(ENV, Missing="x"), dirs=["."])
    assert (root / "scripts/run.sh").read_text() == "echo x\n"


def test_new_output_takes_the_template_mode_and_an_existing_file_keeps_its_own(tmp_path):
    root = image(tmp_path)
    os.chmod(root / "etc/kubeadm.yml.tmpl", 0o750)
    (root / "etc/other.yml").write_text("old\n")
    os.chmod(root / "etc/other.yml", 0o640)
    (root / "etc/other.yml.tmpl").write_text("new {{ .SvcCIDR }}\n")
    apply(root, [])
    assert (root / "etc/kubeadm.yml").stat().st_mode & 0o777 == 0o750
    assert (root / "etc/other.yml").stat().st_mode & 0o777 == 0o640
    assert (root / "etc/other.yml").read_text() == "new 10.96.0.0/22\n"


def test_overwrite_then_drop_the_config_restores_the_image_file(tmp_path):
    root = image(tmp_path)
    before = snapshot(root)
    apply(root, [config("tok", "etc/secret.conf", "token=cluster\n"), config("new", "etc/new/x.conf", "x\n")])
    assert (root / "etc/secret.conf").read_text() == "token=cluster\n"
    assert (root / "etc/secret.conf").stat().st_mode & 0o777 == 0o600, "the file keeps its mode"
    assert (root / "etc/new/x.conf").stat().st_mode & 0o777 == 0o644
    assert apply(root, [config("tok", "etc/secret.conf", "token=cluster\n"),
                        config("new", "etc/new/x.conf", "x\n")]) == []
    changed = apply(root, [])
    assert sorted(c["path"] for c in changed) == ["etc/new/x.conf", "etc/secret.conf"]
    after = snapshot(root)
    after.pop("etc/kubeadm.yml")
    assert after == before, "dropping every Config gives the image's files back, modes included"
    assert not (root / ".sealer-configs" / "etc" / "secret.conf").exists()


def test_merge_is_idempotent_and_a_changed_config_starts_again_from_the_image(tmp_path):
    root = image(tmp_path)
    merge = config("app", "etc/app.yaml", "server:\n  workers: 8\n  tls: true\n", "merge")
    apply(root, [merge])
    assert yaml.safe_load((root / "etc/app.yaml").read_text()) == {
        "server": {"port": 80, "workers": 8, "tls": True}, "log": "info"}
    assert apply(root, [merge]) == [], "merging into the already-merged file changes nothing"
    apply(root, [config("app", "etc/app.yaml", "server:\n  workers: 4\n", "merge")])
    assert yaml.safe_load((root / "etc/app.yaml").read_text()) == {
        "server": {"port": 80, "workers": 4}, "log": "info"}, "tls from the old Config data is gone"


def test_merge_without_a_record_is_still_a_no_op(tmp_path):
    """Even if the record is lost, merging into an already merged file leaves it as it is."""
    root = image(tmp_path)
    merge = config("app", "etc/app.yaml", "server:\n  workers: 8\n", "merge")
    apply(root, [merge])
    merged = (root / "etc/app.yaml").read_bytes()
    (root / cfg.STATE).unlink()
    shutil.rmtree(root / cfg.ORIGINALS)
    assert apply(root, [merge]) == []
    assert (root / "etc/app.yaml").read_bytes() == merged


def test_a_file_changed_under_us_counts_as_the_image_version(tmp_path):
    """A new layer (extend) or a hand edit replaced a managed file: the Config applies on top of that."""
    root = image(tmp_path)
    merge = config("app", "etc/app.yaml", "server:\n  workers: 8\n", "merge")
    apply(root, [merge])
    (root / "etc/app.yaml").write_text("server:\n  port: 81\n")
    apply(root, [merge])
    assert yaml.safe_load((root / "etc/app.yaml").read_text()) == {"server": {"port": 81, "workers": 8}}
    apply(root, [])
    assert (root / "etc/app.yaml").read_text() == "server:\n  port: 81\n"


def test_a_rebuilt_rootfs_gets_everything_applied_again(tmp_path):
    root = image(tmp_path / "rootfs")
    configs = [config("app", "etc/app.yaml", "log: debug\n", "merge"), config("tok", "etc/secret.conf", "t\n")]
    apply(root, configs)
    first = snapshot(root)
    shutil.rmtree(root)  # what image_layer's rebuild does: a fresh tree from the layers, no record
    image(root)
    assert len(apply(root, configs)) == 3
    assert snapshot(root) == first


def test_app_config_then_template_order(tmp_path):
    """Configs first, then templates, as sealer does: a Config may write a template, and it is rendered."""
    root = image(tmp_path)
    apply(root, [config("t", "etc/kubeadm.yml.tmpl", "pod: {{ .PodCIDR }}\n"),
                 config("direct", "etc/kubeadm.yml", "written by a Config\n")])
    assert (root / "etc/kubeadm.yml").read_text() == "pod: 100.64.0.0/10\n", "the template wins"
    assert apply(root, [config("t", "etc/kubeadm.yml.tmpl", "pod: {{ .PodCIDR }}\n"),
                        config("direct", "etc/kubeadm.yml", "written by a Config\n")]) == []
    apply(root, [])
    assert (root / "etc/kubeadm.yml.tmpl").read_text() == KUBEADM_TMPL
    assert "serviceSubnet: 10.96.0.0/22" in (root / "etc/kubeadm.yml").read_text()


def test_a_template_gone_from_the_image_takes_its_output_with_it(tmp_path):
    root = image(tmp_path)
    apply(root, [])
    (root / "etc/kubeadm.yml.tmpl").unlink()  # a new layer whited it out
    assert apply(root, []) == [{"path": "etc/kubeadm.yml", "action": "removed",
                                "by": "restored (no Config or template writes it now)"}]
    assert not (root / "etc/kubeadm.yml").exists()


def test_check_mode_reports_without_writing(tmp_path):
    root = image(tmp_path)
    before = snapshot(root)
    changed = apply(root, [config("app", "etc/app.yaml", "log: debug\n", "merge")], check=True)
    assert {c["path"] for c in changed} == {"etc/app.yaml", "etc/kubeadm.yml"}
    assert snapshot(root) == before and not (root / cfg.STATE).exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", r"^Config bad: path '/etc/passwd' must be relative to the rootfs, not absolute"),
        ("etc/../../x", r"^Config bad: path 'etc/../../x' leaves the rootfs"),
        ("..", r"leaves the rootfs"),
        (".", r"leaves the rootfs"),
        ("", r"^Config bad: path must be a non-empty relative path"),
        (".sealer-configs/etc/app.yaml", r"sealer's own record"),
        (".sealer-layers.json", r"sealer's own record"),
    ],
)
def test_paths_that_leave_the_rootfs_are_refused(path, message):
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.check_configs([config("bad", path, "x")])


def test_symlinks_out_of_the_rootfs_are_refused(tmp_path):
    root = image(tmp_path / "rootfs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "host-etc").symlink_to(outside)
    (root / "etc/link.conf").symlink_to(outside / "f")
    with pytest.raises(cfg.ConfigError, match=r"host-etc/x.conf: a symlink among its directories leads out"):
        apply(root, [config("c", "host-etc/x.conf", "x\n")])
    with pytest.raises(cfg.ConfigError, match=r"etc/link.conf is a symlink in the rootfs"):
        apply(root, [config("c", "etc/link.conf", "x\n")])
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("configs", "message"),
    [
        ({"name": "x"}, r"configs must be a list"),
        (["x"], r"configs\[0\] must be a dict"),
        ([{"path": "a", "data": "x"}], r"configs\[0\]: name must be a non-empty string"),
        ([{"name": "c", "path": "a", "data": 1}], r"Config c: data must be a string"),
        ([{"name": "c", "path": "a", "data": "x", "strategy": "patch"}], r"Config c: unknown strategy 'patch'"),
        ([{"name": "c", "path": "a", "data": "x", "process": ["tojson"]}], r"Config c: unknown processor\(s\) tojson"),
        ([{"name": "c", "path": "a", "data": "x", "appName": "w"}], r"Config c: unknown key\(s\) appName"),
    ],
)
def test_config_shape_errors(configs, message):
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.check_configs(configs)


def test_an_unresolved_merge_reaching_the_host_is_an_error(tmp_path):
    root = image(tmp_path)
    with pytest.raises(cfg.ConfigError, match=r"Config app: strategy merge and toSecret are resolved by"):
        cfg.plan(str(root), cfg.check_configs([config("app", "etc/app.yaml", "a: 1\n", "merge")]), {})


def test_bases_are_the_image_version_and_none_when_absent(tmp_path):
    root = image(tmp_path)
    configs = cfg.check_configs([config("a", "etc/app.yaml", "log: debug\n", "merge"),
                                 config("b", "etc/none.yaml", "x: 1\n", "merge"),
                                 config("c", "etc/secret.conf", "plain\n")])
    original = (root / "etc/app.yaml").read_text()
    assert cfg.bases(str(root), configs) == {"etc/app.yaml": original, "etc/none.yaml": None}
    apply(root, configs)
    assert cfg.bases(str(root), configs)["etc/app.yaml"] == original, "the recorded original, not the merged file"
    (root / "etc/bin.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(cfg.ConfigError, match="etc/bin.yaml is not UTF-8 text"):
        cfg.bases(str(root), cfg.check_configs([config("d", "etc/bin.yaml", "a: 1\n", "merge")]))


def test_a_missing_rootfs_is_a_clear_error(tmp_path):
    with pytest.raises(cfg.ConfigError, match="does not exist"):
        apply(tmp_path / "absent", [])


def test_diff_entries_for_text_only(tmp_path):
    change = cfg.Change("etc/a", b"old\n", b"new\n", 0o644, "Config a")
    assert cfg.diff(change) == {"before_header": "etc/a", "after_header": "etc/a", "before": "old\n", "after": "new\n"}
    assert cfg.diff(cfg.Change("etc/a", None, b"\xff", 0o644, "Config a")) is None
