"""Image references, parsed and normalised exactly as Docker does.

``nginx`` -> ``docker.io/library/nginx:latest``; ``localhost:5000/a/b@sha256:...``
keeps its domain and digest. This module only parses names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}\Z")
_TAG_RE = re.compile(rf"^{_TAG}\Z")
_DIGEST_RE = re.compile(rf"^{_DIGEST}\Z")
_ANCHORED_ID = re.compile(r"^[a-f0-9]{64}\Z")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: domain, repository path, and tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def identifier(self) -> str:
        """What follows the repository when addressing the registry: digest if any, else tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        """The short form Docker prints: ``nginx:latest``, ``quay.io/a/b:1``."""
        name = self.repository
        if self.domain == DEFAULT_DOMAIN:
            name = self.path[len(OFFICIAL_PREFIX):] if self.path.startswith(OFFICIAL_PREFIX) else self.path
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    def with_tag(self, tag: str) -> "Reference":
        if not _TAG_RE.match(tag):
            raise InvalidReference(f"invalid tag {tag!r}")
        return Reference(self.domain, self.path, tag, None)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise *text*; raise :class:`InvalidReference` with the reason."""
    if not text:
        raise InvalidReference("invalid reference: empty")
    if _ANCHORED_ID.match(text):
        raise InvalidReference(f"invalid reference {text!r}: cannot be a 64-byte hexadecimal string")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise InvalidReference(f"invalid reference {text!r}: invalid digest {digest!r}")
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.match(tag):
            raise InvalidReference(f"invalid reference {text!r}: invalid tag {tag!r}")
    domain, path = _split_domain(rest)
    if not _DOMAIN_RE.match(domain):
        raise InvalidReference(f"invalid reference {text!r}: invalid registry domain {domain!r}")
    if path.lower() != path:
        raise InvalidReference(f"invalid reference {text!r}: repository name must be lowercase")
    if not _PATH_RE.match(path):
        raise InvalidReference(f"invalid reference {text!r}: invalid repository name {path!r}")
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"invalid reference {text!r}: repository name longer than {NAME_TOTAL_LENGTH_MAX}")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)
