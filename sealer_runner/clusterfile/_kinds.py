"""The ``Config``, ``Plugin`` and ``Application`` kinds."""

from __future__ import annotations

import re

import yaml

from . import validate as v
from ._plugindata import read_targets
from ._read import (
    Ctx,
    Item,
    as_nonempty_str,
    as_nonempty_str_list,
    as_seq,
    as_str,
    check,
    fields,
    index,
    read_env,
    read_names,
)
from .models import (
    APP_FILE_STRATEGIES,
    CLUSTER_PHASES,
    CONFIG_PROCESSORS,
    CONFIG_STRATEGIES,
    PLUGIN_PHASES,
    PLUGIN_TYPES,
    AppConfig,
    AppFile,
    AppLaunch,
    Application,
    Config,
    Plugin,
    frozen_map,
)
from .yamlpos import YNode, YScalar, to_plain


def read_config(ctx: Ctx, node: YNode, name: str, api_version: str, line: int, others: list[Config]) -> Config:
    """Read a Config ``spec``; *others* are the Configs decoded so far."""
    spec = fields(ctx, node, "spec", ("path", "data", "strategy", "process", "appName"))
    path_node = spec.require("path")
    path = spec.checked("path", v.relative_path, "")
    data = _read_data(ctx, spec.require("data"), spec.at("data"))
    strategy = spec.choice("strategy", CONFIG_STRATEGIES, "strategy", "overwrite")
    process = spec.read("process", _read_process, ())
    app_name = spec.checked("appName", v.object_name, None)
    _check_data_shape(ctx, spec.get("data"), spec.at("data"), data, strategy, process)
    for other in others:
        if (other.app_name, other.path) == (app_name, path):
            message = f"{v.q(path)} is also written by Config {v.q(other.name)} (line {other.line})"
            raise ctx.error(path_node.line, spec.at("path"), message)
    return Config(name, api_version, path, data, strategy, process, app_name, line=line)


def _read_data(ctx: Ctx, node: YNode, path: str) -> str:
    """``data`` is text; a mapping or list (as sealer's docs show) is kept as YAML."""
    if isinstance(node, YScalar):
        text = as_str(ctx, node, path)
    else:
        text = yaml.safe_dump(to_plain(node, ctx.filename), default_flow_style=False, sort_keys=False, allow_unicode=True)
    if not text.strip():
        raise ctx.error(node.line, path, "must not be empty")
    return text


def _check_data_shape(ctx: Ctx, node: YNode | None, path: str, data: str, strategy: str,
                      process: tuple[str, ...]) -> None:
    """What a merge or a processor will parse must parse, so that it fails here, before any host."""
    assert node is not None
    needs = (("strategy merge", strategy == "merge"), ("process value", "value" in process),
             ("process toSecret", "toSecret" in process))
    mapping_for = [why for why, needed in needs if needed]
    if not mapping_for and "toJson" not in process:
        return
    for_what = mapping_for[0] if mapping_for else "process toJson"
    try:
        documents = list(yaml.safe_load_all(data))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        block = isinstance(node, YScalar) and node.style in ("|", ">")
        line = node.line + 1 + mark.line if block and mark is not None else node.line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ctx.error(line, path, f"is not YAML, as {for_what} needs: {problem}") from None
    if len(documents) != 1:
        raise ctx.error(node.line, path, f"must be one YAML document for {for_what}, not {len(documents)}")
    value = documents[0]
    if mapping_for and not isinstance(value, dict):
        raise ctx.error(node.line, path, f"must be a YAML mapping for {for_what}, not {_yaml_kind(value)}")
    if "value" in process and "toBase64" in process[process.index("value"):] and not (
            "toJson" in process[process.index("value"):process.index("toBase64")]):
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                raise ctx.error(node.line, path, f"value of {v.q(str(key))} must be text for value|toBase64, "
                                f"not {_yaml_kind(item)} (add toJson before toBase64)")


def _yaml_kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"the scalar {v.q(str(value))}"


