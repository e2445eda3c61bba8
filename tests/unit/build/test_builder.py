"""The build executor against real files, a real store and real RUN commands."""

from __future__ import annotations

import gzip
import io
import multiprocessing
import os
import tarfile
from pathlib import Path

import pytest

from sealer_runner.build.builder import Builder, BuildOptions, BuildReporter
from sealer_runner.errors import BuildError, ImageNotFound, KubefileError
from sealer_runner.image.metadata import read_extension
from sealer_runner.image.store import Store
from sealer_runner.image.types import INDEX_TYPES


class Recorder(BuildReporter):
    def __init__(self):
        self.events = []

    def cached(self, layer):
        self.events.append("cached")

    def layer_written(self, layer, seconds):
        self.events.append("written" if layer else "empty")

    def output(self, line):
        self.events.append(f"out:{line}")


def write_context(root: Path, kubefile: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Kubefile").write_text(kubefile)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def build(store: Store, ctx: Path, tag: str = "test/img:v1", **kw) -> tuple[Recorder, object]:
    rec = Recorder()
    result = Builder(store, rec).build(BuildOptions(kubefile=ctx / "Kubefile", context=ctx, tags=(tag,), **kw))
    return rec, result


def layer_members(store: Store, digest) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(store.read_blob(digest)))) as tar:
        return {m.name: m for m in tar.getmembers()}


KUBEFILE = """\
FROM scratch
ARG VERSION=1.0
ENV GREETING=hello
LABEL team=platform
COPY etc/ etc/
COPY manifests/app.yaml manifests/
RUN mkdir -p statics && echo "$GREETING $VERSION" > statics/version && rm etc/obsolete.conf
CMDS ["kubectl apply -f manifests/app.yaml"]
"""
FILES = {
    "etc/a.conf": "a=1\n",
    "etc/obsolete.conf": "old\n",
    "manifests/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
}


