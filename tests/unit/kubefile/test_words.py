"""Word splitting and Docker-style variable substitution."""

from __future__ import annotations

import pytest

from sealer_runner.kubefile.problem import InstructionError
from sealer_runner.kubefile.words import expand, split_words

VARIABLES = {"NAME": "world", "EMPTY": "", "SPACED": "a b"}


def test_split_words_keeps_quotes_and_escapes() -> None:
    assert split_words("a \"b c\" d\\ e 'f  g'  h") == ["a", '"b c"', "d\\ e", "'f  g'", "h"]
    assert split_words('  ""  ') == ['""']
    assert split_words(" \t ") == []


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$NAME", "world"),
        ("${NAME}", "world"),
        ("pre${NAME}post", "preworldpost"),
        ("$UNSET", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${NAME:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${NAME:?must be set}", "world"),
        ("${UNSET:-${NAME}}", "world"),
        ("${UNSET:-'a b'}", "a b"),
        ("$SPACED", "a b"),
        ("'$NAME'", "$NAME"),
        ('"$NAME and \\$NAME \\n"', "world and $NAME \\n"),
        ("\\$NAME", "$NAME"),
        ("a\\ b", "a b"),
        ("trailing\\", "trailing\\"),
        ("$", "$"),
        ("cost: $5", "cost: "),
        ("100%", "100%"),
    ],
)
def test_expand(word: str, expected: str) -> None:
    assert expand(word, VARIABLES) == expected


def test_expand_without_quote_processing_for_json_form() -> None:
    assert expand("'$NAME' \"x\" a\\b \\$NAME", VARIABLES, quotes=False) == "'world' \"x\" a\\b $NAME"


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("'open", "unterminated single quote"),
        ('"open', "unterminated double quote"),
        ("${", "bad substitution: a variable name must follow '${'"),
        ("${}", "bad substitution: a variable name must follow '${'"),
        ("${NAME", "missing '}' in substitution of NAME"),
        ("${NAME:-x", "missing '}' in substitution of NAME"),
        ("${NAME/a/b}", "bad substitution: unsupported modifier after ${NAME"),
        ("${UNSET:?must be set}", "UNSET: must be set"),
        ("${EMPTY:?}", "EMPTY: is not set"),
        ("${A:-" * 40, "variable substitutions are nested too deeply"),
    ],
)
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(InstructionError) as info:
        expand(word, VARIABLES)
    assert info.value.message == message


def test_split_words_keeps_substitutions_with_blanks_together() -> None:
    assert split_words("A=${B:-x y} C=\"${D}\" E=${F") == ["A=${B:-x y}", 'C="${D}"', "E=${F"]
