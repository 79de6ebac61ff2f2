#!/usr/bin/env bash
# The fault suite, full form (issue 9): moto, four real runtime workers, the real CLI submitting
# 40 jobs and waiting on them with skewed clocks, under seeded network faults (5xx, throttling,
# latency, dropped connections, for S3 and SQS), kill -9, SIGTERM, spot notices and paused workers.
# Prints the figures; exits non-zero when any job was lost, duplicated, mis-written or hung.
#   bash scripts/fault-suite.sh              # a random seed (printed)
#   bash scripts/fault-suite.sh 42           # replay seed 42
#   FLUXER_FAULTS=short bash scripts/fault-suite.sh   # the form CI runs
# The figures also go to fluxer-output/fault-suite.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/python-env.sh
npm run --silent build
mkdir -p fluxer-output
export FLUXER_FAULTS="${FLUXER_FAULTS:-full}"
[ $# -ge 1 ] && export FLUXER_FAULT_SEED="$1"
export FLUXER_FAULTS_OUT="${FLUXER_FAULTS_OUT:-fluxer-output/fault-suite.json}"
npx vitest run test/faults
echo "fault suite ($FLUXER_FAULTS): figures in $FLUXER_FAULTS_OUT" >&2
