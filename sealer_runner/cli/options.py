"""Parsing of repeated ``KEY=VALUE`` options."""

from __future__ import annotations

from ..errors import InputError


def parse_key_values(items: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out
