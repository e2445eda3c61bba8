"""Where to reach registries: mirrors, insecure hosts, CA bundles.

Read from ``<root>/registries.yaml`` (and flags), in the spirit of containers'
registries.conf and containerd's hosts.toml::

    mirrors:
      docker.io: ["http://127.0.0.1:5001"]   # tried in order, then docker.io itself
      quay.io: ["https://mirror.corp:5000"]
    insecure: ["registry.lab:5000"]          # plain HTTP allowed / TLS not verified
    ca_file: /etc/ssl/corp-ca.pem            # extra CA bundle for every registry
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ..errors import InputError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    """One place to send registry API requests for a registry name."""

    scheme: str | None  # None: https, falling back to http where allowed
    host: str  # host[:port]
    is_mirror: bool = False

    def url(self, scheme: str) -> str:
        return f"{scheme}://{self.host}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}" if self.scheme else self.host


@dataclass(frozen=True)
class RegistryConfig:
    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    insecure: frozenset[str] = frozenset()
    ca_file: str | None = None
    skip_tls_verify: bool = False

    @classmethod
    def load(cls, path: Path, *, mirrors: tuple[str, ...] = (), insecure: tuple[str, ...] = (),
             ca_file: str | None = None, skip_tls_verify: bool = False) -> "RegistryConfig":
        """The file at *path* (if any) plus flag values (``--registry-mirror docker.io=URL``...)."""
        data = _read(path)
        merged: dict[str, list[str]] = {k: list(v) for k, v in (data.get("mirrors") or {}).items()}
        for item in mirrors:
            name, sep, url = item.partition("=")
            if not sep or not name or not url:
                raise InputError(f"--registry-mirror {item!r}: expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5001")
            merged.setdefault(name, []).insert(0, url)
        for name, urls in merged.items():
            for url in urls:
                _check_url(url, f"mirror of {name}")
        return cls(
            mirrors={k: tuple(v) for k, v in merged.items()},
            insecure=frozenset([*(data.get("insecure") or []), *insecure]),
            ca_file=ca_file or data.get("ca_file"),
            skip_tls_verify=skip_tls_verify or bool(data.get("skip_tls_verify", False)),
        )

    def endpoints(self, registry: str) -> list[Endpoint]:
        """Mirrors first, in order, then the registry itself."""
        out = []
        for url in self.mirrors.get(registry, ()):
            parts = urlsplit(url)
            out.append(Endpoint(parts.scheme, parts.netloc, is_mirror=True))
        out.append(Endpoint(None, DOCKER_HUB_API if registry == DOCKER_HUB else registry))
        return out

    def plain_http_allowed(self, host: str) -> bool:
        """Loopback registries (as Docker does) and those configured insecure may speak plain HTTP."""
        return host in self.insecure or is_loopback(host)

    def verify_tls(self, host: str) -> bool:
        return not (self.skip_tls_verify or host in self.insecure)


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` and ``[::1]``, with or without a port."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with mirrors/insecure/ca_file")
    return data


def _check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise InputError(f"{what}: {url!r} is not a registry URL (scheme://host[:port])")
