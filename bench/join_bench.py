"""Join benchmark on real booted hosts (systemd-nspawn), issue 13's measurement: joining 1 host to a running
6-host cluster against a full `run` of the same 7 hosts from scratch, measured in the same run with the same
image (runtime none, a --mb image in 2 layers). Also counts the tasks that ran and changed on the 6 hosts
already in the cluster during the join (goal: only what must change: their /etc/hosts), and a full run of
2 fresh hosts (a master and the one that would join), the floor below which no join can go while a
delivery costs what it costs per host. Needs root.

    .venv/bin/python bench/join_bench.py [--mb 100]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import line, timed  # noqa: E402

from sealer_runner.build.builder import Builder, BuildOptions  # noqa: E402
from sealer_runner.image.store import Store  # noqa: E402
from tests.support.base_image import build_base_image  # noqa: E402
from tests.support.hosts import HostsFactory, available, ensure_base_rootfs  # noqa: E402

SR = str(Path(sys.executable).parent / "sealer_runner")
IMAGE = "example.com/bench/join:v1"
CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: {name}}}
spec:
  image: {image}
  ssh: {{pk: {key}}}
  hosts:
    - {{ips: [{master}], roles: [master]}}
    - {{ips: [{nodes}], roles: [node]}}
"""


def make_image(store: Store, work: Path, mb: int) -> None:
    base = build_base_image(store, work)
    ctx = work / "ctx"
    (ctx / "data").mkdir(parents=True)
    for i in range(2):
        with open(ctx / "data" / f"part{i}.bin", "wb") as f:
            for _ in range(mb // 2):
                f.write(os.urandom(1 << 20))
    (ctx / "Kubefile").write_text(f"FROM {base}\nCOPY data/part0.bin data/\nCOPY data/part1.bin data/\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(IMAGE,), platforms=("linux/amd64",)))


def clusterfile(work: Path, name: str, hosts, key: Path) -> Path:
    path = work / f"Clusterfile-{name}"
    path.write_text(CLUSTERFILE.format(name=name, image=IMAGE, key=key, master=hosts[0].ip,
                                       nodes=", ".join(h.ip for h in hosts[1:])))
    return path


def task_counts(root: Path, name: str, hosts: set[str]) -> tuple[int, int]:
    """(tasks that ran, tasks that changed) on *hosts* in the cluster's latest ansible-runner job."""
    artifacts = root / "clusters" / name / "runner" / "artifacts"
    latest = max(artifacts.iterdir(), key=lambda p: p.stat().st_mtime)
    ran = changed = 0
    for event_file in (latest / "job_events").glob("*.json"):
        event = json.loads(event_file.read_text())
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("host") in hosts:
            ran += 1
            changed += bool((data.get("res") or {}).get("changed"))
    return ran, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    if (reason := available()) is not None:
        raise SystemExit(f"cannot boot test hosts: {reason}")
    with tempfile.TemporaryDirectory(prefix="sr-join-") as tmp:
        work = Path(tmp)
        root = work / "store"
        make_image(Store(root), work, args.mb)
        factory = HostsFactory(work / "hosts", tarball=ensure_base_rootfs())
        try:
            with factory(7, tmpfs=False) as hosts:
                cf = clusterfile(work, "joined", list(hosts)[:6], hosts.key)
                first = timed([SR, "--root", str(root), "-q", "run", "-f", str(cf)])
                joined = timed([SR, "--root", str(root), "-q", "join", "--name", "joined", "-n", hosts[6].ip])
                ran, changed = task_counts(root, "joined", {h.ip for h in list(hosts)[:6]})
                ran_new, _ = task_counts(root, "joined", {hosts[6].ip})
            with factory(7, tmpfs=False) as hosts:
                full = timed([SR, "--root", str(root), "-q", "run", "-f",
                              str(clusterfile(work, "full", list(hosts), hosts.key))])
            with factory(2, tmpfs=False) as hosts:  # the floor: the new host's own work, no cluster around it
                alone = timed([SR, "--root", str(root), "-q", "run", "-f",
                               str(clusterfile(work, "alone", list(hosts), hosts.key))])
        finally:
            factory.close()
    print(f"joining 1 host to a running 6-host cluster vs a full run of 7 hosts ({args.mb} MB image, runtime none):")
    print(line("run of 6 hosts (the cluster, once)", first))
    print(line("full run of 7 fresh hosts (peer)", full))
    print(line("join of the 7th host", joined, full) + "   (goal <= 0.3)")
    print(line("full run of 2 fresh hosts (a floor for any join)", alone, full))
    print(f"  tasks on the 6 hosts already there during the join: {ran} ran, {changed} changed "
          f"({ran / 6:.1f} ran, {changed / 6:.1f} changed per host; the new host ran {ran_new})")


if __name__ == "__main__":
    main()
