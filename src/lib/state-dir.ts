// fluxer's state folder on this machine: $XDG_STATE_HOME/fluxer, else ~/.local/state/fluxer. Journals,
// launch plans and short-lived caches (failed pools, on-demand prices) live here, one subfolder each.
import { join } from 'node:path';

export function fluxerStateDir(env: NodeJS.ProcessEnv, ...sub: string[]): string {
  const base = env.XDG_STATE_HOME || join(env.HOME ?? '', '.local', 'state');
  return join(base, 'fluxer', ...sub);
}
