// `fluxer generate` in-process against moto (no runtime here: the end-to-end file runs the real one).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SQSClient, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { BIN, runBin, runCli, stderrWatch, testEnv } from '../support/cli.js';
import { expectStatusDoc } from '../support/status-schema.js';

const endpoint = inject('motoEndpoint');
const cfg = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
const s3 = new S3Client({ ...cfg, forcePathStyle: true });
const sqs = new SQSClient(cfg);
const cwd = mkdtempSync(join(tmpdir(), 'fluxer-gen-cmd-'));

beforeAll(() => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'testing');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'testing');
});

/** A fresh queue and bucket made by `fluxer setup`, so test files never share state. */
async function stack(extra: NodeJS.ProcessEnv = {}) {
  const suffix = randomBytes(4).toString('hex');
  const env = testEnv({ FLUXER_QUEUE_NAME: `cmd-gen-q-${suffix}`, FLUXER_BUCKET: `cmd-gen-bkt-${suffix}`, FLUXER_MODEL: 'tiny', FLUXER_ENDPOINT_URL: endpoint, USER: 'tester', ...extra });
  const setup = await runCli(['setup', '--json'], { env, cwd });
  expect(setup.code, setup.stderr).toBe(0);
  const queueUrl: string = JSON.parse(setup.stdout).resources.find((r: { type: string }) => r.type === 'queue').url;
  const bucket = env.FLUXER_BUCKET!;
  return {
    env,
    queueUrl,
    bucket,
    run: (argv: string[], opts: Parameters<typeof runCli>[1] = {}) => runCli(argv, { cwd, ...opts, env: { ...env, ...opts.env } }),
    async messages(): Promise<any[]> {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
      return (out.Messages ?? []).map((m) => JSON.parse(m.Body!));
    },
    async depth(): Promise<number> {
      const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
      return Number(out.Attributes?.ApproximateNumberOfMessages);
    },
    async status(id: string): Promise<any> {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `fluxer/jobs/${id}/status.json` }));
      return expectStatusDoc(JSON.parse(await out.Body!.transformToString()));
    },
    put: (key: string, body: unknown) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(body) })),
  };
}

