#!/usr/bin/env bash
# Run every benchmark; each prints its own ratios against a peer measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --deps-only
.venv/bin/python bench/build_bench.py "$@"
