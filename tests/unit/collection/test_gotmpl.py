"""module_utils/_gotmpl.py: the Go-template subset of sealer's *.tmpl files."""

from __future__ import annotations

import pytest

from .conftest import load

gotmpl = load("module_utils", "_gotmpl")
render = gotmpl.render
TemplateError = gotmpl.TemplateError

ENV = {"PodCIDR": "100.64.0.0/10", "SvcCIDR": "10.96.0.0/22", "with-dash": "d", "Secret": "pa55"}


def test_variables_as_sealer_writes_them():
    text = "networking:\n  podSubnet: {{ .PodCIDR }}\n  serviceSubnet: {{.SvcCIDR}}\n"
    assert render(text, ENV) == "networking:\n  podSubnet: 100.64.0.0/10\n  serviceSubnet: 10.96.0.0/22\n"


def test_text_without_actions_is_unchanged():
    text = "a: 1\n# { not an action } and a lone } or {\n"
    assert render(text, {}) == text


def test_index_literals_functions_and_pipelines():
    assert render('{{ index . "with-dash" }}', ENV) == "d"
    assert render('{{ "{{" }} .X }}', ENV) == "{{ .X }}"
    assert render("{{ `raw \\n` }}", ENV) == "raw \\n"
    assert render("{{ .Secret | b64enc }}", ENV) == "cGE1NQ=="
    assert render("{{ b64enc .Secret }}", ENV) == "cGE1NQ=="
    assert render("{{ .Secret | b64enc | b64dec }}", ENV) == "pa55"
    assert render('{{ "a}}b" }}', ENV) == "a}}b", "a '}}' inside a string does not close the action"


def test_trim_markers_and_comments():
    text = "a:\n  {{- /* gone */ -}}\n  b\n{{/* a comment\nover lines */}}c {{- .SvcCIDR }} \n{{ .SvcCIDR -}}\n\n end"
    assert render(text, ENV) == "a:b\nc10.96.0.0/22 \n10.96.0.0/22end"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\nb: {{ .Missing }}\n", r"^t:2: no variable Missing in the cluster env"),
        ('{{ index . "nope" }}', r"^t:1: no variable nope"),
        ("x\n\n{{ if .PodCIDR }}y{{ end }}", r"^t:3: \{\{if\}\} is not supported"),
        ("{{ range .PodCIDR }}{{ end }}", r"\{\{range\}\} is not supported"),
        ("{{ .PodCIDR", r"^t:1: unclosed action"),
        ("{{ /* open", r"^t:1: unclosed comment"),
        ("{{ }}", r"empty action"),
        ("{{ . }}", r"the whole env"),
        ("{{ .A.B }}", r"no fields"),
        ("{{ upper .PodCIDR }}", r"upper is not a function"),
        ("{{ upper }}", r"unknown name upper"),
        ("{{ .PodCIDR | upper }}", r"upper is not a function"),
        ("{{ b64enc }}", r"b64enc takes one argument, got 0"),
        ("{{ b64dec .PodCIDR }}", r"b64dec"),
        ("{{ .PodCIDR | }}", r"empty command"),
    ],
)
def test_errors_name_template_and_line(text, message):
    with pytest.raises(TemplateError, match=message):
        render(text, ENV, "t")
