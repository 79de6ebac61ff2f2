#!/bin/bash
# fluxer node bootstrap: installs the stack's promoted runtime release and starts the runtime.
# Run by cloud-init (templates/node-bootstrap.yaml includes this file and install-release.sh), or by
# hand / in tests with FLUXER_ROOT=<folder>  a root to install under (default: /),
# FLUXER_ENDPOINT_URL=<url>  not AWS. Steps: schedule the node's hard lifetime, read the release id
# (SSM /fluxer/<stack>/runtime-release, or FLUXER_RELEASE), write the node's first record, then
# install-release.sh (beside this file, or FLUXER_INSTALL_SCRIPT) downloads, verifies, installs and
# switches <root>/opt/fluxer/current to it; last, start the service.
set -euo pipefail
ROOT="${FLUXER_ROOT:-}"
ENV_FILE="${FLUXER_ENV_FILE:-$ROOT/etc/fluxer/runtime.env}"
log() { echo "fluxer-bootstrap: $*" >&2; }
fail() { log "FAILED: $*"; exit "${2:-1}"; }

[ -r "$ENV_FILE" ] || fail "no settings file $ENV_FILE"
# shellcheck disable=SC1090
set -a; . "$ENV_FILE"; set +a
# The hard lifetime (config nodeLifetimeMinutes; 0: none) is scheduled before anything else can fail,
# so the node powers itself off after N minutes whatever happens to the install or the runtime; nodes
# launch with shutdown behaviour terminate, so off means terminated. FLUXER_LIFETIME_COMMAND: tests.
LIFETIME="${FLUXER_NODE_LIFETIME_MINUTES:-0}"
case "$LIFETIME" in ''|*[!0-9]*) fail "FLUXER_NODE_LIFETIME_MINUTES=\"$LIFETIME\" is not a whole number of minutes" 2 ;; esac
if [ "$LIFETIME" -gt 0 ]; then
  ${FLUXER_LIFETIME_COMMAND:-shutdown -P} "+$LIFETIME" "fluxer: node lifetime of $LIFETIME minutes is over" \
    && log "powers off in $LIFETIME minutes (FLUXER_NODE_LIFETIME_MINUTES)" || log "could not schedule the power-off in $LIFETIME minutes"
fi
: "${FLUXER_BUCKET:?}" "${FLUXER_STACK:?}" "${FLUXER_REGION:?}"
PREFIX="${FLUXER_PREFIX:-}"
AWS=(aws --region "$FLUXER_REGION")
[ -n "${FLUXER_ENDPOINT_URL:-}" ] && AWS+=(--endpoint-url "$FLUXER_ENDPOINT_URL")

INSTALL="${FLUXER_INSTALL_SCRIPT:-$(dirname "$0")/install-release.sh}"
[ -r "$INSTALL" ] || fail "no install script $INSTALL"
RELEASE="$(bash "$INSTALL" --resolve)" || exit $?

# The node record's first version (schema/node.v1.schema.json): a node is visible from boot. Written
# only where none exists (If-None-Match): a rerun never resets the counts a runtime wrote there.
ID="${FLUXER_INSTANCE_ID:-}"
if [ -z "$ID" ] && [ -z "$ROOT" ]; then
  TOK="$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)" \
    && ID="$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $TOK" http://169.254.169.254/latest/meta-data/instance-id)" || ID=""
fi
if [ -n "$ID" ]; then
  NOW="$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"; REC="$(mktemp)"
  printf '{"instanceId":"%s","state":"BOOTSTRAPPING","stateReason":"installing release %s","release":"%s","stack":"%s","bucket":"%s","prefix":"%s","region":"%s","firstSeenAt":"%s","lastSeenAt":"%s","seq":1}' \
    "$ID" "$RELEASE" "$RELEASE" "$FLUXER_STACK" "$FLUXER_BUCKET" "$PREFIX" "$FLUXER_REGION" "$NOW" "$NOW" > "$REC"
  "${AWS[@]}" s3api put-object --bucket "$FLUXER_BUCKET" --key "${PREFIX}nodes/$ID.json" --body "$REC" \
    --content-type application/json --if-none-match '*' >/dev/null 2>&1 || log "node record kept (one exists) or not written"
  rm -f "$REC"
fi

# The release just resolved, so a promotion in between changes nothing for this node.
FLUXER_RELEASE="$RELEASE" bash "$INSTALL" >/dev/null
if [ -n "${FLUXER_START_COMMAND:-}" ]; then
  sh -c "$FLUXER_START_COMMAND"
elif [ -z "$ROOT" ]; then
  systemctl daemon-reload && systemctl enable --now fluxer-runtime
fi
