// The local stack's lifecycle: an AWS-compatible server (moto) plus N runtime workers, all detached
// processes recorded in state.json. `up` starts only what is missing or dead, `down` stops all of it
// by pid and process group, `status` reads it back.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FluxerError, InterruptedError } from '../../lib/errors.js';
import { withLock } from './lock.js';
import type { LocalModel } from './model.js';
import { delay, freePort, isAlive, isOurs, spawnDetached, stopGroup, tailOf, type StopOutcome } from './processes.js';
import {
  LOCAL_BUCKET,
  LOCAL_PREFIX,
  LOCAL_REGION,
  LOCAL_STACK,
  LOCAL_VISIBILITY_SECONDS,
  clearLocalState,
  readLocalState,
  writeLocalState,
  type LocalPaths,
  type LocalState,
  type WorkerRecord,
} from './state.js';
import { MOTO_ENV, MOTO_SERVER_BIN, RUNTIME_BIN, type LocalTools } from './tools.js';
import { isServing, readWorkerHealth, type WorkerState } from './worker-health.js';

/** Set on every process the local stack starts: tells them apart from any other moto or runtime. */
export const LOCAL_DIR_ENV = 'FLUXER_LOCAL_DIR';

export interface SetupOutcome {
  queueUrl: string;
  dlqUrl: string;
}

export interface LocalStackDeps {
  paths: LocalPaths;
  tools: LocalTools;
  /** The environment the CLI runs in; children get it minus AWS_* and FLUXER_* (set explicitly). */
  baseEnv: NodeJS.ProcessEnv;
  /** Creates the queue, its DLQ and the bucket on the server: `fluxer setup`'s logic, idempotent. */
  setup(endpoint: string): Promise<SetupOutcome>;
  progress(message: string): void;
  signal?: AbortSignal;
}

export interface UpOptions {
  workers: number;
  model: LocalModel;
  /** Port for the server; a free one when unset. */
  port?: number;
  /** How long a worker may take from start to READY (the first start imports torch). */
  readyTimeoutMs: number;
  /** How long the moto server may take to answer. */
  serverTimeoutMs?: number;
}

export interface UpResult {
  state: LocalState;
  serverStarted: boolean;
  /** Worker slots (0-based) started by this run, e.g. a worker that had died. */
  workersStarted: number[];
  /** Worker slots stopped because --workers went down or their settings changed. */
  workersStopped: number[];
}

export async function bringUp(deps: LocalStackDeps, opts: UpOptions): Promise<UpResult> {
  mkdirSync(deps.paths.dir, { recursive: true });
  return withLock(deps.paths, () => bringUpLocked(deps, opts));
}

async function bringUpLocked(deps: LocalStackDeps, opts: UpOptions): Promise<UpResult> {
  const { paths } = deps;
  const previous = readLocalState(paths);

  // 1. The server: reuse it when its pid is alive and it answers; else start a new one.
  let server = previous?.server;
  let serverStarted = false;
  const priorEndpoint = server ? `http://127.0.0.1:${server.port}` : undefined;
  if (!server || !isOurs(server.pid, MOTO_SERVER_BIN) || !(await isServing(priorEndpoint!))) {
    if (server && isOurs(server.pid, MOTO_SERVER_BIN)) await stopGroup(server.pid, 2_000);
    server = await startServer(deps, opts);
    serverStarted = true;
  } else if (opts.port !== undefined && opts.port !== server.port) {
    deps.progress(`The local server is already up on port ${server.port}; --port ${opts.port} applies after \`fluxer local down\`.`);
  }
  const endpoint = `http://127.0.0.1:${server.port}`;
  const state: LocalState = {
    endpoint,
    region: LOCAL_REGION,
    queueUrl: previous?.queueUrl ?? '',
    dlqUrl: previous?.dlqUrl ?? '',
    bucket: LOCAL_BUCKET,
    prefix: LOCAL_PREFIX,
    server,
    workers: previous?.workers ?? [],
  };
  writeLocalState(paths, state);

  // 2. Queue, DLQ and bucket: every time, because it is idempotent and a new server starts empty.
  const setup = await deps.setup(endpoint);
  state.queueUrl = setup.queueUrl;
  state.dlqUrl = setup.dlqUrl;
  writeLocalState(paths, state);

  // 3. Workers: keep the healthy ones that match, replace the rest, trim extras.
  const workersStarted: number[] = [];
  const workersStopped: number[] = [];
  for (let i = opts.workers; i < state.workers.length; i++) {
    await stopWorker(state.workers[i]!);
    workersStopped.push(i);
  }
  state.workers = state.workers.slice(0, opts.workers);
  for (let i = 0; i < opts.workers; i++) {
    const existing = state.workers[i];
    if (existing && workerUsable(existing, endpoint, opts.model)) continue;
    if (existing && isOurs(existing.pid, RUNTIME_BIN)) {
      await stopWorker(existing);
      workersStopped.push(i);
    }
    state.workers[i] = await startWorker(deps, state, i, opts.model);
    workersStarted.push(i);
    writeLocalState(paths, state);
  }

  // 4. Wait for every worker (new or still loading) to report READY.
  await Promise.all(state.workers.map((w) => waitReady(deps, w, opts.readyTimeoutMs)));
  writeLocalState(paths, state);
  return { state, serverStarted, workersStarted, workersStopped };
}

