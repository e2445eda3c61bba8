"""What runs on master0 after install: sealer's launch precedence, over every combination of inputs.

Commands: the Cluster's ``cmd`` > the Application document's ``cmds`` > the image's CMD/CMDS.
Apps (only when no command is given): the Cluster's ``appNames`` > the Application's ``launchApps`` >
the image's LAUNCH; each app by the Application's ``configs[].launch.cmds`` > its APPCMDS > its type's
default command.
"""

from __future__ import annotations

import itertools
import json
import textwrap

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.image.digest import Digest
from sealer_runner.image.metadata import Application, ImageExtension
from sealer_runner.image.store import PlatformManifest
from sealer_runner.image.types import ANNOTATION_IMAGE_EXTENSION, MT_OCI_CONFIG, MT_OCI_MANIFEST, Descriptor, Manifest, Platform
from sealer_runner.run.cluster import launch_vars

DIGEST = "sha256:" + "ab" * 32
# the image: three apps; "web" (kube) and "db" (helm) may carry APPCMDS, "job" (shell) never does
APPS = {"web": ("kube", ("web.yaml",)), "db": ("helm", (".",)), "job": ("shell", ("run.sh",))}
DEFAULT = {"web": "kubectl apply -f application/apps/web/web.yaml", "db": "helm install db application/apps/db",
           "job": "bash application/apps/job/run.sh"}


def image(*, cmds: bool, launch: bool, appcmds: bool) -> PlatformManifest:
    apps = tuple(Application(name, kind, files, cmds=(f"./{name}-appcmds.sh",) if appcmds and name != "job" else (),
                             env={"FROM": f"image-app-{name}"}) for name, (kind, files) in APPS.items())
    ext = ImageExtension(applications=apps, env={"FROM": "image", "IMAGE_ONLY": "1"},
                         launch_cmds=("image-cmd-1", "image-cmd-2") if cmds else (),
                         launch_app_names=("db", "web") if launch else ())
    config = Descriptor(MT_OCI_CONFIG, Digest.of_bytes(b"{}"), 2)
    manifest = Manifest(config, (), {ANNOTATION_IMAGE_EXTENSION: json.dumps(ext.to_json())})
    return PlatformManifest(Platform("linux", "amd64"), Descriptor(MT_OCI_MANIFEST, Digest.of_bytes(b"m"), 1),
                            manifest, {})


def clusterfile(*, cmd: bool, app_names: bool, application: str | None, app_config: bool) -> str:
    text = textwrap.dedent("""\
        apiVersion: sealer.io/v2
        kind: Cluster
        metadata: {name: c}
        spec:
          image: example.com/apps:v1
          env: [FROM=cluster, CLUSTER_ONLY=1]
          hosts:
            - {ips: [192.168.0.2], roles: [master]}
        """)
    if cmd:
        text += "  cmd: [cluster-cmd-1, cluster-cmd-2]\n"
    if app_names:
        text += "  appNames: [job]\n"
    if application is None and not app_config:
        return text
    text += "---\napiVersion: sealer.io/v2\nkind: Application\nmetadata: {name: apps}\nspec:\n"
    if application == "cmds":
        text += "  cmds: [application-cmd]\n"
    elif application == "launchApps":
        text += "  launchApps: [web]\n"
    if app_config:
        text += ("  configs:\n"
                 "    - {name: web, env: [FROM=config-web], launch: {cmds: [./web-config.sh]}}\n"
                 "    - {name: job, env: [FROM=config-job], launch: {cmds: [./job-config.sh]}}\n"
                 "    - {name: db, env: [FROM=config-db]}\n")
    return text


def expected(*, cmd, app_names, application, app_config, cmds, launch, appcmds) -> list[tuple[str, str]]:
    """The precedence, stated as a table of (source present?, steps) tried in order."""
    command_sources = [
        (cmd, ["cluster-cmd-1", "cluster-cmd-2"]),
        (application == "cmds", ["application-cmd"]),
        (cmds, ["image-cmd-1", "image-cmd-2"]),
    ]
    for present, commands in command_sources:
        if present:
            return [("cmd", c) for c in commands]
    app_sources = [(app_names, ["job"]), (application == "launchApps", ["web"]), (launch, ["db", "web"])]
    names = next((names for present, names in app_sources if present), [])

    def command(name: str) -> str:
        root = f"cd application/apps/{name} && "
        if app_config and name in ("web", "job"):
            return root + f"./{name}-config.sh"
        if appcmds and name != "job":
            return root + f"./{name}-appcmds.sh"
        return DEFAULT[name]

    return [(name, command(name)) for name in names]


