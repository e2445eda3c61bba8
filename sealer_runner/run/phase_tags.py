"""Which phases a `--tags` selection leaves out, read from the collection's own playbook.

Ansible runs a role's argument-spec check (a task tagged ``always``) in every play, even when
``--tags`` selects none of the role's tasks: with ten plays that is a worker per host and play for
nothing (about 2 s of a 15 s re-run on 6 hosts). Passing the left-out phases' tags as ``--skip-tags``
drops those checks with the phases. The phases are read from the playbook, not listed here, so a new
play needs no change in the front end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

#: Tags that never name a phase to leave out.
KEPT = frozenset({"always", "never", "all", "tagged", "untagged"})


def node_tags(node: Any) -> set[str]:
    """A play's or role entry's ``tags`` (a list, or one string) as a set."""
    tags = node.get("tags", []) if isinstance(node, dict) else []
    return {str(t) for t in ([tags] if isinstance(tags, str) else tags or [])}


def play_tags(playbook: Path) -> list[set[str]]:
    """The tag set of each role of each play in *playbook*: the play's tags plus the role entry's."""
    plays = yaml.safe_load(playbook.read_text()) or []
    found: list[set[str]] = []
    for play in plays if isinstance(plays, list) else []:
        for role in (play.get("roles") or []) if isinstance(play, dict) else []:
            found.append(node_tags(play) | node_tags(role))
    return found


def skipped_phases(selected: Iterable[str], phases: list[set[str]]) -> tuple[str, ...]:
    """Tags to pass as --skip-tags so the phases *selected* does not reach also skip their checks.

    Nothing is skipped unless every selected tag names a whole phase: a task-level tag (e.g.
    ``prepare-swap``) lives inside a role whose other tags must stay, and ``all``/``tagged`` select
    everything. A tag shared with a selected phase is never skipped (``config`` runs with ``rootfs``).
    """
    chosen = set(selected)
    known = set().union(*phases) if phases else set()
    if not chosen or not chosen <= known or chosen & KEPT:
        return ()
    kept: set[str] = set()
    left_out: set[str] = set()
    for tags in phases:
        (kept if tags & chosen or "always" in tags else left_out).update(tags)
    return tuple(sorted(left_out - kept - KEPT))
