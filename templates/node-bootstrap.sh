#!/bin/bash
# fluxer node bootstrap: installs the stack's promoted runtime release and starts the runtime.
# Run by cloud-init (templates/node-bootstrap.yaml includes this file), or by hand / in tests with
#   FLUXER_ROOT=<folder>  a root to install under (default: /), FLUXER_ENDPOINT_URL=<url>  not AWS.
# Steps: read the release id (SSM /fluxer/<stack>/runtime-release, or FLUXER_RELEASE), download
# <prefix>releases/<id>/ from S3, verify SHA256SUMS (any mismatch: refuse, change nothing), make a fresh
# environment that reuses the base Python's packages (the AMI's torch) through a .pth file, install
# offline from the wheelhouse, switch <root>/opt/fluxer/current to it, start the service.
# An AMI that already holds the release (a baked one) skips the download and the install.
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

RELEASE="${FLUXER_RELEASE:-}"
if [ -z "$RELEASE" ]; then
  RELEASE="$("${AWS[@]}" ssm get-parameter --name "/fluxer/$FLUXER_STACK/runtime-release" --query Parameter.Value --output text)" \
    || fail "cannot read /fluxer/$FLUXER_STACK/runtime-release (run \`fluxer runtime publish\`)"
fi
case "$RELEASE" in *[!A-Za-z0-9._+-]*|'') fail "release id \"$RELEASE\" is not a release id" ;; esac
BASE="$ROOT/opt/fluxer"
DEST="$BASE/releases/$RELEASE"

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

if [ -f "$DEST/.installed" ]; then
  log "release $RELEASE already installed (baked): no download"
else
  TMP="$BASE/releases/.incoming-$RELEASE-$$"
  rm -rf "$TMP" "$DEST"; mkdir -p "$TMP"
  trap 'rm -rf "$TMP"' EXIT
  log "downloading s3://$FLUXER_BUCKET/${PREFIX}releases/$RELEASE/"
  "${AWS[@]}" s3 cp --only-show-errors --recursive "s3://$FLUXER_BUCKET/${PREFIX}releases/$RELEASE/" "$TMP/dl/" \
    || fail "download of release $RELEASE failed"
  [ -s "$TMP/dl/SHA256SUMS" ] || fail "release $RELEASE has no SHA256SUMS: incomplete, refused" 3
  (cd "$TMP/dl" && sha256sum --check --strict --quiet SHA256SUMS) || fail "release $RELEASE does not match its SHA256SUMS: refused" 3
  WHEEL="$(cd "$TMP/dl" && ls fluxer_runtime-*.whl)"
  # The base Python: the AMI's PyTorch environment when there is one, so torch is reused, not installed.
  PY="${FLUXER_BASE_PYTHON:-}"
  if [ -z "$PY" ]; then for p in /opt/pytorch/bin/python3 /opt/conda/bin/python3 python3; do command -v "$p" >/dev/null && PY="$p" && break; done; fi
  mv "$TMP/dl" "$DEST"
  # No pip or setuptools of its own: they would shadow the base's (torch pins setuptools); the base's pip installs.
  "$PY" -m venv --without-pip "$DEST/venv" || fail "cannot create a venv with $PY"
  SITE="$("$DEST/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  "$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$SITE/fluxer-base.pth"
  log "installing $WHEEL offline (base packages from $PY)"
  "$DEST/venv/bin/python" -m pip install --quiet --no-index --disable-pip-version-check \
    --find-links "$DEST/wheelhouse" "$DEST/$WHEEL" || { rm -rf "$DEST"; fail "offline install of $RELEASE failed"; }
  echo "$RELEASE" > "$DEST/.installed"
fi

# Switch atomically: a new link renamed over the old one.
ln -sfn "releases/$RELEASE" "$BASE/current.new" && mv -Tf "$BASE/current.new" "$BASE/current"
ln -sfn "current/venv" "$BASE/venv.new" && mv -Tf "$BASE/venv.new" "$BASE/venv"
log "release $RELEASE is current"
if [ -n "${FLUXER_START_COMMAND:-}" ]; then
  sh -c "$FLUXER_START_COMMAND"
elif [ -z "$ROOT" ]; then
  systemctl daemon-reload && systemctl enable --now fluxer-runtime
fi
