#!/usr/bin/env bash
# The test command (README): on a fresh clone it installs what it needs, builds, and runs every
# test suite — TypeScript (vitest, against a moto server it starts) and the GPU runtime (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# Node dependencies: exactly the lockfile; reinstalled only when the lockfile changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# Python environment: moto server, AWS CLI, the runtime and its test dependencies.
bash scripts/python-env.sh

npm run --silent build
npx tsc -p tsconfig.json
.venv/bin/ruff check gpu-runtime bench sim
log=$(mktemp -d)
py_pid=""
trap '[ -z "$py_pid" ] || kill "$py_pid" 2>/dev/null || true; rm -rf "$log"' EXIT
# The runtime's suite (pytest, its own moto server) runs beside vitest: both mostly wait on processes,
# queues and polls (each alone keeps ~1 of CI's 2 cores busy), and one after the other they took over
# 15 minutes. Its output is printed once vitest is done.
.venv/bin/pytest gpu-runtime/tests -q >"$log/pytest.txt" 2>&1 &
py_pid=$!
echo "== vitest (the runtime's pytest runs alongside) ==" >&2
vitest_rc=0
npx vitest run 2>&1 | tee "$log/vitest.txt" || vitest_rc=$?
py_rc=0
wait "$py_pid" || py_rc=$?
py_pid=""
echo "== pytest ==" >&2
cat "$log/pytest.txt"
[ "$vitest_rc" = 0 ] || { echo "test.sh: vitest failed (exit $vitest_rc)" >&2; exit "$vitest_rc"; }
[ "$py_rc" = 0 ] || { echo "test.sh: pytest failed (exit $py_rc)" >&2; exit "$py_rc"; }
# The replayed day (sim/): its own run, so the runtime's suite keeps its rootdir and config.
echo "== pytest sim ==" >&2
.venv/bin/pytest sim/tests -q 2>&1 | tee "$log/sim.txt"

# One closing line for both suites (each already failed the script above if any test failed).
strip() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
node_passed=$(strip "$log/vitest.txt" | sed -n 's/^ *Tests *\([0-9][0-9]*\) passed.*/\1/p' | tail -1)
py_passed=$(strip "$log/pytest.txt" | sed -n 's/^\([0-9][0-9]*\) passed.*/\1/p' | tail -1)
sim_passed=$(strip "$log/sim.txt" | sed -n 's/^\([0-9][0-9]*\) passed.*/\1/p' | tail -1)
py_passed=$(( ${py_passed:-0} + ${sim_passed:-0} ))
echo "test.sh: vitest ${node_passed:-?} passed, pytest ${py_passed:-?} passed, in $(( $(date +%s) - start ))s" >&2
echo "$(( ${node_passed:-0} + ${py_passed:-0} )) passed, 0 failed"
