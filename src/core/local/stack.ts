// The local stack's lifecycle: a region on this machine. moto (the AWS-compatible server), the region
// process in front of it (src/region.ts: the emulator of what moto lacks, and the node agent), the
// stack's queue, bucket and node identity, and N nodes — EC2 instances that the agent runs as runtime
// workers. `up` starts only what is missing or dead, `down` stops all of it by pid and process group,
// `status` reads it back. moto and the region process are recorded in state.json; the workers in
// their node folders.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { FluxerError, InterruptedError } from '../../lib/errors.js';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { listRegistrations } from '../../lib/local-nodes.js';
import { REGION_BUNDLE } from '../../lib/paths.js';
import type { RegionSettings } from './agent.js';
import { stackNodes } from '../nodes/instances.js';
import { ensureNodeCount, localNodes, waitNodesReady, type LocalEc2, type LocalNode } from './local-nodes.js';
import { withLock } from './lock.js';
import type { LocalModel } from './model.js';
import { delay, freePort, isOurs, spawnDetached, stopGroup, tailOf } from './processes.js';
import { LOCAL_BUCKET, LOCAL_PREFIX, LOCAL_REGION, LOCAL_STACK, LOCAL_VISIBILITY_SECONDS, clearLocalState, readLocalState, writeLocalState, type LocalPaths, type LocalState, type RegionRecord, type ServerRecord } from './state.js';
import { MOTO_ENV, MOTO_SERVER_BIN, RUNTIME_BIN, type LocalTools } from './tools.js';
import { isServing } from './worker-health.js';
import type { SsmPort } from '../../aws/ssm.js';

/** Set on every process the local stack starts: tells them apart from any other moto or runtime. */
export const LOCAL_DIR_ENV = 'FLUXER_LOCAL_DIR';
const REGION_MARKER = 'region.cjs';

export interface SetupOutcome {
  queueUrl: string;
  dlqUrl: string;
}

export interface LocalClients {
  ec2: LocalEc2;
  ssm: Pick<SsmPort, 'getParameter'>;
  close(): void;
}

export interface LocalStackDeps {
  paths: LocalPaths;
  tools: LocalTools;
  /** The environment the CLI runs in; children get it minus AWS_* and FLUXER_* (set explicitly). */
  baseEnv: NodeJS.ProcessEnv;
  /** `fluxer setup`'s logic on the endpoint (queue, DLQ, bucket, node identity): idempotent. */
  setup(endpoint: string): Promise<SetupOutcome>;
  /** AWS clients on the local region's endpoint (dummy keys). */
  clients(endpoint: string): Promise<LocalClients>;
  progress(message: string): void;
  signal?: AbortSignal;
}

export interface UpOptions {
  workers: number;
  model: LocalModel;
  /** Port for the region's endpoint; a free one when unset. */
  port?: number;
  /** How long a worker may take from start to READY (the first start imports torch). */
  readyTimeoutMs: number;
  serverTimeoutMs?: number;
  /** FLUXER_* settings every node gets on top of the agent's (`local up --node-env`). */
  nodeEnv?: Record<string, string>;
}

export interface UpResult {
  state: LocalState;
  serverStarted: boolean;
  regionStarted: boolean;
  /** Instances launched (their workers started) and terminated by this run. */
  launched: string[];
  terminated: string[];
}

export async function bringUp(deps: LocalStackDeps, opts: UpOptions): Promise<UpResult> {
  mkdirSync(deps.paths.dir, { recursive: true });
  return withLock(deps.paths, () => bringUpLocked(deps, opts));
}

