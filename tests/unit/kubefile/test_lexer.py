"""Lexing: comments, directives, continuations, keywords, flags, JSON form."""

from __future__ import annotations

import pytest

from sealer_runner.kubefile.lexer import Flag, Instruction, json_array, lex, split_first_word


def test_comments_directives_and_blank_lines_are_skipped() -> None:
    text = "# syntax=docker/dockerfile:1\n# escape=`\n\n   # indented comment\nFROM scratch\n\n"
    assert lex(text) == [Instruction(5, "FROM", (), "scratch")]


def test_keywords_are_case_insensitive() -> None:
    assert [i.keyword for i in lex("from a\nCoPy a b\nrun x")] == ["FROM", "COPY", "RUN"]


def test_continuation_joins_lines_and_reports_the_first_line() -> None:
    text = "FROM scratch\nRUN echo a \\\n  && echo b \\\t \n  && echo c\nCMD x"
    instructions = lex(text)
    assert instructions[1] == Instruction(2, "RUN", (), "echo a   && echo b   && echo c")
    assert instructions[2].line == 5


def test_comments_and_blank_lines_inside_a_continuation_are_dropped() -> None:
    text = "RUN a \\\n# dropped comment\n\n   # another\n  b"
    assert lex(text) == [Instruction(1, "RUN", (), "a   b")]


def test_continuation_at_end_of_file_ends_the_instruction() -> None:
    assert lex("FROM scratch \\") == [Instruction(1, "FROM", (), "scratch")]
    assert lex("\\\n# only a comment follows") == []


def test_crlf_and_byte_order_mark() -> None:
    assert lex("\ufeffFROM scratch\r\nRUN a \\\r\n b\r\n") == [
        Instruction(1, "FROM", (), "scratch"),
        Instruction(2, "RUN", (), "a  b"),
    ]


def test_a_hash_inside_an_instruction_is_not_a_comment() -> None:
    assert lex("RUN echo # not a comment")[0].args == "echo # not a comment"


def test_flags_are_taken_from_the_start_of_the_arguments() -> None:
    [instruction] = lex("FROM --platform=linux/amd64 --quiet img --not-a-flag")
    assert instruction.flags == (Flag("platform", "linux/amd64"), Flag("quiet", None))
    assert instruction.args == "img --not-a-flag"


def test_double_dash_ends_flags() -> None:
    [instruction] = lex("RUN -- --version")
    assert instruction.flags == ()
    assert instruction.args == "--version"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('["a", "b c"]', ("a", "b c")),
        ("[]", ()),
        ('["a", 1]', None),
        ("['a']", None),
        ('["a"] trailing', None),
        ('["unterminated', None),
        ("echo [a]", None),
        ("[" * 5000, None),
    ],
)
def test_json_array(args: str, expected: tuple[str, ...] | None) -> None:
    assert json_array(args) == expected


def test_split_first_word() -> None:
    assert split_first_word("  key \t value  with  spaces ") == ("key", "value  with  spaces")
    assert split_first_word("alone") == ("alone", "")
