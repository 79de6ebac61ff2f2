// Reading back how the local processes are doing: a worker's state file (the runtime rewrites it on
// every state change, with the health port it picked) and whether the servers (moto, the emulator)
// answer HTTP.
import { readFileSync } from 'node:fs';

export const WORKER_STATES = ['STARTING', 'LOADING', 'READY', 'BUSY', 'DRAINING', 'STOPPED', 'FAILED'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export interface WorkerHealth {
  state: WorkerState;
  healthPort: number | null;
  reason: string | null;
}


/** undefined while the worker has not written its state file yet (or it is being replaced). */
export function readWorkerHealth(stateFile: string): WorkerHealth | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const state = String(doc.state ?? '').toUpperCase();
  if (!(WORKER_STATES as readonly string[]).includes(state)) return undefined;
  const reason = doc.stateReason ?? doc.reason;
  return {
    state: state as WorkerState,
    healthPort: portOf(doc.healthUrl),
    reason: reason === undefined || reason === null ? null : typeof reason === 'string' ? reason : JSON.stringify(reason),
  };
}

/** The runtime records its health endpoint as a URL (it listens on a port it picked itself). */
function portOf(url: unknown): number | null {
  if (typeof url !== 'string') return null;
  try {
    const port = Number(new URL(url).port);
    return port > 0 ? port : null;
  } catch {
    return null;
  }
}

/** Whether the moto server at endpoint answers (its management API). */
export async function isServing(endpoint: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status < 500;
  } catch {
    return false;
  }
}

/** Whether the emulator answers its own control API (not just any server on the port). */
export async function emulatorServing(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/_standin/quotas`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}
