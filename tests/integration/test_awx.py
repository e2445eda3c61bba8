"""docs/awx: every survey variable is one the playbooks accept (a role's meta/argument_specs.yml: name, type,
choices, default), each job template runs a playbook of the example ops repo that imports sealer.cluster.<verb>,
the custom credential types inject only their own inputs into documented no_log variables, and nothing in the
collection or the example prompts during a job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.role_specs import COLLECTION, role_options, type_problems

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "docs" / "awx"
OPS = REPO / "examples" / "ops-repo"
TEMPLATES = sorted((AWX / "job-templates").glob("*.json"))
SURVEYS = sorted((AWX / "surveys").glob("*.json"))
CREDENTIAL_TYPES = sorted((AWX / "credential-types").glob("*.json"))
#: AWX survey question types, and the argument-spec types an answer of each fits.
SURVEY_TYPES = {"text": {"str", "path", "raw"}, "textarea": {"str", "path", "raw"}, "password": {"str", "raw"},
                "integer": {"int"}, "float": {"float", "int"}, "multiplechoice": {"str", "bool", "raw"},
                "multiselect": {"list"}}
#: Variables a collection playbook reads itself, with no role (and so no argument spec): where they are read.
PLAYBOOK_VARIABLES = {"sealer_exec_command": "playbooks/exec.yml", "sealer_render_dir": "playbooks/render.yml"}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_is_a_template_and_a_survey_per_collection_verb_playbook():
    verbs = {p.stem for p in (COLLECTION / "playbooks").glob("*.yml")} - {"image", "infra", "state_pull"}
    assert {p.stem for p in TEMPLATES} == verbs, \
        "a job template per verb (infra is sealer_runner's cloud step, state_pull copies to its controller)"
    assert {p.stem for p in SURVEYS} == verbs


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_job_template_runs_an_example_playbook_importing_the_verb(path):
    template = _load(path)
    playbook = yaml.safe_load((OPS / template["playbook"]).read_text())
    imported = [play.get("ansible.builtin.import_playbook") for play in playbook]
    assert imported[-1] == f"sealer.cluster.{path.stem}", imported
    assert all(name and name.startswith("sealer.cluster.") for name in imported)
    assert (AWX / template["survey_spec"]).is_file() and template["survey_enabled"] is True
    assert template["ask_variables_on_launch"] is False, "inputs come from the survey and group_vars"
    assert any("Machine" in name for name in template["credentials"]), "SSH through a Machine credential"


@pytest.mark.parametrize("path", SURVEYS, ids=lambda p: p.stem)
def test_every_survey_variable_is_accepted_by_the_playbooks(path):
    survey = _load(path)
    assert set(survey) == {"name", "description", "spec"} and survey["spec"]
    options = role_options()
    variables = [q["variable"] for q in survey["spec"]]
    assert len(set(variables)) == len(variables), "a variable asked twice"
    for question in survey["spec"]:
        name, kind = question["variable"], question["type"]
        assert {"question_name", "question_description", "variable", "type", "required"} <= set(question), question
        assert kind in SURVEY_TYPES, question
        if name in PLAYBOOK_VARIABLES:
            assert name in (COLLECTION / PLAYBOOK_VARIABLES[name]).read_text()
            continue
        assert name in options, f"{path.name}: {name} is in no role's meta/argument_specs.yml"
        for where, option in options[name]:
            assert option.get("type", "str") in SURVEY_TYPES[kind], (path.name, name, where, kind, option.get("type"))
            if option.get("choices"):
                assert set(question["choices"]) <= {str(c) for c in option["choices"]}, (name, where)
        if kind == "multiplechoice":
            assert isinstance(question["choices"], list) and question.get("default") in question["choices"], name
        if "default" in question and question["default"] != "":
            assert not type_problems(name, question["default"], options[name]), (name, question["default"])
    checked = {q["variable"] for q in survey["spec"]} - set(PLAYBOOK_VARIABLES)
    assert checked or path.stem in ("exec", "render")


@pytest.mark.parametrize("path", CREDENTIAL_TYPES, ids=lambda p: p.stem)
def test_credential_type_injects_its_inputs_into_no_log_variables(path):
    kind = _load(path)
    assert kind["kind"] == "cloud" and set(kind["injectors"]) <= {"extra_vars", "env", "file"}
    fields = {f["id"]: f for f in kind["inputs"]["fields"]}
    assert set(kind["inputs"]["required"]) <= set(fields)
    options = role_options()
    for variable, template in kind["injectors"]["extra_vars"].items():
        used = re.findall(r"{{\s*(\w+)\s*}}", template)
        assert used and set(used) <= set(fields), template
        assert variable in options, f"{variable} is in no role's meta/argument_specs.yml"
        if any(fields[u].get("secret") for u in used):
            assert all(option.get("no_log") for _, option in options[variable]), f"{variable} must be no_log"


def test_nothing_prompts_during_a_job():
    """AWX has no terminal: no vars_prompt, no pause waiting for input, anywhere a job runs."""
    files = [*COLLECTION.rglob("*.yml"), *OPS.rglob("*.yml"), AWX / "configure.yml"]
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text().replace("!unsafe", "")) if d is not None]
        text = json.dumps(docs)
        assert '"vars_prompt"' not in text, path
        for match in re.finditer(r'"(ansible\.builtin\.)?pause": (\{[^}]*\}|null|"[^"]*")', text):
            assert '"seconds"' in match.group(2) or '"minutes"' in match.group(2), (path, match.group(0))
