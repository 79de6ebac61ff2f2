// `fluxer jobs status|tail|get|logs|cancel|list` in-process against moto. Status documents are written
// here the way the runtime writes them (the real runtime drives these commands in the e2e file).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createUuidV7 } from '../../src/core/ids.js';
import { ANSI_ESCAPE, runCli, stderrWatch, testEnv } from '../support/cli.js';

const endpoint = inject('motoEndpoint');
const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
const cwd = mkdtempSync(join(tmpdir(), 'fluxer-jobs-cmd-'));
const newId = createUuidV7();
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000200000003008060000', 'hex');

beforeAll(() => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'testing');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'testing');
});

async function stack() {
  const suffix = randomBytes(4).toString('hex');
  const env = testEnv({ FLUXER_QUEUE_NAME: `cmd-jobs-q-${suffix}`, FLUXER_BUCKET: `cmd-jobs-bkt-${suffix}`, FLUXER_MODEL: 'tiny', FLUXER_ENDPOINT_URL: endpoint });
  const setup = await runCli(['setup'], { env, cwd });
  expect(setup.code, setup.stderr).toBe(0);
  const bucket = env.FLUXER_BUCKET!;
  const put = (key: string, body: string | Buffer) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return {
    bucket,
    run: (argv: string[], opts: Parameters<typeof runCli>[1] = {}) => runCli(argv, { env, cwd, ...opts }),
    put,
    status: (id: string, state: string, extra: Record<string, unknown> = {}) =>
      put(`fluxer/jobs/${id}/status.json`, JSON.stringify({ id, state, attempt: 1, updatedAt: new Date().toISOString(), model: 'tiny', ...extra })),
    async get(key: string): Promise<string | undefined> {
      try {
        return await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
      } catch {
        return undefined;
      }
    },
  };
}

