"""--skip-tags for the phases a --tags selection leaves out, read from a playbook."""

from __future__ import annotations

from pathlib import Path

from sealer_runner.run.cluster import COLLECTION_DIR
from sealer_runner.run.phase_tags import play_tags, skipped_phases

PLAYBOOK = """\
- hosts: all
  roles:
    - {role: a.b.validate, tags: [validate, always]}
- hosts: all
  tags: [rootfs]
  roles:
    - a.b.rootfs
- hosts: all
  roles:
    - {role: a.b.config, tags: [config, rootfs]}
- hosts: registry
  roles:
    - {role: a.b.registry, tags: registry}
- hosts: all
  roles:
    - {role: a.b.plugins, tags: [plugins]}
"""


def phases(tmp_path: Path) -> list[set[str]]:
    (tmp_path / "run.yml").write_text(PLAYBOOK)
    return play_tags(tmp_path / "run.yml")


def test_play_and_role_tags_are_read_per_role(tmp_path):
    assert phases(tmp_path) == [{"validate", "always"}, {"rootfs"}, {"config", "rootfs"}, {"registry"}, {"plugins"}]


def test_phases_not_selected_are_skipped_and_shared_tags_kept(tmp_path):
    assert skipped_phases(("validate", "rootfs"), phases(tmp_path)) == ("plugins", "registry")
    # config's role is also tagged rootfs: skipping rootfs would skip config with it
    assert skipped_phases(("config",), phases(tmp_path)) == ("plugins", "registry")
    assert skipped_phases(("registry", "plugins"), phases(tmp_path)) == ("config", "rootfs")


def test_nothing_skipped_for_task_tags_special_tags_or_no_selection(tmp_path):
    assert skipped_phases(("validate", "prepare-swap"), phases(tmp_path)) == ()
    assert skipped_phases(("all",), phases(tmp_path)) == ()
    assert skipped_phases(("tagged",), phases(tmp_path)) == ()
    assert skipped_phases((), phases(tmp_path)) == ()


def test_the_collection_playbook_phases():
    real = play_tags(COLLECTION_DIR / "playbooks" / "run.yml")
    assert skipped_phases(("validate", "rootfs"), real) == ("apps", "container-runtime", "kubernetes", "plugins",
                                                            "prepare", "registry")
    assert "rootfs" not in skipped_phases(("config",), real)
