"""IP addresses and sealer-style IP ranges (``192.168.0.2-192.168.0.5``).

Pure functions, no YAML knowledge: they raise :class:`IPRangeError` with a
message meant to follow a field path (``hosts[0].ips[1]: <message>``).
"""

from __future__ import annotations

import ipaddress
import json
import re

#: Most addresses a single range may expand to.
MAX_RANGE_SIZE = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_IP_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d+)$")


class IPRangeError(ValueError):
    """An address or range is malformed; ``str(exc)`` is the user message."""


def parse_ip(text: str) -> IPAddress:
    """Parse one IPv4 or IPv6 address (no zone index, no prefix length).

    An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) comes back as the IPv4 address it maps.
    """
    candidate = text.strip()
    if candidate != text or not candidate:
        raise IPRangeError(f"{_q(text)} is not an IP address")
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        raise IPRangeError(_not_an_ip(text)) from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            raise IPRangeError(f"{_q(text)}: IPv6 zone indexes are not supported")
        if address.ipv4_mapped is not None:  # ::ffff:10.0.0.1 is 10.0.0.1: one host, not two
            return address.ipv4_mapped
    return address


def expand(text: str, limit: int = MAX_RANGE_SIZE) -> list[str]:
    """Expand an address or an inclusive ``first-last`` range to addresses.

    Addresses come back in their canonical (compressed) form.  A reversed
    range, mixed address families and ranges of more than *limit*
    addresses are refused.
    """
    if "-" not in text:
        return [str(parse_ip(text))]
    first_text, _, last_text = text.partition("-")
    if "-" in last_text:
        raise IPRangeError(f"{_q(text)} is not an IP address or a range 'first-last'")
    first, last = parse_ip(first_text), parse_ip(last_text)
    if first.version != last.version:
        raise IPRangeError(f"range {_q(text)} mixes IPv4 and IPv6 addresses")
    if int(last) < int(first):
        raise IPRangeError(f"range {_q(text)} is reversed: {last} comes before {first}")
    size = int(last) - int(first) + 1
    if size > limit:
        raise IPRangeError(f"range {_q(text)} has {size} addresses; at most {limit} are allowed")
    cls = type(first)
    return [str(cls(int(first) + offset)) for offset in range(size)]


def _not_an_ip(text: str) -> str:
    match = _IP_PORT.match(text)
    if match:
        return (
            f"{_q(text)} is not an IP address (ports do not go in ips: "
            f"write {_q(match.group(1))} and set ssh.port: {match.group(2)})"
        )
    if "/" in text:
        return f"{_q(text)} is not an IP address (CIDR blocks are not accepted; use a range 'first-last')"
    return f"{_q(text)} is not an IP address"


def _q(text: str, limit: int = 80) -> str:
    """Quote *text* for a message, JSON style, shortened past *limit* characters."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=False)
