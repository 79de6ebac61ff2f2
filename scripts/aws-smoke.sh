#!/usr/bin/env bash
# Real-AWS smoke test for the first operator with an account (docs/spot.md, "Real-AWS smoke test"):
#   setup → runtime publish → spot launch of one node (the cheapest pool whose GPU fits the model) with
#   a hard lifetime → generate one image with --wait → runtime status over SSM (the node reached with
#   no inbound port) → spot terminate --launch-id → check that nothing
#   tagged for the stack is left. An exit trap terminates whatever it launched, whatever went wrong,
#   and the node powers itself off after MINUTES anyway (config nodeLifetimeMinutes).
# It spends money (one spot GPU node for a few minutes: cents to about a dollar). Use a stack of its
# own: it refuses to start when the stack already has nodes, so its clean-up never touches yours.
#
# Options (environment):
#   STACK=smoke            the stack (a config of its own is written to a temporary folder)
#   REGION=us-east-1       the region of the queue, bucket and node
#   MINUTES=30             the node's hard lifetime: it powers off (and terminates) after this long
#   MODEL=sdxl             the model the node loads and the job uses (sdxl needs no Hugging Face token)
#   BUCKET=…               default fluxer-smoke-<account>-<region>
#   LAUNCH_TIMEOUT=25m     how long `spot launch --wait` waits for the node to be READY
#   JOB_TIMEOUT=15m        how long `generate --wait` waits for the image
#   TYPES="g6.xlarge …"    instance types to consider (default: the stack's instanceTypes)
#   ENDPOINT=http://…      an AWS-compatible endpoint instead of AWS (a local run: moto + stand-ins)
#   FLUXER=bin/fluxer      the CLI to run; AWS_CLI=aws the AWS CLI
# Exit: 0 when every step passed and nothing is left; otherwise the failing step's exit code (or 1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${STACK:-smoke}"
REGION="${REGION:-us-east-1}"
MINUTES="${MINUTES:-30}"
MODEL="${MODEL:-sdxl}"
LAUNCH_TIMEOUT="${LAUNCH_TIMEOUT:-25m}"
JOB_TIMEOUT="${JOB_TIMEOUT:-15m}"
ENDPOINT="${ENDPOINT:-}"
FLUXER="${FLUXER:-$HERE/bin/fluxer}"
AWS_CLI="${AWS_CLI:-aws}"
PROMPT="${PROMPT:-a lighthouse at dawn, smoke test}"

log() { echo "aws-smoke: $*" >&2; }
die() { log "FAILED: $1"; exit "${2:-1}"; }
case "$MINUTES" in ''|*[!0-9]*|0) die "MINUTES=\"$MINUTES\" must be a whole number of minutes above 0 (the node's hard lifetime)" 2 ;; esac
[ "$MINUTES" -le 10080 ] || die "MINUTES=$MINUTES is above a week" 2
command -v "$AWS_CLI" >/dev/null || die "the AWS CLI ($AWS_CLI) is not on PATH" 2
command -v node >/dev/null || die "node is not on PATH" 2
if [ -n "$ENDPOINT" ] && [ -z "${AWS_ACCESS_KEY_ID:-}" ] && [ -z "${AWS_PROFILE:-}" ]; then
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test   # an emulated region accepts any key
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fluxer-smoke-XXXXXX")"
CONFIG="$WORK/fluxer.config.json"
fx() { "$FLUXER" --config "$CONFIG" --stack "$STACK" --region "$REGION" ${ENDPOINT:+--endpoint-url "$ENDPOINT"} "$@"; }
awsc() { "$AWS_CLI" --region "$REGION" ${ENDPOINT:+--endpoint-url "$ENDPOINT"} "$@"; }
# jget PATH < json: one value (a.b.0.c); objects come out as JSON, a missing value as "".
jget() { node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split(".").filter(Boolean))v=v==null?v:v[k];process.stdout.write(v==null?"":typeof v==="object"?JSON.stringify(v):String(v))})' "$1"; }
# The stack's instances that still exist, by its tags, as the AWS CLI sees them.
leftovers() {
  awsc ec2 describe-instances --output text --query 'Reservations[].Instances[].InstanceId' --filters \
    Name=tag:fluxer:managed,Values=true "Name=tag:fluxer:stack,Values=$STACK" Name=instance-state-name,Values=pending,running,stopping,stopped
}

ACCOUNT="$(awsc sts get-caller-identity --query Account --output text)" || die "no AWS identity (aws sts get-caller-identity failed)" 4
BUCKET="${BUCKET:-fluxer-smoke-$ACCOUNT-$REGION}"
TYPES_JSON="$(node -e 'const t=process.argv[1].split(/\s+/).filter(Boolean);process.stdout.write(JSON.stringify(t))' "${TYPES:-}")"
node -e '
  const [file, stack, region, bucket, model, minutes, types] = process.argv.slice(1);
  const s = { region, bucket, model, nodeLifetimeMinutes: Number(minutes) };
  if (JSON.parse(types).length) s.instanceTypes = JSON.parse(types);
  require("fs").writeFileSync(file, JSON.stringify({ defaultStack: stack, stacks: { [stack]: s } }, null, 2));
