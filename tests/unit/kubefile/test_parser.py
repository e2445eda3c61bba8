"""parse_kubefile: every instruction, its plan and its errors (message and line)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Mapping

import pytest

from sealer_runner.errors import KubefileError
from sealer_runner.kubefile import (
    LABEL_CLUSTER_RUNTIME_TYPE,
    LABEL_KUBE_CNI,
    LABEL_KUBE_CSI,
    LABEL_SUPPORTED_KUBE_VERSION,
    AppSpec,
    BuildPlan,
    CopyStep,
    RunStep,
    parse_kubefile,
)

Parse = Callable[..., BuildPlan]
Fail = Callable[..., KubefileError]
Files = Callable[[Mapping[str, str]], None]

DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
CHART = "apiVersion: v2\nname: c\nversion: 0.1.0\n"


def assert_error(error: KubefileError, line: int | None, message: str) -> None:
    assert (error.line, error.message) == (line, message)
    assert str(error) == (f"Kubefile:{line}: {message}" if line else f"Kubefile: {message}")


@pytest.fixture
def apps(files: Files) -> None:
    """One app source of each type in the build context."""
    files({"web.yaml": DEPLOYMENT, "chart/Chart.yaml": CHART, "install.sh": "echo hi\n"})


# ------------------------------------------------------------------ FROM


def test_minimal_kubefile(parse: Parse) -> None:
    assert parse("FROM scratch") == BuildPlan(
        base=None, platforms=(), steps=(), args=(), env=(), labels=(), cmds=(), launch_apps=(), apps=()
    )


def test_from_image_and_platforms(parse: Parse) -> None:
    plan = parse("from --platform=linux/amd64,linux/arm64/v8 docker.io/sealerio/kubernetes:v1.22.15")
    assert plan.base == "docker.io/sealerio/kubernetes:v1.22.15"
    assert plan.platforms == ("linux/amd64", "linux/arm64/v8")


def test_from_platform_in_brackets_as_sealer_accepts(parse: Parse) -> None:
    assert parse("FROM --platform=[linux/amd64,linux/arm64] scratch").platforms == ("linux/amd64", "linux/arm64")


def test_from_uses_args_declared_before_it(parse: Parse) -> None:
    text = "ARG TAG=v1\nARG ARCH\nFROM --platform=linux/${ARCH:-amd64} kube:$TAG"
    assert parse(text).base == "kube:v1"
    plan = parse(text, {"TAG": "v2", "ARCH": "arm64"})
    assert (plan.base, plan.platforms) == ("kube:v2", ("linux/arm64",))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", None, "missing FROM instruction"),
        ("# just a comment\nARG A=1", None, "missing FROM instruction"),
        (
            "ARG A\nRUN x\nFROM scratch",
            2,
            "RUN before FROM: FROM must be the first instruction (only ARG may precede it)",
        ),
        ("FROM scratch\nFROM scratch", 2, "only one FROM is allowed (first at line 1)"),
        ("FROM", 1, "FROM requires exactly one image (or scratch); multi-stage builds are not supported"),
        ("FROM a AS b", 1, "FROM requires exactly one image (or scratch); multi-stage builds are not supported"),
        ("FROM $NOPE", 1, "FROM image $NOPE is empty after variable expansion"),
        ("FROM Ubuntu", 1, "invalid reference 'Ubuntu': repository name must be lowercase"),
        ("FROM --platform=linux scratch", 1, "invalid platform 'linux': expected os/arch[/variant], e.g. linux/amd64"),
        ("FROM --platform=a/b,a/b scratch", 1, "duplicate platform in --platform=a/b,a/b"),
        ("FROM --platform scratch", 1, "--platform requires a value (--platform=VALUE)"),
        ("FROM --platform=a/b --platform=c/d scratch", 1, "--platform is given more than once"),
        ("FROM --pull=always scratch", 1, "unknown flag for FROM: --pull"),
    ],
)
def test_from_errors(fail: Fail, text: str, line: int | None, message: str) -> None:
    assert_error(fail(text), line, message)


def test_unknown_instruction(fail: Fail) -> None:
    assert_error(fail("FROM scratch\n\nfoo bar"), 3, "unknown instruction: FOO")


def test_unknown_instruction_is_reported_before_ordering(fail: Fail) -> None:
    assert_error(fail("ADD x y\nFROM scratch"), 1, "unknown instruction: ADD")


# ------------------------------------------------------------------ ARG / ENV / LABEL


def test_arg_defaults_build_arg_override_and_unused_build_args(parse: Parse) -> None:
    plan = parse("FROM scratch\nARG A=1 B=two C\nARG D=$A-x", {"B": "over", "UNUSED": "z"})
    assert plan.args == (("A", "1"), ("B", "over"), ("D", "1-x"))


def test_arg_without_value_is_unset(parse: Parse) -> None:
    plan = parse("FROM scratch\nARG A\nENV X=${A-unset}")
    assert (plan.args, plan.env) == ((), (("X", "unset"),))


def test_args_before_from_need_redeclaring_after_it(parse: Parse) -> None:
    plan = parse("ARG V=1\nARG W=2\nFROM scratch\nARG V\nENV SEEN=$V/$W")
    assert plan.args == (("V", "1"),)
    assert plan.env == (("SEEN", "1/"),)


def test_arg_redeclared_without_default_keeps_its_value(parse: Parse) -> None:
    assert parse("FROM scratch\nARG A=1\nARG A").args == (("A", "1"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [("ARG", "ARG requires a name"), ("ARG 1X=2", "invalid ARG name '1X'"), ("ARG =2", "invalid ARG name ''")],
)
def test_arg_errors(fail: Fail, text: str, message: str) -> None:
    assert_error(fail("FROM scratch\n" + text), 2, message)


def test_env_forms_and_expansion(parse: Parse) -> None:
    text = 'FROM scratch\nARG V=1\nENV A=$V B="two words" C=${V}x\nENV LEGACY value with  spaces\nENV V=env D=$V'
    assert parse(text).env == (
        ("A", "1"), ("B", "two words"), ("C", "1x"), ("D", "1"), ("LEGACY", "value with  spaces"), ("V", "env"),
    )


def test_env_wins_over_arg(parse: Parse) -> None:
    assert parse("FROM scratch\nARG X=arg\nENV X=env\nENV Y=$X").env == (("X", "env"), ("Y", "env"))


def test_labels_with_quoted_keys_and_continuations(parse: Parse) -> None:
    text = (
        'FROM scratch\nLABEL "cluster.alpha.sealer.io/cluster-runtime-type"="kubernetes" \\\n'
        "      maintainer=me \\\n      description='a b'\nLABEL legacy form"
    )
    assert parse(text).labels == (
        (LABEL_CLUSTER_RUNTIME_TYPE, "kubernetes"), ("description", "a b"), ("legacy", "form"), ("maintainer", "me"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ENV", "ENV requires at least one KEY=VALUE pair"),
        ("ENV A=1 B", "ENV expects KEY=VALUE pairs, got B"),
        ("ENV =1", "ENV keys cannot be empty"),
        ("ENV ALONE", "ENV ALONE has no value (use ENV KEY=VALUE)"),
        ("LABEL", "LABEL requires at least one KEY=VALUE pair"),
        ("LABEL a=1 b", "LABEL expects KEY=VALUE pairs, got b"),
        ('LABEL a="open', "unterminated double quote"),
        ("ENV A=${B:?is required}", "B: is required"),
        ("ENV A=1\nENV --x=1 B=2", "unknown flag for ENV: --x"),
    ],
)
def test_env_and_label_errors(fail: Fail, text: str, message: str) -> None:
    assert_error(fail("FROM scratch\n" + text), text.count("\n") + 2, message)


# ------------------------------------------------------------------ RUN / CMD / CMDS


def test_run_shell_and_json_forms_with_visible_env(parse: Parse) -> None:
    text = 'FROM scratch\nARG A=1\nRUN echo $A "${A}"\nENV A=2 B=3\nRUN ["echo", "$A"]\nRUN [not json'
    steps = parse(text).steps
    assert steps == (
        RunStep(3, 'RUN echo $A "${A}"', ("/bin/sh", "-c", 'echo $A "${A}"'), (("A", "1"),)),
        RunStep(5, 'RUN ["echo", "$A"]', ("echo", "$A"), (("A", "2"), ("B", "3"))),
        RunStep(6, "RUN [not json", ("/bin/sh", "-c", "[not json"), (("A", "2"), ("B", "3"))),
    )


def test_run_continuation_with_comment_lines(parse: Parse) -> None:
    text = "FROM scratch\nRUN apt-get update && \\\n    # install things\n    apt-get install -y x"
    [step] = parse(text).steps
    assert step.line == 2
    assert step.command == ("/bin/sh", "-c", "apt-get update &&     apt-get install -y x")


def test_run_text_is_deterministic(parse: Parse) -> None:
    assert parse("FROM scratch\nRUN   a  b ").steps == parse("FROM scratch\nRUN a  b").steps


@pytest.mark.parametrize("text", ["RUN", "RUN []", "RUN --mount=type=cache x"])
def test_run_errors(fail: Fail, text: str) -> None:
    error = fail("FROM scratch\n" + text)
    assert error.line == 2
    assert error.message in ("RUN requires a command", "unknown flag for RUN: --mount")


def test_cmd_and_cmds_accumulate_in_order(parse: Parse) -> None:
    text = 'FROM scratch\nCMD kubectl apply -f a.yaml\nCMDS ["echo one", "echo two"]\nCMD ["echo", "x y"]'
    assert parse(text).cmds == ("kubectl apply -f a.yaml", "echo one", "echo two", "echo 'x y'")


def test_cmd_is_not_expanded(parse: Parse) -> None:
    assert parse("FROM scratch\nARG A=1\nCMD echo $A").cmds == ("echo $A",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CMD", "CMD requires a command"),
        ("CMD []", "CMD requires a command"),
        ("CMDS echo hi", 'CMDS requires a JSON array of commands: CMDS ["kubectl apply -f app.yaml"]'),
        ("CMDS []", 'CMDS requires at least one non-empty command: CMDS ["kubectl apply -f app.yaml"]'),
        ('CMDS ["ok", " "]', 'CMDS requires at least one non-empty command: CMDS ["kubectl apply -f app.yaml"]'),
    ],
)
def test_cmd_errors(fail: Fail, text: str, message: str) -> None:
    assert_error(fail("FROM scratch\n" + text), 2, message)


# ------------------------------------------------------------------ COPY


def test_copy_file_to_rootfs_paths(parse: Parse, files: Files, context: pathlib.Path) -> None:
    files({"a.yaml": "", "dir/b": ""})
    text = "FROM scratch\nCOPY a.yaml .\nCOPY a.yaml /etc/x.yaml\nCOPY /dir manifests/\nCOPY a.yaml etc/./"
    steps = parse(text).steps
    root = context.resolve()
    assert steps == (
        CopyStep(2, "COPY a.yaml .", (root / "a.yaml",), "", True),
        CopyStep(3, "COPY a.yaml /etc/x.yaml", (root / "a.yaml",), "etc/x.yaml", False),
        CopyStep(4, "COPY /dir manifests/", (root / "dir",), "manifests", True),
        CopyStep(5, "COPY a.yaml etc/./", (root / "a.yaml",), "etc", True),
    )


def test_copy_globs_are_expanded_sorted_and_deduplicated(parse: Parse, files: Files, context: pathlib.Path) -> None:
    files({"b.yaml": "", "a.yaml": "", ".hidden.yaml": "", "c.txt": ""})
    [step] = parse("FROM scratch\nCOPY *.yaml a.yaml manifests").steps
    root = context.resolve()
    assert step.sources == (root / ".hidden.yaml", root / "a.yaml", root / "b.yaml")
    assert (step.dest, step.dest_is_dir) == ("manifests", True)


def test_copy_single_glob_match_keeps_file_destination(parse: Parse, files: Files) -> None:
    files({"only.yaml": ""})
    [step] = parse("FROM scratch\nCOPY o*.yaml etc/x.yaml").steps
    assert (step.dest, step.dest_is_dir) == ("etc/x.yaml", False)


def test_copy_json_form_and_variables(parse: Parse, files: Files, context: pathlib.Path) -> None:
    files({"amd64/bin": "", "my file": ""})
    text = 'FROM scratch\nARG ARCH=amd64\nCOPY ["my file", "${ARCH}/bin", "/opt/$ARCH/"]\nCOPY $ARCH/bin "/x y"'
    first, second = parse(text).steps
    root = context.resolve()
    sources = (root / "amd64/bin", root / "my file")
    assert first == CopyStep(3, "COPY 'my file' amd64/bin /opt/amd64/", sources, "opt/amd64", True)
    assert second == CopyStep(4, "COPY amd64/bin '/x y'", (root / "amd64/bin",), "x y", False)


def test_copy_build_arg_changes_the_text(parse: Parse, files: Files) -> None:
    files({"amd64": "", "arm64": ""})
    text = "FROM scratch\nARG ARCH=amd64\nCOPY $ARCH bin/"
    assert parse(text).steps[0].text == "COPY amd64 bin/"
    assert parse(text, {"ARCH": "arm64"}).steps[0].text == "COPY arm64 bin/"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("COPY", "COPY requires at least one source and a destination"),
        ("COPY a.yaml", "COPY requires at least one source and a destination"),
        ("COPY missing.yaml .", "COPY source missing.yaml does not exist in the build context"),
        ("COPY *.json .", "COPY source *.json matches no files in the build context"),
        ("COPY ../a.yaml .", "COPY source ../a.yaml is outside the build context"),
        ("COPY sub/../../a.yaml .", "COPY source sub/../../a.yaml is outside the build context"),
        ("COPY ../*.yaml .", "COPY source ../*.yaml is outside the build context"),
        ("COPY a.yaml ../etc", "COPY destination ../etc is outside the image rootfs"),
        ('COPY a.yaml ""', "COPY destination '' is not a valid path"),
        ("COPY --chown=1 a.yaml .", "unknown flag for COPY: --chown"),
    ],
)
def test_copy_errors(fail: Fail, files: Files, text: str, message: str) -> None:
    files({"a.yaml": ""})
    assert_error(fail("FROM scratch\n" + text), 2, message)


def test_copy_symlink_out_of_the_context(fail: Fail, context: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (tmp_path / "secret").write_text("x")
    (context / "link").symlink_to(tmp_path / "secret")
    (context / "dirlink").symlink_to(tmp_path)
    assert_error(fail("FROM scratch\nCOPY link ."), 2, "COPY source link is outside the build context")
    error = fail("FROM scratch\nCOPY dirlink/secret .")
    assert_error(error, 2, "COPY source dirlink/secret is outside the build context")
    assert_error(
        fail("FROM scratch\nCOPY l* ."), 2, "COPY source link (matched by l*) is outside the build context"
    )


def test_copy_symlink_inside_the_context_is_fine(parse: Parse, files: Files, context: pathlib.Path) -> None:
    files({"real.yaml": ""})
    (context / "alias.yaml").symlink_to("real.yaml")
    assert parse("FROM scratch\nCOPY alias.yaml .").steps[0].sources == (context.resolve() / "alias.yaml",)


def test_copy_symlink_loop(fail: Fail, context: pathlib.Path) -> None:
    (context / "a").symlink_to("b")
    (context / "b").symlink_to("a")
    error = fail("FROM scratch\nCOPY a .")
    assert error.line == 2
    assert error.message.startswith("cannot read COPY source a:")


# ------------------------------------------------------------------ APP / CNI / CSI


@pytest.mark.usefixtures("apps")
def test_apps_of_each_type(parse: Parse, context: pathlib.Path) -> None:
    text = "FROM scratch\nAPP web local://web.yaml\nAPP chart local://chart/\nAPP sh local://install.sh"
    plan = parse(text)
    root = context.resolve()
    assert plan.steps == (
        CopyStep(2, "APP web local://web.yaml", (root / "web.yaml",), "application/apps/web", True),
        CopyStep(3, "APP chart local://chart/", (root / "chart",), "application/apps/chart", True),
        CopyStep(4, "APP sh local://install.sh", (root / "install.sh",), "application/apps/sh", True),
    )
    assert plan.apps == (
        AppSpec("web", "kube", ("web.yaml",), (), ()),
        AppSpec("chart", "helm", (".",), (), ()),
        AppSpec("sh", "shell", ("install.sh",), (), ()),
    )


@pytest.mark.usefixtures("apps")
def test_app_json_form_and_variables(parse: Parse) -> None:
    plan = parse('FROM scratch\nARG F=web.yaml\nAPP ["web", "local://$F"]')
    assert plan.apps[0].files == ("web.yaml",)
    assert plan.steps[0].text == "APP web local://web.yaml"


@pytest.mark.usefixtures("apps")
def test_cni_and_csi_set_reserved_labels(parse: Parse) -> None:
    text = "FROM scratch\nCNI flannel local://web.yaml\nCNI calico local://chart\nCSI csi local://install.sh"
    plan = parse(text)
    assert dict(plan.labels) == {LABEL_KUBE_CNI: '["calico","flannel"]', LABEL_KUBE_CSI: '["csi"]'}
    assert json.loads(dict(plan.labels)[LABEL_KUBE_CNI]) == ["calico", "flannel"]
    assert [step.text for step in plan.steps] == [
        "CNI flannel local://web.yaml", "CNI calico local://chart", "CSI csi local://install.sh",
    ]
    assert [app.name for app in plan.apps] == ["flannel", "calico", "csi"]


@pytest.mark.usefixtures("apps")
def test_appcmds_and_appenv(parse: Parse) -> None:
    text = (
        "FROM scratch\nARG NS=prod\nAPP web local://web.yaml\n"
        'APPCMDS web ["kubectl apply -f web.yaml -n $NS"]\n'
        "APPENV web NS=$NS B=1\nAPPENV web B=2 C='x y'\n"
        'APPCMDS web ["kubectl apply -f web.yaml", "echo done"]'
    )
    [app] = parse(text).apps
    assert app.cmds == ("kubectl apply -f web.yaml", "echo done")
    assert app.env == (("B", "2"), ("C", "x y"), ("NS", "prod"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("APP web", "APP requires a name and at least one local:// source"),
        ("APP", "APP requires a name and at least one local:// source"),
        ("APP web https://example.com/x.yaml", "APP source 'https://example.com/x.yaml': remote sources are not "
         "downloaded at build time (sealer does); vendor the file: download it into the build context "
         "(curl -fLo x.yaml https://example.com/x.yaml) and write local://x.yaml"),
        ("CNI calico http://example.com/x.yaml", "CNI source 'http://example.com/x.yaml': remote sources are not "
         "downloaded at build time (sealer does); vendor the file: download it into the build context "
         "(curl -fLo x.yaml http://example.com/x.yaml) and write local://x.yaml"),
        ("APP web web.yaml", "APP source web.yaml must be a local://PATH in the build context"),
        ("APP web local://", "APP source local:// must be a local://PATH in the build context"),
        ("APP ../x local://web.yaml", "invalid app name '../x': use letters, digits, '.', '_' and '-'"),
        ("APP web local://missing.yaml", "APP source missing.yaml does not exist in the build context"),
        ("APP web local://../web.yaml", "APP source ../web.yaml is outside the build context"),
        ("APP web local://notes.txt", "cannot detect the type of app web: expected a helm chart (a directory with "
         "Chart.yaml, or chart .tgz files), Kubernetes YAML files or .sh scripts, not a mix (files: notes.txt); or give its launch commands with APPCMDS web [...]"),
        ("APP web local://web.yaml local://install.sh", "cannot detect the type of app web: expected a helm chart "
         "(a directory with Chart.yaml, or chart .tgz files), Kubernetes YAML files or .sh scripts, not a mix "
         "(files: install.sh, web.yaml); or give its launch commands with APPCMDS web [...]"),
        ("APPCMDS", 'APPCMDS requires an app name and a JSON array of commands: APPCMDS NAME ["cmd", ...]'),
        ('APPCMDS nope ["x"]', "APPCMDS: app nope is not defined (declare it with APP, CNI or CSI first)"),
        ("APPENV web", "APPENV requires an app name and at least one KEY=VALUE pair"),
        ("APPENV nope A=1", "APPENV: app nope is not defined (declare it with APP, CNI or CSI first)"),
    ],
)
@pytest.mark.usefixtures("apps")
def test_app_errors(fail: Fail, files: Files, text: str, message: str) -> None:
    files({"notes.txt": "hi"})
    assert_error(fail("FROM scratch\n" + text), 2, message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("APPCMDS web kubectl apply", 'APPCMDS requires a JSON array of commands: APPCMDS NAME ["cmd", ...]'),
        ("APPCMDS web []", 'APPCMDS requires at least one non-empty command: APPCMDS NAME ["cmd", ...]'),
        ("APPENV web A", "APPENV expects KEY=VALUE pairs, got A"),
        ("CSI web local://install.sh", "app web is already defined at line 2"),
    ],
)
@pytest.mark.usefixtures("apps")
def test_errors_after_an_app(fail: Fail, text: str, message: str) -> None:
    assert_error(fail("FROM scratch\nAPP web local://web.yaml\n" + text), 3, message)


def test_app_symlink_out_of_the_context(fail: Fail, context: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.yaml").write_text(DEPLOYMENT)
    (context / "x.yaml").symlink_to(tmp_path / "x.yaml")
    assert_error(fail("FROM scratch\nAPP x local://x.yaml"), 2, "APP source x.yaml is outside the build context")


# ------------------------------------------------------------------ LAUNCH


@pytest.mark.usefixtures("apps")
def test_launch(parse: Parse) -> None:
    text = 'FROM scratch\nAPP web local://web.yaml\nCNI calico local://chart\nLAUNCH ["calico", "web"]'
    assert parse(text).launch_apps == ("calico", "web")
    assert parse(text.replace('["calico", "web"]', "calico web")).launch_apps == ("calico", "web")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("LAUNCH []", 3, 'LAUNCH requires at least one app name: LAUNCH ["app", ...]'),
        ('LAUNCH ["nope"]', 3, "LAUNCH: app nope is not defined (declare it with APP, CNI or CSI first)"),
        ('LAUNCH ["web", "web"]', 3, "LAUNCH lists an app more than once"),
        ('LAUNCH ["web"]\nRUN x', 3, "LAUNCH must be the last instruction"),
        ('LAUNCH ["web"]\n# comment\nLAUNCH ["web"]', 5, "only one LAUNCH is allowed (first at line 3)"),
        ('CMD echo\nLAUNCH ["web"]', 4, "LAUNCH cannot be combined with CMD/CMDS (line 3)"),
        ('CMDS ["echo"]\nLAUNCH ["web"]', 4, "LAUNCH cannot be combined with CMD/CMDS (line 3)"),
    ],
)
@pytest.mark.usefixtures("apps")
def test_launch_errors(fail: Fail, text: str, line: int, message: str) -> None:
    assert_error(fail("FROM scratch\nAPP web local://web.yaml\n" + text), line, message)


# ------------------------------------------------------------------ KUBEVERSION


def test_kubeversion_sets_the_label(parse: Parse) -> None:
    plan = parse('FROM scratch\nARG MIN=1.22\nKUBEVERSION ">=$MIN <1.26"')
    assert dict(plan.labels) == {LABEL_SUPPORTED_KUBE_VERSION: ">=1.22 <1.26"}
    assert dict(parse("FROM scratch\nKUBEVERSION 1.22 - 1.24").labels)[LABEL_SUPPORTED_KUBE_VERSION] == "1.22 - 1.24"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("KUBEVERSION", "KUBEVERSION requires a semver range, e.g. KUBEVERSION >=1.22 <1.26"),
        ("KUBEVERSION latest", "invalid KUBEVERSION semver range: latest"),
        ("KUBEVERSION >=1.22 ||", "invalid KUBEVERSION semver range: >=1.22 ||"),
    ],
)
def test_kubeversion_errors(fail: Fail, text: str, message: str) -> None:
    assert_error(fail("FROM scratch\n" + text), 2, message)


# ------------------------------------------------------------------ whole files


@pytest.mark.usefixtures("apps")
def test_a_complete_kubefile(parse: Parse, context: pathlib.Path) -> None:
    text = """\
