#!/bin/bash
# fluxer release install: puts a runtime release under <root>/opt/fluxer/releases/<id> and makes it
# current. Run by node-bootstrap.sh at boot, and sent as is over SSM by `fluxer runtime deploy` (as
# root; the runtime is restarted afterwards by the caller, not here). Settings from FLUXER_ENV_FILE
# (default <root>/etc/fluxer/runtime.env); FLUXER_ROOT=<folder> installs under that folder,
# FLUXER_ENDPOINT_URL points the AWS CLI at another endpoint.
#   FLUXER_RELEASE=<id>    the release (else SSM /fluxer/<stack>/runtime-release)
#   FLUXER_SWITCH_ONLY=1   only switch to an installed release (a rollback): never download (exit 4)
#   --resolve              print the release id it would install, and stop
# Steps: download <prefix>releases/<id>/, verify SHA256SUMS (any mismatch: refuse with exit 3, change
# nothing), make a fresh environment reusing the base Python's packages (the AMI's torch) through a
# .pth file, install offline from the wheelhouse, then switch current and venv by renaming new links
# over the old ones. A release already installed (.installed: a baked AMI, a reboot) is only switched to.
# stdout: `previous=<id or empty>` before anything changes, `current=<id>` once switched.
set -euo pipefail
WANT="${FLUXER_RELEASE:-}"
ROOT="${FLUXER_ROOT:-}"
ENV_FILE="${FLUXER_ENV_FILE:-$ROOT/etc/fluxer/runtime.env}"
log() { echo "fluxer-install: $*" >&2; }
fail() { log "FAILED: $*"; exit "${2:-1}"; }

[ -r "$ENV_FILE" ] || fail "no settings file $ENV_FILE"
# Read as systemd's EnvironmentFile does, not sourced: a value may hold spaces (a command) unquoted.
while IFS= read -r line || [ -n "$line" ]; do
  line="${line#"${line%%[![:space:]]*}"}"; line="${line#export }"; key="${line%%=*}"; val="${line#*=}"
  case "$key" in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
  [ "$key" = "$line" ] && continue
  case "$val" in \"*\"|\'*\') val="${val:1:${#val}-2}" ;; esac
  export "$key=$val"
done < "$ENV_FILE"
: "${FLUXER_BUCKET:?}" "${FLUXER_STACK:?}" "${FLUXER_REGION:?}"
PREFIX="${FLUXER_PREFIX:-}"
AWS=(aws --region "$FLUXER_REGION")
[ -n "${FLUXER_ENDPOINT_URL:-}" ] && AWS+=(--endpoint-url "$FLUXER_ENDPOINT_URL")

# The caller's choice wins over one the settings file may hold.
RELEASE="$WANT"
if [ -z "$RELEASE" ]; then
  RELEASE="$("${AWS[@]}" ssm get-parameter --name "/fluxer/$FLUXER_STACK/runtime-release" --query Parameter.Value --output text)" \
    || fail "cannot read /fluxer/$FLUXER_STACK/runtime-release (run \`fluxer runtime publish\`)"
fi
case "$RELEASE" in *[!A-Za-z0-9._+-]*|'') fail "release id \"$RELEASE\" is not a release id" ;; esac
if [ "${1:-}" = --resolve ]; then echo "$RELEASE"; exit 0; fi
BASE="$ROOT/opt/fluxer"
DEST="$BASE/releases/$RELEASE"
PREVIOUS="$(readlink "$BASE/current" 2>/dev/null || true)"
echo "previous=${PREVIOUS#releases/}"

if [ -f "$DEST/.installed" ]; then
  log "release $RELEASE already installed: no download"
elif [ -n "${FLUXER_SWITCH_ONLY:-}" ]; then
  fail "release $RELEASE is not installed on this node: nothing to switch to" 4
else
  mkdir -p "$BASE/releases"
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
  "$PY" -m venv --without-pip "$DEST/venv" || { rm -rf "$DEST"; fail "cannot create a venv with $PY"; }
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
echo "current=$RELEASE"
log "release $RELEASE is current"
