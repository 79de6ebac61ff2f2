// `fluxer models push` and `models list` against moto: a small diffusers-like folder with one file over
// the multipart threshold (so parts, their retries and their clean-up are real S3 calls), read back with
// the SDK and with the real AWS CLI. Faults (a throttled part, a part that always fails, a CLI killed
// mid-upload) are made on the wire by a proxy this file starts for itself (test/support/fault-proxy.ts).
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as s3sdk from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, runCli, testEnv } from '../support/cli.js';
import { startFaultProxy, type FaultProxy, type ProxyReply } from '../support/fault-proxy.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';

const moto = inject('motoEndpoint');
const run = promisify(execFile);
const KEY_ID = `models-${randomBytes(4).toString('hex')}`;
const bucket = `models-${randomBytes(4).toString('hex')}`;
const PREFIX = 'fx/';
const creds = { accessKeyId: KEY_ID, secretAccessKey: 'testing' };
const s3 = new s3sdk.S3Client({ region: 'us-east-1', endpoint: moto, credentials: creds, forcePathStyle: true, maxAttempts: 1 });
const root = mkdtempSync(join(tmpdir(), 'fluxer-models-'));
const cwd = join(root, 'project');
/** A clock whose sleeps return at once: the push's retry backoff takes no time here. */
const instantSleep = { now: () => Date.now(), sleep: async () => {} };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = 70_000_000; // 5 parts of 16 MiB (the last one short): over the 64 MiB multipart threshold

function modelFolder(name: string): { dir: string; files: Record<string, Buffer> } {
  const dir = join(root, name);
  const files: Record<string, Buffer> = {
    'model_index.json': Buffer.from('{"_class_name": "StableDiffusionXLPipeline"}\n'),
    'scheduler/scheduler_config.json': Buffer.from('{"num_train_timesteps": 1000}\n'),
    'text_encoder/config.json': Buffer.from('{"hidden_size": 64}\n'),
    'unet/config.json': Buffer.from('{"sample_size": 32}\n'),
    'unet/diffusion_pytorch_model.safetensors': randomBytes(BIG),
  };
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  // Hidden entries are not model files.
  mkdirSync(join(dir, '.git'), { recursive: true });
  writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(dir, '.gitattributes'), '*.safetensors filter=lfs\n');
  return { dir, files };
}

const env = (extra: NodeJS.ProcessEnv = {}) => testEnv({ AWS_ACCESS_KEY_ID: KEY_ID, ...extra });
const push = (dir: string, model: string, ...flags: string[]) => runCli(['models', 'push', dir, '--model', model, '--endpoint-url', moto, '--json', ...flags], { cwd, env: env(), clock: instantSleep });
const listModels = async () => JSON.parse((await runCli(['models', 'list', '--endpoint-url', moto, '--json'], { cwd, env: env() })).stdout);

async function awsCli(...args: string[]): Promise<string> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', moto, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return stdout;
}