# syntax=sealer/kubefile
ARG VERSION=v1.22.15
FROM --platform=linux/amd64 docker.io/sealerio/kubernetes:${VERSION}
LABEL "cluster.alpha.sealer.io/cluster-runtime-type"="kubernetes"
KUBEVERSION >=1.22 <1.26
ENV REGISTRY=sea.hub:5000
COPY web.yaml manifests/
RUN ls /manifests
APP web local://web.yaml
APPENV web REGISTRY=$REGISTRY
CNI calico local://chart
LAUNCH ["calico", "web"]
"""
    plan = parse(text, {"VERSION": "v1.24.0"})
    assert plan.base == "docker.io/sealerio/kubernetes:v1.24.0"
    assert [type(step).__name__ for step in plan.steps] == ["CopyStep", "RunStep", "CopyStep", "CopyStep"]
    assert plan.steps[1] == RunStep(8, "RUN ls /manifests", ("/bin/sh", "-c", "ls /manifests"),
                                    (("REGISTRY", "sea.hub:5000"),))
    assert plan.apps[0].env == (("REGISTRY", "sea.hub:5000"),)
    assert plan.launch_apps == ("calico", "web")


def test_filename_is_used_in_errors(context: pathlib.Path) -> None:
    with pytest.raises(KubefileError) as info:
        parse_kubefile("FROM scratch\nBOGUS", filename="build/Kubefile.prod", context_dir=context)
    assert str(info.value) == "build/Kubefile.prod:2: unknown instruction: BOGUS"


def test_parsing_is_deterministic(parse: Parse, files: Files) -> None:
    files({"a": "", "b": "", "c": ""})
    text = "FROM scratch\nENV Z=1 A=2\nLABEL z=1 a=2\nCOPY c b a /x/"
    assert parse(text) == parse(text)
    assert parse(text).env == (("A", "2"), ("Z", "1"))


def test_undecodable_bytes_are_refused_with_line_and_column(fail: Fail) -> None:
    error = fail("FROM scratch\nCOPY \udcff.yaml .")
    assert error.line == 2
    assert error.message == "not UTF-8 text: undecodable character U+DCFF at column 6"
    str(error).encode("utf-8")


def test_unresolvable_build_context(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(KubefileError) as info:
        parse_kubefile("FROM scratch", context_dir=tmp_path / "a")
    assert info.value.line is None
    assert info.value.message.startswith("cannot resolve the build context")


@pytest.mark.usefixtures("apps")
def test_comments_may_follow_launch(parse: Parse) -> None:
    assert parse('FROM scratch\nAPP web local://web.yaml\nLAUNCH ["web"]\n# the end\n\n').launch_apps == ("web",)
