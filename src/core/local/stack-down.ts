// `fluxer local down`: stops what `up` (stack.ts) started, by pid and process group — the region process,
// the workers (draining), then moto — checks that nothing is left, and clears the recorded state.
import { existsSync } from 'node:fs';
import { FluxerError } from '../../lib/errors.js';
import { listRegistrations } from '../../lib/local-nodes.js';
import { withLock } from './lock.js';
import { isOurs, stopGroup } from './processes.js';
import { REGION_MARKER, clearLocalState, readLocalState, type LocalPaths } from './state.js';
import { MOTO_SERVER_BIN, RUNTIME_BIN } from './tools.js';

export interface DownResult {
  /** false when there was nothing recorded to stop. */
  wasUp: boolean;
  stopped: Array<{ role: 'worker' | 'server' | 'region'; pid: number; killed: boolean; instanceId?: string }>;
}

export interface DownOptions {
  /** How long workers get to drain after SIGTERM before SIGKILL. */
  workerGraceMs?: number;
  serverGraceMs?: number;
  progress?: (message: string) => void;
}

/** Stops the region process (so nothing restarts a worker), the workers (they drain on SIGTERM), then moto; verifies nothing is left; clears state. */
export async function bringDown(paths: LocalPaths, opts: DownOptions = {}): Promise<DownResult> {
  if (!readLocalState(paths) && !existsSync(paths.nodesDir)) return { wasUp: false, stopped: [] };
  return withLock(paths, () => bringDownLocked(paths, opts));
}

async function bringDownLocked(paths: LocalPaths, opts: DownOptions): Promise<DownResult> {
  const state = readLocalState(paths);
  const live = listRegistrations(paths.nodesDir).filter((r) => r.pid > 0 && isOurs(r.pid, RUNTIME_BIN));
  if (!state && live.length === 0) {
    clearLocalState(paths);
    return { wasUp: false, stopped: [] };
  }
  const stopped: DownResult['stopped'] = [];
  const r = state?.regionProcess;
  if (r && isOurs(r.pid, REGION_MARKER)) {
    opts.progress?.('Stopping the local region (emulator and node agent)');
    const o = await stopGroup(r.pid, 5_000);
    stopped.push({ role: 'region', pid: o.pid, killed: o.killed });
  }
  if (live.length) opts.progress?.(`Stopping ${live.length} worker(s) (draining)`);
  const outcomes = await Promise.all(live.map(async (w) => ({ o: await stopGroup(w.pid, opts.workerGraceMs ?? 30_000), instanceId: w.instanceId })));
  for (const { o, instanceId } of outcomes) stopped.push({ role: 'worker', pid: o.pid, killed: o.killed, instanceId });
  if (state && isOurs(state.server.pid, MOTO_SERVER_BIN)) {
    opts.progress?.('Stopping the moto server');
    const o = await stopGroup(state.server.pid, opts.serverGraceMs ?? 5_000);
    stopped.push({ role: 'server', pid: o.pid, killed: o.killed });
  }
  const left = [
    ...live.filter((w) => isOurs(w.pid, RUNTIME_BIN)).map((w) => w.pid),
    ...(r && isOurs(r.pid, REGION_MARKER) ? [r.pid] : []),
    ...(state && isOurs(state.server.pid, MOTO_SERVER_BIN) ? [state.server.pid] : []),
  ];
  if (left.length) {
    // Keep state.json so the next `down` can try again.
    throw new FluxerError(`Could not stop process(es) ${left.join(', ')}`, { code: 'LocalStopFailed', hint: `Stop them by hand: kill -9 ${left.join(' ')}` });
  }
  clearLocalState(paths);
  return { wasUp: true, stopped };
}
