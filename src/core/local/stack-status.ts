// `fluxer local status`'s reading of the local stack: what state.json recorded (stack.ts's `up` writes
// it), and whether each recorded process is still ours and answering, plus the workers from their node
// folders. Apart from stack.ts so that reading it back never pulls in how it is started.
import { localNodes, type LocalNode } from './local-nodes.js';
import { isOurs } from './processes.js';
import { REGION_MARKER, readLocalState, type LocalPaths, type LocalState } from './state.js';
import { MOTO_SERVER_BIN } from './tools.js';
import { emulatorServing, isServing } from './worker-health.js';

/** What `local status` shows: the recorded endpoints, plus each process's live state. */
export interface LocalStatus extends Pick<LocalState, 'endpoint' | 'region' | 'queueUrl' | 'dlqUrl' | 'bucket' | 'prefix'> {
  up: boolean;
  server: { pid: number; port: number; state: 'up' | 'unresponsive' | 'dead'; log: string };
  regionProcess: { pid: number; port: number; state: 'up' | 'unresponsive' | 'dead'; log: string } | null;
  workers: LocalNode[];
}

/** undefined when there is no state (the stack was never brought up, or was brought down). */
export async function localStatus(paths: LocalPaths): Promise<LocalStatus | undefined> {
  const state = readLocalState(paths);
  if (!state) return undefined;
  const serverState = !isOurs(state.server.pid, MOTO_SERVER_BIN) ? 'dead' : (await isServing(state.motoEndpoint)) ? 'up' : 'unresponsive';
  const r = state.regionProcess;
  const regionState = !r || !isOurs(r.pid, REGION_MARKER) ? 'dead' : (await emulatorServing(state.endpoint)) ? 'up' : 'unresponsive';
  return {
    up: serverState === 'up' && regionState === 'up',
    endpoint: state.endpoint,
    region: state.region,
    queueUrl: state.queueUrl,
    dlqUrl: state.dlqUrl,
    bucket: state.bucket,
    prefix: state.prefix,
    server: { pid: state.server.pid, port: state.server.port, state: serverState, log: state.server.log },
    regionProcess: r ? { pid: r.pid, port: r.port, state: regionState, log: r.log } : null,
    workers: localNodes(paths.nodesDir),
  };
}
