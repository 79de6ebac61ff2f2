#!/usr/bin/env node
// Benchmarks for `fluxer generate` against a moto server and the real runtime (tiny model, CPU):
//  1. submitting N jobs (default 1,000) with `fluxer generate --batch` vs the ceiling, a bare SDK loop
//     of SendMessageBatch (10 per call, 8 calls in flight), target >= 0.8; and vs a loop of
//     `aws sqs send-message` (measured on a sample, default 50, and extrapolated to N: it says so).
//     Each side gets a fresh queue; moto's SendMessage cost grows with the queue's depth, and it hits
//     every side alike. An equal-work ceiling (the SDK loop also writing the N queued status
//     documents fluxer writes) is printed too.
//  2. from the runtime writing `succeeded` (status timings.finishedAt) to the image file on disk
//     (its mtime), over R `generate --wait` runs: p50/p95, target p95 <= 1.5 s.
//  3. `fluxer generate --wait` wall time vs the runtime's own time for the job (startedAt→finishedAt).
// Usage: node bench/generate.mjs [--jobs 1000] [--repeat 3] [--cli-sample 50] [--runs 20] [--only-submit]
//        (run `npm run build` first). Submit figures are medians of --repeat interleaved rounds.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from './lib/harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// FLUXER_BENCH_BIN: a bundle to run instead of bin/fluxer (e.g. a copy that a concurrent build cannot remove).
const bin = process.env.FLUXER_BENCH_BIN ?? join(root, 'bin', 'fluxer');
const venv = join(root, '.venv', 'bin');
if (!process.env.FLUXER_BENCH_BIN && !existsSync(join(root, 'dist', 'fluxer.cjs'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const JOBS = arg('jobs', 1000);
const CLI_SAMPLE = arg('cli-sample', 50);
const RUNS = arg('runs', 20);
const REPEAT = arg('repeat', 3);
const ONLY_SUBMIT = process.argv.includes('--only-submit');
const run = promisify(execFile);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { SQSClient, SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const children = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

const port = await freePort();
const endpoint = `http://127.0.0.1:${port}`;
const moto = spawn(join(venv, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
children.push(moto);
for (;;) {
  try {
    await fetch(`${endpoint}/moto-api/`);
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 100));
  }
}
const cwd = tempDir('fluxer-bench-gen-');
const creds = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
const baseEnv = { PATH: process.env.PATH, HOME: cwd, ...creds, FLUXER_ENDPOINT_URL: endpoint, FLUXER_MODEL: 'tiny', FLUXER_MAX_ATTEMPTS: '3' };
const cfg = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };

async function fluxer(args, env, opts = {}) {
  const t0 = performance.now();
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, cwd, maxBuffer: 64 << 20, ...opts });
    return { ms: performance.now() - t0, stdout, stderr, code: 0 };
  } catch (err) {
    return { ms: performance.now() - t0, stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

/** A fresh queue + bucket made by `fluxer setup`; returns the env that selects them and the queue URL. */
async function newStack(tag) {
  const s = randomBytes(3).toString('hex');
  const env = { ...baseEnv, FLUXER_QUEUE_NAME: `bench-${tag}-${s}`, FLUXER_BUCKET: `bench-${tag}-${s}` };
  const r = await fluxer(['setup', '--json'], env);
  if (r.code !== 0) throw new Error(`setup failed: ${r.stderr}`);
  return { env, queueUrl: JSON.parse(r.stdout).resources.find((x) => x.type === 'queue').url, bucket: env.FLUXER_BUCKET };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (x) => Math.round(x);

// ---- 1. submission throughput -------------------------------------------------------------------
const prompts = Array.from({ length: JOBS }, (_, i) => `benchmark prompt number ${i}: a lighthouse on a cliff at dusk, oil painting`);
writeFileSync(join(cwd, 'prompts.txt'), prompts.join('\n'));
const sample = (id) => JSON.stringify({ version: 1, id, prompt: prompts[0], model: 'tiny', width: 64, height: 64, steps: 4, guidance: 3.5, seed: 1, count: 1, output: { bucket: 'b', prefix: 'fluxer/' }, submittedAt: new Date().toISOString(), submittedBy: 'bench@host' });

async function sdkLoop(queueUrl, bucket) {
  const sqs = new SQSClient(cfg);
  const s3 = bucket ? new S3Client({ ...cfg, forcePathStyle: true }) : undefined;
  const t0 = performance.now();
  let next = 0;
  const chunks = Math.ceil(JOBS / 10);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < chunks) {
        const c = next++;
        const ids = Array.from({ length: Math.min(10, JOBS - c * 10) }, (_, i) => `${c}-${i}`);
        if (s3) await Promise.all(ids.map((id) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `fluxer/jobs/${id}/status.json`, Body: '{"state":"queued"}' }))));
        await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: ids.map((id, i) => ({ Id: String(i), MessageBody: sample(id) })) }));
      }
    }),
  );
  return performance.now() - t0;
}

