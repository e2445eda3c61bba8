"""The embedded registry's htpasswd line: ``user:<bcrypt hash>``, the only form distribution accepts.

A bcrypt hash has a random salt, so a new hash on every run would rewrite the hosts' htpasswd file
and restart the registry each time. The line is kept in the cluster's state dir (0600) and reused for
as long as it still verifies the Clusterfile's password.
"""

from __future__ import annotations

from pathlib import Path

import bcrypt

from ..util.fs import atomic_write_bytes
from ..util.secret import Secret

# Distribution checks the hash on every request: cost 10 keeps that near 50 ms on a small host.
ROUNDS = 10
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt >= 5 refuses) whatever comes after


def htpasswd_line(username: str, password: Secret, cache: Path) -> str:
    """``username:$2b$...`` for *password*: the cached line if it still matches, else a new one (cached)."""
    cached = _read(cache)
    user, _, hashed = cached.partition(":")
    if user == username and hashed and _matches(password, hashed):
        return cached
    line = f"{username}:{bcrypt.hashpw(password.reveal().encode(), bcrypt.gensalt(ROUNDS)).decode()}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cache, line.encode(), mode=0o600)
    return line


def verifies(line: str, username: str, password: Secret) -> bool:
    """Whether the htpasswd *line* accepts *username* with *password*."""
    user, _, hashed = line.partition(":")
    return user == username and _matches(password, hashed)


def _matches(password: Secret, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.reveal().encode(), hashed.encode())
    except ValueError:  # not a bcrypt hash
        return False


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""
