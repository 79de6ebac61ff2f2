// Where the local stack keeps its state and logs: `.fluxer/local/` beside the project config file.
// state.json records every process `fluxer local up` started, written right after each start, so
// `fluxer local down` can stop them by pid even when `up` failed halfway.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';

export const LOCAL_STACK = 'local';
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_QUEUE_NAME = 'fluxer-local-jobs';
export const LOCAL_BUCKET = 'fluxer-local';
export const LOCAL_PREFIX = 'fluxer/';
/** Short: a job a dead local worker held comes back within a minute, not five. */
export const LOCAL_VISIBILITY_SECONDS = 60;

export interface ServerRecord {
  pid: number;
  port: number;
  log: string;
}

export interface WorkerRecord {
  pid: number;
  log: string;
  stateFile: string;
  /** Port of the worker's health endpoint once it reported one (it picks a free port itself). */
  healthPort: number | null;
  /** What the worker was started with: `up` restarts a worker whose settings no longer match. */
  model: string;
  modelDir: string | null;
  device: string;
  endpoint: string;
}

export interface LocalState {
  endpoint: string;
  region: string;
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  prefix: string;
  server: ServerRecord;
  workers: WorkerRecord[];
}

export interface LocalPaths {
  dir: string;
  stateFile: string;
  serverLog: string;
  workerLog(index: number): string;
  workerStateFile(index: number): string;
  /** A path the runtime reads as its env file: never /etc/fluxer/runtime.env of the host. */
  runtimeEnvFile: string;
}

/** The local stack's folder for a project config file at configPath. */
export function localPaths(configPath: string): LocalPaths {
  const dir = join(dirname(configPath), '.fluxer', 'local');
  return {
    dir,
    stateFile: join(dir, 'state.json'),
    serverLog: join(dir, 'moto-server.log'),
    workerLog: (i) => join(dir, `worker-${i}.log`),
    workerStateFile: (i) => join(dir, `worker-${i}.state.json`),
    runtimeEnvFile: join(dir, 'runtime.env'),
  };
}

export function readLocalState(paths: LocalPaths): LocalState | undefined {
  if (!existsSync(paths.stateFile)) return undefined;
  try {
    const doc = JSON.parse(readFileSync(paths.stateFile, 'utf8')) as LocalState;
    if (!doc || typeof doc !== 'object' || !doc.server || !Array.isArray(doc.workers)) return undefined;
    return doc;
  } catch {
    // A torn or hand-edited file: treat as no state (up starts fresh; stray pids are not trusted).
    return undefined;
  }
}

/** Atomic write (temp file + rename): a reader never sees half a file. */
export function writeLocalState(paths: LocalPaths, state: LocalState): void {
  mkdirSync(paths.dir, { recursive: true });
  writeFileAtomicSync(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

/** Removes state.json and the workers' state files; logs stay for post-mortems. */
export function clearLocalState(paths: LocalPaths, state: LocalState | undefined): void {
  for (const w of state?.workers ?? []) rmSync(w.stateFile, { force: true });
  rmSync(paths.stateFile, { force: true });
}
