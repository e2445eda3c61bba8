"""Docker-style words: quote-aware splitting and ``$VAR`` substitution.

:func:`split_words` cuts an argument string on unquoted blanks and keeps quotes
and backslashes; :func:`expand` then resolves one word: quotes are removed,
backslash escapes applied and ``$NAME``, ``${NAME}``, ``${NAME:-word}``,
``${NAME-word}``, ``${NAME:+word}``, ``${NAME+word}``, ``${NAME:?message}`` and
``${NAME?message}`` substituted. Substituted values are never split again.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from .problem import InstructionError

_BLANKS = " \t\r\f\v"
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_DOUBLE_QUOTE_ESCAPES = frozenset('"\\$')
_MAX_NESTING = 32


def split_words(text: str) -> list[str]:
    """Split *text* on blanks outside quotes and ``${...}``; quotes and escapes stay in the words."""
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    braces = 0
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif char == "$" and text.startswith("{", index + 1):
            braces += 1
        elif char == "}" and braces:
            braces -= 1
        elif quote == '"':
            quote = None if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char in _BLANKS and not braces:
            if current:
                words.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        words.append("".join(current))
    return words


def expand(word: str, variables: Mapping[str, str], *, quotes: bool = True) -> str:
    """Resolve quotes, escapes and variables in *word*.

    With ``quotes=False`` (JSON-form arguments) quote characters are literal and
    a backslash only escapes ``$``.
    """
    return _Expander(word, variables, quotes).expand()


class _Expander:
    """A cursor over one word; each method consumes what it recognises."""

    def __init__(self, text: str, variables: Mapping[str, str], quotes: bool) -> None:
        self.text = text
        self.pos = 0
        self.variables = variables
        self.quotes = quotes

    def expand(self) -> str:
        return self._until(None, depth=0)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        char = self._peek()
        self.pos += 1
        return char

    def _until(self, stop: str | None, depth: int) -> str:
        out: list[str] = []
        while self.pos < len(self.text) and self._peek() != stop:
            char = self._next()
            if char == "\\":
                out.append(self._escape())
            elif char == "$":
                out.append(self._dollar(depth))
            elif self.quotes and char == "'":
                out.append(self._single_quoted())
            elif self.quotes and char == '"':
                out.append(self._double_quoted(depth))
            else:
                out.append(char)
        return "".join(out)

    def _escape(self) -> str:
        if not self.quotes:
            return self._next() if self._peek() == "$" else "\\"
        return self._next() or "\\"

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise InstructionError("unterminated single quote")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def _double_quoted(self, depth: int) -> str:
        out: list[str] = []
        while (char := self._next()) != '"':
            if not char:
                raise InstructionError("unterminated double quote")
            if char == "\\" and self._peek() in _DOUBLE_QUOTE_ESCAPES:
                out.append(self._next())
            elif char == "$":
                out.append(self._dollar(depth))
            else:
                out.append(char)
        return "".join(out)

    def _name(self) -> str:
        start = self.pos
        while self._peek() in _NAME_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def _dollar(self, depth: int) -> str:
        if self._peek() == "{":
            self.pos += 1
            return self._braced(depth + 1)
        name = self._name()
        return self.variables.get(name, "") if name else "$"

    def _braced(self, depth: int) -> str:
        if depth > _MAX_NESTING:
            raise InstructionError("variable substitutions are nested too deeply")
        name = self._name()
        if not name:
            raise InstructionError("bad substitution: a variable name must follow '${'")
        operator = self._next()
        if not operator:
            raise InstructionError(f"missing '}}' in substitution of {name}")
        if operator == "}":
            return self.variables.get(name, "")
        if operator == ":":
            operator += self._next()
        if operator.lstrip(":") not in ("-", "+", "?"):
            raise InstructionError(f"bad substitution: unsupported modifier after ${{{name}")
        word = self._until("}", depth)
        if self._next() != "}":
            raise InstructionError(f"missing '}}' in substitution of {name}")
        return self._apply(name, operator, word)

    def _apply(self, name: str, operator: str, word: str) -> str:
        value = self.variables.get(name)
        if operator.startswith(":") and value == "":
            value = None
        if operator.endswith("-"):
            return word if value is None else value
        if operator.endswith("+"):
            return "" if value is None else word
        if value is None:
            raise InstructionError(f"{name}: {word or 'is not set'}")
        return value
