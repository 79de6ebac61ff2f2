// End to end with the real pieces: bin/fluxer as a child process → moto SQS → the real runtime
// worker (tiny model, CPU) → moto S3 → PNGs on disk. Nothing here fakes the worker.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runBin, runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';
import { pngSize, startRuntime, type RuntimeWorker } from '../support/runtime.js';

const endpoint = inject('motoEndpoint');
const suffix = randomBytes(4).toString('hex');
const names = { queue: `e2e-gen-q-${suffix}`, bucket: `e2e-gen-bkt-${suffix}` };
const env = testEnv({ FLUXER_QUEUE_NAME: names.queue, FLUXER_BUCKET: names.bucket, FLUXER_MODEL: 'tiny', FLUXER_ENDPOINT_URL: endpoint, USER: 'e2e' });
const cwd = mkdtempSync(join(tmpdir(), 'fluxer-e2e-gen-'));
let queueUrl = '';
let worker: RuntimeWorker | undefined;

const fluxer = (argv: string[], opts: { input?: string; timeoutMs?: number } = {}) => runBin(argv, { env, cwd, ...opts });

async function awsCli(...args: string[]): Promise<any> {
  const { stdout } = await promisify(execFile)(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

async function jobCount(): Promise<number> {
  const out = await awsCli('s3api', 'list-objects-v2', '--bucket', names.bucket, '--prefix', 'fluxer/jobs/', '--delimiter', '/');
  return (out.CommonPrefixes ?? []).length;
}

beforeAll(async () => {
  const setup = await runCli(['setup', '--json'], { env, cwd });
  expect(setup.code, setup.stderr).toBe(0);
  queueUrl = JSON.parse(setup.stdout).resources.find((r: { type: string }) => r.type === 'queue').url;
  worker = await startRuntime({ endpoint, queueUrl, bucket: names.bucket, prefix: 'fluxer/' });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
});

describe('fluxer generate → runtime → images, end to end', () => {
  it('--wait: progress lines in order on stderr, PNG paths with the requested size on stdout', async () => {
    const r = await fluxer(['generate', 'a red fox in snow', '--size', '512x256', '--steps', '40', '--count', '2', '--wait', '--out', 'imgs']);
    expect(r.code, r.stderr).toBe(0);
    const files = r.stdout.trim().split('\n');
    expect(files).toHaveLength(2);
    for (const f of files) {
      expect(f).toMatch(new RegExp(`^${cwd}/imgs/[0-9a-f-]{36}-[01]\\.png$`));
      expect(pngSize(readFileSync(f))).toEqual({ width: 512, height: 256 });
    }
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^Submitted job [0-9a-f-]{36}: tiny 512x256, 40 steps, guidance 3\.5, seed \d+, 2 images$/);
    expect(r.stderr).toMatch(/^Queue: .*1 live node/m);
    const states = lines.filter((l) => /^(queued|running|succeeded)/.test(l));
    expect(states[0]).toBe('queued');
    expect(states.at(-1)).toMatch(/^succeeded {2}2 images/);
    expect(states.some((l) => l.startsWith(`running  attempt 1  node ${worker!.instanceId}`))).toBe(true);
    // Step numbers never go back: (image, step) strictly increases line after line.
    const progress = states.flatMap((l) => {
      const m = /image (\d)\/2 step (\d+)\/40/.exec(l);
      return m ? [Number(m[1]) * 1000 + Number(m[2])] : [];
    });
    expect(progress.length).toBeGreaterThan(0);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(new Set(progress).size).toBe(progress.length);

    // The same job from another "machine": status, list and get read S3 only.
    const id = /Submitted job (\S+):/.exec(r.stderr)![1]!;
    const status = await fluxer(['jobs', 'status', id, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, state: 'succeeded', node: { instanceId: worker!.instanceId } });
    const list = await fluxer(['jobs', 'list', '--since', '5m', '--json']);
    expect(JSON.parse(list.stdout).find((j: { id: string }) => j.id === id)).toMatchObject({ state: 'succeeded', model: 'tiny' });
    const got = await fluxer(['jobs', 'get', id, '--out', 'again']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout.trim().split('\n').map((f) => pngSize(readFileSync(f)))).toEqual([{ width: 512, height: 256 }, { width: 512, height: 256 }]);
  });

  it('--wait --json: one document with id, state, outputs, files, timings, error, node, fleet', async () => {
    const r = await fluxer(['generate', 'a lighthouse', '--wait', '--json', '--out', 'json-out']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc).sort()).toEqual(['error', 'files', 'fleet', 'id', 'node', 'outputs', 'state', 'timings']);
    expect(doc).toMatchObject({ state: 'succeeded', error: null, outputs: [`fluxer/jobs/${doc.id}/image-0.png`], files: [join(cwd, 'json-out', `${doc.id}-0.png`)], node: { instanceId: worker!.instanceId } });
    expect(pngSize(readFileSync(doc.files[0]))).toEqual({ width: 64, height: 64 });
    expect(doc.timings.startedAt).toBeTruthy();
  });

  it('a job the runtime rejects: exit 1 with the runtime\'s reason', async () => {
    // The node serves only the tiny model, so it rejects a flux-dev job.
    const r = await fluxer(['generate', 'a cathedral', '--model', 'flux-dev', '--size', '256x256', '--steps', '1', '--wait']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^rejected {2}ModelNotServed: /m);
    expect(r.stderr).toMatch(/^Error: Job \S+ rejected: ModelNotServed: this node serves 'tiny', not 'flux-dev'/m);
  });

  it('--timeout: exit 8 with the tail hint while the job runs; it completes later and `jobs tail` gets it', async () => {
    const r = await fluxer(['generate', 'a long one', '--size', '512x512', '--steps', '50', '--count', '8', '--wait', '--timeout', '1s']);
    expect(r.code, r.stderr).toBe(8);
    const id = /Submitted job (\S+):/.exec(r.stderr)![1]!;
    expect(r.stderr).toContain(`Hint: Follow it with \`fluxer jobs tail ${id}\``);
    const tail = await fluxer(['jobs', 'tail', id, '--out', 'later'], { timeoutMs: 90_000 });
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout.trim().split('\n')).toHaveLength(8);
    expect(tail.stderr.trim().split('\n').at(-1)).toMatch(/^succeeded {2}8 images/);
  }, 120_000);

  it('cancel: `jobs cancel` writes the marker, the runtime cancels the job, tail exits 1 saying so', async () => {
    const submit = await fluxer(['generate', 'never mind', '--size', '512x512', '--steps', '50', '--count', '8']);
    expect(submit.code, submit.stderr).toBe(0);
    const id = submit.stdout.trim();
    const cancel = await fluxer(['jobs', 'cancel', id]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stderr).toContain('Cancel requested');
    const tail = await fluxer(['jobs', 'tail', id, '--timeout', '60s']);
    expect(tail.code).toBe(1);
    expect(tail.stderr).toMatch(new RegExp(`Error: Job ${id} cancelled`));
    // Cancelling again is harmless and says so.
    const again = await fluxer(['jobs', 'cancel', id]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already cancelled');
  }, 90_000);

  it('a validation error: exit 2, nothing sent (queue depth and job count unchanged)', async () => {
    const before = { jobs: await jobCount(), depth: await awsCli('sqs', 'get-queue-attributes', '--queue-url', queueUrl, '--attribute-names', 'All') };
    const r = await fluxer(['generate', 'x', '--size', '1000x1000', '--model', 'flux-dev']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: --size 1000x1000: width 1000 must be a multiple of 16/m);
    const depth = await awsCli('sqs', 'get-queue-attributes', '--queue-url', queueUrl, '--attribute-names', 'All');
    expect(depth.Attributes.ApproximateNumberOfMessages).toBe(before.depth.Attributes.ApproximateNumberOfMessages);
    expect(depth.Attributes.ApproximateNumberOfMessagesNotVisible).toBe(before.depth.Attributes.ApproximateNumberOfMessagesNotVisible);
    expect(await jobCount()).toBe(before.jobs);
  });

  it('--batch of 25 (prompts and JSON lines) with --wait --json: 25 ids sent, 25 images on disk, each job\'s node named', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => (i % 5 === 0 ? JSON.stringify({ prompt: `json prompt ${i}`, size: '32x48', steps: 2 }) : `plain prompt ${i}`));
    writeFileSync(join(cwd, 'batch.txt'), `# a comment line\n${lines.join('\n')}\n`);
    const r = await fluxer(['generate', '--batch', 'batch.txt', '--steps', '3', '--wait', '--json', '--out', 'batch-out'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const docs = JSON.parse(r.stdout) as Array<{ state: string; files: string[]; node: { instanceId: string } | null }>;
    expect(docs).toHaveLength(25);
    expect(docs.every((d) => d.state === 'succeeded' && d.node?.instanceId === worker!.instanceId)).toBe(true);
    const files = docs.flatMap((d) => d.files);
    expect(files).toHaveLength(25);
    const sizes = files.map((f) => pngSize(readFileSync(f)));
    expect(sizes.filter((s) => s?.width === 32 && s.height === 48)).toHaveLength(5);
    expect(sizes.filter((s) => s?.width === 64 && s.height === 64)).toHaveLength(20);
    expect(r.stderr).toContain('Submitted 25 of 25 jobs');
    expect(r.stderr.trim().split('\n').at(-1)).toBe('25/25 done  0 running  0 queued  0 failed');
  }, 150_000);

  it('the node record the runtime wrote matches schema/node.v1.schema.json, and liveNodes reads it', async () => {
    const r = await fluxer(['generate', 'a node record', '--size', '64x64', '--steps', '2', '--wait', '--out', 'record-out']);
    expect(r.code, r.stderr).toBe(0);
    const listed = await awsCli('s3api', 'list-objects-v2', '--bucket', names.bucket, '--prefix', 'fluxer/nodes/');
    const keys: string[] = (listed.Contents ?? []).map((o: { Key: string }) => o.Key);
    expect(keys).toHaveLength(1);
    const out = join(cwd, 'node-record.json');
    let record: any = {};
    for (let i = 0; i < 40 && !(record.jobs?.succeeded > 0); i++) {
      // the record is rewritten every FLUXER_NODE_RECORD_SECONDS (5 here): wait for one after the job
      if (i) await new Promise((done) => setTimeout(done, 250));
      await awsCli('s3api', 'get-object', '--bucket', names.bucket, '--key', keys[0]!, out);
      record = JSON.parse(readFileSync(out, 'utf8'));
    }
    const { default: ajvModule } = await import('ajv/dist/2020.js');
    const { default: formats } = await import('ajv-formats');
    const Ajv2020 = (ajvModule as any).default ?? ajvModule;
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    ((formats as any).default ?? formats)(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(new URL('../../schema/node.v1.schema.json', import.meta.url), 'utf8')));
    expect(validate(record), JSON.stringify(validate.errors)).toBe(true);
    expect(record.state).toMatch(/^(READY|BUSY)$/);
    expect(record.jobs.succeeded).toBeGreaterThan(0);
    expect(record.histograms.generationSeconds.count).toBeGreaterThanOrEqual(record.imagesDone);
    const { liveNodes } = await import('../../src/core/submit.js');
    const { createAwsClients } = await import('../../src/aws/factory.js');
    const clients = createAwsClients({ region: 'us-east-1', endpointConfig: endpoint, env: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }, userAgent: 'e2e' });
    try {
      const live = await liveNodes(await clients.s3(), { bucket: names.bucket, prefix: 'fluxer/' }, Date.now());
      // the worker goes on with this file's other jobs meanwhile: its counts only grow
      expect(live.map((n) => [n.instanceId, n.release ?? null])).toEqual([[record.instanceId, null]]);
      expect(live[0]!.jobs!.succeeded).toBeGreaterThanOrEqual(record.jobs.succeeded);
    } finally {
      clients.close();
    }
  }, 60_000);
});
