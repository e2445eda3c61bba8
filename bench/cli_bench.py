"""CLI start-up: the commands people run in scripts, against `ctr --version` and `skopeo --version`
(Go binaries that start in a few milliseconds), measured in the same run. Median of 15 runs each.
Goal: `version`, `--help`, `images` and `inspect` in <= 0.15 s.

    .venv/bin/python bench/cli_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import line, timed  # noqa: E402

RUNS = 15
SR = str(Path(sys.executable).parent / "sealer_runner")


def median(cmd: list[str], env: dict[str, str]) -> float:
    timed(cmd, env)  # warm the page cache
    return statistics.median(timed(cmd, env) for _ in range(RUNS))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sr-cli-bench-") as root:
        env = {**os.environ, "SEALER_RUNNER_ROOT": root}
        ctx = Path(root) / "ctx"
        ctx.mkdir()
        (ctx / "Kubefile").write_text("FROM scratch\nCOPY f f\n")
        (ctx / "f").write_text("x\n")
        timed([SR, "-q", "build", "-t", "bench/cli:v1", str(ctx)], env)
        peers = {"ctr --version": median(["ctr", "--version"], env),
                 "skopeo --version": median(["skopeo", "--version"], env)}
        for name, seconds in peers.items():
            print(line(name, seconds))
        peer = peers["ctr --version"]
        print("sealer_runner (ratio against ctr --version; goal <= 0.15 s each):")
        for args in (["version"], ["--help"], ["images"], ["inspect", "bench/cli:v1"], ["run", "--help"]):
            print(line("sealer_runner " + " ".join(args), median([SR, *args], env), peer))


if __name__ == "__main__":
    main()
