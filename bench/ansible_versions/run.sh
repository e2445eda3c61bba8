#!/usr/bin/env bash
# Benchmark ansible-core minor versions on a templating-heavy playbook (see
# docs/decisions/ansible-core-version.md for results and reasoning).
#
#   bench/ansible_versions/run.sh
#
# Environment knobs (defaults fit ~10 minutes on a 2-core machine):
#   VERSIONS="2.17 2.18 2.19 2.20"  ansible-core minors to compare; "2.19@3.12" runs
#                   2.19 on Python >= 3.12 (control for 2.20, which needs 3.12)
#   RUNS=3          timed runs per version (median is reported; 0 = only the runner check)
#   HOSTS=10        hosts of inventory.ini to use (it has 20; HOSTS=20 takes ~2x longer)
#   FORKS=10
#   VENV_ROOT=/tmp  venvs are VENV_ROOT/ac217 etc.; created if missing
#   PYTHON=python3  interpreter for versions that support Python 3.11
#   PY312=          interpreter for 2.20+ (needs >= 3.12); auto-detected if empty
#   RUNNER=1        also run the ansible-runner 2.4 check once per version
#   WORK=/tmp/acbench
#
# Everything runs against ansible_connection=local: no network is used.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VERSIONS=${VERSIONS:-"2.17 2.18 2.19 2.20"}
RUNS=${RUNS:-3}
HOSTS=${HOSTS:-10}
FORKS=${FORKS:-10}
VENV_ROOT=${VENV_ROOT:-/tmp}
PYTHON=${PYTHON:-python3}
PY312=${PY312:-}
RUNNER=${RUNNER:-1}
WORK=${WORK:-/tmp/acbench}
LIMIT="cluster[0:$((HOSTS - 1))]"
export ANSIBLE_CONFIG="$HERE/ansible.cfg"

mkdir -p "$WORK"
RESULTS="$WORK/results.tsv"
: > "$RESULTS"

find_py312() {
  [ -n "$PY312" ] && { echo "$PY312"; return; }
  local c
  for c in python3.12 python3.13 python3.14; do
    if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then command -v "$c"; return; fi
  done
  if command -v pyenv >/dev/null; then
    for c in "$(pyenv root)"/versions/3.1[234]*/bin/python3; do
      [ -x "$c" ] && { echo "$c"; return; }
    done
  fi
  return 1
}

venv_for() {  # $1 = 2.19 or 2.19@3.12 -> prints venv dir, creating it if needed
  local v=${1%@*} dir="$VENV_ROOT/ac${1/./}" py="$PYTHON"
  dir=${dir/@3./-py3}
  if [ ! -x "$dir/bin/ansible-playbook" ]; then
    if [ "${v#2.}" -ge 20 ] || [ "$1" != "$v" ]; then
      py=$(find_py312) || { echo "no Python >= 3.12 for ansible-core $1" >&2; return 1; }
    fi
    "$py" -m venv "$dir" >&2
    "$dir/bin/pip" install -q "ansible-core==$v.*" "ansible-runner==2.4.*" >&2
  fi
  echo "$dir"
}

declare -A VENV
for v in $VERSIONS; do
  if VENV[$v]=$(venv_for "$v"); then
    echo "# $v: $("${VENV[$v]}/bin/ansible-playbook" --version | awk 'NR == 1'), $("${VENV[$v]}/bin/python" -V), runner $("${VENV[$v]}/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-runner"))')"
  else
    unset "VENV[$v]"
  fi
done

run_once() {  # $1 version, $2 run number
  local v=$1 n=$2 venv=${VENV[$1]} out="$WORK/out/$1" log="$WORK/log-$1-$2.txt" tv="$WORK/time-$1-$2.txt"
  rm -rf "$out" "$WORK/.ansible-local" "$WORK/.ansible-remote"; mkdir -p "$out"
  local rc=0
  /usr/bin/time -v -o "$tv" "$venv/bin/ansible-playbook" -i "$HERE/inventory.ini" "$HERE/site.yml" \
    -f "$FORKS" -l "$LIMIT" -e "bench_out_dir=$out" > "$log" 2>&1 < /dev/null || rc=$?
  local wall rss cpu ok
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
  cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u + s}' "$tv")
  ok=$(grep -cE ' ok=45 .* failed=0 ' "$log" || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$n" "$wall" "$rss" "$rc" "$ok" "$(sha256sum "$out/node01.conf" 2>/dev/null | cut -c1-12)" "$cpu" >> "$RESULTS"
  printf '  %-9s run %s: %6.2f s wall  %6.2f s cpu  maxrss %6d KB  rc=%s  hosts_ok=%s/%s\n' "$v" "$n" "$wall" "$cpu" "$rss" "$rc" "$ok" "$HOSTS"
}

echo "# $RUNS runs x {$VERSIONS}, $HOSTS hosts, forks=$FORKS (round-robin order)"
for n in $(seq 1 "$RUNS"); do
  for v in $VERSIONS; do [ -n "${VENV[$v]:-}" ] && run_once "$v" "$n"; done
done

echo
"$PYTHON" - "$RESULTS" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    v, n, wall, rss, rc, ok, h, cpu = line.rstrip("\n").split("\t")
    rows[v].append((float(wall), int(rss), rc, int(ok), h, float(cpu)))
if not rows:
    sys.exit(0)
med = {v: statistics.median(x[0] for x in r) for v, r in rows.items()}
mcpu = {v: statistics.median(x[5] for x in r) for v, r in rows.items()}
fast, fcpu = min(med.values()), min(mcpu.values())
print(f"{'version':9} {'median s':>8} {'min-max s':>13} {'x fastest':>9} {'cpu s':>7} {'x least':>7} {'peak RSS MB':>11} {'all ok':>6}  node01.conf")
for v, r in rows.items():
    walls = [x[0] for x in r]
    rss = max(x[1] for x in r) / 1024
    allok = all(x[2] == "0" for x in r) and len({x[3] for x in r}) == 1
    print(f"{v:9} {med[v]:8.2f} {min(walls):6.2f}-{max(walls):<6.2f} {med[v] / fast:9.2f} {mcpu[v]:7.1f} {mcpu[v] / fcpu:7.2f} {rss:11.1f} {str(allok):>6}  {r[0][4]}")
print("(wall = /usr/bin/time elapsed; cpu = user+sys of ansible-playbook and its workers; peak RSS = largest single process)")
PY

if [ "$RUNNER" = 1 ]; then
  echo
  echo "# ansible-runner check: CLI on site.yml (2 hosts), then the Python API on compat.yml"
  for v in $VERSIONS; do
    [ -n "${VENV[$v]:-}" ] || continue
    "${VENV[$v]}/bin/python" "$HERE/runner_check.py" "$HERE" "$WORK" "$v" "cluster[0:1]" "$FORKS" || echo "RUNNER $v check crashed"
  done
fi