async function uploadsInFlight(prefix: string): Promise<string[]> {
  return ((await s3.send(new s3sdk.ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? []).map((u) => u.Key!);
}

async function manifestText(model: string): Promise<string | undefined> {
  try {
    return await (await s3.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: `${PREFIX}models/${model}/manifest.json` }))).Body!.transformToString();
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** The manifest checked by the Python jsonschema the runtime uses, against the same schema file. */
async function pythonValidates(doc: string): Promise<string> {
  const code = 'import json,sys,jsonschema\ns=json.load(open(sys.argv[1]))\njsonschema.Draft202012Validator(s, format_checker=jsonschema.FormatChecker()).validate(json.loads(sys.stdin.read()))\nprint("ok")';
  return new Promise((resolve, reject) => {
    const child = spawn(join(VENV_BIN, 'python'), ['-c', code, join(REPO_ROOT, 'schema', 'model-manifest.v1.schema.json')]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
    child.stdin.end(doc);
  });
}

const s3Error = (status: number, code: string): ProxyReply => ({ status, headers: { 'content-type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} (fault proxy)</Message></Error>` });
const partNumber = (path: string) => Number(/[?&]partNumber=(\d+)/.exec(path)?.[1] ?? 0);

beforeAll(async () => {
  mkdirSync(cwd, { recursive: true });
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'dev', stacks: { dev: { region: 'us-east-1', bucket, prefix: PREFIX } } }));
  await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fluxer models push', () => {
  const sdxl = modelFolder('sdxl');

  it('uploads every file with its sha256 as metadata, multipart for the large one, then a valid manifest that lists them', async () => {
    const r = await push(sdxl.dir, 'sdxl');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const total = Object.values(sdxl.files).reduce((n, b) => n + b.length, 0);
    expect(doc).toMatchObject({ model: 'sdxl', bucket, prefix: 'fx/models/sdxl/', files: 5, uploaded: 5, skipped: 0, bytesUploaded: total, totalBytes: total, manifestKey: 'fx/models/sdxl/manifest.json', manifestWritten: true });
    expect(doc.seconds).toBeGreaterThan(0);
    // Piped: no progress bar, no escape codes.
    expect(r.stderr).not.toMatch(/█|\r|\u001b\[/);

    const listed = (await s3.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: 'fx/models/sdxl/' }))).Contents!.map((o) => o.Key).sort();
    expect(listed).toEqual([...Object.keys(sdxl.files).map((p) => `fx/models/sdxl/files/${p}`), 'fx/models/sdxl/manifest.json'].sort());
    for (const [path, body] of Object.entries(sdxl.files)) {
      const head = await s3.send(new s3sdk.HeadObjectCommand({ Bucket: bucket, Key: `fx/models/sdxl/files/${path}` }));
      expect(head.Metadata?.sha256, path).toBe(sha(body));
      expect(head.ContentLength).toBe(body.length);
    }
    // The large file went up in 5 parts (a multipart ETag names its part count).
    const big = await s3.send(new s3sdk.HeadObjectCommand({ Bucket: bucket, Key: 'fx/models/sdxl/files/unet/diffusion_pytorch_model.safetensors' }));
    expect(big.ETag).toMatch(/-5"$/);
    expect(await uploadsInFlight('fx/models/sdxl/')).toEqual([]);

    const manifest = await manifestText('sdxl');
    const m = JSON.parse(manifest!);
    expect(m).toMatchObject({ version: 1, model: 'sdxl', totalBytes: total });
    expect(m.files).toEqual(Object.keys(sdxl.files).sort().map((path) => ({ path, size: sdxl.files[path]!.length, sha256: sha(sdxl.files[path]!) })));
    expect(await pythonValidates(manifest!)).toBe('ok');

    expect(await listModels()).toEqual([{ model: 'sdxl', state: 'complete', files: 5, totalBytes: total, createdAt: m.createdAt, manifestKey: 'fx/models/sdxl/manifest.json' }]);
    const table = await runCli(['models', 'list', '--endpoint-url', moto], { cwd, env: env() });
    expect(table.stdout).toBe(`MODEL\tSTATE\tFILES\tSIZE\tCREATED\nsdxl\tcomplete\t5\t${total}\t${m.createdAt}\n`);
  });

  it('on a terminal, a progress bar redrawn in place on stderr', async () => {
    const tiny = modelFolder('tiny-tty');
    const r = await runCli(['models', 'push', tiny.dir, '--model', 'tiny', '--endpoint-url', moto], { cwd, env: env(), clock: instantSleep, tty: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\r\u001b\[2KHashing /);
    expect(r.stderr).toMatch(/\r\u001b\[2K\[█{20}\] 70\.0 MB \/ 70\.0 MB {2}100% {2}files 5\/5/);
    expect(r.stdout).toMatch(/^model {5}tiny\nlocation  s3:\/\/\S+\/fx\/models\/tiny\/\nfiles {5}5: 5 uploaded, 0 already there\n/);
  });

  it('what the real AWS CLI sees: the sha256 metadata, and a download whose sha256 matches', async () => {
    const key = 'fx/models/sdxl/files/unet/diffusion_pytorch_model.safetensors';
    const head = JSON.parse(await awsCli('s3api', 'head-object', '--bucket', bucket, '--key', key));
    expect(head.Metadata).toEqual({ sha256: sha(sdxl.files['unet/diffusion_pytorch_model.safetensors']!) });
    const out = join(root, 'downloaded.safetensors');
    await awsCli('s3', 'cp', `s3://${bucket}/${key}`, out);
    expect(sha(readFileSync(out))).toBe(head.Metadata.sha256);
  });

  it('a second push uploads nothing and leaves the manifest as it was', async () => {
    const before = await manifestText('sdxl');
    const r = await push(sdxl.dir, 'sdxl');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ files: 5, uploaded: 0, skipped: 5, bytesUploaded: 0, manifestWritten: false, uploadedFiles: [] });
    expect(await manifestText('sdxl')).toBe(before);
  });

  it('a changed file needs --yes when not on a terminal (nothing written), then only that file is uploaded and the manifest updated', async () => {
    const changed = Buffer.from('{"num_train_timesteps": 500}\n');
    writeFileSync(join(sdxl.dir, 'scheduler/scheduler_config.json'), changed);
    const before = await manifestText('sdxl');

    const refused = await push(sdxl.dir, 'sdxl');
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error.message).toMatch(/--yes/);
    expect(await manifestText('sdxl')).toBe(before);

    const dry = await push(sdxl.dir, 'sdxl', '--dry-run');
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, uploaded: 1, uploadedFiles: ['scheduler/scheduler_config.json'], manifestWritten: true });
    expect(await manifestText('sdxl')).toBe(before);

    const r = await push(sdxl.dir, 'sdxl', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ uploaded: 1, skipped: 4, bytesUploaded: changed.length, uploadedFiles: ['scheduler/scheduler_config.json'], manifestWritten: true });
    const m = JSON.parse((await manifestText('sdxl'))!);
    expect(m.files.find((f: { path: string }) => f.path === 'scheduler/scheduler_config.json')).toEqual({ path: 'scheduler/scheduler_config.json', size: changed.length, sha256: sha(changed) });
    const head = await s3.send(new s3sdk.HeadObjectCommand({ Bucket: bucket, Key: 'fx/models/sdxl/files/scheduler/scheduler_config.json' }));
    expect(head.Metadata?.sha256).toBe(sha(changed));
  });
});