async function startServer(deps: LocalStackDeps, opts: UpOptions) {
  const port = opts.port ?? (await freePort());
  deps.progress(`Starting the AWS-compatible server (moto) on 127.0.0.1:${port}`);
  const pid = await spawnDetached({
    command: deps.tools.motoServer,
    args: ['-H', '127.0.0.1', '-p', String(port)],
    env: { ...deps.baseEnv, ...MOTO_ENV, [LOCAL_DIR_ENV]: deps.paths.dir },
    cwd: deps.paths.dir,
    logPath: deps.paths.serverLog,
  });
  const server = { pid, port, log: deps.paths.serverLog };
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.serverTimeoutMs ?? 30_000);
  for (;;) {
    throwIfAborted(deps.signal);
    if (await isServing(endpoint)) return server;
    if (!isOurs(pid, MOTO_SERVER_BIN) || Date.now() > deadline) {
      await stopGroup(pid, 1_000);
      const why = Date.now() > deadline ? 'did not answer in time' : 'exited';
      throw new FluxerError(`The moto server ${why} (port ${port}).\n${tailOf(server.log)}`, {
        code: 'LocalServerFailed',
        hint: opts.port !== undefined ? `Is port ${port} in use? Try another --port, or leave it out to pick a free one.` : `See its log: ${server.log}`,
      });
    }
    await delay(100);
  }
}

function workerUsable(w: WorkerRecord, endpoint: string, model: LocalModel): boolean {
  if (w.endpoint !== endpoint || w.model !== model.model || w.modelDir !== model.modelDir || w.device !== model.device) return false;
  if (!isOurs(w.pid, RUNTIME_BIN)) return false;
  const health = readWorkerHealth(w.stateFile);
  return !health || !['FAILED', 'STOPPED', 'DRAINING'].includes(health.state);
}

async function startWorker(deps: LocalStackDeps, state: LocalState, index: number, model: LocalModel): Promise<WorkerRecord> {
  const { paths } = deps;
  const stateFile = paths.workerStateFile(index);
  // A previous worker's last words (STOPPED, FAILED) must not pass for this one's state.
  rmSync(stateFile, { force: true });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(deps.baseEnv)) if (!/^(AWS|FLUXER)_/.test(k)) env[k] = v;
  Object.assign(env, {
    // moto accepts any signature; the runtime must never pick up the host's real credentials.
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: state.region,
    AWS_DEFAULT_REGION: state.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    PYTHONUNBUFFERED: '1',
    [LOCAL_DIR_ENV]: paths.dir,
    FLUXER_ENV_FILE: paths.runtimeEnvFile,
    FLUXER_QUEUE_URL: state.queueUrl,
    FLUXER_REGION: state.region,
    FLUXER_ENDPOINT_URL: state.endpoint,
    FLUXER_BUCKET: state.bucket,
    FLUXER_PREFIX: state.prefix,
    FLUXER_STACK: LOCAL_STACK,
    FLUXER_MODEL: model.model,
    FLUXER_DEVICE: model.device,
    FLUXER_IMDS_URL: 'off',
    FLUXER_HEALTH_PORT: '0',
    // Short long-polls: `local down` is not held up by a receive in flight; pickup latency is the same.
    FLUXER_WAIT_SECONDS: '2',
    FLUXER_VISIBILITY_SECONDS: String(LOCAL_VISIBILITY_SECONDS),
    FLUXER_HEARTBEAT_SECONDS: '10',
    // a local node is this machine: powering off means nothing more than the process ending
    FLUXER_POWEROFF_COMMAND: 'true',
    FLUXER_INSTANCE_ID: `local-${index}`,
    FLUXER_STATE_FILE: stateFile,
    ...(model.modelDir ? { FLUXER_MODEL_DIR: model.modelDir, HF_HUB_OFFLINE: '1' } : {}),
  });
  const log = paths.workerLog(index);
  deps.progress(`Starting worker ${index} (model ${model.model}${model.modelDir ? ` from ${model.modelDir}` : ''}, device ${model.device})`);
  const pid = await spawnDetached({ command: deps.tools.runtime, args: ['serve'], env, cwd: paths.dir, logPath: log });
  return { pid, log, stateFile, healthPort: null, model: model.model, modelDir: model.modelDir, device: model.device, endpoint: state.endpoint };
}