def test_build_layers_metadata_and_run_diff(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", KUBEFILE, FILES)
    rec, result = build(store, ctx)
    assert rec.events == ["written", "written", "written"]
    manifest = store.get_manifest(result.descriptor.digest)
    assert len(manifest.layers) == 3
    run_layer = layer_members(store, manifest.layers[2].digest)
    assert "statics/version" in run_layer and "etc/.wh.obsolete.conf" in run_layer
    config = store.read_json(manifest.config.digest, "config")
    assert "GREETING=hello" in config["config"]["Env"]
    assert config["config"]["Labels"]["team"] == "platform"
    assert [h["created_by"].split()[0] for h in config["history"]] == ["COPY", "COPY", "RUN"]
    ext = read_extension(manifest)
    assert ext.launch_cmds == ("kubectl apply -f manifests/app.yaml",)
    assert ext.type == "kube-installer"


def test_run_sees_rootfs_as_cwd_and_explicit_env(store, tmp_path):
    kubefile = "FROM scratch\nARG A=from-arg\nENV B=from-env\nCOPY f f\nRUN cat f; echo \"A=$A B=$B HOME=$HOME\"; env | grep -c . > count\n"
    ctx = write_context(tmp_path / "ctx", kubefile, {"f": "file-content\n"})
    os.environ["LEAK_CHECK"] = "should-not-be-visible"
    try:
        rec, _ = build(store, ctx)
    finally:
        del os.environ["LEAK_CHECK"]
    out = [e[4:] for e in rec.events if e.startswith("out:")]
    assert out[:2] == ["file-content", "A=from-arg B=from-env HOME=/root"]
    assert not any("should-not-be-visible" in line for line in out)


def test_rebuild_with_nothing_changed_does_no_layer_work(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", KUBEFILE, FILES)
    _, first = build(store, ctx)
    rec, second = build(store, ctx)
    assert rec.events == ["cached", "cached", "cached"]
    assert second.descriptor.digest == first.descriptor.digest


def test_changed_source_rebuilds_from_that_step_on(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", KUBEFILE, FILES)
    _, first = build(store, ctx)
    (ctx / "manifests/app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n")
    rec, second = build(store, ctx)
    assert [e for e in rec.events if not e.startswith("out:")] == ["cached", "written", "written"]
    assert second.descriptor.digest != first.descriptor.digest


def test_build_arg_change_invalidates_run(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", KUBEFILE, FILES)
    build(store, ctx)
    rec, _ = build(store, ctx, build_args={"VERSION": "2.0"})
    assert [e for e in rec.events if not e.startswith("out:")] == ["cached", "cached", "written"]


def test_no_cache_rebuilds_everything_to_the_same_digest(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY etc/ etc/\n", FILES)
    _, first = build(store, ctx)
    rec, second = build(store, ctx, no_cache=True)
    assert rec.events == ["written"]
    assert second.descriptor.digest == first.descriptor.digest


def test_reproducible_across_stores_and_mtimes(tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY etc/ etc/\nCOPY manifests manifests\n", FILES)
    _, a = build(Store(tmp_path / "s1"), ctx)
    for path in ctx.rglob("*"):
        os.utime(path, (12345, 12345))
    _, b = build(Store(tmp_path / "s2"), ctx)
    assert a.descriptor.digest == b.descriptor.digest


def test_failing_run_names_line_and_keeps_store_clean(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY etc/ etc/\nRUN exit 3\n", FILES)
    with pytest.raises(BuildError, match=r"Kubefile:3: RUN exited with status 3"):
        build(store, ctx)
    assert store.list_images() == []
    assert list((store.root / "tmp").iterdir()) == []


def test_child_image_on_top_of_a_base(store, tmp_path):
    base_ctx = write_context(tmp_path / "base", "FROM scratch\nCOPY etc/ etc/\nCMDS [\"echo base\"]\n", FILES)
    _, base = build(store, base_ctx, tag="base:v1")
    child_ctx = write_context(tmp_path / "child", "FROM base:v1\nRUN test -f etc/a.conf && echo ok > checked\n", {})
    rec, child = build(store, child_ctx, tag="child:v1")
    base_layers = store.get_manifest(base.descriptor.digest).layers
    child_manifest = store.get_manifest(child.descriptor.digest)
    assert child_manifest.layers[: len(base_layers)] == base_layers
    assert len(child_manifest.layers) == len(base_layers) + 1
    assert read_extension(child_manifest).launch_cmds == ("echo base",)  # inherited: child declares none
    assert child_manifest.annotations["org.opencontainers.image.base.digest"] == str(base.descriptor.digest)


def test_missing_base_is_a_clear_error(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", "FROM nothere:v1\nCOPY etc/ etc/\n", FILES)
    with pytest.raises(ImageNotFound, match="base image nothere:v1 is not in the local store"):
        build(store, ctx)


def test_several_platforms_make_an_index(store, tmp_path):
    kubefile = "FROM scratch\nARG TARGETARCH\nCOPY bin/${TARGETARCH}/tool bin/tool\n"
    ctx = write_context(tmp_path / "ctx", kubefile, {"bin/amd64/tool": "x86\n", "bin/arm64/tool": "arm\n"})
    _, result = build(store, ctx, platforms=("linux/amd64", "linux/arm64"))
    assert result.descriptor.media_type in INDEX_TYPES
    platforms = store.platform_manifests(result.descriptor)
    assert [str(p.platform) for p in platforms] == ["linux/amd64", "linux/arm64"]
    contents = []
    for pm in platforms:
        tar = tarfile.open(fileobj=io.BytesIO(gzip.decompress(store.read_blob(pm.manifest.layers[-1].digest))))
        contents.append(tar.extractfile("bin/tool").read())
    assert contents == [b"x86\n", b"arm\n"]


def _build_in_process(root: str, ctx: str, tag: str) -> None:
    Builder(Store(Path(root))).build(BuildOptions(kubefile=Path(ctx) / "Kubefile", context=Path(ctx), tags=(tag,)))


def test_two_processes_building_at_once(store, tmp_path):
    ctxs = []
    for i in range(2):
        files = {**FILES, f"etc/own{i}.conf": f"{i}\n", "etc/big.bin": "x" * 2_000_000}
        ctxs.append(write_context(tmp_path / f"ctx{i}", KUBEFILE, files))
    mp = multiprocessing.get_context("fork")
    procs = [mp.Process(target=_build_in_process, args=(str(store.root), str(c), f"p{i}:v1")) for i, c in enumerate(ctxs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    for i in range(2):
        image = store.lookup(f"p{i}:v1")
        for digest in store.referenced_blobs(image.descriptor):
            store.read_blob(digest)  # every blob present and verified


def test_launch_may_name_apps_of_the_base_image(store, tmp_path):
    base_ctx = write_context(tmp_path / "base", "FROM scratch\nAPP web local://app.yaml\n",
                             {"app.yaml": FILES["manifests/app.yaml"]})
    build(store, base_ctx, tag="base:v1")
    child_ctx = write_context(tmp_path / "child", "FROM base:v1\nCOPY f etc/f\nLAUNCH [\"web\"]\n", {"f": "x"})
    _, child = build(store, child_ctx, tag="child:v1")
    ext = read_extension(store.get_manifest(child.descriptor.digest))
    assert ext.launch_app_names == ("web",)
    assert [a.name for a in ext.applications] == ["web"]
    bad_ctx = write_context(tmp_path / "bad", "FROM base:v1\nLAUNCH [\"nope\"]\n", {})
    with pytest.raises(KubefileError, match=r"Kubefile:2: LAUNCH: app nope is not defined"):
        build(store, bad_ctx, tag="bad:v1")
