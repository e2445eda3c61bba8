"""The test *base* cluster image: the runtime binaries a real base image ships in bin/, taken from
this machine's Debian packages (containerd, containerd-shim-runc-v2, ctr, runc, and the distribution
registry as bin/registry). No Kubernetes binaries: its cluster runtime is `none`."""

from __future__ import annotations

import shutil
from pathlib import Path

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.image.store import Store

BINARIES = {
    "containerd": "/usr/bin/containerd",
    "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2",
    "ctr": "/usr/bin/ctr",
    "runc": "/usr/sbin/runc",
    "registry": "/usr/bin/docker-registry",
}
KUBEFILE = """\
FROM scratch
LABEL cluster.alpha.sealer.io/cluster-runtime-type=none \\
      cluster.alpha.sealer.io/container-runtime-type=containerd
COPY bin bin
"""


def missing_binaries() -> list[str]:
    return [path for path in BINARIES.values() if not Path(path).exists()]


def build_base_image(store: Store, workdir: Path, tag: str = "example.com/base/runtime:test") -> str:
    ctx = workdir / "base-image"
    (ctx / "bin").mkdir(parents=True, exist_ok=True)
    for name, source in BINARIES.items():
        shutil.copy2(source, ctx / "bin" / name)
    (ctx / "Kubefile").write_text(KUBEFILE)
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(tag,), platforms=("linux/amd64",)))
    return tag
