"""Where the Ansible content lives: inside the installed package, or beside it in a checkout.

A built wheel carries the ``sealer.cluster`` collection and the project playbooks as
``sealer_runner/_collection`` and ``sealer_runner/_playbooks`` (``setup.py`` copies them in at build
time). A checkout (an editable install, or the source tree on ``sys.path``) has neither copy, and
uses ``collection/`` and ``playbooks/`` at the repository root.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(name: str, checkout: str) -> Path:
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / checkout


#: The sealer.cluster collection (its galaxy.yml, plugins, roles and playbooks).
COLLECTION_DIR = _bundled("_collection", "collection")
#: The project playbooks ansible-runner runs (each imports a sealer.cluster playbook).
PLAYBOOKS_DIR = _bundled("_playbooks", "playbooks")
