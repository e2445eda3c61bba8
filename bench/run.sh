#!/usr/bin/env bash
# Run every benchmark; each prints its own ratios against a peer tool measured in the same run.
#   bench/run.sh            build (500 MB context vs tar czf), then registry (caching vs skopeo sync,
#                           1 GB push/pull vs skopeo copy), then delivery of 1 GB to 1/3/6 nspawn hosts
#                           vs tar c | ssh tar x, unshaped and through a 250 mbit uplink (root only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --deps-only
echo "== CLI start-up (vs ctr/skopeo --version) =="
.venv/bin/python bench/cli_bench.py
echo "== build =="
.venv/bin/python bench/build_bench.py
echo "== registry =="
.venv/bin/python bench/registry_bench.py
echo "== cloud (6 instances, seeded 2-10 s boots, on the local Alibaba Cloud endpoint, vs sealer's schedule) =="
.venv/bin/python bench/cloud_bench.py
echo "== delivery (1, 3 and 6 nspawn hosts; needs root) =="
if [[ $(id -u) -eq 0 ]]; then
  .venv/bin/python bench/delivery_bench.py
  echo "== delivery through a 250 mbit controller uplink (tc tbf on the test bridge) =="
  .venv/bin/python bench/delivery_bench.py --uplink 250mbit
  echo "== join (1 host to 6, vs a full run of 7; nspawn hosts) =="
  .venv/bin/python bench/join_bench.py
else
  echo "skipped: booting test hosts needs root (see docs/testing.md)"
fi
