#!/usr/bin/env bash
# Run every benchmark; each prints its own ratios against a peer tool measured in the same run.
#   bench/run.sh            build (500 MB context vs tar czf), then registry (caching vs skopeo sync,
#                           1 GB push/pull vs skopeo copy)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --deps-only
echo "== build =="
.venv/bin/python bench/build_bench.py
echo "== registry =="
.venv/bin/python bench/registry_bench.py
