#!/usr/bin/env bash
# Real-AWS smoke test for the first operator with an account (docs/spot.md, "Real-AWS smoke test"):
#   setup → runtime publish → spot launch of one node (the cheapest pool whose GPU fits the model) with
#   a hard lifetime → generate one image with --wait → runtime status over SSM (the node reached with
#   no inbound port) → spot terminate --launch-id → with FLEET=1, the fleet: fleet up at 0 (idle time
#   FLEET_IDLE) → generate --wait (the CLI raises the group from 0; Auto Scaling's node takes the job) →
#   the idle node leaves by itself (the group back at 0, no fluxer command) → fleet down --drain →
#   check that nothing tagged for the stack is left (instances; with FLEET=1 also the group, its launch
#   template and its alarms). An exit trap terminates whatever it launched, whatever went wrong,
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
#   FLEET=0                1: also the fleet steps (one more spot node for a few minutes, through Auto Scaling)
#   FLEET_IDLE=2m          the fleet's idle time (`fleet up --idle`): its node leaves this long after the job
#   FLEET_LEAVE_TIMEOUT=900  seconds to wait for that node to leave by itself (the idle time + a boot's margin)
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
FLEET="${FLEET:-0}"
FLEET_IDLE="${FLEET_IDLE:-2m}"
FLEET_LEAVE_TIMEOUT="${FLEET_LEAVE_TIMEOUT:-900}"
case "$FLEET" in 0|1) ;; *) echo "aws-smoke: FLEET=\"$FLEET\" must be 0 or 1" >&2; exit 2 ;; esac
case "$FLEET_LEAVE_TIMEOUT" in ''|*[!0-9]*|0) echo "aws-smoke: FLEET_LEAVE_TIMEOUT=\"$FLEET_LEAVE_TIMEOUT\" must be a whole number of seconds above 0" >&2; exit 2 ;; esac
STEPS=7; [ "$FLEET" = 1 ] && STEPS=11
GROUP="fluxer-$STACK-fleet"

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

# What fluxer made for the stack's fleet and left: the group, launch templates and alarms, by name and tag.
fleet_leftovers() {
  awsc autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$GROUP" --output text \
    --query 'AutoScalingGroups[].AutoScalingGroupName'
  awsc ec2 describe-launch-templates --output text --query 'LaunchTemplates[].LaunchTemplateName' \
    --filters Name=tag:fluxer:managed,Values=true "Name=tag:fluxer:stack,Values=$STACK"
  # fluxer's scale-from-zero alarm, and the two alarms AWS makes for the target-tracking policy
  # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html: deleted with it).
  awsc cloudwatch describe-alarms --alarm-name-prefix "$GROUP" --output text --query 'MetricAlarms[].AlarmName'
  awsc cloudwatch describe-alarms --alarm-name-prefix "TargetTracking-$GROUP" --output text --query 'MetricAlarms[].AlarmName'
}

LAUNCH_STARTED=0
LAUNCH_ID=""
FLEET_STARTED=0
DONE=0
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ "$DONE" != 1 ] && [ "$FLEET_STARTED" = 1 ]; then
    log "clean-up: fleet down (its nodes terminate; the group, template and alarms go)"; fx fleet down --yes >&2 || true
  fi
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

log "1/$STEPS setup"
fx setup --yes >&2 || die "fluxer setup failed" $?
log "2/$STEPS runtime publish --promote"
fx runtime publish --promote >&2 || die "fluxer runtime publish failed" $?

log "3/$STEPS spot launch --count 1 --wait (the cheapest pool that fits $MODEL; powers off after $MINUTES min)"
LAUNCH_STARTED=1
launch_rc=0
fx spot launch --count 1 --yes --json --wait --timeout "$LAUNCH_TIMEOUT" > "$WORK/launch.json" || launch_rc=$?
LAUNCH_ID="$(jget launchId < "$WORK/launch.json" 2>/dev/null || true)"
[ "$launch_rc" = 0 ] || die "fluxer spot launch failed (exit $launch_rc): $(cat "$WORK/launch.json")" "$launch_rc"
INSTANCE="$(jget instances.0.instanceId < "$WORK/launch.json")"
log "launched $INSTANCE ($(jget instances.0.instanceType < "$WORK/launch.json") in $(jget instances.0.az < "$WORK/launch.json")), launch $LAUNCH_ID"

log "4/$STEPS generate --wait"
gen_rc=0
fx generate "$PROMPT" --count 1 --wait --timeout "$JOB_TIMEOUT" --out "$WORK/images" --json > "$WORK/job.json" || gen_rc=$?
[ "$gen_rc" = 0 ] || die "fluxer generate failed (exit $gen_rc): $(cat "$WORK/job.json")" "$gen_rc"
[ "$(jget state < "$WORK/job.json")" = succeeded ] || die "the job did not succeed: $(cat "$WORK/job.json")"
IMAGE="$(jget files.0 < "$WORK/job.json")"
[ -s "$IMAGE" ] || die "no image downloaded: $(cat "$WORK/job.json")"
log "image: $IMAGE"

