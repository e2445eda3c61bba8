"""Registry benchmarks against skopeo, measured in the same run on the same loopback registry.

    .venv/bin/python bench/registry_bench.py [--images 10] [--cache-mb 300] [--push-mb 1000]

1. Caching: a cluster-image build that caches N container images (about --cache-mb in all, sharing a
   base layer) from a local "docker.io" mirror, vs `skopeo sync` of the same images into a directory.
2. Push and pull of a --push-mb cluster image, vs `skopeo copy` of the same OCI layout.
Ratios below 1.0 mean sealer_runner was faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sealer_runner.build.builder import Builder, BuildOptions  # noqa: E402
from sealer_runner.image.reference import parse_reference  # noqa: E402
from sealer_runner.image.store import Store  # noqa: E402
from sealer_runner.registry.auth import AuthStore  # noqa: E402
from sealer_runner.registry.config import RegistryConfig  # noqa: E402
from sealer_runner.registry.transfer import Registries, push  # noqa: E402
from tests.support.registry import RegistryServer  # noqa: E402
from _common import line, timed  # noqa: E402

SR = str(Path(sys.executable).parent / "sealer_runner")


def build(store: Store, ctx: Path, tag: str, kubefile: str, files: dict[str, int]) -> None:
    ctx.mkdir(parents=True, exist_ok=True)
    for name, size in files.items():
        with open(ctx / name, "wb") as f:
            for _ in range(size // (1 << 20)):
                f.write(os.urandom(1 << 20))
            f.write(os.urandom(size % (1 << 20)))
    (ctx / "Kubefile").write_text(kubefile)
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(tag,), platforms=("linux/amd64",)))


def caching(work: Path, upstream: RegistryServer, images: int, total_mb: int) -> tuple[float, float]:
    store = Store(work / "fixtures")
    regs = Registries(RegistryConfig(), AuthStore(work / "auth.json", docker_config=work / "none"))
    base_mb = total_mb // 3
    own = (total_mb - base_mb) * (1 << 20) // images
    build(store, work / "base", "bench/base:1", "FROM scratch\nCOPY base.bin base.bin\n", {"base.bin": base_mb << 20})
    names = []
    for i in range(images):
        name = f"bench/app{i}:1"
        build(store, work / f"app{i}", name, "FROM bench/base:1\nCOPY own.bin own.bin\n", {"own.bin": own})
        push(store, store.lookup(name), parse_reference(f"{upstream.host}/{name}"), regs)
        names.append(name)
    ctx = work / "cluster"
    (ctx / "manifests").mkdir(parents=True)
    (ctx / "manifests" / "imageList").write_text("".join(f"docker.io/{n}\n" for n in names))
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY manifests manifests\n")
    ours = timed([SR, "--root", str(work / "sr-store"), "-q", "--registry-mirror",
                  f"docker.io=http://{upstream.host}", "build", "--platform", "linux/amd64", "-t", "c:1", str(ctx)])
    sync = work / "sync.yaml"
    repos = "".join(f"      {n.split(':')[0]}: ['1']\n" for n in names)
    sync.write_text(f"{upstream.host}:\n  tls-verify: false\n  images:\n{repos}")
    skopeo = timed(["skopeo", "sync", "--src", "yaml", "--dest", "dir", str(sync), str(work / "skopeo-dir")])
    return ours, skopeo


def push_pull(work: Path, total_mb: int) -> tuple[float, float, float, float]:
    store = Store(work / "big-store")
    layers = 4
    files = {f"part{i}.bin": (total_mb << 20) // layers for i in range(layers)}
    kubefile = "FROM scratch\n" + "".join(f"COPY {n} data/{n}\n" for n in files)
    build(store, work / "big", "example.com/big:1", kubefile, files)
    layout = f"oci:{store.root / 'oci'}:example.com/big:1"
    with RegistryServer(work / "reg-ours") as ours_reg, RegistryServer(work / "reg-skopeo") as skopeo_reg:
        ours_push = timed([SR, "--root", str(store.root), "-q", "push", "example.com/big:1",
                           f"{ours_reg.host}/big/cluster:1"])
        skopeo_push = timed(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", layout,
                             f"docker://{skopeo_reg.host}/big/cluster:1"])
        ours_pull = timed([SR, "--root", str(work / "pulled"), "-q", "pull", f"{ours_reg.host}/big/cluster:1"])
        skopeo_pull = timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                             f"docker://{skopeo_reg.host}/big/cluster:1", f"oci:{work / 'skopeo-pulled'}:1"])
    return ours_push, skopeo_push, ours_pull, skopeo_pull


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--cache-mb", type=int, default=300)
    parser.add_argument("--push-mb", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--only", choices=("caching", "push-pull"), help="run one of the two benchmarks")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sr-regbench-", dir=args.workdir))
    try:
        if args.only != "push-pull":
            with RegistryServer(work / "upstream") as upstream:
                ours, skopeo = caching(work, upstream, args.images, args.cache_mb)
            print(f"caching {args.images} images (~{args.cache_mb} MB, shared base layer) from a local mirror:")
            print(line("skopeo sync to a dir (peer)", skopeo))
            print(line("sealer_runner build", ours, skopeo))
        if args.only == "caching":
            return
        o_push, s_push, o_pull, s_pull = push_pull(work, args.push_mb)
        print(f"push and pull of a {args.push_mb} MB cluster image (4 layers) on loopback:")
        print(line("skopeo copy oci: -> docker:// (peer)", s_push))
        print(line("sealer_runner push", o_push, s_push))
        print(line("skopeo copy docker:// -> oci: (peer)", s_pull))
        print(line("sealer_runner pull", o_pull, s_pull))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
