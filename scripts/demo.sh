#!/usr/bin/env bash
# The README's main job, one command on a fresh clone with no AWS account: installs what it needs,
# brings up the local stack (moto as the AWS stand-in and one runtime worker with the tiny model on
# the CPU), submits a job with `fluxer generate --wait` — the same CLI, queue protocol and runtime
# as on AWS — and prints the path of the PNG on stdout. Everything else goes to stderr.
#
#   bash scripts/demo.sh ["PROMPT"] [--keep]
#
# The local stack is stopped at the end (also on failure or Ctrl-C); --keep leaves it running.
# The demo's config and state live in .fluxer/demo/ (FLUXER_DEMO_DIR), images in ./fluxer-output/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

prompt="a lighthouse on a cliff at dawn"
keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    -*) echo "demo.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    *) prompt=$arg ;;
  esac
done

# What a fresh clone lacks: Node dependencies (exactly the lockfile), the Python environment (moto,
# the runtime), the CLI bundle. Each step is skipped when already done.
{
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
  bash scripts/python-env.sh
  npm run --silent build
} >&2

# Its own project folder, so the demo's fluxer.config.json never lands in the repository root.
work=${FLUXER_DEMO_DIR:-$root/.fluxer/demo}
mkdir -p "$work"
cd "$work"
fluxer() { node "$root/bin/fluxer" "$@"; }

if [ "$keep" = 0 ]; then
  trap 'fluxer local down >&2 || true' EXIT
  trap 'exit 130' INT TERM
fi
fluxer local up >&2
fluxer generate "$prompt" --stack local --wait --out "$root/fluxer-output"
if [ "$keep" = 1 ]; then
  config="${work#"$root"/}/fluxer.config.json"
  echo "The local stack is still up. More images: node bin/fluxer --config $config generate \"...\" --stack local --wait" >&2
  echo "Stop it: node bin/fluxer --config $config local down" >&2
fi