async function waitReady(deps: LocalStackDeps, w: WorkerRecord, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    throwIfAborted(deps.signal);
    const health = readWorkerHealth(w.stateFile);
    if (health?.healthPort) w.healthPort = health.healthPort;
    if (health && (health.state === 'READY' || health.state === 'BUSY')) return;
    const alive = isOurs(w.pid, RUNTIME_BIN);
    const failed = health?.state === 'FAILED' || health?.state === 'STOPPED';
    if (!alive || failed || Date.now() > deadline) {
      const why = failed ? `is ${health!.state}${health!.reason ? `: ${health!.reason}` : ''}` : !alive ? 'exited before it was READY' : `was not READY after ${Math.round(timeoutMs / 1000)}s (state ${health?.state ?? 'unknown'})`;
      throw new FluxerError(`Worker pid ${w.pid} ${why}. Last lines of ${w.log}:\n${tailOf(w.log)}`, {
        code: 'LocalWorkerFailed',
        hint: 'Fix the cause and run `fluxer local up` again (it restarts only what is missing), or `fluxer local down`.',
      });
    }
    await delay(200);
  }
}

async function stopWorker(w: WorkerRecord, graceMs = 30_000): Promise<StopOutcome | undefined> {
  return isOurs(w.pid, RUNTIME_BIN) ? stopGroup(w.pid, graceMs) : undefined;
}

export interface WorkerStatus {
  pid: number;
  state: WorkerState | 'dead';
  healthPort: number | null;
  log: string;
}

/** What `local status` shows: the recorded endpoints, plus each process's live state. */
export interface LocalStatus extends Pick<LocalState, 'endpoint' | 'region' | 'queueUrl' | 'dlqUrl' | 'bucket' | 'prefix'> {
  up: boolean;
  server: { pid: number; port: number; state: 'up' | 'unresponsive' | 'dead'; log: string };
  workers: WorkerStatus[];
}

/** undefined when there is no state (the stack was never brought up, or was brought down). */
export async function localStatus(paths: LocalPaths): Promise<LocalStatus | undefined> {
  const state = readLocalState(paths);
  if (!state) return undefined;
  const serverState = !isOurs(state.server.pid, MOTO_SERVER_BIN) ? 'dead' : (await isServing(state.endpoint)) ? 'up' : 'unresponsive';
  const workers = state.workers.map((w): WorkerStatus => {
    const health = readWorkerHealth(w.stateFile);
    const alive = isOurs(w.pid, RUNTIME_BIN);
    return { pid: w.pid, state: alive ? (health?.state ?? 'STARTING') : 'dead', healthPort: health?.healthPort ?? w.healthPort, log: w.log };
  });
  return {
    up: serverState === 'up',
    endpoint: state.endpoint,
    region: state.region,
    queueUrl: state.queueUrl,
    dlqUrl: state.dlqUrl,
    bucket: state.bucket,
    prefix: state.prefix,
    server: { pid: state.server.pid, port: state.server.port, state: serverState, log: state.server.log },
    workers,
  };
}

export interface DownResult {
  /** false when there was nothing recorded to stop. */
  wasUp: boolean;
  stopped: Array<{ role: 'worker' | 'server'; pid: number; killed: boolean }>;
}

export interface DownOptions {
  /** How long workers get to drain after SIGTERM before SIGKILL. */
  workerGraceMs?: number;
  serverGraceMs?: number;
  progress?: (message: string) => void;
}

/** Stops the workers (they drain on SIGTERM), then the server; verifies nothing is left; clears state. */
export async function bringDown(paths: LocalPaths, opts: DownOptions = {}): Promise<DownResult> {
  if (!readLocalState(paths)) return { wasUp: false, stopped: [] };
  return withLock(paths, () => bringDownLocked(paths, opts));
}

async function bringDownLocked(paths: LocalPaths, opts: DownOptions): Promise<DownResult> {
  const state = readLocalState(paths);
  if (!state) return { wasUp: false, stopped: [] };
  const stopped: DownResult['stopped'] = [];
  const live = state.workers.filter((w) => isOurs(w.pid, RUNTIME_BIN));
  if (live.length) opts.progress?.(`Stopping ${live.length} worker(s) (draining)`);
  const outcomes = await Promise.all(live.map((w) => stopGroup(w.pid, opts.workerGraceMs ?? 30_000)));
  for (const o of outcomes) stopped.push({ role: 'worker', pid: o.pid, killed: o.killed });
  if (isOurs(state.server.pid, MOTO_SERVER_BIN)) {
    opts.progress?.('Stopping the moto server');
    const o = await stopGroup(state.server.pid, opts.serverGraceMs ?? 5_000);
    stopped.push({ role: 'server', pid: o.pid, killed: o.killed });
  }
  const left = [
    ...state.workers.filter((w) => isOurs(w.pid, RUNTIME_BIN)).map((w) => w.pid),
    ...(isOurs(state.server.pid, MOTO_SERVER_BIN) ? [state.server.pid] : []),
  ];
  if (left.length) {
    // Keep state.json so the next `down` can try again.
    throw new FluxerError(`Could not stop process(es) ${left.join(', ')}`, { code: 'LocalStopFailed', hint: `Stop them by hand: kill -9 ${left.join(' ')}` });
  }
  clearLocalState(paths, state);
  return { wasUp: true, stopped };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new InterruptedError('Interrupted while starting the local stack', { hint: 'What started is recorded: `fluxer local up` resumes, `fluxer local down` stops it.' });
  }
}
