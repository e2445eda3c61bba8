"""Build benchmark: first build vs cached rebuild vs ``tar czf`` of the same tree, measured in one run.

    .venv/bin/python bench/build_bench.py [--mb 500] [--workdir DIR]

The context holds mixed files (many small text files, medium files, a few large
binaries; half compressible, half random), about --mb megabytes in all.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import line, timed  # noqa: E402

SR = [str(Path(sys.executable).parent / "sealer_runner")]


def make_context(root: Path, total_mb: int, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    data = root / "data"
    budget = total_mb * 1_000_000
    written = files = 0
    # (share of bytes, (min, max) file size)
    classes = [(0.10, (200, 20_000)), (0.30, (100_000, 2_000_000)), (0.60, (20_000_000, 60_000_000))]
    for share, (lo, hi) in classes:
        target = written + int(budget * share)
        while written < target:
            size = min(rng.randint(lo, hi), target - written)
            sub = data / f"d{files % 37:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            path = sub / f"f{files:05d}.bin"
            if files % 2:
                path.write_bytes(os.urandom(size))  # incompressible, like binaries and images
            else:
                line = f"config line {files} with some repeated text for compression\n".encode()
                path.write_bytes((line * (size // len(line) + 1))[:size])
            written += size
            files += 1
    (root / "Kubefile").write_text("FROM scratch\nCOPY data/ data/\n")
    return written, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sr-bench-", dir=args.workdir))
    try:
        ctx = work / "ctx"
        ctx.mkdir()
        size, count = make_context(ctx, args.mb)
        env = {**os.environ, "SEALER_RUNNER_ROOT": str(work / "store")}
        subprocess.run(["sync"], check=True)
        t_tar = timed(["tar", "czf", str(work / "peer.tar.gz"), "-C", str(ctx), "data"], env)
        t_first = timed([*SR, "-q", "build", "-t", "bench:v1", str(ctx)], env)
        t_cached = timed([*SR, "-q", "build", "-t", "bench:v1", str(ctx)], env)
        os.utime(next((ctx / "data").rglob("*.bin")))  # touch one file: stat changes, content does not
        t_touched = timed([*SR, "-q", "build", "-t", "bench:v1", str(ctx)], env)
        print(f"build of a {size / 1e6:.0f} MB context in {count} files; ratios to tar czf of the same tree:")
        print(line("tar czf (peer)", t_tar))
        print(line("first build", t_first, t_tar))
        print(line("cached rebuild", t_cached, t_tar))
        print(line("rebuild, one file touched", t_touched, t_tar))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
