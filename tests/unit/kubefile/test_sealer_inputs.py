"""Kubefile lines from sealer's users and docs that must parse as sealer reads them (issue 11, items 2-6)."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping

import pytest

from sealer_runner.errors import KubefileError
from sealer_runner.kubefile import parse_kubefile

from .conftest import Fail, Parse

Files = Callable[[Mapping[str, str]], None]

DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
AMD64 = {"ARCH": "amd64", "TARGETARCH": "amd64", "TARGETOS": "linux", "TARGETPLATFORM": "linux/amd64"}


def parse_for(context: pathlib.Path, text: str, predefined: dict[str, str]):
    return parse_kubefile(text, context_dir=context, predefined=predefined)


# ------------------------------------------------------------------ item 2: ${ARCH}


def test_arch_in_copy_is_the_platform_being_built(context: pathlib.Path, files: Files) -> None:
    files({"amd64/bin/kubeadm": "x86", "arm64/bin/kubeadm": "arm"})
    text = "FROM scratch\nCOPY ${ARCH}/bin bin\nCOPY $TARGETARCH/bin/kubeadm opt/${TARGETOS}-${TARGETARCH}/\n"
    amd = parse_for(context, text, AMD64)
    arm = parse_for(context, text, {"ARCH": "arm64", "TARGETARCH": "arm64", "TARGETOS": "linux"})
    assert amd.steps[0].sources == (context / "amd64/bin",) and amd.steps[0].text == "COPY amd64/bin bin"
    assert arm.steps[0].sources == (context / "arm64/bin",)
    assert arm.steps[1].dest == "opt/linux-arm64" and arm.steps[1].sources == (context / "arm64/bin/kubeadm",)


def test_arg_and_env_override_predefined_variables_which_run_does_not_inherit(context, files) -> None:
    files({"x86/f": "x"})
    plan = parse_for(context, "FROM scratch\nARG ARCH=x86\nCOPY ${ARCH}/f f\nRUN true", AMD64)
    assert plan.steps[0].text == "COPY x86/f f"
    assert dict(plan.steps[1].env) == {"ARCH": "x86"}  # the declared ARG only, not TARGET*


# ------------------------------------------------------------------ item 3: COPY ... # comment


def test_copy_trailing_comment_is_ignored_with_a_warning(parse: Parse, files: Files) -> None:
    files({"dashboard.yaml.tmpl": "kind: x"})
    plan = parse("FROM scratch\nCOPY dashboard.yaml.tmpl manifests/ # only support render template files, ok\n")
    step = plan.steps[0]
    assert (step.dest, step.dest_is_dir, step.text) == ("manifests", True, "COPY dashboard.yaml.tmpl manifests/")
    assert plan.warnings == (
        "Kubefile:2: COPY: ignored the rest of the line after the destination: "
        "'# only support render template files, ok'",
    )


def test_copy_several_sources_and_quoted_hash_keep_working(parse: Parse, files: Files) -> None:
    files({"a": "a", "b": "b", "#c": "c"})
    plan = parse('FROM scratch\nCOPY a b dir/\nCOPY a "#c" dir2/\nCOPY ["a", "#c", "dir3/"]')
    assert [len(step.sources) for step in plan.steps] == [2, 2, 2]
    assert [step.dest for step in plan.steps] == ["dir", "dir2", "dir3"]
    assert plan.warnings == ()


# ------------------------------------------------------------------ item 4: CMD ["cmd line", ...]


def test_cmd_json_of_command_lines_is_taken_as_cmds_with_a_warning(parse: Parse) -> None:
    plan = parse('FROM scratch\nCMD ["kubectl apply -f a.yaml", "kubectl apply -f b.yaml"]')
    assert plan.cmds == ("kubectl apply -f a.yaml", "kubectl apply -f b.yaml")
    assert len(plan.warnings) == 1 and plan.warnings[0].startswith("Kubefile:2: CMD: 'kubectl apply -f a.yaml'")
    assert "write CMDS" in plan.warnings[0]


def test_cmd_json_argv_is_still_one_shell_quoted_command(parse: Parse) -> None:
    plan = parse('FROM scratch\nCMD ["kubectl", "apply", "-f", "my app.yaml"]')
    assert plan.cmds == ("kubectl apply -f 'my app.yaml'",) and plan.warnings == ()


def test_cmd_json_of_command_lines_refuses_an_empty_one(fail: Fail) -> None:
    assert "non-empty" in fail('FROM scratch\nCMD ["kubectl apply -f a.yaml", " "]').message


# ------------------------------------------------------------------ item 5: APPCMDS for a mixed app


@pytest.mark.parametrize("sources", [("app.yaml", "install.sh"), ("dashboard.yaml.tmpl",)])
def test_app_of_no_detectable_type_is_accepted_with_appcmds(parse: Parse, files: Files, sources) -> None:
    files({"app.yaml": DEPLOYMENT, "install.sh": "echo hi\n", "dashboard.yaml.tmpl": "kind: {{ .K }}\n"})
    specs = " ".join(f"local://{s}" for s in sources)
    plan = parse(f'FROM scratch\nAPP mix {specs}\nAPPCMDS mix ["bash install.sh"]\nLAUNCH ["mix"]')
    (app,) = plan.apps
    assert (app.name, app.type, app.files, app.cmds) == ("mix", "", (), ("bash install.sh",))


def test_app_of_no_detectable_type_without_appcmds_fails_at_its_line(fail: Fail, files: Files) -> None:
    files({"app.yaml": DEPLOYMENT, "install.sh": "echo hi\n"})
    error = fail("FROM scratch\nAPP mix local://app.yaml local://install.sh\nAPP web local://app.yaml\n")
    assert error.line == 2
    assert error.message.startswith("cannot detect the type of app mix")
    assert error.message.endswith("or give its launch commands with APPCMDS mix [...]")


# ------------------------------------------------------------------ item 6: APP https://...


def test_remote_app_source_says_how_to_vendor_it(fail: Fail) -> None:
    error = fail("FROM scratch\nAPP dashboard https://raw.githubusercontent.com/k/d/v2.7.0/recommended.yaml#x")
    assert error.line == 2
    assert "curl -fLo recommended.yaml" in error.message and "write local://recommended.yaml" in error.message


def test_errors_stay_kubefile_errors(context: pathlib.Path) -> None:
    with pytest.raises(KubefileError):
        parse_for(context, "FROM scratch\nCOPY ${ARCH}/bin bin", {})
