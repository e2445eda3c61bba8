# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""The config_problems filter: what is wrong with a list of Configs, checked on the controller."""

from __future__ import annotations

from ansible_collections.sealer.cluster.plugins.module_utils import _config
from ansible_collections.sealer.cluster.plugins.plugin_utils import _config_data

DOCUMENTATION = r"""
name: config_problems
short_description: What is wrong with a list of Configs
description:
  - Checks each Config the way M(sealer.cluster.rootfs_config) will - its keys, a path that stays inside
    the rootfs, its strategy and processors, and data its processors and a merge can read - and returns
    one message per bad Config, naming it. Nothing is read from the hosts.
version_added: "0.1.0"
options:
  _input:
    description: The Configs, C(sealer_configs).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Configs are well-formed
  ansible.builtin.assert:
    that: sealer_configs | sealer.cluster.config_problems | length == 0
"""

RETURN = r"""
_value:
  description: One message per bad Config; empty when all are well-formed.
  type: list
  elements: str
"""


def config_problems(configs):
    if not isinstance(configs, list):
        return ["sealer_configs must be a list of {name, path, data, strategy}"]
    problems = []
    for i, config in enumerate(configs):
        try:
            _config_data.check(_config.check_config(config, i))
        except (_config.ConfigError, _config_data.ConfigDataError) as exc:
            problems.append(str(exc))
    return problems


class FilterModule(object):
    def filters(self):
        return {"config_problems": config_problems}
