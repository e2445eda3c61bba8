"""collection/scripts/image_vars.py: an image saved by `sealer_runner save` (or an OCI layout directory) becomes
layer files and a vars file for `sealer.cluster.run`, with what the front end computes from the same image
(layers, ENV, runtime, launch steps and their ids, upstream registries), without importing sealer_runner; a
tampered or foreign archive is refused, and nothing outside blobs/sha256/ is written."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.image import archive
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import host_manifest, image_content, image_env, image_vars, launch_vars

pytestmark = [pytest.mark.integration]

SCRIPT = Path(__file__).resolve().parents[2] / "collection" / "scripts" / "image_vars.py"
COMPARED = ("sealer_image_digest", "sealer_image_env", "sealer_upstream_registries", "sealer_image_platforms",
            "sealer_delivered_platform", "sealer_cluster_runtime", "sealer_launch")
CLUSTERFILE = "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: c}\nspec:\n  image: %s\n" \
              "  hosts: [{ips: [10.0.0.11], roles: [master]}]\n"
IMAGES = {
    "cmds": ("FROM scratch\nENV MODE=lab PORT=80\nCOPY etc etc\nCMDS [\"echo {{ not a template }} > out\", "
             "\"touch done\"]\n", {"etc/a.conf": "a=1\n"}),
    "apps": ("FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-type=none\nENV MODE=lab\nCOPY bin bin\n"
             "APP web local://web.yaml\nAPPCMDS web [\"kubectl apply -f web.yaml\"]\nAPP tool local://tool.sh\n"
             "LAUNCH [\"web\", \"tool\"]\n", {"bin/kubeadm": "#!/bin/sh\n", "web.yaml": "kind: List\n",
                                              "tool.sh": "echo tool\n"}),
    "kubeadm": ("FROM scratch\nCOPY bin bin\n", {"bin/kubeadm": "#!/bin/sh\n"}),
}


def _build(store: Store, tmp: Path, kind: str) -> str:
    kubefile, files = IMAGES[kind]
    ctx = tmp / f"ctx-{kind}"
    for name, text in {**files, "Kubefile": kubefile}.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    tag = f"example.com/ops/{kind}:v1"
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(tag,), platforms=("linux/amd64",)))
    return tag


def _script(*args: object) -> subprocess.CompletedProcess[str]:
    # -I: no site-packages of this checkout's path, PYTHONPATH or cwd: the script must not need sealer_runner
    return subprocess.run([sys.executable, "-I", str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _expected(store: Store, tag: str) -> dict[str, object]:
    spec = load_clusterfile(CLUSTERFILE % tag)
    image, chosen = host_manifest(store, tag)
    out = image_vars(store, image, chosen)
    out.update(sealer_image_env=image_env(chosen), sealer_cluster_runtime=image_content(store, chosen, spec).runtime,
               sealer_launch=launch_vars(spec, chosen, str(image.descriptor.digest)))
    return out


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_saved_archive_gives_the_front_ends_image_vars(tmp_path, kind):
    store = Store(tmp_path / "store")
    tag = _build(store, tmp_path, kind)
    saved = tmp_path / "image.tar"
    archive.save(store, [store.lookup(tag)], saved)
    done = _script(saved, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "image-vars.yml").read_text()
    got = yaml.safe_load(text.replace("!unsafe ", ""))
    expected = _expected(store, tag)
    for key in COMPARED:
        assert got[key] == expected[key], key
    assert got["sealer_image"] == tag
    assert [(la["digest"], la["size"]) for la in got["sealer_layers"]] == \
        [(la["digest"], la["size"]) for la in expected["sealer_layers"]]
    # each source is the blob itself, under the output directory
    for layer, stored in zip(got["sealer_layers"], expected["sealer_layers"], strict=True):
        assert Path(layer["source"]).read_bytes() == Path(stored["source"]).read_bytes()
        assert Path(layer["source"]).parent == tmp_path / "out" / "blobs" / "sha256"
    assert got["sealer_platform_layers"][0]["layers"] == got["sealer_layers"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blobs", "image-vars.yml"]
    if kind == "cmds":  # image text is data: every string is !unsafe, so Ansible never renders it
        assert "!unsafe 'echo {{ not a template }} > out'" in text


def test_oci_layout_directory_is_read_in_place(tmp_path):
    store = Store(tmp_path / "store")
    tag = _build(store, tmp_path, "cmds")
    saved = tmp_path / "image.tar"
    archive.save(store, [store.lookup(tag)], saved)
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(saved) as tar:
        tar.extractall(layout, filter="data")
    done = _script(layout, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    got = yaml.safe_load((tmp_path / "out" / "image-vars.yml").read_text().replace("!unsafe ", ""))
    assert all(Path(la["source"]).parent == layout / "blobs" / "sha256" for la in got["sealer_layers"])
    assert got["sealer_launch"] == _expected(store, tag)["sealer_launch"]


def test_archive_of_two_images_needs_image(tmp_path):
    store = Store(tmp_path / "store")
    tags = [_build(store, tmp_path, "cmds"), _build(store, tmp_path, "kubeadm")]
    saved = tmp_path / "images.tar"
    archive.save(store, [store.lookup(t) for t in tags], saved)
    done = _script(saved, tmp_path / "out")
    assert done.returncode == 1 and "holds 2 images; name one with --image" in done.stderr, done.stderr
    done = _script(saved, tmp_path / "out", "--image", tags[1])
    assert done.returncode == 0, done.stderr
    assert "sealer_cluster_runtime: !unsafe 'kubernetes'" in (tmp_path / "out" / "image-vars.yml").read_text()
    wrong = _script(saved, tmp_path / "out", "--image", tags[1], "--platform", "linux/arm64")
    assert wrong.returncode == 1 and "has no platform linux/arm64 (it has: linux/amd64)" in wrong.stderr, wrong.stderr


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_tampered_blob_and_foreign_members_are_refused_or_ignored(tmp_path):
    bad = "0" * 64
    _tar(tmp_path / "bad.tar", {"index.json": json.dumps({"manifests": []}).encode(),
                                f"blobs/sha256/{bad}": b"not what the name says",
                                "../escape": b"x", "/etc/evil": b"x", "blobs/sha256/../../up": b"x"})
    done = _script(tmp_path / "bad.tar", tmp_path / "out")
    assert done.returncode == 1 and f"blobs/sha256/{bad}: content has digest sha256:" in done.stderr, done.stderr
    assert list((tmp_path / "out" / "blobs" / "sha256").iterdir()) == []
    assert not (tmp_path / "escape").exists() and not (tmp_path / "up").exists()

    _tar(tmp_path / "docker.tar", {"manifest.json": b"[]"})
    done = _script(tmp_path / "docker.tar", tmp_path / "out2")
    assert done.returncode == 1 and "not an oci-archive" in done.stderr, done.stderr
