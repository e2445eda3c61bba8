"""Delivery benchmark on real booted hosts (systemd-nspawn): a cluster image of --mb to 1, 3 and 6 hosts,
against the physical baseline `tar c | ssh host tar x` measured in the same run on the same fresh hosts
(to each at once, as a naive tool would); then an idempotent re-run on 6 hosts. Needs root (see
docs/testing.md).

The peer's own T(6)/T(1) shows what this machine allows: its test hosts share its cores and its disk,
so six hosts cannot take in six copies as fast as one takes in one, whatever sends them.

`--uplink RATE` (e.g. 250mbit) shapes the controller's link into the site, as a bastion, a VPN or a WAN
would: a `tc ... tbf` qdisc on the test bridge itself limits what this machine sends into the bridge,
while host-to-host traffic, forwarded between the hosts' veths, is not limited. The shaping is removed
when the bench ends, also on failure.

    .venv/bin/python bench/delivery_bench.py [--mb 1000] [--uplink 250mbit]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
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


def tar_ssh(data: Path, hosts, cpu: dict[str, float], label: str) -> float:
    """`tar c | ssh host tar x` to every host at once; the copies are removed afterwards."""
    before = busy_seconds()
    started = time.perf_counter()
    pipes = []
    for host in hosts:
        tar = subprocess.Popen(["tar", "c", "-C", str(data.parent), data.name], stdout=subprocess.PIPE)
        ssh = subprocess.Popen(["ssh", "-i", str(host.key), *SSH_OPTIONS, f"root@{host.ip}",
                                "mkdir -p /tmp/base && tar x -C /tmp/base"], stdin=tar.stdout)
        tar.stdout.close()  # ssh holds the pipe now: tar gets SIGPIPE if ssh dies
        pipes.append((tar, ssh))
    failed = [p.args for pair in pipes for p in pair if p.wait()]
    seconds = time.perf_counter() - started
    cpu[label] = busy_seconds() - before
    if failed:
        raise SystemExit(f"the peer failed: {failed}")
    for host in hosts:
        host.ssh("rm -rf /tmp/base", check=True)
    return seconds


@contextmanager
def uplink(bridge: str, rate: str | None):
    """The controller's side of *bridge* shaped to *rate* (tc tbf) while the block runs; nothing without."""
    if not rate:
        yield
        return
    subprocess.run(["tc", "qdisc", "replace", "dev", bridge, "root", "tbf", "rate", rate, "burst", "256kb",
                    "latency", "50ms"], check=True)
    try:
        yield
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", bridge, "root"], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1000)
    parser.add_argument("--uplink", metavar="RATE", help="shape the controller's uplink (tc tbf rate, e.g. 250mbit)")
    args = parser.parse_args()
    if (reason := available()) is not None:
        raise SystemExit(f"cannot boot test hosts: {reason}")
    with tempfile.TemporaryDirectory(prefix="sr-delivery-") as tmp:
        work = Path(tmp)
        store = Store(work / "store")
        data = make_image(store, work, args.mb)
        factory = HostsFactory(work / "hosts", tarball=ensure_base_rootfs())
        try:
            results: dict[str, float] = {}  # wall seconds, and CPU below, by run: tar1, 1, ..., rerun
            cpu: dict[str, float] = {}
            for n in (1, 3, 6):
                # 2 copies of the image per host: too big for RAM
                with factory(n, tmpfs=False) as hosts, uplink(hosts[0].bridge, args.uplink):
                    results[f"tar{n}"] = tar_ssh(data, hosts, cpu, f"tar{n}")
                    results[str(n)] = deliver(work / "store", work, hosts, hosts.key, cpu, str(n))
                    if n == 6:
                        results["rerun"] = deliver(work / "store", work, hosts, hosts.key, cpu, "rerun")
        finally:
            factory.close()
    shaped = f", controller uplink {args.uplink} (tc tbf)" if args.uplink else ", no network limit"
    print(f"delivery of a {args.mb} MB cluster image (4 layers) to fresh nspawn hosts{shaped}:")
    for n in (1, 3, 6):
        hosts_word = "host " if n == 1 else "hosts"
        print(line(f"tar c | ssh host tar x, {n} {hosts_word} (peer)", results[f"tar{n}"]))
        print(line(f"sealer_runner run, {n} {hosts_word}", results[str(n)], results[f"tar{n}"]))
    print(f"  T(6)/T(1): {results['6'] / results['1']:.2f} (goal <= 1.3; the peer's own on this machine: "
          f"{results['tar6'] / results['tar1']:.2f}); T(1)/tar: {results['1'] / results['tar1']:.2f} "
          f"(goal <= {1.3 if args.uplink else 1.5})")
    if args.uplink:
        print(f"  at 6 hosts, ours / the peer's: {results['6'] / results['tar6']:.2f} (goal <= 0.35)")
    print(line("idempotent re-run, 6 hosts", results["rerun"]) + "   (goal < 15 s)")
    cores = os.cpu_count() or 1
    print(f"CPU busy (this machine and every test host share its {cores} cores), core-seconds:")
    labels = [(f"{what}, {n} host{'s' if n > 1 else ''}", key) for n in (1, 3, 6)
              for what, key in (("tar c | ssh host tar x", f"tar{n}"), ("sealer_runner run", str(n)))]
    for label, key in labels + [("re-run, 6 hosts", "rerun")]:
        wall = results[key]
        print(f"  {label:<38}{cpu[key]:8.2f}   ({cpu[key] / (wall * cores):.0%} of all cores for {wall:.2f} s)")


if __name__ == "__main__":
    main()
