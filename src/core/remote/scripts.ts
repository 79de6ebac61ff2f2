// The shell scripts `fluxer runtime …` sends (AWS-RunShellScript runs them with sh as root). Each is
// the same text on a real node and on the local stack's: the runtime's console script lives under
// ${FLUXER_ROOT:-}/opt/fluxer/venv/bin (FLUXER_ROOT is unset on a real node, the node's root folder on
// an emulated one), and commands run as the runtime's user (ubuntu, templates/fluxer-runtime.service)
// via runuser when the script is root on a real node, as-is on an emulated one.

/** The runtime's user on a real node. */
export const RUNTIME_USER = 'ubuntu';
export const RUNTIME_BIN = '"${FLUXER_ROOT:-}/opt/fluxer/venv/bin/fluxer-runtime"';

/** One argument for sh/bash: single-quoted, a ' inside as '\'' (nothing inside single quotes is special). */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * Runs `command` (already shell text) as the runtime's user: with runuser when root on a real node
 * (FLUXER_ROOT empty), else as it is (an emulated node runs as the user that runs the local stack).
 */
export function asRuntimeUser(command: string): string {
  return [
    `if [ -z "\${FLUXER_ROOT:-}" ] && [ "$(id -u)" = 0 ]; then`,
    `  exec runuser -u ${RUNTIME_USER} -- ${command}`,
    'fi',
    `exec ${command}`,
  ].join('\n');
}

/** Subcommands that run as root: `restart` calls `systemctl restart fluxer-runtime`, which the runtime's user may not. */
const AS_ROOT: ReadonlySet<string> = new Set(['restart']);

/** `fluxer-runtime <args>` on the node, e.g. runtimeScript(['logs', '--lines', '100']). */
export function runtimeScript(args: readonly string[]): string {
  const command = `${RUNTIME_BIN} ${shellJoin(args)}`;
  return AS_ROOT.has(args[0] ?? '') ? `exec ${command}` : asRuntimeUser(command);
}

/** `fluxer runtime exec -- ARGV…`: the argv exactly as given, one quoted word each. */
export function execScript(argv: readonly string[]): string {
  return asRuntimeUser(shellJoin(argv));
}