log "5/$STEPS runtime status --launch-id $LAUNCH_ID (over SSM: the node's agent is registered, its runtime answers)"
fx runtime status --launch-id "$LAUNCH_ID" --json > "$WORK/status.json" || die "fluxer runtime status failed: $(cat "$WORK/status.json")" $?
[ "$(jget nodes.0.ok < "$WORK/status.json")" = true ] || die "the node did not answer over SSM: $(cat "$WORK/status.json")"
log "runtime on $INSTANCE: $(jget nodes.0.state < "$WORK/status.json") (release $(jget nodes.0.release < "$WORK/status.json"))"

log "6/$STEPS spot terminate --launch-id $LAUNCH_ID"
fx spot list >&2 || true   # the node, its runtime state and its cost so far (an estimate)
fx spot terminate --launch-id "$LAUNCH_ID" --yes --json > "$WORK/terminate.json" || die "fluxer spot terminate failed: $(cat "$WORK/terminate.json")" $?

FLEET_IMAGE=""
if [ "$FLEET" = 1 ]; then
  log "7/$STEPS fleet up --min 0 --max 1 --idle $FLEET_IDLE (an Auto Scaling group at 0: nothing runs yet)"
  FLEET_STARTED=1
  fx fleet up --min 0 --max 1 --idle "$FLEET_IDLE" --yes --json > "$WORK/fleet-up.json" || die "fluxer fleet up failed: $(cat "$WORK/fleet-up.json")" $?
  desired="$(awsc autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$GROUP" --output text --query 'AutoScalingGroups[0].DesiredCapacity')"
  [ "$desired" = 0 ] || die "the new fleet wants $desired nodes, not 0"

  log "8/$STEPS generate --wait (the CLI raises the fleet from 0 to 1; Auto Scaling's node takes the job)"
  gen_rc=0
  fx generate "$PROMPT (fleet)" --count 1 --wait --timeout "$LAUNCH_TIMEOUT" --out "$WORK/fleet-images" --json > "$WORK/fleet-job.json" || gen_rc=$?
  [ "$gen_rc" = 0 ] || die "fluxer generate on the fleet failed (exit $gen_rc): $(cat "$WORK/fleet-job.json")" "$gen_rc"
  [ "$(jget state < "$WORK/fleet-job.json")" = succeeded ] || die "the fleet's job did not succeed: $(cat "$WORK/fleet-job.json")"
  [ "$(jget fleet.raisedTo < "$WORK/fleet-job.json")" = 1 ] || die "generate did not raise the fleet from 0: $(jget fleet < "$WORK/fleet-job.json")"
  FLEET_IMAGE="$(jget files.0 < "$WORK/fleet-job.json")"
  [ -s "$FLEET_IMAGE" ] || die "no image downloaded from the fleet: $(cat "$WORK/fleet-job.json")"
  fx fleet status >&2 || true   # the group, its node and the queue, as an operator sees them
  log "fleet image: $FLEET_IMAGE"

  # The node protocol's idle exit on AWS itself: the node, idle FLEET_IDLE with the queue empty, terminates
  # itself through Auto Scaling (desired decremented, the termination hook completed by the node).
  log "9/$STEPS the idle node leaves by itself ($FLEET_IDLE idle; no fluxer command): the group back at 0"
  left_at=$((SECONDS + FLEET_LEAVE_TIMEOUT))
  while :; do
    sizes="$(awsc autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$GROUP" --output text --query 'AutoScalingGroups[0].[DesiredCapacity,length(Instances)]')"
    [ "$(echo $sizes)" = "0 0" ] && break
    [ "$SECONDS" -lt "$left_at" ] || { fx fleet status >&2 || true; die "the fleet's node did not leave within ${FLEET_LEAVE_TIMEOUT}s of its job (desired, members: $sizes)"; }
    sleep 5
  done
  log "the fleet is back at 0 by itself"

  log "10/$STEPS fleet down --drain"
  fx fleet down --drain --yes --json > "$WORK/fleet-down.json" || die "fluxer fleet down failed: $(cat "$WORK/fleet-down.json")" $?
fi

log "$STEPS/$STEPS nothing tagged for stack $STACK is left"
left="$(leftovers)"
[ -z "$left" ] || die "still running after terminate: $left"
if [ "$FLEET" = 1 ]; then
  left="$(fleet_leftovers)"
  [ -z "$left" ] || die "the fleet left: $left"
fi
DONE=1
log "passed: launch $LAUNCH_ID, node $INSTANCE, image $IMAGE${FLEET_IMAGE:+, fleet image $FLEET_IMAGE}"
echo "$IMAGE"