def _read_process(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    canonical = {name.lower(): name for name in CONFIG_PROCESSORS}
    steps: list[str] = []
    for part in as_str(ctx, node, path).split("|"):
        step = part.strip()
        if step.lower() not in canonical:
            hint = v.did_you_mean(step, CONFIG_PROCESSORS)
            message = f"unknown processor {v.q(step)} (expected {'|'.join(CONFIG_PROCESSORS)}){hint}"
            raise ctx.error(node.line, path, message)
        steps.append(canonical[step.lower()])
    return tuple(steps)


def read_plugin(
    ctx: Ctx, node: YNode, name: str, api_version: str, line: int, warnings: list[str]
) -> tuple[Plugin, list[Item]]:
    """Read a Plugin ``spec``; also return the host IPs its data names."""
    spec = fields(ctx, node, "spec", ("type", "action", "scope", "data"))
    spec.require("type")
    plugin_type = spec.choice("type", PLUGIN_TYPES, "plugin type", "")
    action_node = spec.require("action")
    actions = _read_actions(ctx, action_node, spec.at("action"))
    scope: tuple[str, ...] = ()
    scope_node = spec.get("scope")
    if scope_node is not None:
        scope = _read_scope(ctx, scope_node, spec.at("scope"))
        if all(action in CLUSTER_PHASES for action in actions):
            message = "ignored: cluster phases run on master0 only"
            warnings.append(ctx.warning(scope_node.line, spec.at("scope"), message))
    data_node = spec.require("data")
    data = as_nonempty_str(ctx, data_node, spec.at("data"))
    targets, items = read_targets(ctx, plugin_type, data_node, spec.at("data"))
    return Plugin(name, api_version, plugin_type, actions, data, scope, line=line, targets=targets), items


def _read_actions(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    actions: list[str] = []
    for part in as_str(ctx, node, path).split("|"):
        action = part.strip()
        if action not in PLUGIN_PHASES:
            kebab = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", action).lower()
            hint = v.did_you_mean(kebab, PLUGIN_PHASES) or v.did_you_mean(action, PLUGIN_PHASES)
            message = f"unknown action {v.q(action)} (expected one of: {', '.join(PLUGIN_PHASES)}){hint}"
            raise ctx.error(node.line, path, message)
        if action in actions:
            raise ctx.error(node.line, path, f"action {v.q(action)} is listed twice")
        actions.append(action)
    return tuple(actions)


def _read_scope(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    roles: list[str] = []
    for part in as_str(ctx, node, path).split("|"):
        role = check(ctx, node.line, path, v.role, part.strip())
        if role not in roles:
            roles.append(role)
    return tuple(roles)


def read_application(ctx: Ctx, node: YNode, name: str, api_version: str, line: int) -> Application:
    """Read an Application ``spec``."""
    spec = fields(ctx, node, "spec", ("cmds", "launchApps", "configs"))
    cmds = spec.read("cmds", as_nonempty_str_list, ())
    launch_apps = spec.read("launchApps", read_names, ())
    if cmds and launch_apps:
        message = "cmds and launchApps are mutually exclusive"
        raise ctx.error(spec.line("launchApps"), spec.at("launchApps"), message)
    configs: list[AppConfig] = []
    for i, child in enumerate(spec.read("configs", as_seq, ())):
        config = _read_app_config(ctx, child, index(spec.at("configs"), i))
        for other in configs:
            if other.name == config.name:
                message = f"app {v.q(config.name)} is configured twice"
                raise ctx.error(child.line, index(spec.at("configs"), i), message)
        configs.append(config)
    return Application(name, api_version, cmds, launch_apps, tuple(configs), line=line)


def _read_app_config(ctx: Ctx, node: YNode, path: str) -> AppConfig:
    config = fields(ctx, node, path, ("name", "env", "launch", "files"))
    config.require("name")
    name = config.checked("name", v.object_name, "")
    launch = config.read("launch", _read_launch, None)
    files = tuple(
        _read_app_file(ctx, child, index(config.at("files"), i))
        for i, child in enumerate(config.read("files", as_seq, ()))
    )
    return AppConfig(name, frozen_map(config.read("env", read_env, {})), launch, files)


def _read_launch(ctx: Ctx, node: YNode, path: str) -> AppLaunch:
    launch = fields(ctx, node, path, ("cmds",))
    cmds = launch.read("cmds", as_nonempty_str_list, ())
    if not cmds:
        raise ctx.error(launch.line("cmds"), launch.at("cmds"), "launch needs at least one command")
    return AppLaunch(cmds)


def _read_app_file(ctx: Ctx, node: YNode, path: str) -> AppFile:
    app_file = fields(ctx, node, path, ("path", "strategy", "data"))
    app_file.require("path")
    file_path = app_file.checked("path", v.relative_path, "")
    strategy = app_file.choice("strategy", APP_FILE_STRATEGIES, "strategy", "overwrite")
    data = _read_data(ctx, app_file.require("data"), app_file.at("data"))
    return AppFile(file_path, data, strategy)
