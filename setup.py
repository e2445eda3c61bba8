"""Ship the Ansible content inside the wheel: ``collection/`` and ``playbooks/`` sit at the repository
root (where ansible-galaxy and ops repos use them), so build_py copies them into the package as
``sealer_runner/_collection`` and ``sealer_runner/_playbooks``, which sealer_runner/bundled.py finds.
Everything else is configured in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {"collection": "_collection", "playbooks": "_playbooks"}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "tests", "*.tar.gz")


class BuildWithAnsibleContent(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout itself
            return
        for source, name in BUNDLED.items():
            target = Path(self.build_lib) / "sealer_runner" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / source, target, ignore=IGNORE)


setup(cmdclass={"build_py": BuildWithAnsibleContent})
