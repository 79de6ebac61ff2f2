// The fault suite: real processes (moto, runtime workers with the tiny model, `bin/fluxer generate
// --wait` as a user runs it) under seeded faults, and the figures that say whether the job path
// held: lost, duplicated, mis-written and hung must all be 0. See test/faults/README.md.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BIN, runCli, testEnv } from '../support/cli.js';
import { REPO_ROOT } from '../support/moto.js';
import { seededRandom, startFaultProxy, type FaultRates } from './fault-proxy.js';
import { computeFigures, type CliRun, type Figures } from './figures.js';
import { Fleet, type ProcessFault } from './fleet.js';

export interface SuiteOptions {
  seed: number;
  moto: string;
  jobs: number;
  /** `generate --wait` processes running at once. */
  concurrency: number;
  workers: number;
  rates: FaultRates;
  /** A process fault every this many ms (± half), while jobs are in flight. */
  processFaultEveryMs: number;
  /** Jobs sent straight to SQS whose output names a bucket the nodes were not configured with. */
  foreignJobs: number;
  /** CLI clock offsets, cycled over the jobs (ms; e.g. ±10 minutes). */
  clockOffsetsMs: number[];
  deadlineMs: number;
  log?: (line: string) => void;
}

const PREFIX = 'fluxer/';
const VISIBILITY_SECONDS = 6;
const PROCESS_FAULTS: ProcessFault[] = ['kill-9', 'sigterm', 'sigstop', 'spot-notice'];
const CLOCK_PRELOAD = join(REPO_ROOT, 'test', 'support', 'clock-offset.mjs');

