# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: the Go-template subset of sealer's ``*.tmpl`` files.

sealer renders ``etc/kubeadm.yml.tmpl`` into ``etc/kubeadm.yml`` with Go's text/template, the cluster
env as the data (a map of strings) and two functions, ``b64enc`` and ``b64dec``. This is the part of
that language a map of strings can use, implemented with the standard library only (it runs on the
managed host):

* ``{{ .NAME }}`` and ``{{ index . "NAME" }}`` (for names like ``a-b``): the variable's value;
* string literals (``{{ "{{" }}`` writes ``{{``), pipelines and calls: ``{{ .X | b64enc }}``,
  ``{{ b64dec .X }}``;
* trim markers ``{{- `` and `` -}}`` (they eat the whitespace, newlines included, before or after);
* comments ``{{/* ... */}}``.

Stricter than sealer on purpose: an unknown variable is an error (Go prints ``<no value>``), and so is
any action this subset does not have (``if``, ``range``, ``with``, ``define``...). Errors name the
template and line.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

_OPEN, _CLOSE = "{{", "}}"
_NAME = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)$")
_TOKEN = re.compile(r'\s*("(?:[^"\\\n]|\\.)*"|`[^`]*`|\||[^\s|"`]+)')
_KEYWORDS = ("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue")


class TemplateError(Exception):
    """A template cannot be rendered; ``str(exc)`` names the template and the line."""


def _b64dec(value):
    try:
        return base64.b64decode(value.encode("utf-8"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("b64dec: %s" % exc) from None


FUNCTIONS = {
    "b64enc": lambda value: base64.b64encode(value.encode("utf-8")).decode("ascii"),
    "b64dec": _b64dec,
}


def render(text, env, name="template"):
    """Render *text* with *env* (a dict of strings); raise TemplateError on any problem."""
    out = []
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            out.append(text[pos:])
            break
        line = text.count("\n", 0, start) + 1
        end = _find_close(text, start, name, line)
        body = text[start + 2:end]
        chunk = text[pos:start]
        if re.match(r"-[ \t\r\n]", body):
            chunk = chunk.rstrip(" \t\r\n")
            body = body[1:]
        trim_after = re.search(r"[ \t\r\n]-$", body) is not None
        if trim_after:
            body = body[:-1]
        out.append(chunk)
        out.append(_action(body.strip(), env, name, line))
        pos = end + 2
        if trim_after:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
    return "".join(out)


def _find_close(text, start, name, line):
    """The index of the ``}}`` closing the action at *start*, skipping string literals and comments."""
    i = start + 2
    body = text[i:i + 4].lstrip("- ")
    if body.startswith("/*"):
        close = text.find("*/", i)
        end = text.find(_CLOSE, close) if close >= 0 else -1
        if end < 0:
            raise TemplateError("%s:%d: unclosed comment" % (name, line))
        return end
    while i < len(text):
        if text.startswith(_CLOSE, i):
            return i
        if text[i] in "\"`":
            quote = text[i]
            i += 1
            while i < len(text) and text[i] != quote:
                if text[i] == "\n" and quote == '"':
                    break
                i += 2 if text[i] == "\\" and quote == '"' else 1
        i += 1
    raise TemplateError("%s:%d: unclosed action (no '}}')" % (name, line))


def _action(body, env, name, line):
    if body.startswith("/*"):
        if not body.endswith("*/"):
            raise TemplateError("%s:%d: a comment must end with '*/}}'" % (name, line))
        return ""
    if not body:
        raise TemplateError("%s:%d: empty action {{}}" % (name, line))
    words = _tokens(body, name, line)
    if words[0] in _KEYWORDS:
        raise TemplateError("%s:%d: {{%s}} is not supported: sealer_runner renders variables, string literals, "
                            "b64enc and b64dec only" % (name, line, words[0]))
    commands = [[]]
    for word in words:
        if word == "|":
            commands.append([])
        else:
            commands[-1].append(word)
    if any(not command for command in commands):
        raise TemplateError("%s:%d: empty command in pipeline {{%s}}" % (name, line, body))
    value = None
    for i, command in enumerate(commands):
        value = _command(command, env, name, line, None if i == 0 else value)
    return value


def _tokens(body, name, line):
    words = []
    pos = 0
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if not match:
            if body[pos:].strip():
                raise TemplateError("%s:%d: cannot read {{%s}}" % (name, line, body))
            break
        words.append(match.group(1))
        pos = match.end()
    return words


def _command(command, env, name, line, piped):
    head, args = command[0], command[1:]
    if head in FUNCTIONS:
        values = [_operand(arg, env, name, line) for arg in args]
        if piped is not None:
            values.append(piped)
        if len(values) != 1:
            raise TemplateError("%s:%d: %s takes one argument, got %d" % (name, line, head, len(values)))
        try:
            return FUNCTIONS[head](values[0])
        except ValueError as exc:
            raise TemplateError("%s:%d: %s" % (name, line, exc)) from None
    if head == "index":
        if piped is not None or len(args) != 2 or args[0] != ".":
            raise TemplateError('%s:%d: write index as {{ index . "NAME" }}' % (name, line))
        return _lookup(_operand(args[1], env, name, line), env, name, line)
    if piped is not None:
        raise TemplateError("%s:%d: %s is not a function (b64enc, b64dec)" % (name, line, head))
    if args:
        raise TemplateError("%s:%d: %s is not a function (b64enc, b64dec)" % (name, line, head))
    return _operand(head, env, name, line)


def _operand(word, env, name, line):
    if word.startswith('"'):
        try:
            return json.loads(word)
        except ValueError:
            raise TemplateError("%s:%d: bad string literal %s" % (name, line, word)) from None
    if word.startswith("`"):
        return word[1:-1]
    match = _NAME.match(word)
    if match:
        return _lookup(match.group(1), env, name, line)
    if word == ".":
        raise TemplateError("%s:%d: {{ . }} is the whole env; name a variable: {{ .NAME }}" % (name, line))
    if word.startswith(".") and "." in word[1:]:
        raise TemplateError("%s:%d: %s: env values are strings and have no fields" % (name, line, word))
    if word in FUNCTIONS:
        raise TemplateError("%s:%d: %s needs an argument" % (name, line, word))
    raise TemplateError("%s:%d: unknown name %s (variables are written .NAME; functions: b64enc, b64dec)"
                        % (name, line, word))


def _lookup(key, env, name, line):
    if key not in env:
        raise TemplateError("%s:%d: no variable %s in the cluster env (the image's ENV, the Clusterfile's "
                            "env and the host's env)" % (name, line, key))
    return env[key]