async function bringUpLocked(deps: LocalStackDeps, opts: UpOptions): Promise<UpResult> {
  const { paths } = deps;
  const previous = readLocalState(paths);

  // 1. moto: reuse it when its pid is alive and it answers; else a new one (empty: the nodes it had are gone).
  let server: ServerRecord | undefined = previous?.server;
  let serverStarted = false;
  if (!server || !isOurs(server.pid, MOTO_SERVER_BIN) || !(await isServing(`http://127.0.0.1:${server.port}`))) {
    if (server && isOurs(server.pid, MOTO_SERVER_BIN)) await stopGroup(server.pid, 2_000);
    server = await startServer(deps, opts);
    serverStarted = true;
  }
  const motoEndpoint = `http://127.0.0.1:${server.port}`;

  // 2. The region process (emulator + node agent), restarted with a new moto (its upstream changed).
  let regionProcess: RegionRecord | undefined = previous?.regionProcess;
  let regionStarted = false;
  const regionOk = regionProcess && !serverStarted && isOurs(regionProcess.pid, REGION_MARKER) && (await emulatorServing(`http://127.0.0.1:${regionProcess.port}`));
  if (!regionOk) {
    if (regionProcess && isOurs(regionProcess.pid, REGION_MARKER)) await stopGroup(regionProcess.pid, 5_000);
    regionProcess = await startRegion(deps, motoEndpoint, opts);
    regionStarted = true;
  } else if (opts.port !== undefined && opts.port !== regionProcess!.port) {
    deps.progress(`The local region is already up on port ${regionProcess!.port}; --port ${opts.port} applies after \`fluxer local down\`.`);
  }
  const endpoint = `http://127.0.0.1:${regionProcess!.port}`;
  const state: LocalState = {
    endpoint,
    motoEndpoint,
    region: LOCAL_REGION,
    queueUrl: previous?.queueUrl ?? '',
    dlqUrl: previous?.dlqUrl ?? '',
    bucket: LOCAL_BUCKET,
    prefix: LOCAL_PREFIX,
    server,
    regionProcess: regionProcess!,
  };
  writeLocalState(paths, state);

  // 3. Queue, DLQ, bucket and node identity: every time, because it is idempotent and a new moto starts empty.
  const setup = await deps.setup(endpoint);
  state.queueUrl = setup.queueUrl;
  state.dlqUrl = setup.dlqUrl;
  writeLocalState(paths, state);

  // 4. What the agent starts workers with; a change (another model) restarts the workers that differ.
  const settings: RegionSettings = {
    stack: LOCAL_STACK,
    region: LOCAL_REGION,
    endpoint,
    queueUrl: state.queueUrl,
    bucket: state.bucket,
    prefix: state.prefix,
    model: opts.model.model,
    modelDir: opts.model.modelDir,
    device: opts.model.device,
    visibilitySeconds: LOCAL_VISIBILITY_SECONDS,
    runtimeBin: deps.tools.runtime,
    nodeEnv: opts.nodeEnv ?? {},
  };
  writeFileAtomicSync(paths.regionSettings, `${JSON.stringify(settings, null, 2)}\n`);
  deps.progress(`Nodes run model ${opts.model.model}${opts.model.modelDir ? ` from ${opts.model.modelDir}` : ''}, device ${opts.model.device}`);

  // 5. N nodes, then every running one READY.
  const clients = await deps.clients(endpoint);
  try {
    const { launched, terminated } = await ensureNodeCount(clients, LOCAL_STACK, opts.workers);
    if (launched.length) deps.progress(`Launched ${launched.length} local node(s): ${launched.join(', ')}`);
    if (terminated.length) deps.progress(`Terminated ${terminated.length} local node(s) over --workers ${opts.workers}: ${terminated.join(', ')}`);
    const running = (await stackNodes(clients.ec2, { stack: LOCAL_STACK })).filter((n) => n.state === 'pending' || n.state === 'running').map((n) => n.instanceId);
    if (running.length) deps.progress(`Waiting for ${running.length} node(s) to be READY`);
    await waitNodesReady(paths.nodesDir, running, opts.readyTimeoutMs, deps.signal);
    return { state, serverStarted, regionStarted, launched, terminated };
  } finally {
    clients.close();
  }
}

async function startServer(deps: LocalStackDeps, opts: UpOptions): Promise<ServerRecord> {
  const port = await freePort();
  deps.progress(`Starting the AWS-compatible server (moto) on 127.0.0.1:${port}`);
  const pid = await spawnDetached({
    command: deps.tools.motoServer,
    args: ['-H', '127.0.0.1', '-p', String(port)],
    env: { ...deps.baseEnv, ...MOTO_ENV, [LOCAL_DIR_ENV]: deps.paths.dir },
    cwd: deps.paths.dir,
    logPath: deps.paths.serverLog,
  });
  const server = { pid, port, log: deps.paths.serverLog };
  await waitFor(deps, `The moto server (port ${port})`, server.log, opts.serverTimeoutMs ?? 30_000, pid, MOTO_SERVER_BIN, () => isServing(`http://127.0.0.1:${port}`));
  return server;
}

async function startRegion(deps: LocalStackDeps, motoEndpoint: string, opts: UpOptions): Promise<RegionRecord> {
  const { paths } = deps;
  const port = opts.port ?? (await freePort());
  deps.progress(`Starting the local region (emulator and node agent) on 127.0.0.1:${port}`);
  rmSync(paths.regionReady, { force: true });
  const pid = await spawnDetached({
    command: process.execPath,
    args: [REGION_BUNDLE, '--upstream', motoEndpoint, '--dir', paths.dir, '--port', String(port)],
    env: { ...deps.baseEnv, [LOCAL_DIR_ENV]: paths.dir },
    cwd: paths.dir,
    logPath: paths.regionLog,
  });
  await waitFor(deps, `The local region (port ${port})`, paths.regionLog, opts.serverTimeoutMs ?? 30_000, pid, REGION_MARKER, async () => readyPid(paths.regionReady) === pid, opts.port);
  return { pid, port, log: paths.regionLog };
}

async function waitFor(deps: LocalStackDeps, what: string, log: string, timeoutMs: number, pid: number, marker: string, ready: () => Promise<boolean>, fixedPort?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    throwIfAborted(deps.signal);
    if (await ready()) return;
    if (!isOurs(pid, marker) || Date.now() > deadline) {
      await stopGroup(pid, 1_000);
      const why = Date.now() > deadline ? 'did not answer in time' : 'exited';
      throw new FluxerError(`${what} ${why}.\n${tailOf(log)}`, {
        code: 'LocalServerFailed',
        hint: fixedPort !== undefined ? `Is port ${fixedPort} in use? Try another --port, or leave it out to pick a free one.` : `See its log: ${log}`,
      });
    }
    await delay(100);
  }
}

function readyPid(file: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/** Whether the emulator answers its own control API (not just any server on the port). */
async function emulatorServing(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/_standin/quotas`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

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

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new InterruptedError('Interrupted while starting the local stack', { hint: 'What started is recorded: `fluxer local up` resumes, `fluxer local down` stops it.' });
  }
}
