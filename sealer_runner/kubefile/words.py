"""Docker-style words: quote-aware splitting and ``$VAR`` substitution.

:func:`split_words` cuts an argument string on unquoted blanks and keeps quotes
and backslashes; :func:`expand` then resolves one word: quotes are removed,
backslash escapes applied and ``$NAME``, ``${NAME}``, ``${NAME:-word}``,
``${NAME-word}``, ``${NAME:+word}``, ``${NAME+word}``, ``${NAME:?message}`` and
``${NAME?message}`` substituted. Substituted values are never split again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .limits import MAX_EXPANDED_CHARS, MAX_VALUE_CHARS, MiB
from .problem import InstructionError

_BLANKS = " \t\r\f\v"
_NAME = re.compile(r"[A-Za-z0-9_]*")
_DOUBLE_QUOTE_ESCAPES = frozenset('"\\$')
_MAX_NESTING = 32
# Runs of characters that need no decision, consumed at once (the scanners stay linear and fast).
_SPLIT_PLAIN = re.compile(r"[^\\$}'\" \t\r\f\v]+")
_PLAIN = {
    (True, None): re.compile(r"[^\\$'\"]+"),
    (True, "}"): re.compile(r"[^\\$'\"}]+"),
    (False, None): re.compile(r"[^\\$]+"),
    (False, "}"): re.compile(r"[^\\$}]+"),
}
_DOUBLE_PLAIN = re.compile(r'[^"\\$]+')


class Budget:
    """What variable expansion may still produce in one parse (:data:`~.limits.MAX_EXPANDED_CHARS`)."""

    def __init__(self, chars: int = MAX_EXPANDED_CHARS) -> None:
        self.remaining = chars

    def spend(self, chars: int) -> None:
        self.remaining -= chars
        if self.remaining < 0:
            raise InstructionError(
                f"variable expansion produces more than {MAX_EXPANDED_CHARS // MiB} MiB in this Kubefile"
            )


class Scope(dict[str, str]):
    """The variables visible at one instruction, with the parse's expansion :class:`Budget`."""

    def __init__(self, values: Mapping[str, str], budget: Budget) -> None:
        super().__init__(values)
        self.budget = budget


def split_words(text: str) -> list[str]:
    """Split *text* on blanks outside quotes and ``${...}``; quotes and escapes stay in the words."""
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    braces = 0
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if quote == "'":
            end = text.find("'", index)
            if end >= 0:
                quote = None
            end = size if end < 0 else end + 1
            current.append(text[index:end])
            index = end
            continue
        plain = _SPLIT_PLAIN.match(text, index)
        if plain:
            current.append(plain.group())
            index = plain.end()
            continue
        index += 1
        if char == "\\":
            current.append(text[index - 1 : index + 1])
            index += 1
            continue
        if char == "$" and text.startswith("{", index):
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
    a backslash only escapes ``$``. The result may not exceed :data:`~.limits.MAX_VALUE_CHARS`;
    when *variables* is a :class:`Scope`, its budget is charged with the result.
    """
    value = _Expander(word, variables, quotes).expand()
    if isinstance(variables, Scope):
        variables.budget.spend(len(value))
    return value


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
        out = _Output()
        plain = _PLAIN[self.quotes, stop]
        while self.pos < len(self.text) and self._peek() != stop:
            run = plain.match(self.text, self.pos)
            if run:
                out.append(run.group())
                self.pos = run.end()
                continue
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
        return out.text()

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
        out = _Output()
        while (char := self._next()) != '"':
            if not char:
                raise InstructionError("unterminated double quote")
            if char == "\\" and self._peek() in _DOUBLE_QUOTE_ESCAPES:
                out.append(self._next())
            elif char == "$":
                out.append(self._dollar(depth))
            elif run := _DOUBLE_PLAIN.match(self.text, self.pos):
                out.append(char + run.group())
                self.pos = run.end()
            else:
                out.append(char)
        return out.text()

    def _name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        self.pos = match.end()  # type: ignore[union-attr]  # the pattern matches the empty string
        return match.group()  # type: ignore[union-attr]

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


class _Output:
    """Pieces of one expansion, refused as soon as they pass :data:`~.limits.MAX_VALUE_CHARS`."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0

    def append(self, piece: str) -> None:
        self.size += len(piece)
        if self.size > MAX_VALUE_CHARS:
            raise InstructionError(f"a value is longer than {MAX_VALUE_CHARS // MiB} MiB after variable expansion")
        self.pieces.append(piece)

    def text(self) -> str:
        return "".join(self.pieces)