export async function runFaultSuite(o: SuiteOptions): Promise<Figures> {
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const random = seededRandom(o.seed ^ 0x5eed);
  const suffix = randomBytes(4).toString('hex');
  const names = { queue: `faults-q-${suffix}`, bucket: `faults-bkt-${suffix}`, foreign: `faults-foreign-${suffix}` };
  const creds = { accessKeyId: 'testing', secretAccessKey: 'testing' };
  const s3 = new S3Client({ region: 'us-east-1', endpoint: o.moto, credentials: creds, forcePathStyle: true });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: o.moto, credentials: creds });
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-faults-'));
  const baseEnv = testEnv({ FLUXER_QUEUE_NAME: names.queue, FLUXER_BUCKET: names.bucket, FLUXER_PREFIX: PREFIX, FLUXER_MODEL: 'tiny', USER: 'faults' });
  delete baseEnv.FLUXER_MAX_ATTEMPTS; // the CLI's own retry policy, as users run it

  const setup = await runCli(['setup', '--json', '--yes'], { env: { ...baseEnv, FLUXER_ENDPOINT_URL: o.moto }, cwd });
  if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);
  const queueUrl = (JSON.parse(setup.stdout) as { resources: { type: string; url?: string }[] }).resources.find((r) => r.type === 'queue')!.url!;
  // Versioning keeps every write, so the figures see overwrites that the latest object would hide.
  await s3.send(new PutBucketVersioningCommand({ Bucket: names.bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new CreateBucketCommand({ Bucket: names.foreign }));

  const proxy = await startFaultProxy({ upstream: o.moto, seed: o.seed, rates: o.rates });
  const fleet = new Fleet({ endpoint: proxy.endpoint, queueUrl, bucket: names.bucket, prefix: PREFIX, visibilitySeconds: VISIBILITY_SECONDS, name: suffix });
  const processFaults: Record<string, number> = {};
  const runs: CliRun[] = [];
  try {
    await Promise.all(Array.from({ length: o.workers }, () => fleet.add()));
    log(`fault suite seed ${o.seed}: ${o.workers} nodes ready after ${Date.now() - started} ms`);

    const foreignIds = await sendForeignJobs(sqs, queueUrl, names.foreign, o.foreignJobs);
    // Faults are injected (and counted) only while a job is in flight: from its `generate` start,
    // or its send, until its status is terminal, as read straight from moto.
    const inFlight = new Map<string | number, string | undefined>(foreignIds.map((id) => [id, id]));
    const watcher = watchInFlight(s3, names.bucket, inFlight, (armed) => (proxy.armed = armed));
    let next = 0;
    let live = 0;
    const cliEnv = { ...baseEnv, FLUXER_ENDPOINT_URL: proxy.endpoint, NO_COLOR: '1' };
    const allDone = new Promise<void>((resolve) => {
      const launch = () => {
        while (live < o.concurrency && next < o.jobs) {
          const i = next++;
          live += 1;
          const offset = o.clockOffsetsMs[i % o.clockOffsetsMs.length] ?? 0;
          inFlight.set(i, undefined);
          waitJob(i, offset, cliEnv, cwd, o.deadlineMs, (id) => inFlight.set(i, id)).then((run) => {
            if (!run.id) inFlight.delete(i);
            runs.push(run);
            live -= 1;
            if (next >= o.jobs && live === 0) resolve();
            else launch();
          });
        }
      };
      launch();
    });

    let finished = false;
    void allDone.then(() => (finished = true));
    const end = started + o.deadlineMs;
    while (!finished && Date.now() < end) {
      const wait = o.processFaultEveryMs * (0.5 + random());
      await Promise.race([allDone, new Promise((r) => setTimeout(r, wait))]);
      if (finished) break;
      const kind = PROCESS_FAULTS[Math.floor(random() * PROCESS_FAULTS.length)]!;
      const hit = fleet.strike(kind, (n) => Math.floor(random() * n), Date.now());
      if (hit) {
        processFaults[kind] = (processFaults[kind] ?? 0) + 1;
        log(`${kind} → ${hit.node} (job ${hit.job})`);
      }
    }
    await allDone;
    await watcher.stop();
    proxy.armed = false;
    const logs = await fleet.stop();
    return await computeFigures({
      s3,
      seed: o.seed,
      bucket: names.bucket,
      foreignBucket: names.foreign,
      prefix: PREFIX,
      runs,
      foreignIds,
      proxyFaults: { ...proxy.counts },
      processFaults,
      logs,
      seconds: (Date.now() - started) / 1000,
    });
  } finally {
    proxy.armed = false;
    await fleet.stop();
    await proxy.stop();
  }
}

/** One user: `fluxer generate --wait --json` with its clock shifted by `offsetMs`. */
function waitJob(i: number, offsetMs: number, env: NodeJS.ProcessEnv, cwd: string, deadlineMs: number, onId: (id: string) => void): Promise<CliRun> {
  const argv = ['--import', CLOCK_PRELOAD, BIN, 'generate', `fault suite job ${i}`, '--size', '256x256', '--steps', '30', '--count', String(1 + (i % 3)), '--wait', '--json', '--timeout', `${Math.ceil(deadlineMs / 1000)}s`, '--out', join(cwd, 'out')];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { cwd, env: { ...env, FLUXER_TEST_CLOCK_OFFSET_MS: String(offsetMs) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const had = /Submitted job (\S+):/.test(stderr);
      stderr += d.toString();
      const id = /Submitted job (\S+):/.exec(stderr)?.[1];
      if (!had && id) onId(id);
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), deadlineMs + 30_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      const id = /Submitted job (\S+):/.exec(stderr)?.[1];
      resolve({ index: i, id, code: code ?? -1, exitedAt: Date.now(), offsetMs, stdout, stderr });
    });
  });
}

const TERMINAL = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);

/** Keeps `inFlight` (key → job id once known) down to the jobs not yet terminal; arms the proxy
 * while any is left. */
function watchInFlight(s3: S3Client, bucket: string, inFlight: Map<string | number, string | undefined>, arm: (armed: boolean) => void): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      arm(inFlight.size > 0);
      for (const [key, id] of [...inFlight]) {
        if (!id) continue;
        try {
          const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${PREFIX}jobs/${id}/status.json` }));
          const state = (JSON.parse(await res.Body!.transformToString()) as { state?: string }).state;
          if (state && TERMINAL.has(state)) inFlight.delete(key);
        } catch {
          /* not written yet */
        }
      }
      arm(inFlight.size > 0);
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Jobs whose output names another bucket, sent as a producer outside fluxer could: the nodes must
 * reject them and write nothing there. */
async function sendForeignJobs(sqs: SQSClient, queueUrl: string, bucket: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `00000000-0000-7000-8000-${randomBytes(6).toString('hex')}`;
    const job = { version: 1, id, prompt: 'foreign', model: 'tiny', width: 64, height: 64, steps: 2, guidance: 3.5, seed: i, count: 1, output: { bucket, prefix: 'elsewhere/' }, submittedAt: new Date().toISOString() };
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(job) }));
    ids.push(id);
  }
  return ids;
}
