#!/usr/bin/env bash
# Run the whole test suite: unit, fuzz (with the kept corpus) and integration tests against real tools.
# Installs what it needs first (scripts/install.sh --deps-only). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --deps-only
echo "==> ruff (pyflakes, bugbear)"
.venv/bin/ruff check --quiet sealer_runner collection tests bench
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit $rc