describe('fluxer generate: submit', () => {
  it('writes the queued status, sends the job, prints the id on stdout and the estimate on stderr', async () => {
    const s = await stack();
    const r = await s.run(['generate', 'a red fox', '--seed', '42', '--size', '32x48']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.stderr).toContain(`Submitted job ${id}: tiny 32x48, 4 steps, guidance 3.5, seed 42, 1 image`);
    expect(r.stderr).toContain('Queue: no jobs ahead; no live nodes');
    expect(await s.status(id)).toMatchObject({ id, state: 'queued', attempt: 1, model: 'tiny', progress: { step: 0, steps: 4, image: 1, count: 1 } });
    const [body] = await s.messages();
    expect(body).toMatchObject({ version: 1, id, prompt: 'a red fox', model: 'tiny', width: 32, height: 48, steps: 4, guidance: 3.5, seed: 42, count: 1, output: { bucket: s.bucket, prefix: 'fluxer/' } });
    expect(body.submittedBy).toMatch(/^tester@/);
  });

  it('a random seed is chosen and printed when --seed is omitted', async () => {
    const s = await stack();
    const r = await s.run(['generate', 'x']);
    const seed = Number(/seed (\d+)/.exec(r.stderr)![1]);
    expect((await s.messages())[0].seed).toBe(seed);
  });

  it('--json: one document with the id, the job and the queue estimate; live nodes are recent, non-stopped node records', async () => {
    const s = await stack();
    const now = Date.now();
    await s.put('fluxer/nodes/i-live.json', { instanceId: 'i-live', lastSeenAt: new Date(now - 30_000).toISOString(), state: 'READY' });
    // Staleness is judged on S3's LastModified (test/unit/live-nodes.test.ts): a record written just
    // now counts whatever its lastSeenAt says, so a skewed node clock does not hide a live node.
    await s.put('fluxer/nodes/i-skewed.json', { instanceId: 'i-skewed', lastSeenAt: new Date(now - 5 * 60_000).toISOString(), state: 'READY' });
    await s.put('fluxer/nodes/i-stopped.json', { instanceId: 'i-stopped', lastSeenAt: new Date(now).toISOString(), state: 'STOPPED' });
    await s.run(['generate', 'ahead of us']);
    const r = await s.run(['generate', 'a cat', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ state: 'queued', job: { prompt: 'a cat', model: 'tiny' }, queue: { messagesAhead: 1, liveNodes: 2 } });
    expect(doc.id).toBe(doc.job.id);
    expect(r.stderr).toContain('Queue: ~1 job ahead; 2 live nodes');
  });

  it.each([
    [['--size', '1000x1000', '--model', 'flux-dev'], /^Error: --size 1000x1000: width 1000 must be a multiple of 16/m],
    [['--steps', '500', '--model', 'flux-dev'], /^Error: --steps 500: must be at most 100 for flux-dev$/m],
    [['--steps', 'many'], /^Error: --steps "many": not a number$/m],
    [['--size', 'big'], /^Error: --size "big": expected WIDTHxHEIGHT/m],
    [['--model', 'dalle'], /^Error: --model dalle: must be one of: flux-dev, flux-schnell, sdxl, tiny$/m],
    [['--negative', 'blur', '--model', 'flux-schnell'], /^Error: --negative: flux-schnell does not take a negative prompt$/m],
    [['--count', '9'], /^Error: --count 9: must be at most 8$/m],
    [['--out', 'x'], /^Error: --out only applies with --wait$/m],
  ])('bad input %j: exit 2, the flag named, nothing sent', async (args, message) => {
    const s = await stack();
    const r = await s.run(['generate', 'a fox', ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(await s.depth()).toBe(0);
  });

  it('no bucket configured: exit 2 before any AWS call; a missing queue: exit 1 pointing at `fluxer setup`', async () => {
    const noBucket = await runCli(['generate', 'x'], { env: testEnv({ FLUXER_ENDPOINT_URL: 'http://127.0.0.1:9' }), cwd });
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toContain('has no bucket configured');
    const s = await stack();
    const r = await runCli(['generate', 'x'], { env: { ...s.env, FLUXER_QUEUE_NAME: 'no-such-queue-here' }, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: The job queue "no-such-queue-here" does not exist');
    expect(r.stderr).toContain('fluxer setup');
  });
});

describe('fluxer generate --batch', () => {
  it('23 jobs: every id printed in order, 23 messages and 23 queued statuses', async () => {
    const s = await stack();
    writeFileSync(join(cwd, 'b23.txt'), Array.from({ length: 23 }, (_, i) => `prompt ${i}`).join('\n'));
    const r = await s.run(['generate', '--batch', 'b23.txt', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ids: string[] = JSON.parse(r.stdout);
    expect(ids).toHaveLength(23);
    expect([...ids].sort()).toEqual(ids);
    expect(await s.depth()).toBe(23);
    expect((await s.status(ids[22]!)).state).toBe('queued');
    expect(r.stderr).toContain('Submitted 23 of 23 jobs');
  });

  it('one bad line: exit 2 naming the line, and nothing at all is sent', async () => {
    const s = await stack();
    writeFileSync(join(cwd, 'bad.jsonl'), 'fine\nfine too\n{"prompt": "x", "steps": 99}\n');
    const r = await s.run(['generate', '--batch', 'bad.jsonl']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: bad\.jsonl line 3: steps 99 must be at most 50 for tiny$/m);
    expect(await s.depth()).toBe(0);
  });

  it('a file with invalid UTF-8 is refused naming the line (exit 2), from a file or stdin, and nothing is sent', async () => {
    const s = await stack();
    // Line 3 holds a Latin-1 "é" (0xE9), which is not UTF-8; read as UTF-8 it would become U+FFFD.
    const bytes = Buffer.concat([Buffer.from('a fox\n{"prompt": "a café"}\nun caf'), Buffer.from([0xe9]), Buffer.from('\nok\n')]);
    writeFileSync(join(cwd, 'latin1.txt'), bytes);
    const r = await s.run(['generate', '--batch', 'latin1.txt']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: latin1\.txt line 3: not valid UTF-8 \(byte 0xe9 at column 7\)/m);
    expect(await s.depth()).toBe(0);
    const piped = await runBin(['generate', '--batch', '-'], { env: s.env, cwd, input: bytes });
    expect(piped.code).toBe(2);
    expect(piped.stderr).toMatch(/^Error: stdin line 3: not valid UTF-8/m);
    expect(await s.depth()).toBe(0);
  });

  it('PROMPT and --batch together, or neither: exit 2', async () => {
    const s = await stack();
    expect((await s.run(['generate', 'x', '--batch', 'b23.txt'])).code).toBe(2);
    const none = await s.run(['generate']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('PROMPT is required (or --batch FILE)');
  });

  it('--batch - reads prompts from stdin (as a child process, as in a pipeline)', async () => {
    const s = await stack();
    const r = await runBin(['generate', '--batch', '-'], { env: s.env, cwd, input: 'one\ntwo\n{"prompt":"three","count":2}\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
    expect((await s.messages()).map((m) => m.count).sort()).toEqual([1, 1, 2]);
  });
});

describe('fluxer generate --wait (no node running)', () => {
  it('Ctrl-C: exit 130, the job keeps its queued status, the hint says how to resume', async () => {
    const s = await stack();
    const ac = new AbortController();
    const watch = stderrWatch();
    const pending = s.run(['generate', 'x', '--wait'], { signal: ac.signal, onStderr: watch.onStderr });
    // Interrupt once the job is submitted and the wait has begun (its first state line), not after a guess.
    await watch.seen(/^queued$/m);
    ac.abort(new Error('interrupted'));
    const r = await pending;
    expect(r.code).toBe(130);
    const id = /Submitted job (\S+):/.exec(r.stderr)![1]!;
    expect(r.stderr).toContain(`Hint: Resume with \`fluxer jobs tail ${id}\``);
    expect((await s.status(id)).state).toBe('queued');
    expect(await s.depth()).toBe(1);
  });

  it('a real Ctrl-C (SIGINT) to bin/fluxer: exit 130 and the resume hint', async () => {
    const s = await stack();
    const child = spawn(process.execPath, [BIN, 'generate', 'x', '--wait'], { cwd, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/^queued$/m.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code).toBe(130);
    const id = /Submitted job (\S+):/.exec(stderr)![1]!;
    expect(stderr).toContain(`Hint: Resume with \`fluxer jobs tail ${id}\``);
  });

  it('--wait says once that no node has picked the job up, and points at fluxer doctor', async () => {
    const s = await stack();
    const r = await s.run(['generate', 'x', '--wait', '--timeout', '3s'], { env: { FLUXER_PICKUP_HINT_SECONDS: '1' } });
    expect(r.code).toBe(8);
    const hints = r.stderr.split('\n').filter((l) => l.startsWith('No node has picked up job'));
    expect(hints).toHaveLength(1);
    expect(hints[0]).toContain('`fluxer doctor`');
    expect(hints[0]).toContain(`s3://${s.bucket}/fluxer/`);
  });

  it('--timeout: exit 8 while queued; under --json the error document names the code', async () => {
    const s = await stack();
    const r = await s.run(['generate', 'x', '--wait', '--timeout', '1s', '--json']);
    expect(r.code).toBe(8);
    const doc = JSON.parse(r.stdout);
    expect(doc.error).toMatchObject({ code: 'StillPending', exitCode: 8 });
    expect(doc.error.hint).toMatch(/fluxer jobs tail [0-9a-f-]{36}/);
  });
});