' "$CONFIG" "$STACK" "$REGION" "$BUCKET" "$MODEL" "$MINUTES" "$TYPES_JSON"
log "stack $STACK in $REGION (account $ACCOUNT), bucket $BUCKET, model $MODEL, node lifetime $MINUTES min; work folder $WORK"

LAUNCH_STARTED=0
LAUNCH_ID=""
DONE=0
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ "$DONE" != 1 ] && [ "$LAUNCH_STARTED" = 1 ]; then
    # The stack was checked empty before launching, so --all reaches only what this run launched.
    if [ -n "$LAUNCH_ID" ]; then
      log "clean-up: terminating launch $LAUNCH_ID"; fx spot terminate --launch-id "$LAUNCH_ID" --yes >&2 || true
    fi
    log "clean-up: terminating every node of stack $STACK"; fx spot terminate --all --yes >&2 || true
    left="$(leftovers || echo '?')"
    [ -z "$left" ] || log "clean-up: STILL RUNNING: $left — terminate by hand: $AWS_CLI ec2 terminate-instances --region $REGION --instance-ids $left"
  fi
  [ "$code" = 0 ] || log "exit $code; files in $WORK"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

existing="$(leftovers)"
[ -z "$existing" ] || die "stack $STACK already has nodes ($existing): use a stack of its own (STACK=...), so the clean-up cannot touch them" 2

log "1/7 setup"
fx setup --yes >&2 || die "fluxer setup failed" $?
log "2/7 runtime publish --promote"
fx runtime publish --promote >&2 || die "fluxer runtime publish failed" $?

log "3/7 spot launch --count 1 --wait (the cheapest pool that fits $MODEL; powers off after $MINUTES min)"
LAUNCH_STARTED=1
launch_rc=0
fx spot launch --count 1 --yes --json --wait --timeout "$LAUNCH_TIMEOUT" > "$WORK/launch.json" || launch_rc=$?
LAUNCH_ID="$(jget launchId < "$WORK/launch.json" 2>/dev/null || true)"
[ "$launch_rc" = 0 ] || die "fluxer spot launch failed (exit $launch_rc): $(cat "$WORK/launch.json")" "$launch_rc"
INSTANCE="$(jget instances.0.instanceId < "$WORK/launch.json")"
log "launched $INSTANCE ($(jget instances.0.instanceType < "$WORK/launch.json") in $(jget instances.0.az < "$WORK/launch.json")), launch $LAUNCH_ID"

log "4/7 generate --wait"
gen_rc=0
fx generate "$PROMPT" --count 1 --wait --timeout "$JOB_TIMEOUT" --out "$WORK/images" --json > "$WORK/job.json" || gen_rc=$?
[ "$gen_rc" = 0 ] || die "fluxer generate failed (exit $gen_rc): $(cat "$WORK/job.json")" "$gen_rc"
[ "$(jget state < "$WORK/job.json")" = succeeded ] || die "the job did not succeed: $(cat "$WORK/job.json")"
IMAGE="$(jget files.0 < "$WORK/job.json")"
[ -s "$IMAGE" ] || die "no image downloaded: $(cat "$WORK/job.json")"
log "image: $IMAGE"

log "5/7 runtime status --launch-id $LAUNCH_ID (over SSM: the node's agent is registered, its runtime answers)"
fx runtime status --launch-id "$LAUNCH_ID" --json > "$WORK/status.json" || die "fluxer runtime status failed: $(cat "$WORK/status.json")" $?
[ "$(jget nodes.0.ok < "$WORK/status.json")" = true ] || die "the node did not answer over SSM: $(cat "$WORK/status.json")"
log "runtime on $INSTANCE: $(jget nodes.0.state < "$WORK/status.json") (release $(jget nodes.0.release < "$WORK/status.json"))"

log "6/7 spot terminate --launch-id $LAUNCH_ID"
fx spot list >&2 || true   # the node, its runtime state and its cost so far (an estimate)
fx spot terminate --launch-id "$LAUNCH_ID" --yes --json > "$WORK/terminate.json" || die "fluxer spot terminate failed: $(cat "$WORK/terminate.json")" $?

log "7/7 nothing tagged for stack $STACK is left"
left="$(leftovers)"
[ -z "$left" ] || die "still running after terminate: $left"
DONE=1
log "passed: launch $LAUNCH_ID, node $INSTANCE, image $IMAGE"
echo "$IMAGE"
