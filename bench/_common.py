"""Helpers shared by the benchmarks: run a command and time it, print a result against its peer."""

from __future__ import annotations

import subprocess
import time


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of *cmd*; stops the benchmark with the command's stderr if it fails."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return time.perf_counter() - started


def line(label: str, seconds: float, peer: float | None = None, width: int = 38) -> str:
    """``label   12.34 s   ratio: 0.56`` (the ratio only when a peer time is given)."""
    out = f"  {label:<{width}}{seconds:8.2f} s"
    return out + (f"   ratio: {seconds / peer:.3f}" if peer else "")
