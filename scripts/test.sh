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
.venv/bin/ruff check gpu-runtime bench
echo "== vitest ==" >&2
npx vitest run
echo "== pytest ==" >&2
.venv/bin/pytest gpu-runtime/tests -q
echo "test.sh: all suites passed in $(( $(date +%s) - start ))s" >&2
