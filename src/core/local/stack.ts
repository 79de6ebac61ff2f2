// The local stack's lifecycle: a region on this machine. moto (the AWS-compatible server), the region
// process in front of it (src/region.ts: the emulator of what moto lacks, and the node agent), the
// stack's queue, bucket and node identity, and N nodes — EC2 instances that the agent runs as runtime
// workers. `up` starts only what is missing or dead, `down` stops all of it by pid and process group,
// `status` reads it back. moto and the region process are recorded in state.json; the workers in
// their node folders. `up` is here; `status` is stack-status.ts and `down` stack-down.ts.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { FluxerError, InterruptedError } from '../../lib/errors.js';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { REGION_BUNDLE } from '../../lib/paths.js';
import type { RegionSettings } from './agent.js';
import { stackNodes } from '../nodes/instances.js';
import { ensureNodeCount, waitNodesReady, type LocalEc2 } from './local-nodes.js';
import { withLock } from './lock.js';
import type { LocalModel } from './model.js';
import { delay, freePort, isOurs, spawnDetached, stopGroup, tailOf } from './processes.js';
import { LOCAL_BUCKET, LOCAL_PREFIX, LOCAL_REGION, LOCAL_STACK, LOCAL_VISIBILITY_SECONDS, REGION_MARKER, readLocalState, writeLocalState, type LocalPaths, type LocalState, type RegionRecord, type ServerRecord } from './state.js';
import { MOTO_ENV, MOTO_SERVER_BIN, type LocalTools } from './tools.js';
import { emulatorServing, isServing } from './worker-health.js';
import type { SsmPort } from '../../aws/ssm.js';

/** Set on every process the local stack starts: tells them apart from any other moto or runtime. */
export const LOCAL_DIR_ENV = 'FLUXER_LOCAL_DIR';

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

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new InterruptedError('Interrupted while starting the local stack', { hint: 'What started is recorded: `fluxer local up` resumes, `fluxer local down` stops it.' });
  }
}
