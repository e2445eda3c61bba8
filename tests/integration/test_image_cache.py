"""Container-image caching at build time, against real registries playing docker.io and quay.io.

The upstream images are multi-arch indexes built here with the project's own builder around
busybox-static; the toolkit reaches "docker.io" and "quay.io" only through --registry-mirror.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.cli.main import main as cli_main
from sealer_runner.image.digest import Digest
from sealer_runner.image.layer import apply_layer
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.registry.auth import AuthStore
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries, push
from tests.support.registry import BINARY, RegistryServer

pytestmark = [pytest.mark.integration]
if not os.path.exists(BINARY) or shutil.which("skopeo") is None:
    pytestmark.append(pytest.mark.skip(reason="docker-registry/skopeo not installed (run scripts/install.sh)"))

PLATFORMS = ("linux/amd64", "linux/arm64")


def upstream_image(store: Store, tmp: Path, name: str, marker: str) -> None:
    ctx = tmp / "upstream-ctx" / name.replace("/", "_").replace(":", "_")
    ctx.mkdir(parents=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", ctx / "busybox")
    (ctx / "marker").write_text(marker + "\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY busybox bin/busybox\nCOPY marker etc/marker\n"
                                  "ARG TARGETARCH\nRUN echo $TARGETARCH > etc/arch\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(name,), platforms=PLATFORMS))


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    """Two registries, one playing docker.io and one quay.io, with the same repository path in both."""
    tmp = tmp_path_factory.mktemp("upstreams")
    store = Store(tmp / "store")
    images = {
        "docker": ["library/nginx:1.25", "library/busybox:1.36", "library/redis:7"],
        "quay": ["library/nginx:1.25", "example/hello:1.36", "example/operand:2"],
    }
    servers = {}
    regs = Registries(RegistryConfig(), AuthStore(tmp / "auth.json", docker_config=tmp / "none"))
    for name, paths in images.items():
        server = RegistryServer(tmp / name).start()
        servers[name] = server
        for path in paths:
            local = f"example.com/{name}/{path}"
            upstream_image(store, tmp, local, f"{name}/{path}")
            push(store, store.lookup(local), parse_reference(f"{server.host}/{path}"), regs)
    yield servers
    for server in servers.values():
        server.stop()


def mirrors(upstreams) -> list[str]:
    return ["--registry-mirror", f"docker.io=http://{upstreams['docker'].host}",
            "--registry-mirror", f"quay.io=http://{upstreams['quay'].host}"]


def write_app(ctx: Path) -> None:
    (ctx / "manifests").mkdir(parents=True)
    (ctx / "app").mkdir()
    (ctx / "app" / "web.yaml").write_text("""\
apiVersion: batch/v1
kind: CronJob
metadata: {name: web}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - name: init
              image: busybox:1.36
          containers:
            - name: web
              image: nginx:1.25
""")
    chart = ctx / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hello\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("image: {repository: quay.io/example/hello, tag: '0.0'}\n"
                                       "operand: quay.io/example/operand:2\n")
    (chart / "prod-values.yaml").write_text("image: {tag: '1.36'}\n")
    (chart / "templates" / "deploy.yaml").write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  template:
    spec:
      containers:
        - name: hello
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  operand:
    image: {{ .Values.operand }}
""")
    (ctx / "manifests" / "imageList").write_text("# also needed at run time\nquay.io/library/nginx:1.25\n")
    (ctx / "Kubefile").write_text("""\
FROM scratch
COPY manifests manifests
APP web local://app/web.yaml
APP hello local://chart
APPCMDS hello ["helm install hello . -f prod-values.yaml"]
""")


def sr(root: Path, *args: str) -> int:
    return cli_main(["--root", str(root), *args])


def cached_images(root: Path, name: str) -> dict[str, dict]:
    store = Store(root)
    pm = store.platform_manifests(store.lookup(name).descriptor)[0]
    return {r["image"]: r for r in json.loads(pm.manifest.annotations["sealer.image.container.images"])}


