"""Value validators for Clusterfile fields.

Each function checks one value and either returns it (possibly parsed) or
raises :class:`Invalid` with a message that the decoder prefixes with the
field path and attaches to the YAML line.  No YAML, no I/O.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
from collections.abc import Iterable

from . import iprange
from .models import TAINT_EFFECTS, Taint

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_ROLE = re.compile(r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$")
_OBJECT_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_PATH_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")  # POSIX portable filename characters, and "/"


class Invalid(ValueError):
    """A value failed validation; ``str(exc)`` is the user-facing message."""


def q(text: str, limit: int = 80) -> str:
    """Quote *text* for a message, JSON style, shortened past *limit* characters."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=False)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``'; did you mean "x"?'`` for the closest choice, or ``''``."""
    options = list(choices)
    folded = {choice.lower(): choice for choice in options}
    if word.lower() in folded:
        return f"; did you mean {q(folded[word.lower()])}?"
    normalised = {re.sub(r"[-_ ]", "", c.lower()): c for c in options}
    key = re.sub(r"[-_ ]", "", word.lower())
    if key in normalised:
        return f"; did you mean {q(normalised[key])}?"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
        close = [folded[c] for c in close]
    return f"; did you mean {q(close[0])}?" if close else ""


def one_of(value: str, choices: Iterable[str], what: str = "value") -> str:
    """Return *value* if it is one of *choices*, else raise with a hint."""
    options = tuple(choices)
    if value in options:
        return value
    listed = ", ".join(options)
    raise Invalid(f"unknown {what} {q(value)} (expected one of: {listed}){did_you_mean(value, options)}")


def dns_label(name: str) -> str:
    """A DNS-1123 label: lowercase alphanumerics and '-', at most 63."""
    if len(name) > 63:
        raise Invalid(f"{q(name)} is longer than 63 characters")
    if not _DNS_LABEL.match(name):
        hint = f"; did you mean {q(_slug(name))}?" if _slug(name) and _DNS_LABEL.match(_slug(name)) else ""
        raise Invalid(
            f"{q(name)} is not a valid name (lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit){hint}"
        )
    return name


def hostname(name: str) -> str:
    """A host name (DNS-1123 subdomain, any case), at most 253 characters."""
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(p) and len(p) <= 63 for p in name.split(".")):
        raise Invalid(f"{q(name)} is not a valid host name")
    return name


def role(name: str) -> str:
    """A host role: lowercase alphanumerics, '-' and '_' (e.g. master, db)."""
    if not name.strip():
        raise Invalid("a role cannot be empty")
    if len(name) <= 63 and _ROLE.match(name):
        return name
    hint = ""
    fixed = name.strip().lower()
    if fixed != name and _ROLE.match(fixed):
        hint = f"; did you mean {q(fixed)}?"
    raise Invalid(f"{q(name)} is not a valid role (lowercase letters, digits, '-' and '_'){hint}")


def object_name(name: str) -> str:
    """Name of a Config / Plugin / Application / app: no spaces or '/'."""
    if len(name) > 253 or not _OBJECT_NAME.match(name):
        raise Invalid(f"{q(name)} is not a valid name (letters, digits, '-', '_' and '.')")
    return name


def env_entry(text: str) -> tuple[str, str]:
    """Split a sealer env entry ``KEY=VALUE`` (``KEY=a;b`` is a list)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise Invalid(f"{q(text)} is not KEY=VALUE")
    if not _ENV_KEY.match(key):
        raise Invalid(f"{q(key)} is not a valid variable name in {q(text)}")
    return key, value


def label_key(key: str) -> str:
    """A Kubernetes label / taint key: ``[prefix/]name``."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253 or not all(_DNS_LABEL.match(p) for p in prefix.split(".")):
            raise Invalid(f"{q(key)}: prefix {q(prefix)} is not a lowercase DNS subdomain")
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        raise Invalid(
            f"{q(key)} is not a valid key (at most 63 letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit)"
        )
    return key


def label_value(value: str) -> str:
    """A Kubernetes label value (may be empty)."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise Invalid(f"{q(value)} is not a valid label value")
    return value


def taint(text: str) -> Taint:
    """Parse ``key[=value]:Effect``."""
    body, colon, effect = text.rpartition(":")
    if not colon:
        raise Invalid(f"{q(text)} is not a taint key[=value]:Effect")
    if effect not in TAINT_EFFECTS:
        raise Invalid(
            f"taint {q(text)}: unknown effect {q(effect)} (expected one of: "
            f"{', '.join(TAINT_EFFECTS)}){did_you_mean(effect, TAINT_EFFECTS)}"
        )
    key, _, value = body.partition("=")
    try:
        label_key(key)
        label_value(value)
    except Invalid as exc:
        raise Invalid(f"taint {q(text)}: {exc}") from None
    return Taint(key, value, effect)


def absolute_path(path: str) -> str:
    """An absolute POSIX path with no control characters."""
    if not path.startswith("/") or _CONTROL.search(path):
        raise Invalid(f"{q(path)} is not an absolute path")
    return path


def host_directory(path: str) -> str:
    """A directory on the hosts (dataRoot): absolute, normalised, no '..', and only POSIX portable filename
    characters. It reaches shell commands, systemd units and config files on every host, where a space, a
    quote or a ';' would be read as syntax (sealer itself puts it into commands unquoted)."""
    absolute_path(path)
    if any(part == ".." for part in path.split("/")):
        raise Invalid(f"{q(path)} must not contain '..'")
    normal = "/" + posixpath.normpath(path).lstrip("/")
    if path != normal:
        raise Invalid(f"{q(path)} is not a normalised path (write {q(normal)})")
    if not _HOST_PATH_CHARS.match(path):
        bad = sorted({ch for ch in path if not _HOST_PATH_CHARS.match(ch)})
        raise Invalid(f"{q(path)} has characters other than letters, digits, '.', '_', '-' and '/': "
                      + " ".join(q(ch) for ch in bad))
    return path


def relative_path(path: str) -> str:
    """A path inside the image rootfs: relative, no '..' escaping it."""
    if not path or path.startswith("/") or _CONTROL.search(path):
        raise Invalid(f"{q(path)} must be a relative path inside the cluster image")
    if any(part == ".." for part in posixpath.normpath(path).split("/")):
        raise Invalid(f"{q(path)} must not leave the cluster image ('..')")
    return path


def no_space(text: str, what: str) -> str:
    """A non-empty token without whitespace or control characters."""
    if not text or any(ch.isspace() for ch in text) or _CONTROL.search(text):
        raise Invalid(f"{q(text)} is not a valid {what}")
    return text


def ip_address(text: str) -> str:
    """One IPv4/IPv6 address, returned in canonical form."""
    try:
        return str(iprange.parse_ip(text))
    except iprange.IPRangeError as exc:
        raise Invalid(str(exc)) from None


def cidr(text: str) -> str:
    """An IPv4/IPv6 network in CIDR form (``203.0.113.7/32``), host bits zero."""
    import ipaddress

    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        raise Invalid(f"{q(text)} is not a CIDR network ({exc})") from None


def host_or_ip(text: str) -> str:
    """A host name or an IP address (registry domains)."""
    try:
        return str(iprange.parse_ip(text))
    except iprange.IPRangeError:
        pass
    try:
        return hostname(text)
    except Invalid:
        raise Invalid(f"{q(text)} is not a host name or an IP address") from None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.strip().lower()).strip("-")[:63].strip("-")
