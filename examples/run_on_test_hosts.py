"""Run a cluster image onto 3 throwaway local hosts (systemd-nspawn: 1 master, 2 nodes), then show
what the hosts hold, and remove them. Used by scripts/example.sh; needs root.

    .venv/bin/python examples/run_on_test_hosts.py IMAGE --root STORE
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.hosts import TestHosts, available, ensure_base_rootfs  # noqa: E402

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: hello}}
spec:
  image: {image}
  ssh: {{pk: {key}}}
  hosts:
    - {{ips: [{master}], roles: [master]}}
    - {{ips: [{nodes}], roles: [node]}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    if (reason := available()) is not None:
        print(f"cannot boot local test hosts here: {reason}", file=sys.stderr)
        return 1
    sr = str(Path(sys.executable).parent / "sealer_runner")
    with tempfile.TemporaryDirectory(prefix="sr-example-hosts-") as work:
        print("==> booting 3 local hosts (systemd-nspawn; the first time builds a Debian rootfs, ~80 s)", flush=True)
        with TestHosts(3, Path(work), tarball=ensure_base_rootfs()) as hosts:
            clusterfile = Path(work) / "Clusterfile"
            clusterfile.write_text(CLUSTERFILE.format(image=args.image, key=hosts.key, master=hosts[0].ip,
                                                      nodes=", ".join(h.ip for h in hosts[1:])))
            print(clusterfile.read_text(), flush=True)
            # These hosts are new machines at every boot, with new SSH host keys, on the same addresses:
            # forget the keys the last example run accepted (a real cluster keeps them, and a changed
            # key stops the run).
            (Path(args.root) / "clusters" / "hello" / "known_hosts").unlink(missing_ok=True)
            for attempt in ("first run", "second run (nothing to do)"):
                print(f"==> sealer_runner run -f Clusterfile: {attempt}", flush=True)
                if subprocess.run([sr, "--root", args.root, "run", "-f", str(clusterfile)]).returncode:
                    return 1
            for host in hosts:
                shown = host.ssh("ctr -n hello images ls -q; ls /var/lib/sealer/data/hello/rootfs", timeout=60)
                print(f"==> {host.name} ({host.ip}):\n{shown.stdout}{shown.stderr}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
