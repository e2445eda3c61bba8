#!/usr/bin/env bash
# The main job on the bundled example: build the example cluster image, list it, inspect it,
# and save it to an archive for an air-gapped site.
set -euo pipefail
cd "$(dirname "$0")/.."
export SEALER_RUNNER_ROOT=${SEALER_RUNNER_ROOT:-$PWD/.cache/store}
sr=.venv/bin/sealer_runner

set -x
$sr build -t example.com/hello-cluster:v1 examples/hello-cluster
$sr images
$sr inspect example.com/hello-cluster:v1
$sr save -o .cache/hello-cluster.tar example.com/hello-cluster:v1
