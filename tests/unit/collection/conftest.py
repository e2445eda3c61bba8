"""Load the collection's private Python (module_utils, plugin_utils) straight from collection/, by path.

module_utils runs on managed hosts with the standard library only, so it imports without Ansible;
plugin_utils runs on the controller and needs only PyYAML."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PLUGINS = Path(__file__).resolve().parents[3] / "collection" / "plugins"


def load(package: str, module: str) -> ModuleType:
    """``collection/plugins/<package>/<module>.py`` as ``_sr_<package>.<module>`` (relative imports work)."""
    name = f"_sr_{package}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_loader(name, loader=None, is_package=True)
        assert spec is not None
        pkg = importlib.util.module_from_spec(spec)
        pkg.__path__ = [str(PLUGINS / package)]
        sys.modules[name] = pkg
    return importlib.import_module(f"{name}.{module}")
