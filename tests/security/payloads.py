"""Template payloads for the template-safety tests: Jinja that would run a command on whichever machine
templated it (it touches a canary file), Jinja statements, and Go/Helm template text that must pass
through untouched."""

from __future__ import annotations

from pathlib import Path


def lookup(canary: Path | str) -> str:
    """Jinja that creates *canary* on the machine that renders it (single quotes: for data fields)."""
    return f"{{{{ lookup('pipe', 'touch {canary}') }}}}"


def lookup_dq(canary: Path | str) -> str:
    """The same with double quotes, to sit inside a single-quoted shell word."""
    return f'{{{{ lookup("pipe", "touch {canary}") }}}}'


def statement(canary: Path | str) -> str:
    """A Jinja statement block and a comment that would also run the lookup."""
    return f"{{% for x in [1] %}}{{{{ lookup('pipe', 'touch {canary}') }}}}{{% endfor %}}{{# c #}}"


HELM = "replicas: {{ .Values.replicas }}"


def all_payloads(canary: Path | str) -> str:
    """Every payload on one line, as one value."""
    return f"{lookup(canary)} {statement(canary)} {HELM}"