console.error(`submitting ${JOBS} jobs (moto on ${endpoint}), ${REPEAT} round(s), interleaved…`);
const step = (what) => console.error(`  ${what}`);
const ceilingRuns = [];
const equalRuns = [];
const batchRuns = [];
let sent = 0;
for (let round = 0; round < REPEAT; round++) {
  // Interleaved, each on a fresh queue, so machine noise and moto's growth hit all sides alike.
  const ceilingStack = await newStack('sdk');
  ceilingRuns.push(await sdkLoop(ceilingStack.queueUrl));
  const equalStack = await newStack('sdkst');
  equalRuns.push(await sdkLoop(equalStack.queueUrl, equalStack.bucket));
  const batchStack = await newStack('batch');
  const batch = await fluxer(['generate', '--batch', 'prompts.txt', '--json'], batchStack.env);
  if (batch.code !== 0) throw new Error(`fluxer --batch failed: ${batch.stderr}`);
  sent = JSON.parse(batch.stdout).length;
  batchRuns.push(batch.ms);
  step(`round ${round + 1}: SDK loop ${ms(ceilingRuns.at(-1))} ms, SDK + status writes ${ms(equalRuns.at(-1))} ms, fluxer --batch ${ms(batch.ms)} ms`);
}
const ceilingMs = pct(ceilingRuns, 50);
const equalWorkMs = pct(equalRuns, 50);
const batch = { ms: pct(batchRuns, 50) };
const startup = await fluxer(['--version'], baseEnv);
const cliStack = await newStack('cli');
const t0 = performance.now();
for (let i = 0; i < CLI_SAMPLE; i++) {
  await run(join(venv, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', 'sqs', 'send-message', '--queue-url', cliStack.queueUrl, '--message-body', sample(`cli-${i}`)], { env: { PATH: process.env.PATH, HOME: cwd, ...creds } });
}
const cliSampleMs = performance.now() - t0;
const cliExtrapolatedMs = (cliSampleMs / CLI_SAMPLE) * JOBS;

// ---- 2 and 3. latency to disk, and wait overhead, with the real runtime ---------------------------
if (ONLY_SUBMIT) {
  console.log(JSON.stringify({ bench: 'generate-submit', jobs: JOBS, rounds: REPEAT, sdkCeilingMs: ceilingRuns.map(ms), sdkEqualWorkMs: equalRuns.map(ms), fluxerBatchMs: batchRuns.map(ms), ratioVsCeiling: +(ceilingMs / batch.ms).toFixed(2), ratioVsEqualWork: +(equalWorkMs / batch.ms).toFixed(2) }));
  process.exit(0);
}
const rtStack = await newStack('rt');
const rtDir = tempDir('fluxer-bench-rt-');
const runtime = spawn(join(venv, 'fluxer-runtime'), ['serve'], {
  cwd: rtDir,
  stdio: 'ignore',
  env: {
    PATH: process.env.PATH, HOME: rtDir, ...creds, FLUXER_ENV_FILE: join(rtDir, 'none.env'), FLUXER_QUEUE_URL: rtStack.queueUrl, FLUXER_REGION: 'us-east-1',
    FLUXER_ENDPOINT_URL: endpoint, FLUXER_BUCKET: rtStack.bucket, FLUXER_PREFIX: 'fluxer/', FLUXER_MODEL: 'tiny', FLUXER_DEVICE: 'cpu', FLUXER_IMDS_URL: 'off',
    FLUXER_HEALTH_PORT: '0', FLUXER_WAIT_SECONDS: '1', FLUXER_INSTANCE_ID: 'bench-1', FLUXER_STATE_FILE: join(rtDir, 'state.json'),
  },
});
children.push(runtime);
for (let i = 0; ; i++) {
  try {
    if (['READY', 'BUSY'].includes(JSON.parse(readFileSync(join(rtDir, 'state.json'), 'utf8')).state)) break;
  } catch {
    /* not yet */
  }
  if (i > 900) throw new Error('runtime not READY after 90 s');
  await new Promise((r) => setTimeout(r, 100));
}
console.error(`runtime READY; ${RUNS} × generate --wait…`);
const toDisk = [];
const walls = [];
const runtimeOwn = [];
const pickup = [];
for (let i = 0; i < RUNS; i++) {
  const r = await fluxer(['generate', `latency ${i}`, '--wait', '--json', '--out', 'lat'], rtStack.env);
  if (r.code !== 0) throw new Error(`generate --wait failed: ${r.stderr}`);
  const doc = JSON.parse(r.stdout);
  const finished = Date.parse(doc.timings.finishedAt);
  toDisk.push(statSync(doc.files[0]).mtimeMs - finished);
  walls.push(r.ms);
  runtimeOwn.push(finished - Date.parse(doc.timings.startedAt));
  pickup.push(Date.parse(doc.timings.startedAt) - Date.parse(doc.timings.submittedAt));
}
runtime.kill('SIGTERM');
moto.kill('SIGTERM');

const results = {
  bench: 'generate',
  jobs: JOBS,
  submit: {
    rounds: REPEAT,
    fluxerBatchMs: ms(batch.ms),
    fluxerStartupMs: ms(startup.ms),
    sent,
    sdkCeilingMs: ms(ceilingMs),
    sdkEqualWorkMs: ms(equalWorkMs),
    ratioVsCeiling: +(ceilingMs / batch.ms).toFixed(2),
    ratioVsEqualWork: +(equalWorkMs / batch.ms).toFixed(2),
    awsCliSample: CLI_SAMPLE,
    awsCliSampleMs: ms(cliSampleMs),
    awsCliExtrapolatedMs: ms(cliExtrapolatedMs),
    speedupVsAwsCli: +(cliExtrapolatedMs / batch.ms).toFixed(1),
  },
  succeededToDisk: { runs: RUNS, p50Ms: ms(pct(toDisk, 50)), p95Ms: ms(pct(toDisk, 95)), maxMs: ms(Math.max(...toDisk)), targetP95Ms: 1500 },
  waitOverhead: { wallP50Ms: ms(pct(walls, 50)), runtimeOwnP50Ms: ms(pct(runtimeOwn, 50)), overheadP50Ms: ms(pct(walls, 50) - pct(runtimeOwn, 50)), queuePickupP50Ms: ms(pct(pickup, 50)), cliStartupMs: ms(startup.ms) },
};
const s = results.submit;
const rows = [
  ['fluxer generate --batch', `${s.fluxerBatchMs} ms`, `${sent} jobs sent (incl. ${s.fluxerStartupMs} ms CLI start, ${JOBS} status writes)`],
  ['SDK SendMessageBatch loop', `${s.sdkCeilingMs} ms`, `ceiling; fluxer at ${s.ratioVsCeiling} of it (target >= 0.8)`],
  ['SDK loop + status writes', `${s.sdkEqualWorkMs} ms`, `same work as fluxer; fluxer at ${s.ratioVsEqualWork} of it`],
  [`aws sqs send-message × ${JOBS}`, `${s.awsCliExtrapolatedMs} ms`, `extrapolated from ${CLI_SAMPLE} (${s.awsCliSampleMs} ms); fluxer ${s.speedupVsAwsCli}x faster`],
  ['succeeded → file on disk', `p50 ${results.succeededToDisk.p50Ms} ms`, `p95 ${results.succeededToDisk.p95Ms} ms, max ${results.succeededToDisk.maxMs} ms over ${RUNS} runs (target p95 <= 1500)`],
  ['generate --wait (tiny)', `p50 ${results.waitOverhead.wallP50Ms} ms`, `runtime's own p50 ${results.waitOverhead.runtimeOwnP50Ms} ms; overhead ${results.waitOverhead.overheadP50Ms} ms (queue pickup p50 ${results.waitOverhead.queuePickupP50Ms} ms, CLI start ${results.waitOverhead.cliStartupMs} ms)`],
];
for (const [a, b, c] of rows) console.error(`${a.padEnd(30)} ${b.padStart(14)}   ${c}`);
console.log(JSON.stringify(results));
process.exit(0);
