"""The collection's module_utils are plain Python files (standard library only): load them by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULE_UTILS = Path(__file__).resolve().parents[3] / "collection" / "plugins" / "module_utils"


def module_utils(name: str) -> ModuleType:
    key = f"sealer_cluster_module_utils.{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, MODULE_UTILS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]
