"""The registry client against real docker-registry servers on loopback (plain, TLS + htpasswd)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.cli.main import main as cli_main
from sealer_runner.errors import AuthenticationError, RegistryError
from sealer_runner.image.digest import Digest
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.registry.auth import AuthStore, Credentials
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries, TransferReporter, pull, push
from sealer_runner.util.secret import Secret
from tests.support.registry import BINARY, RegistryServer, make_tls
from tests.support.token_server import TokenServer

pytestmark = [pytest.mark.integration]
if not os.path.exists(BINARY):
    pytestmark.append(pytest.mark.skip(reason="docker-registry not installed (run scripts/install.sh)"))


class Recorder(TransferReporter):
    def __init__(self):
        self.resumed, self.done, self.skipped = {}, [], []

    def blob_resumed(self, digest, offset):
        self.resumed[digest] = offset

    def blob_done(self, digest, skipped):
        (self.skipped if skipped else self.done).append(digest)


def build_image(store: Store, tmp: Path, tag: str, *, size: int = 4096, platforms=(), seed: bytes = b"") -> None:
    ctx = tmp / f"ctx-{tag.replace('/', '_').replace(':', '_')}"
    (ctx / "data").mkdir(parents=True, exist_ok=True)
    (ctx / "data" / "blob.bin").write_bytes(seed + os.urandom(size))
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", ctx / "busybox")
    kubefile = "FROM scratch\nARG TARGETARCH\nCOPY busybox bin/busybox\nCOPY data/ data/\nRUN echo ${TARGETARCH} > arch\n"
    (ctx / "Kubefile").write_text(kubefile)
    Builder(store).build(BuildOptions(kubefile=ctx / "Kubefile", context=ctx, tags=(tag,), platforms=platforms))


def registries(root: Path, **config) -> Registries:
    return Registries(RegistryConfig(**config), AuthStore(root / "auth.json", docker_config=root / "none.json"))


def published(tmp_path: Path, server: RegistryServer, repo: str, *, size: int = 4096):
    """Build a small image in a fresh store and push it to *server* as *repo*."""
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/app:v1", size=size)
    image = src.lookup("example.com/app:v1")
    ref = parse_reference(f"{server.host}/{repo}")
    regs = registries(tmp_path)
    push(src, image, ref, regs)
    return src, image, ref, regs


@pytest.fixture
def plain(tmp_path):
    with RegistryServer(tmp_path / "plain") as server:
        yield server


def skopeo_digest(url: str, *extra: str) -> str:
    out = subprocess.run(["skopeo", "inspect", "--raw", *extra, url], capture_output=True, check=True).stdout
    return str(Digest.of_bytes(out))


def test_push_pull_round_trip_keeps_digests(tmp_path, plain):
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/app:v1")
    image = src.lookup("example.com/app:v1")
    ref = parse_reference(f"{plain.host}/team/app:v1")
    regs = registries(tmp_path)
    assert push(src, image, ref, regs) == image.descriptor.digest
    assert skopeo_digest(f"docker://{ref}", "--tls-verify=false") == str(image.descriptor.digest)
    dst = Store(tmp_path / "dst")
    assert pull(dst, ref, regs).digest == image.descriptor.digest
    assert dst.referenced_blobs(dst.lookup(str(ref)).descriptor) == src.referenced_blobs(image.descriptor)
    by_digest = parse_reference(f"{plain.host}/team/app@{image.descriptor.digest}")
    assert pull(Store(tmp_path / "dst2"), by_digest, regs).digest == image.descriptor.digest


def test_second_push_and_pull_move_nothing(tmp_path, plain):
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/app:v1")
    ref = parse_reference(f"{plain.host}/team/app:v1")
    regs = registries(tmp_path)
    push(src, src.lookup("example.com/app:v1"), ref, regs)
    again = Recorder()
    push(src, src.lookup("example.com/app:v1"), ref, regs, again)
    assert again.done == [] and len(again.skipped) == 4  # config + three layers
    rec = Recorder()
    pull(src, ref, regs, reporter=rec)
    assert rec.done == [] and len(rec.skipped) == 4


def test_cross_repository_mount(tmp_path, plain):
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/app:v1")
    regs = registries(tmp_path)
    first = parse_reference(f"{plain.host}/team/app:v1")
    push(src, src.lookup("example.com/app:v1"), first, regs)
    src.tag(first, src.lookup("example.com/app:v1").descriptor)  # the store now knows that repository
    rec = Recorder()
    push(src, src.lookup("example.com/app:v1"), parse_reference(f"{plain.host}/other/app:v1"), regs, rec)
    assert rec.done == [] and len(rec.skipped) == 4, "every blob should have been mounted, none uploaded"


def test_multi_platform_index_and_platform_selection(tmp_path, plain):
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/multi:v1", platforms=("linux/amd64", "linux/arm64"))
    image = src.lookup("example.com/multi:v1")
    ref = parse_reference(f"{plain.host}/team/multi:v1")
    regs = registries(tmp_path)
    push(src, image, ref, regs)
    whole = Store(tmp_path / "whole")
    assert pull(whole, ref, regs).digest == image.descriptor.digest
    assert [str(p.platform) for p in whole.platform_manifests(whole.lookup(str(ref)).descriptor)] == \
        ["linux/amd64", "linux/arm64"]
    arm = Store(tmp_path / "arm")
    from sealer_runner.image.types import Platform
    desc = pull(arm, ref, regs, platform=Platform("linux", "arm64"))
    assert [str(p.platform) for p in arm.platform_manifests(desc)] == ["linux/arm64"]
    with pytest.raises(Exception, match="has no linux/s390x variant"):
        pull(Store(tmp_path / "none"), ref, regs, platform=Platform("linux", "s390x"))


def test_resume_of_an_interrupted_download(tmp_path, plain):
    src, image, ref, regs = published(tmp_path, plain, "team/big:v1", size=3_000_000)
    big = max(src.get_manifest(image.descriptor.digest).layers, key=lambda d: d.size)
    dst = Store(tmp_path / "dst")
    half = src.read_blob(big.digest)[: big.size // 2]
    dst.partial_path(big.digest).write_bytes(half)  # what an interrupted pull leaves behind
    rec = Recorder()
    pull(dst, ref, regs, reporter=rec)
    assert rec.resumed == {big.digest: len(half)}
    assert dst.read_blob(big.digest) == src.read_blob(big.digest)
    assert not dst.partial_path(big.digest).exists()


def _some_bytes_arrived(partial_dir: Path) -> bool:
    """True once a partial download holds data (files come and go while we look: a finished blob moves)."""
    for path in partial_dir.glob("*"):
        try:
            if path.suffix != ".lock" and path.stat().st_size:
                return True
        except FileNotFoundError:
            continue
    return False


def test_killed_pull_reruns_to_completion(tmp_path, plain):
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/big:v1", size=40_000_000)
    ref = parse_reference(f"{plain.host}/team/big:v1")
    push(src, src.lookup("example.com/big:v1"), ref, registries(tmp_path))
    root = tmp_path / "dst"
    cmd = [sys.executable, "-m", "sealer_runner.cli.main", "--root", str(root), "-q", "pull", str(ref)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial_dir = root / "tmp" / "partial"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _some_bytes_arrived(partial_dir):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert cli_main(["--root", str(root), "-q", "pull", str(ref)]) == 0
    store = Store(root)
    for digest in store.referenced_blobs(store.lookup(str(ref)).descriptor):
        store.read_blob(digest)


def test_tampered_blob_on_the_registry_is_detected(tmp_path, plain):
    src, image, ref, regs = published(tmp_path, plain, "team/app:v1", size=100_000)
    layer = max(src.get_manifest(image.descriptor.digest).layers, key=lambda d: d.size)
    data_file = plain.storage / "docker/registry/v2/blobs/sha256" / layer.digest.hex[:2] / layer.digest.hex / "data"
    data = bytearray(data_file.read_bytes())
    data[100] ^= 0xFF
    data_file.write_bytes(bytes(data))
    dst = Store(tmp_path / "dst")
    with pytest.raises(RegistryError, match="does not match its digest"):
        pull(dst, ref, regs)
    assert dst.list_images() == [] and not dst.has_blob(layer.digest)


def test_mirror_serves_an_upstream_name(tmp_path, plain):
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/busybox:1.36")
    # skopeo (not our client) fills the mirror, playing the part of docker.io
    archive = tmp_path / "bb.tar"
    assert cli_main(["--root", str(src.root), "-q", "save", "-o", str(archive), "example.com/busybox:1.36"]) == 0
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci-archive:{archive}:1.36",
                    f"docker://{plain.host}/library/busybox:1.36"], check=True, capture_output=True)
    root = tmp_path / "dst"
    rc = cli_main(["--root", str(root), "-q", "--registry-mirror", f"docker.io=http://{plain.host}",
                   "pull", "busybox:1.36"])
    assert rc == 0
    assert Store(root).lookup("docker.io/library/busybox:1.36").descriptor.digest == \
        src.lookup("example.com/busybox:1.36").descriptor.digest


def test_unreachable_registry_names_every_endpoint(tmp_path):
    regs = registries(tmp_path, mirrors={"example.invalid": ("http://127.0.0.1:9",)})
    with pytest.raises(RegistryError) as info:
        pull(Store(tmp_path / "s"), parse_reference("127.0.0.1:9/x/y:v1"), regs)
    assert "127.0.0.1:9" in str(info.value)


class TestTLSAndAuth:
    @pytest.fixture
    def secure(self, tmp_path):
        tls = make_tls(tmp_path / "tls")
        with RegistryServer(tmp_path / "secure", tls=tls, users={"alice": "s3cret-pw"}) as server:
            yield server

    def _sr(self, root, *args, capsys=None):
        return cli_main(["--root", str(root), *args])

    def test_login_push_pull_logout(self, tmp_path, secure, capsys):
        root = tmp_path / "store"
        build_image(Store(root), tmp_path, "example.com/app:v1")
        ca = ["--ca-file", str(secure.tls.ca)]
        dest = f"{secure.host}/team/app:v1"
        assert self._sr(root, *ca, "push", "example.com/app:v1", dest) == 1
        assert "authentication required" in capsys.readouterr().err
        assert self._sr(root, *ca, "login", secure.host, "-u", "alice", "-p", "wrong-pw") == 1
        err = capsys.readouterr().err
        assert "wrong username or password" in err and "wrong-pw" not in err
        assert not (root / "auth.json").exists()
        assert self._sr(root, *ca, "login", secure.host, "-u", "alice", "-p", "s3cret-pw") == 0
        auth = root / "auth.json"
        assert auth.stat().st_mode & 0o777 == 0o600
        assert self._sr(root, *ca, "push", "example.com/app:v1", dest) == 0
        out = capsys.readouterr()
        assert "s3cret-pw" not in out.out + out.err
        assert self._sr(root, *ca, "rmi", "example.com/app:v1") == 0
        assert self._sr(root, *ca, "pull", dest) == 0
        assert self._sr(root, "logout", secure.host) == 0
        assert secure.host not in json.loads(auth.read_text())["auths"]

    def test_tls_needs_the_ca(self, tmp_path, secure, capsys):
        root = tmp_path / "store"
        assert self._sr(root, "login", secure.host, "-u", "alice", "-p", "s3cret-pw") == 1
        assert "TLS failed" in capsys.readouterr().err
        assert self._sr(root, "--skip-tls-verify", "login", secure.host, "-u", "alice", "-p", "s3cret-pw") == 0


def test_bearer_token_flow_like_docker_hub(tmp_path):
    """Anonymous pull tokens, then credentials for push, with the scopes the registry asks for."""
    tls = make_tls(tmp_path / "tls")
    tokens = TokenServer(tls, {"alice": "s3cret-pw"}).start()
    try:
        with RegistryServer(tmp_path / "hub", token_realm=tokens.realm, token_ca=tls.ca) as hub:
            src = Store(tmp_path / "src")
            build_image(src, tmp_path, "example.com/app:v1")
            ref = parse_reference(f"{hub.host}/library/app:v1")
            anonymous = registries(tmp_path / "anon")
            with pytest.raises(AuthenticationError):
                push(src, src.lookup("example.com/app:v1"), ref, anonymous)
            auth = AuthStore(tmp_path / "auth.json", docker_config=tmp_path / "none")
            auth.put(hub.host, Credentials("alice", Secret("s3cret-pw")))
            push(src, src.lookup("example.com/app:v1"), ref, Registries(RegistryConfig(), auth))
            assert ("alice", ["repository:library/app:pull,push"]) in tokens.requests
            tokens.requests.clear()
            dst = Store(tmp_path / "dst")
            assert pull(dst, ref, anonymous).digest == src.lookup("example.com/app:v1").descriptor.digest
            assert tokens.requests and all(who == "anonymous" for who, _ in tokens.requests)
            assert len(tokens.requests) == 1, "one token per scope, cached across requests"
    finally:
        tokens.stop()


def test_concurrent_fetches_of_a_shared_blob_download_it_once(tmp_path, plain):
    """Images fetched side by side share layers; each blob must arrive once and intact."""
    from concurrent.futures import ThreadPoolExecutor

    from sealer_runner.registry.transfer import fetch

    _, _, ref, regs = published(tmp_path, plain, "team/app:v1", size=2_000_000)
    dst = Store(tmp_path / "dst")
    recorders = [Recorder() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda r: fetch(dst, ref, regs, reporter=r), recorders))
    assert len({r.top.digest for r in results}) == 1
    downloads = [d for r in recorders for d in r.done]
    assert len(downloads) == len(set(downloads)) == len(results[0].blobs)
    for digest in results[0].blobs:
        dst.read_blob(digest)


def test_docker_schema2_images_pull_and_push_back_unchanged(tmp_path, plain):
    """Docker media types (manifest list + schema2), as skopeo writes them with --format v2s2."""
    src = Store(tmp_path / "src")
    build_image(src, tmp_path, "example.com/multi:v1", platforms=("linux/amd64", "linux/arm64"))
    archive = tmp_path / "multi.tar"
    assert cli_main(["--root", str(src.root), "-q", "save", "-o", str(archive), "example.com/multi:v1"]) == 0
    subprocess.run(["skopeo", "copy", "--quiet", "--all", "--format", "v2s2", "--dest-tls-verify=false",
                    f"oci-archive:{archive}:v1", f"docker://{plain.host}/docker/multi:v1"], check=True,
                   capture_output=True)
    ref = parse_reference(f"{plain.host}/docker/multi:v1")
    regs = registries(tmp_path)
    dst = Store(tmp_path / "dst")
    desc = pull(dst, ref, regs)
    assert desc.media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
    manifests = dst.platform_manifests(desc)
    assert [m.descriptor.media_type for m in manifests] == ["application/vnd.docker.distribution.manifest.v2+json"] * 2
    assert str(desc.digest) == skopeo_digest(f"docker://{ref}", "--tls-verify=false")
    copy = parse_reference(f"{plain.host}/docker/copy:v1")
    assert push(dst, dst.lookup(str(ref)), copy, regs) == desc.digest
