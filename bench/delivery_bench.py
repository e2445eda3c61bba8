"""Delivery benchmark on real booted hosts (systemd-nspawn): a cluster image of --mb to 1, 3 and 6 hosts,
against the physical baseline `tar c | ssh host tar x` to one host, measured in the same run; then an
idempotent re-run on 6 hosts. Needs root (see docs/testing.md).

    .venv/bin/python bench/delivery_bench.py [--mb 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import line, timed  # noqa: E402

from sealer_runner.build.builder import Builder, BuildOptions  # noqa: E402
from sealer_runner.image.store import Store  # noqa: E402
from tests.support.hosts import SSH_OPTIONS, HostsFactory, available, ensure_base_rootfs  # noqa: E402

SR = str(Path(sys.executable).parent / "sealer_runner")
CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: bench-{n}}}
spec:
  image: example.com/bench/delivery:v1
  ssh: {{pk: {key}}}
  hosts:
    - {{ips: [{master}], roles: [master]}}
{nodes}"""


def make_image(store: Store, work: Path, mb: int) -> Path:
    ctx = work / "ctx"
    (ctx / "data").mkdir(parents=True)
    parts = 4
    for i in range(parts):
        with open(ctx / "data" / f"part{i}.bin", "wb") as f:
            for _ in range(mb // parts):
                f.write(os.urandom(1 << 20))
    (ctx / "Kubefile").write_text("FROM scratch\n" + "".join(f"COPY data/part{i}.bin data/\n" for i in range(parts)))
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/bench/delivery:v1",)))
    return ctx / "data"


def busy_seconds() -> float:
    """CPU seconds this machine (host and test hosts alike: they share its kernel) spent not idle."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def deliver(root: Path, work: Path, hosts, key: Path, cpu: dict[str, float], label: str) -> float:
    nodes = "".join(f"    - {{ips: [{h.ip}], roles: [node]}}\n" for h in hosts[1:])
    cf = work / f"Clusterfile-{len(hosts)}"
    cf.write_text(CLUSTERFILE.format(n=len(hosts), key=key, master=hosts[0].ip, nodes=nodes))
    before = busy_seconds()
    seconds = timed([SR, "--root", str(root), "-q", "run", "--tags", "validate,rootfs", "-f", str(cf)])
    cpu[label] = busy_seconds() - before
    return seconds


def tar_ssh(data: Path, host, key: Path, cpu: dict[str, float]) -> float:
    before = busy_seconds()
    started = time.perf_counter()
    tar = subprocess.Popen(["tar", "c", "-C", str(data.parent), data.name], stdout=subprocess.PIPE)
    subprocess.run(["ssh", "-i", str(key), *SSH_OPTIONS, f"root@{host.ip}", "mkdir -p /tmp/base && tar x -C /tmp/base"],
                   stdin=tar.stdout, check=True)
    tar.wait()
    cpu["tar"] = busy_seconds() - before
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1000)
    args = parser.parse_args()
    if (reason := available()) is not None:
        raise SystemExit(f"cannot boot test hosts: {reason}")
    with tempfile.TemporaryDirectory(prefix="sr-delivery-") as tmp:
        work = Path(tmp)
        store = Store(work / "store")
        data = make_image(store, work, args.mb)
        factory = HostsFactory(work / "hosts", tarball=ensure_base_rootfs())
        try:
            results: dict = {}
            cpu: dict[str, float] = {}
            for n in (1, 3, 6):
                with factory(n, tmpfs=False) as hosts:  # 2 copies of the image per host: too big for RAM
                    if n == 1:
                        results["tar"] = tar_ssh(data, hosts[0], hosts.key, cpu)
                    results[n] = deliver(work / "store", work, hosts, hosts.key, cpu, str(n))
                    if n == 6:
                        results["rerun"] = deliver(work / "store", work, hosts, hosts.key, cpu, "rerun")
        finally:
            factory.close()
    print(f"delivery of a {args.mb} MB cluster image (4 layers) to fresh nspawn hosts:")
    print(line("tar c | ssh host tar x, 1 host (peer)", results["tar"]))
    print(line("sealer_runner run, 1 host", results[1], results["tar"]))
    print(line("sealer_runner run, 3 hosts", results[3], results["tar"]))
    print(line("sealer_runner run, 6 hosts", results[6], results["tar"]))
    print(f"  T(6)/T(1): {results[6] / results[1]:.2f} (goal <= 1.3); T(1)/tar: {results[1] / results['tar']:.2f} "
          "(goal <= 1.5)")
    print(line("idempotent re-run, 6 hosts", results["rerun"]) + "   (goal < 15 s)")
    cores = os.cpu_count() or 1
    print(f"CPU busy (this machine and every test host share its {cores} cores), core-seconds:")
    for label, key in (("tar c | ssh host tar x, 1 host", "tar"), ("1 host", "1"), ("3 hosts", "3"),
                       ("6 hosts", "6"), ("re-run, 6 hosts", "rerun")):
        wall = results[key if key in ("tar", "rerun") else int(key)]
        print(f"  {label:<38}{cpu[key]:8.2f}   ({cpu[key] / (wall * cores):.0%} of all cores for {wall:.2f} s)")


if __name__ == "__main__":
    main()