describe('fluxer jobs status', () => {
  it('prints the document: readable rows, or the document itself with --json', async () => {
    const s = await stack();
    const id = newId();
    await s.status(id, 'failed', { node: { instanceId: 'i-0abc', instanceType: 'g5.xlarge' }, error: { type: 'OutOfMemory', message: 'CUDA out of memory' } });
    const human = await s.run(['jobs', 'status', id]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`id        ${id}`);
    expect(human.stdout).toContain('state     failed');
    expect(human.stdout).toContain('node      i-0abc g5.xlarge');
    expect(human.stdout).toContain('error     OutOfMemory: CUDA out of memory');
    const json = await s.run(['jobs', 'status', id, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id, state: 'failed', error: { type: 'OutOfMemory' } });
  });

  it('an unknown job: exit 1 with a hint; a malformed id: exit 2, nothing sent', async () => {
    const s = await stack();
    const missing = await s.run(['jobs', 'status', newId()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: No job \S+ in s3:\/\//m);
    expect(missing.stderr).toContain('fluxer jobs list');
    const bad = await runCli(['jobs', 'status', 'not-an-id'], { env: testEnv({ FLUXER_BUCKET: 'some-bucket', FLUXER_ENDPOINT_URL: 'http://127.0.0.1:9' }), cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('JOB_ID "not-an-id": not a job id');
  });
});

describe('fluxer jobs logs', () => {
  it('prints the log lines as written when piped or with --json, readable rows on a terminal', async () => {
    const s = await stack();
    const id = newId();
    const lines = [
      JSON.stringify({ ts: '2026-12-01T08:00:00.000Z', level: 'info', msg: 'job started', job_id: id, attempt: 1, size: '64x64' }),
      'Traceback (most recent call last):',
      JSON.stringify({ ts: '2026-12-01T08:00:01.500Z', level: 'warning', msg: 'job finished', job_id: id, attempt: 1, state: 'requeued', error: { type: 'Interrupted' } }),
    ];
    await s.status(id, 'requeued');
    await s.put(`fluxer/jobs/${id}/log.jsonl`, `${lines.join('\n')}\n`);
    const piped = await s.run(['jobs', 'logs', id]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe(`${lines.join('\n')}\n`);
    expect((await s.run(['jobs', 'logs', id, '--json'], { tty: true })).stdout).toBe(piped.stdout);
    const tty = await s.run(['jobs', 'logs', id], { tty: true, env: testEnv({ FLUXER_QUEUE_NAME: 'unused', FLUXER_BUCKET: s.bucket, FLUXER_ENDPOINT_URL: endpoint, NO_COLOR: '1' }) });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout.split('\n')).toEqual([
      '2026-12-01 08:00:00.000  info     job started  attempt=1  size=64x64',
      'Traceback (most recent call last):',
      '2026-12-01 08:00:01.500  warning  job finished  attempt=1  state=requeued  error={"type":"Interrupted"}',
      '',
    ]);
  });

  it('a job with no log: exit 1 saying why; an unknown job: JobNotFound; a malformed id: exit 2', async () => {
    const s = await stack();
    const queued = newId();
    await s.status(queued, 'queued');
    const none = await s.run(['jobs', 'logs', queued]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`Job ${queued} has no log in s3://${s.bucket}/fluxer/jobs/${queued}/log.jsonl: it is queued`);
    expect(none.stderr).toContain(`fluxer jobs tail ${queued}`);
    const json = await s.run(['jobs', 'logs', queued, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'JobLogNotFound', exitCode: 1 } });
    const missing = await s.run(['jobs', 'logs', newId()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: No job \S+ in s3:\/\//m);
    const bad = await runCli(['jobs', 'logs', 'nope'], { env: testEnv({ FLUXER_BUCKET: 'some-bucket', FLUXER_ENDPOINT_URL: 'http://127.0.0.1:9' }), cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('JOB_ID "nope": not a job id');
  });
});

describe('fluxer jobs cancel', () => {
  it('writes the cancel marker for a queued or running job; no confirmation needed', async () => {
    const s = await stack();
    const id = newId();
    await s.status(id, 'running');
    const r = await s.run(['jobs', 'cancel', id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(id);
    expect(r.stderr).toContain('stops at its next step');
    expect(JSON.parse((await s.get(`fluxer/jobs/${id}/cancel`))!)).toMatchObject({ id });
    const queued = newId();
    await s.status(queued, 'queued');
    expect((await s.run(['jobs', 'cancel', queued])).stderr).toContain('it is cancelled when a node picks it up');
  });

  it('a finished job: exit 1 and no marker written', async () => {
    const s = await stack();
    const id = newId();
    await s.status(id, 'succeeded');
    const r = await s.run(['jobs', 'cancel', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Job ${id} already succeeded; nothing to cancel`);
    expect(await s.get(`fluxer/jobs/${id}/cancel`)).toBeUndefined();
  });
});

describe('fluxer jobs get', () => {
  it('downloads every output and prints the paths', async () => {
    const s = await stack();
    const id = newId();
    const keys = [0, 1].map((i) => `fluxer/jobs/${id}/image-${i}.png`);
    for (const k of keys) await s.put(k, PNG);
    await s.status(id, 'succeeded', { outputs: keys });
    const r = await s.run(['jobs', 'get', id, '--out', 'got']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([join(cwd, 'got', `${id}-0.png`), join(cwd, 'got', `${id}-1.png`)]);
    expect(readFileSync(join(cwd, 'got', `${id}-1.png`)).equals(PNG)).toBe(true);
  });

  it('a job with no images yet: exit 1 saying why', async () => {
    const s = await stack();
    const id = newId();
    await s.status(id, 'running');
    const r = await s.run(['jobs', 'get', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Job ${id} has no images to download: it is running`);
    expect(r.stderr).toContain(`fluxer jobs tail ${id}`);
  });
});

describe('fluxer jobs list', () => {
  it('newest first; --state, --limit and --since; TSV when piped, an array with --json', async () => {
    const s = await stack();
    // Its own generator: the shared one never goes back in time (ids stay ordered).
    const hourAgo = createUuidV7()(Date.now() - 3_600_000);
    await s.status(hourAgo, 'succeeded');
    const ids = [newId(), newId(), newId()];
    await s.status(ids[0]!, 'failed', { error: { type: 'Boom', message: 'it broke' } });
    await s.status(ids[1]!, 'running', { progress: { image: 1, count: 2, step: 3, steps: 4 }, node: { instanceId: 'i-1' } });
    await s.status(ids[2]!, 'queued');
    const all = await s.run(['jobs', 'list', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout).map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1], ids[0], hourAgo]);
    const recent = JSON.parse((await s.run(['jobs', 'list', '--since', '30m', '--json'])).stdout);
    expect(recent.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1], ids[0]]);
    const failed = JSON.parse((await s.run(['jobs', 'list', '--state', 'failed', '--json'])).stdout);
    expect(failed).toEqual([expect.objectContaining({ id: ids[0], state: 'failed', error: 'Boom: it broke' })]);
    expect(JSON.parse((await s.run(['jobs', 'list', '--limit', '2', '--json'])).stdout)).toHaveLength(2);
    const table = await s.run(['jobs', 'list', '--limit', '2']);
    expect(table.stdout.split('\n')[0]).toBe('ID\tSTATE\tMODEL\tPROGRESS\tSUBMITTED\tNODE\tERROR');
    expect(table.stdout.split('\n')[2]).toMatch(new RegExp(`^${ids[1]}\\trunning\\ttiny\\t1/2 3/4\\t\\S+\\ti-1\\t$`));
  });

  it('bad flags: exit 2 naming the flag', async () => {
    const s = await stack();
    expect((await s.run(['jobs', 'list', '--state', 'done'])).stderr).toMatch(/--state.*done/);
    const r = await s.run(['jobs', 'list', '--limit', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--limit "0": must be an integer from 1 to 10000');
  });
});

describe('fluxer jobs tail', () => {
  it('on a terminal: a progress bar redrawn on stderr, state changes as lines, the image downloaded at the end', async () => {
    const s = await stack();
    const id = newId();
    await s.status(id, 'queued');
    const watch = stderrWatch();
    const tail = s.run(['jobs', 'tail', id, '--out', 'tty-out'], { tty: true, onStderr: watch.onStderr, env: testEnv({ FLUXER_QUEUE_NAME: 'unused', FLUXER_BUCKET: s.bucket, FLUXER_ENDPOINT_URL: endpoint, TERM: 'xterm' }) });
    const key = `fluxer/jobs/${id}/image-0.png`;
    // Each step is written once the tail has shown the one before (an event, not a sleep).
    await watch.seen(/queued/);
    for (const step of [1, 2, 3]) {
      await s.status(id, 'running', { progress: { image: 1, count: 1, step, steps: 4 }, node: { instanceId: 'i-tty' } });
      await watch.seen(new RegExp(`step ${step}/4`));
    }
    await s.put(key, PNG);
    await s.status(id, 'succeeded', { outputs: [key], progress: { image: 1, count: 1, step: 4, steps: 4 } });
    const r = await tail;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(join(cwd, 'tty-out', `${id}-0.png`));
    expect(r.stderr).toMatch(/\r\u001b\[2K\[█+░*\] image 1\/1 step \d\/4 {2}[\d.]+s.* {2}node i-tty/);
    expect(r.stderr).toContain('succeeded  1 image');
    expect(r.stderr).toMatch(ANSI_ESCAPE);
  });
});