def test_build_caches_every_referenced_image_into_a_servable_registry(tmp_path, upstreams, capsys):
    ctx = tmp_path / "ctx"
    write_app(ctx)
    root = tmp_path / "store"
    assert sr(root, *mirrors(upstreams), "build", "--platform", "linux/amd64", "-t", "example.com/c:v1", str(ctx)) == 0
    images = cached_images(root, "example.com/c:v1")
    assert set(images) == {
        "docker.io/library/busybox:1.36",  # initContainer of a CronJob template
        "docker.io/library/nginx:1.25",
        "quay.io/example/hello:1.36",  # chart values, with the -f file of the launch command
        "quay.io/example/operand:2",  # custom resource field in a rendered chart
        "quay.io/library/nginx:1.25",  # image list; same path as docker.io's nginx
    }
    assert images["docker.io/library/nginx:1.25"]["referencedBy"] == ["application/apps/web/web.yaml:15"]
    assert all(r["platforms"] == ["linux/amd64"] for r in images.values())
    assert sr(root, "inspect", "example.com/c:v1") == 0
    assert "quay.io/example/operand:2" in capsys.readouterr().out

    # Serve the image's registry/ with a plain docker-registry: every recorded image answers.
    store = Store(root)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    for layer in store.get_manifest(store.lookup("example.com/c:v1").descriptor.digest).layers:
        apply_layer(store, layer, rootfs)
    with RegistryServer(tmp_path / "served", storage=rootfs / "registry", readonly=True) as served:
        for image, record in images.items():
            ref = parse_reference(image)
            url = f"docker://{served.host}/{ref.domain}/{ref.path}:{ref.tag}"
            raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", url],
                                 capture_output=True, check=True).stdout
            assert json.loads(raw)["mediaType"].endswith("index.v1+json")
            assert str(Digest.of_bytes(raw)) == record["digest"]
            info = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--override-arch", "amd64", url],
                                  capture_output=True, check=True).stdout
            assert json.loads(info)["Architecture"] == "amd64"
    assert images["docker.io/library/nginx:1.25"]["digest"] != images["quay.io/library/nginx:1.25"]["digest"]


def test_child_image_fetches_only_what_its_parent_lacks(tmp_path, upstreams):
    ctx = tmp_path / "ctx"
    write_app(ctx)
    root = tmp_path / "store"
    assert sr(root, *mirrors(upstreams), "-q", "build", "--platform", "linux/amd64", "-t", "parent:v1", str(ctx)) == 0
    child = tmp_path / "child"
    child.mkdir()
    (child / "more.yaml").write_text("kind: Pod\napiVersion: v1\nspec:\n  containers:\n"
                                     "    - {name: r, image: 'redis:7'}\n    - {name: n, image: 'nginx:1.25'}\n")
    (child / "Kubefile").write_text("FROM parent:v1\nCOPY more.yaml manifests/more.yaml\n")
    assert sr(root, *mirrors(upstreams), "-q", "build", "--platform", "linux/amd64", "-t", "child:v1", str(child)) == 0
    images = cached_images(root, "child:v1")
    assert "docker.io/library/redis:7" in images and len(images) == 6
    store = Store(root)
    layers = store.get_manifest(store.lookup("child:v1").descriptor.digest).layers
    parent_layers = store.get_manifest(store.lookup("parent:v1").descriptor.digest).layers
    new_registry_layer = layers[len(parent_layers) + 1]
    rootfs = tmp_path / "only-new"
    rootfs.mkdir()
    apply_layer(store, new_registry_layer, rootfs)
    repos = rootfs / "registry/docker/registry/v2/repositories"
    assert sorted(str(p.relative_to(repos)) for p in repos.glob("*/*/*")) == ["docker.io/library/redis"]
    blobs = {p.parent.name for p in (rootfs / "registry/docker/registry/v2/blobs").rglob("data")}
    parent_blobs = {d.split(":")[1] for r in cached_images(root, "parent:v1").values() for d in r["blobs"]}
    assert blobs and not blobs & parent_blobs, "blobs already in the parent's registry/ must not be stored again"


def test_missing_image_names_the_reference_site(tmp_path, upstreams, capsys):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: x\n"
                                  "      image: docker.io/library/absent:9\n")
    (ctx / "Kubefile").write_text("FROM scratch\nAPP x local://pod.yaml\n")
    root = tmp_path / "store"
    assert sr(root, *mirrors(upstreams), "build", "-t", "m:v1", str(ctx)) == 1
    err = capsys.readouterr().err
    assert "absent:9 (referenced at application/apps/x/pod.yaml:6) cannot be cached" in err
    assert sr(root, *mirrors(upstreams), "build", "--ignore-missing-images", "-t", "m:v1", str(ctx)) == 0
    assert "warning:" in capsys.readouterr().err


def test_ignored_image_list_and_cached_rebuild(tmp_path, upstreams, capsys):
    ctx = tmp_path / "ctx"
    write_app(ctx)
    ignored = tmp_path / "ignored.txt"
    ignored.write_text("quay.io/library/nginx:1.25\nnginx:1.25\n")
    root = tmp_path / "store"
    args = [*mirrors(upstreams), "build", "--platform", "linux/amd64", "--ignored-image-list", str(ignored),
            "-t", "i:v1", str(ctx)]
    assert sr(root, *args) == 0
    assert "docker.io/library/nginx:1.25" not in cached_images(root, "i:v1")
    assert len(cached_images(root, "i:v1")) == 3
    capsys.readouterr()
    offline = ["--registry-mirror", "docker.io=http://127.0.0.1:9", "--registry-mirror", "quay.io=http://127.0.0.1:9",
               *args[4:]]
    assert sr(root, *offline) == 0, "a rebuild reuses the images fetched before, with no registry reachable"
    err = capsys.readouterr().err
    assert "Built in" in err and " 0 layer(s) written" in err
    assert sr(root, *offline[:4], "build", "--pull", *offline[5:]) == 1
    assert "cannot be cached" in capsys.readouterr().err
