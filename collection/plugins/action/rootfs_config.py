# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Action of sealer.cluster.rootfs_config: resolve merges on the controller, apply on the host.

The host runs the module twice at most: once (state=query, changing nothing) to read the image's
version of the files that merge or toSecret Configs land on, when there are any, and once to apply
plain overwrites and render the templates. Documentation: the module's.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.sealer.cluster.plugins.module_utils import _config
from ansible_collections.sealer.cluster.plugins.plugin_utils import _config_data

MODULE = "sealer.cluster.rootfs_config"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("rootfs", "configs", "env", "template_dirs", "state"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            configs = _config.check_configs(args.get("configs") or [])
        except _config.ConfigError as exc:
            return dict(result, failed=True, msg=str(exc))
        if args.get("state", "present") == "present" and any(_config.needs_base(c) for c in configs):
            query = self._execute_module(module_name=MODULE, module_args=dict(args, state="query"),
                                         task_vars=task_vars)
            if query.get("failed"):
                return dict(result, **query)
            try:
                args["configs"] = _config_data.resolve(configs, query.get("bases") or {})
            except _config_data.ConfigDataError as exc:
                return dict(result, failed=True, msg=str(exc))
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
