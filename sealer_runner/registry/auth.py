"""Registry credentials and authentication challenges.

Credentials live in a Docker-compatible ``auth.json`` (mode 0600) under the
store root; ``~/.docker/config.json`` is read too. Nothing here prints or logs
a secret: credentials are :class:`Secret` values until the moment a header is built.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import InputError
from ..util.fs import atomic_write_bytes
from ..util.secret import Secret

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: Secret

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password.reveal()}".encode()).decode()
        return f"Basic {token}"


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" | "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="...",service="...",scope="..."`` -> Challenge; None when absent or unknown."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    return Challenge(scheme, dict(_CHALLENGE.findall(rest)))


def registry_key(registry: str) -> str:
    """The key Docker uses in auth files: Docker Hub is ``https://index.docker.io/v1/``."""
    return "https://index.docker.io/v1/" if registry in ("docker.io", "index.docker.io", "registry-1.docker.io") else registry


class CredentialSource(Protocol):
    """Anything that finds the credentials kept for a registry name."""

    def get(self, registry: str) -> Credentials | None: ...


@dataclass(frozen=True)
class PinnedCredentials:
    """Credentials given for one registry (by a Clusterfile, say), in front of another source."""

    registry: str
    credentials: Credentials
    fallback: CredentialSource

    def get(self, registry: str) -> Credentials | None:
        return self.credentials if registry == self.registry else self.fallback.get(registry)


class AuthStore:
    """Read and write ``auth.json``; fall back to Docker's config for reading."""

    def __init__(self, path: Path, docker_config: Path | None = None) -> None:
        self.path = path
        self._docker_config = docker_config if docker_config is not None else Path.home() / ".docker" / "config.json"

    def get(self, registry: str) -> Credentials | None:
        for source in (self.path, self._docker_config):
            entry = _read_auths(source).get(registry_key(registry)) or _read_auths(source).get(registry)
            if entry and entry.get("auth"):
                return _decode(entry["auth"], source)
        return None

    def put(self, registry: str, credentials: Credentials) -> None:
        data = _read_file(self.path)
        auths = data.setdefault("auths", {})
        token = base64.b64encode(f"{credentials.username}:{credentials.password.reveal()}".encode()).decode()
        auths[registry_key(registry)] = {"auth": token}
        self._write(data)

    def remove(self, registry: str) -> bool:
        data = _read_file(self.path)
        auths = data.get("auths") or {}
        removed = auths.pop(registry_key(registry), None) is not None
        if removed:
            self._write(data)
        return removed

    def _write(self, data: dict) -> None:
        atomic_write_bytes(self.path, json.dumps(data, indent=2).encode(), mode=0o600)


def _read_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable credentials file: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _read_auths(path: Path) -> dict:
    auths = _read_file(path).get("auths")
    return auths if isinstance(auths, dict) else {}


def _decode(token: str, source: Path) -> Credentials:
    try:
        user, sep, password = base64.b64decode(token).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{source}: malformed auth entry") from None
    if not sep:
        raise InputError(f"{source}: malformed auth entry")
    return Credentials(user, Secret(password))


def check_private(path: Path) -> bool:
    return path.exists() and (os.stat(path).st_mode & 0o077) == 0
