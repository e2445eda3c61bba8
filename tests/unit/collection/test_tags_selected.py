"""The tags_selected test plugin: Ansible's --tags/--skip-tags rule, for the host check's command list."""

from __future__ import annotations

import pytest

from .conftest import load

tags_selected = load("test", "tags_selected").tags_selected


@pytest.mark.parametrize(("tags", "run", "skip", "selected"), [
    ([], ["validate"], ["prepare"], True),                       # [] = always
    (["prepare", "prepare-ca"], ["all"], [], True),
    (["prepare", "prepare-ca"], ["prepare-ca"], [], True),
    (["prepare", "prepare-ca"], ["validate", "prepare-time"], [], False),
    (["prepare", "prepare-ca"], ["all"], ["prepare-ca"], False),  # any skipped tag skips the task
    (["rootfs"], [], [], True),                                   # no run tags: all
])
def test_tags_selected(tags, run, skip, selected):
    assert tags_selected(tags, run, skip) is selected
    assert load("test", "tags_selected").TestModule().tests()["tags_selected"] is tags_selected
