// The shell `ami bake` sends a node over SSM (AWS-RunShellScript runs it as root). Every path is under
// ${FLUXER_ROOT:-}: unset on a real node (so /var/log/fluxer), the node's own folder on the local
// stack — a bake there touches nothing of the host. What each step clears is listed in docs/ami.md.

/** Where model weights may sit on a node (the runtime's pull target, the template's model folder, caches). */
export const WEIGHT_DIRS = ['/var/cache/fluxer/models', '/opt/fluxer/models', '/home/ubuntu/.cache/huggingface', '/root/.cache/huggingface'] as const;
/** Settings in the node's env file that name a weights folder too. */
export const WEIGHT_SETTINGS = ['FLUXER_MODEL_DIR', 'FLUXER_WEIGHTS_DIR'] as const;

/**
 * Prints `weights<TAB>PATH<TAB>BYTES` (and `release<TAB>ID`, the current release) for each weights folder with files in it that lies on the root
 * volume (the same filesystem as the root: the instance store, /opt/dlami/nvme, is never imaged), and
 * only folders under FLUXER_ROOT when it is set. Bytes are the files' sizes (not du's folder blocks).
 */
export function weightsScript(): string {
  return [
    'set -u',
    'ROOT="${FLUXER_ROOT:-}"',
    'ENV_FILE="${FLUXER_ENV_FILE:-$ROOT/etc/fluxer/runtime.env}"',
    'ROOTDEV="$(stat -c %d "${ROOT:-/}")"',
    `set -- ${WEIGHT_DIRS.map((d) => `"$ROOT${d}"`).join(' ')}`,
    'if [ -r "$ENV_FILE" ]; then',
    `  for key in ${WEIGHT_SETTINGS.join(' ')}; do`,
    '    v="$(sed -n "s/^$key=//p" "$ENV_FILE" | tail -n 1)"',
    '    case "$v" in /*) case "$v" in "$ROOT"/*) set -- "$@" "$v" ;; *) [ -z "$ROOT" ] && set -- "$@" "$v" ;; esac ;; esac',
    '  done',
    'fi',
    'for d in "$@"; do',
    '  [ -d "$d" ] || continue',
    '  [ "$(stat -c %d "$d")" = "$ROOTDEV" ] || continue',
    '  n="$(find "$d" -xdev -type f -printf "%s\\n" 2>/dev/null | awk "{s+=\\$1} END {print s+0}")"',
    '  [ "$n" -gt 0 ] && printf "weights\\t%s\\t%s\\n" "$d" "$n"',
    'done',
    // The release the bootstrap made current (the runtime reports it too, where it knows).
    'rel="$(cat "$ROOT/opt/fluxer/current/.installed" 2>/dev/null | head -n 1)"',
    '[ -n "$rel" ] && printf "release\\t%s\\n" "$rel"',
    'exit 0',
  ].join('\n');
}

export interface WeightsFound {
  path: string;
  bytes: number;
}

/** The installed release the check script read from <root>/opt/fluxer/current/.installed. */
export function parseRelease(stdout: string): string | undefined {
  return /^release\t([A-Za-z0-9._+-]+)$/m.exec(stdout)?.[1];
}

export function parseWeights(stdout: string): WeightsFound[] {
  const found = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const [tag, path, bytes] = line.split('\t');
    if (tag === 'weights' && path && /^\d+$/.test(bytes ?? '')) found.set(path, Number(bytes));
  }
  return [...found].map(([path, bytes]) => ({ path, bytes }));
}

/**
 * Makes the node a clean source for an image. Prints `cleared<TAB>WHAT` per step. Kept: the installed
 * release (/opt/fluxer), the unit, /etc/fluxer/runtime.env (the stack's settings, no secret; a new
 * node's user data rewrites it), and with includeWeights /var/cache/fluxer/models.
 */
export function prepareScript(opts: { includeWeights: boolean }): string {
  const empty = (dir: string, keep?: string) =>
    `if [ -d "$ROOT${dir}" ]; then find "$ROOT${dir}" -mindepth 1 -maxdepth 1${keep ? ` ! -name ${keep}` : ''} -exec rm -rf {} +; echo "cleared\t${dir}/*${keep ? ` (but ${keep})` : ''}"; fi`;
  return [
    'set -eu',
    'ROOT="${FLUXER_ROOT:-}"',
    // cloud-init: a new instance from the image runs its user data again. Only a real node's own.
    'if [ -z "$ROOT" ] && command -v cloud-init >/dev/null 2>&1; then',
    '  cloud-init clean --logs && echo "cleared\tcloud-init (cloud-init clean --logs)"',
    'else',
    '  rm -rf "$ROOT/var/lib/cloud/instance" "$ROOT/var/lib/cloud/instances" "$ROOT"/var/log/cloud-init*.log',
    '  echo "cleared\tcloud-init state (/var/lib/cloud/instance*, /var/log/cloud-init*.log)"',
    'fi',
    // Empty, not removed: systemd makes a new id at first boot when the file is empty.
    'if [ -e "$ROOT/etc/machine-id" ] || [ -n "$ROOT" ]; then mkdir -p "$ROOT/etc" && : > "$ROOT/etc/machine-id" && echo "cleared\t/etc/machine-id"; fi',
    empty('/run/fluxer'),
    empty('/var/log/fluxer'),
    opts.includeWeights ? empty('/var/cache/fluxer', 'models') : empty('/var/cache/fluxer'),
    // The journal keeps the runtime's unit logs; journald cannot drop one unit's, so all archived entries go.
    'if [ -z "$ROOT" ] && command -v journalctl >/dev/null 2>&1; then',
    '  journalctl --rotate >/dev/null 2>&1 || true',
    '  journalctl --vacuum-time=1s >/dev/null 2>&1 && echo "cleared\tthe journal (journalctl --rotate --vacuum-time=1s)" || true',
    'fi',
    'sync',
  ].join('\n');
}

export function parseCleared(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('cleared\t'))
    .map((l) => l.slice('cleared\t'.length));
}