describe('faults on the wire', () => {
  let proxy: FaultProxy;
  const model = modelFolder('flux');
  const viaProxy = (m: string, ...flags: string[]) =>
    runCli(['models', 'push', model.dir, '--model', m, '--endpoint-url', proxy.endpoint, '--json', ...flags], { cwd, env: env(), clock: instantSleep });

  beforeAll(async () => {
    proxy = await startFaultProxy({ upstream: moto });
  });
  afterAll(() => proxy.stop());

  it('a part that fails for good aborts its multipart upload: no incomplete upload, no manifest', async () => {
    proxy.intercept = (req) => (req.method === 'PUT' && partNumber(req.path) === 3 ? s3Error(403, 'AccessDenied') : undefined);
    const r = await viaProxy('flux-dev');
    proxy.intercept = undefined;
    expect(r.code).toBe(4);
    expect(proxy.requests.some((q) => q.method === 'DELETE' && /[?&]uploadId=/.test(q.path))).toBe(true);
    expect(await uploadsInFlight('fx/models/flux-dev/')).toEqual([]);
    expect(await manifestText('flux-dev')).toBeUndefined();
    expect((await listModels()).find((m: { model: string }) => m.model === 'flux-dev')).toMatchObject({ state: 'incomplete', createdAt: null });
    proxy.requests.length = 0;
  });

  it('a throttled part is retried and the push completes', async () => {
    let throttled = 0;
    proxy.intercept = (req) => (req.method === 'PUT' && partNumber(req.path) === 2 && throttled++ < 2 ? s3Error(503, 'SlowDown') : undefined);
    const r = await viaProxy('flux-dev');
    proxy.intercept = undefined;
    expect(r.code, r.stderr).toBe(0);
    expect(throttled).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ manifestWritten: true });
    expect(await uploadsInFlight('fx/models/flux-dev/')).toEqual([]);
    proxy.requests.length = 0;
  });

  it('a CLI killed mid-multipart leaves no manifest; the next push aborts the stale upload and completes', async () => {
    let heldPart!: () => void;
    const partHeld = new Promise<void>((resolve) => (heldPart = resolve));
    // Parts 1 and 2 go through; part 3 is held, so the upload is surely in flight when the CLI dies.
    proxy.intercept = (req) => {
      if (req.method === 'PUT' && partNumber(req.path) >= 3) {
        heldPart();
        return new Promise<ProxyReply>(() => {});
      }
      return undefined;
    };
    const child = spawn(process.execPath, [BIN, 'models', 'push', model.dir, '--model', 'flux-schnell', '--endpoint-url', proxy.endpoint, '--concurrency', '2'], { cwd, env: env(), stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await partHeld;
    expect(await uploadsInFlight('fx/models/flux-schnell/')).toEqual(['fx/models/flux-schnell/files/unet/diffusion_pytorch_model.safetensors']);
    child.kill('SIGKILL');
    await exited;
    proxy.intercept = undefined;
    expect(await manifestText('flux-schnell')).toBeUndefined();
    expect((await listModels()).find((m: { model: string }) => m.model === 'flux-schnell')).toMatchObject({ state: 'incomplete' });

    const r = await runCli(['models', 'push', model.dir, '--model', 'flux-schnell', '--endpoint-url', moto, '--json'], { cwd, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ abortedUploads: 1, manifestWritten: true, uploadedFiles: expect.arrayContaining(['unet/diffusion_pytorch_model.safetensors']) });
    // Files that made it before the kill are not sent again (the worker that took the large file had finished one).
    expect(doc.skipped).toBeGreaterThanOrEqual(1);
    expect(doc.skipped + doc.uploaded).toBe(5);
    expect(await uploadsInFlight('fx/models/flux-schnell/')).toEqual([]);
    expect(await pythonValidates((await manifestText('flux-schnell'))!)).toBe('ok');
  });

  it('replacing a file the manifest names deletes the manifest first and writes the new one last', async () => {
    writeFileSync(join(model.dir, 'text_encoder/config.json'), '{"hidden_size": 32}\n');
    proxy.requests.length = 0;
    const r = await viaProxy('flux-schnell', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ uploaded: 1, uploadedFiles: ['text_encoder/config.json'] });
    const writes = proxy.requests.filter((q) => q.method === 'PUT' || q.method === 'DELETE' || q.method === 'POST').map((q) => `${q.method} ${q.path.replace(/^\/[^/]+\/fx\/models\/flux-schnell\//, '').replace(/\?.*/, '')}`);
    expect(writes).toEqual(['DELETE manifest.json', 'PUT files/text_encoder/config.json', 'PUT manifest.json']);
    // Only the manifest that was read is deleted (another push's newer one is not).
    expect(proxy.requests.find((q) => q.method === 'DELETE')!.headers['if-match']).toMatch(/^"[0-9a-f]{32}"$/);
    proxy.requests.length = 0;
  });
});