CASES = [dict(zip(("cmd", "app_names", "application", "app_config", "cmds", "launch", "appcmds"), values, strict=True))
         for values in itertools.product((False, True), (False, True), (None, "cmds", "launchApps"), (False, True),
                                         (False, True), (False, True), (False, True))
         if not (values[4] and values[5])]  # an image has CMD/CMDS or LAUNCH, not both (the Kubefile refuses it)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items() if v))
def test_launch_precedence(case):
    spec = load_clusterfile(clusterfile(cmd=case["cmd"], app_names=case["app_names"],
                                        application=case["application"], app_config=case["app_config"]))
    pm = image(cmds=case["cmds"], launch=case["launch"], appcmds=case["appcmds"])
    steps = launch_vars(spec, pm, DIGEST)
    assert [(s["name"], s["cmd"]) for s in steps] == expected(**case)


def test_env_layers_image_cluster_app_config():
    spec = load_clusterfile(clusterfile(cmd=False, app_names=False, application="launchApps", app_config=True))
    (web,) = launch_vars(spec, image(cmds=False, launch=True, appcmds=False), DIGEST)
    assert web["env"] == {"FROM": "config-web", "IMAGE_ONLY": "1", "CLUSTER_ONLY": "1"}
    spec = load_clusterfile(clusterfile(cmd=False, app_names=False, application=None, app_config=False))
    steps = launch_vars(spec, image(cmds=False, launch=True, appcmds=False), DIGEST)
    assert [s["env"]["FROM"] for s in steps] == ["image-app-db", "image-app-web"]  # the app's env over the cluster's
    spec = load_clusterfile(clusterfile(cmd=True, app_names=False, application=None, app_config=False))
    assert {s["env"]["FROM"] for s in launch_vars(spec, image(cmds=True, launch=False, appcmds=False), DIGEST)} == {
        "cluster"}  # commands run with the cluster env over the image's


def test_step_ids_change_with_the_image_digest():
    spec = load_clusterfile(clusterfile(cmd=True, app_names=False, application=None, app_config=False))
    pm = image(cmds=False, launch=False, appcmds=False)
    first, second = launch_vars(spec, pm, DIGEST), launch_vars(spec, pm, "sha256:" + "cd" * 32)
    assert [s["cmd"] for s in first] == [s["cmd"] for s in second]
    assert {s["id"] for s in first}.isdisjoint(s["id"] for s in second)


@pytest.mark.parametrize("application", ["appNames", "launchApps"])
def test_an_app_the_image_lacks_is_an_error_naming_it(application):
    text = clusterfile(cmd=False, app_names=False, application=None, app_config=False)
    if application == "appNames":
        text += "  appNames: [missing]\n"
    else:
        text += "---\napiVersion: sealer.io/v2\nkind: Application\nmetadata: {name: a}\nspec:\n  launchApps: [missing]\n"
    with pytest.raises(InputError, match="app missing is not in image example.com/apps:v1"):
        launch_vars(load_clusterfile(text), image(cmds=False, launch=True, appcmds=False), DIGEST)


def test_nothing_to_launch_is_no_step():
    spec = load_clusterfile(clusterfile(cmd=False, app_names=False, application=None, app_config=False))
    assert launch_vars(spec, image(cmds=False, launch=False, appcmds=True), DIGEST) == []


def test_application_files_become_configs_of_the_app_directory_and_render_is_refused():
    from sealer_runner.run.cluster import config_vars

    text = clusterfile(cmd=False, app_names=False, application=None, app_config=False) + textwrap.dedent("""\
        ---
        apiVersion: sealer.io/v2
        kind: Application
        metadata: {name: a}
        spec:
          configs:
            - name: web
              files: [{path: web.yaml, data: "x: 1", strategy: merge}, {path: conf/a.conf, data: "a"}]
        """)
    spec = load_clusterfile(text)
    assert launch_vars(spec, image(cmds=False, launch=True, appcmds=False), DIGEST), "files do not stop the launch"
    assert config_vars(spec) == [
        {"name": "a/web/0", "path": "application/apps/web/web.yaml", "data": "x: 1", "strategy": "merge", "process": []},
        {"name": "a/web/1", "path": "application/apps/web/conf/a.conf", "data": "a", "strategy": "overwrite",
         "process": []}]
    with pytest.raises(InputError, match=r"Clusterfile:10: Application configs\[web\].files\[0\]: strategy 'render' "
                                         r"is not implemented"):
        config_vars(load_clusterfile(text.replace("strategy: merge", "strategy: render")))
