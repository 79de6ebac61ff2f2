// Starts the real GPU runtime (`.venv/bin/fluxer-runtime serve`) with the tiny model on the CPU
// against the test's moto server, waits until it reports READY in its state file, and stops it
// (SIGTERM, then SIGKILL) so no process outlives the test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { VENV_BIN } from './moto.js';

// Every runtime this test process started, killed when it ends however it ends: a test that times
// out never reaches its own cleanup, and an orphaned worker would go on polling for the whole run.
const running = new Set<ChildProcess>();
const killAll = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}

export interface RuntimeWorker {
  process: ChildProcess;
  instanceId: string;
  stateFile: string;
  /** Everything the worker logged so far (JSON lines on stderr/stdout). */
  logs(): string;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  endpoint: string;
  queueUrl: string;
  bucket: string;
  prefix: string;
  region?: string;
  instanceId?: string;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /**
   * A local node's root folder (src/emulator/nodes.ts): the runtime runs with FLUXER_ROOT set to it, writes
   * its state file at <root>/run/fluxer/state.json and its log lines go to <root>/var/log/fluxer/runtime.log
   * (as the local region writes them), where `fluxer-runtime status|logs` sent over SSM find them.
   */
  root?: string;
}

export async function startRuntime(opts: RuntimeOptions): Promise<RuntimeWorker> {
  const bin = join(VENV_BIN, 'fluxer-runtime');
  if (!existsSync(bin)) throw new Error(`fluxer-runtime not found at ${bin}: run \`bash scripts/python-env.sh\``);
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-runtime-'));
  const stateFile = opts.root ? join(opts.root, 'run', 'fluxer', 'state.json') : join(dir, 'state.json');
  const logFile = opts.root ? join(opts.root, 'var', 'log', 'fluxer', 'runtime.log') : undefined;
  if (logFile) mkdirSync(dirname(logFile), { recursive: true });
  mkdirSync(dirname(stateFile), { recursive: true });
  const instanceId = opts.instanceId ?? `local-test-${process.pid}`;
  const child = spawn(bin, ['serve'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      // a checkout whose venv's editable install points elsewhere runs its own runtime this way
      ...(process.env.PYTHONPATH ? { PYTHONPATH: process.env.PYTHONPATH } : {}),
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      // No /etc/fluxer/runtime.env from the machine running the tests.
      FLUXER_ENV_FILE: join(dir, 'runtime.env'),
      FLUXER_QUEUE_URL: opts.queueUrl,
      FLUXER_REGION: opts.region ?? 'us-east-1',
      FLUXER_ENDPOINT_URL: opts.endpoint,
      FLUXER_BUCKET: opts.bucket,
      FLUXER_PREFIX: opts.prefix,
      FLUXER_MODEL: 'tiny',
      FLUXER_DEVICE: 'cpu',
      FLUXER_IMDS_URL: 'off',
      FLUXER_HEALTH_PORT: '0',
      FLUXER_WAIT_SECONDS: '1',
      FLUXER_VISIBILITY_SECONDS: '60',
      FLUXER_HEARTBEAT_SECONDS: '5',
      FLUXER_POWEROFF_COMMAND: 'true',
      FLUXER_NODE_RECORD_SECONDS: '5',
      FLUXER_INSTANCE_ID: instanceId,
      FLUXER_STATE_FILE: stateFile,
      ...(opts.root ? { FLUXER_ROOT: opts.root } : {}),
      ...opts.env,
    },
  });
  let logs = '';
  const logStream = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  child.stdout?.on('data', (d: Buffer) => {
    logs += d.toString();
    logStream?.write(d);
  });
  child.once('exit', () => logStream?.end());
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  const worker: RuntimeWorker = {
    process: child,
    instanceId,
    stateFile,
    logs: () => logs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fluxer-runtime exited with ${child.exitCode} before READY:\n${logs}`);
    try {
      const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as { state?: string };
      if (doc.state === 'READY' || doc.state === 'BUSY') return worker;
      if (doc.state === 'FAILED') {
        await worker.stop();
        throw new Error(`fluxer-runtime FAILED:\n${logs}`);
      }
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('fluxer-runtime')) throw err;
      /* not written yet */
    }
    if (Date.now() > deadline) {
      await worker.stop();
      throw new Error(`fluxer-runtime not READY after ${opts.readyTimeoutMs ?? 90_000} ms:\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Width and height from a PNG's IHDR chunk (bytes 16..23), or undefined when it is not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return undefined;
  if (Buffer.from(bytes.subarray(12, 16)).toString('latin1') !== 'IHDR') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
