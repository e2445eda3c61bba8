# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""The tags_selected test: whether tasks with these tags run, by Ansible's --tags/--skip-tags rule."""

from __future__ import annotations

DOCUMENTATION = r"""
name: tags_selected
short_description: Whether tasks carrying these tags run in this run
description:
  - Ansible's rule for C(--tags) and C(--skip-tags) - a task runs when one of its tags is selected (or no
    C(--tags) was given, i.e. C(all)) and none of its tags is skipped. An empty list means the task runs
    always (like the C(always) tag).
version_added: "0.1.0"
options:
  _input:
    description: The tags of the task.
    type: list
    elements: str
    required: true
  run_tags:
    description: C(ansible_run_tags).
    type: list
    elements: str
    required: true
  skip_tags:
    description: C(ansible_skip_tags).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The commands of the phases that run
  ansible.builtin.debug:
    msg: "{{ commands | selectattr('tags', 'sealer.cluster.tags_selected', ansible_run_tags, ansible_skip_tags) }}"
"""

RETURN = r"""
_value:
  description: Whether the tags run.
  type: bool
"""


def tags_selected(tags, run_tags, skip_tags):
    tags, run_tags, skip_tags = set(tags or ()), set(run_tags or ("all",)), set(skip_tags or ())
    if not tags:
        return True
    if tags & skip_tags:
        return False
    return "all" in run_tags or bool(tags & run_tags)


class TestModule(object):
    def tests(self):
        return {"tags_selected": tags_selected}
