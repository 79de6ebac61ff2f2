import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it, onTestFinished, vi } from 'vitest';
import { ANSI_ESCAPE, runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fluxer-prod-jobs';
/** A stack's values as a project would set them (config file), plus the queue URL given with --var. */
const STACK = { region: 'eu-west-1', bucket: 'acme-fluxer-images', prefix: 'prod/', model: 'flux-schnell', visibilityTimeout: 600 };
const HF_TOKEN = 'hf_' + 'kQ7vXz2LmN9pR4sT6uW8yA1bC3dE5fG7hJ';
const ACCESS_KEY_ID = 'AKIA' + 'Z7Q2XW4RT9KD3MPL';

let dir: string;
const env = testEnv({ AWS_REGION: '' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fluxer-userdata-'));
  writeFileSync(join(dir, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'prod', stacks: { prod: STACK } }, null, 2));
});

const render = (args: string[], opts: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}) =>
  runCli(['userdata', 'render', ...args], { cwd: dir, env: opts.env ?? env, tty: opts.tty });

/** A template bigger than EC2's limit that gzip brings under it (repetitive, like real config). */
function paddedTemplate(name: string): { path: string; expected: string } {
  const padding = Array.from({ length: 900 }, (_, i) => `      # setting ${i % 50}: keep the defaults of the bundled node image`).join('\n');
  const text = `#cloud-config\nwrite_files:\n  - path: /etc/fluxer/notes\n    content: |\n${padding}\n  - path: /etc/fluxer/region\n    content: {{ region }}\n`;
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, expected: text.replace('{{ region }}', 'eu-west-1') };
}

describe('fluxer userdata render', () => {
  it('renders the bundled template with the stack\'s values: a cloud-config under 16,384 bytes that parses as YAML', async () => {
    const r = await render(['--var', `queue_url=${QUEUE_URL}`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith('#cloud-config\n')).toBe(true);
    expect(Buffer.byteLength(r.stdout)).toBeLessThan(16_384);

    const parsed = spawnSync(join(VENV_BIN, 'python'), ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: r.stdout, encoding: 'utf8' });
    expect(parsed.status, parsed.stderr).toBe(0);
    const doc = JSON.parse(parsed.stdout) as { write_files: Array<{ path: string; permissions: string; content: string }>; runcmd: string[][] };
    const envFile = doc.write_files.find((f) => f.path === '/etc/fluxer/runtime.env')!;
    expect(envFile.permissions).toBe('0640');
    const settings = Object.fromEntries(envFile.content.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split(/=(.*)/s).slice(0, 2)));
    expect(settings).toEqual({
      FLUXER_QUEUE_URL: QUEUE_URL,
      FLUXER_REGION: 'eu-west-1',
      FLUXER_BUCKET: 'acme-fluxer-images',
      FLUXER_PREFIX: 'prod/',
      FLUXER_STACK: 'prod',
      FLUXER_MODEL: 'flux-schnell',
      FLUXER_MODEL_DIR: '/opt/fluxer/models',
      FLUXER_HF_TOKEN_PARAMETER: '/fluxer/prod/hf-token',
      FLUXER_HEALTH_PORT: '8787',
      FLUXER_VISIBILITY_SECONDS: '600',
      FLUXER_HEARTBEAT_SECONDS: '30',
      FLUXER_NODE_LIFETIME_MINUTES: '0',
      FLUXER_ASG_NAME: '',
      FLUXER_RELEASE: '',
      FLUXER_IDLE_SECONDS: '',
      FLUXER_SURPLUS_IDLE_SECONDS: '',
    });
    // The unit is templates/fluxer-runtime.service itself, not a copy kept in the template.
    const unit = doc.write_files.find((f) => f.path === '/etc/systemd/system/fluxer-runtime.service')!;
    expect(unit.content.trim()).toBe(readFileSync(join(import.meta.dirname, '../../templates/fluxer-runtime.service'), 'utf8').trim());
    // A runtime that exits before it can report FAILED (an env-file error) must not restart, billed, forever:
    // the [Unit] section's start limit powers the node off after a crash loop.
    const unitSection = /\[Unit\]([\s\S]*?)\n\[/.exec(unit.content)![1]!;
    expect(unitSection).toMatch(/^StartLimitIntervalSec=600$/m);
    expect(unitSection).toMatch(/^StartLimitBurst=5$/m);
    expect(unitSection).toMatch(/^StartLimitAction=poweroff$/m);
    // So is the bootstrap script, which installs the promoted release and starts the unit.
    const script = doc.write_files.find((f) => f.path === '/opt/fluxer/bin/node-bootstrap.sh')!;
    expect(script.content.trim()).toBe(readFileSync(join(import.meta.dirname, '../../templates/node-bootstrap.sh'), 'utf8').trim());
    expect(doc.runcmd).toEqual([['/opt/fluxer/bin/node-bootstrap.sh']]);
  });

  it('--json reports sizes, the variables and where each came from, instead of the user data', async () => {
    const r = await render(['--var', `queue_url=${QUEUE_URL}`, '--var', 'model_dir=/mnt/models', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ template: 'node-bootstrap', limit: 16_384, gzip: false, fits: true, warnings: [] });
    expect(doc.bytes).toBeLessThan(16_384);
    expect(doc.gzippedBytes).toBeLessThan(doc.bytes);
    expect(doc.base64Bytes).toBe(4 * Math.ceil(doc.bytes / 3));
    expect(doc.variables.queue_url).toMatchObject({ value: QUEUE_URL, source: '--var' });
    expect(doc.variables.model_dir).toMatchObject({ value: '/mnt/models', source: '--var' });
    expect(doc.variables.bucket.source).toMatch(/^config bucket \(project file .*fluxer\.config\.json\)$/);
    expect(doc.variables.health_port).toMatchObject({ value: '8787', source: 'template default' });
    expect(doc.variables.bucket.lines).toEqual([14]);
  });

  it('a template over the limit comes out gzipped, says so, and gunzip gives back the script exactly', async () => {
    const { path, expected } = paddedTemplate('padded.yaml');
    expect(Buffer.byteLength(expected)).toBeGreaterThan(16_384);
    const r = await render(['--template', path, '--out', 'padded.gz']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/over EC2's 16,384 bytes limit: gzipped to [\d,]+ bytes/);
    const gz = readFileSync(join(dir, 'padded.gz'));
    expect(gz.length).toBeLessThanOrEqual(16_384);
    expect(gunzipSync(gz).toString('utf8')).toBe(expected);
  });

  it('gives identical bytes on every render, gzip included', async () => {
    const { path } = paddedTemplate('padded2.yaml');
    for (const out of ['a.gz', 'b.gz']) expect((await render(['--template', path, '--out', out])).code).toBe(0);
    expect(readFileSync(join(dir, 'a.gz')).equals(readFileSync(join(dir, 'b.gz')))).toBe(true);
    const [x, y] = await Promise.all([1, 2].map(() => render(['--var', `queue_url=${QUEUE_URL}`, '--gzip', '--base64'])));
    expect(x!.code).toBe(0);
    expect(x!.stdout).toBe(y!.stdout);
    expect(gunzipSync(Buffer.from(x!.stdout, 'base64')).toString()).toContain(`FLUXER_QUEUE_URL=${QUEUE_URL}`);
  });

  it('still over the limit after gzip: exit 2 naming the largest parts', async () => {
    // Random text does not compress.
    const noise = Array.from({ length: 400 }, () => `      ${randomBytes(45).toString('base64')}`).join('\n');
    writeFileSync(join(dir, 'huge.yaml'), `#cloud-config\nwrite_files:\n  - path: /opt/blob\n    content: |\n${noise}\nruncmd:\n  - [true]\n`);
    const r = await render(['--template', 'huge.yaml', '--out', 'huge.out']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: user data is [\d,]+ bytes gzipped \([\d,]+ bytes plain\), over EC2's 16,384 bytes limit/);
    expect(r.stderr).toMatch(/write_files \/opt\/blob \(lines 3-404\): [\d,]+ bytes/);
  });

  it('refuses a secret passed with --var, exit 2, without printing it', async () => {
    const r = await render(['--var', `queue_url=${QUEUE_URL}`, '--var', `hf_token=${HF_TOKEN}`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Error: --var hf_token carries a secret: Hugging Face token hf_…(37 chars)');
    expect(r.stderr).toContain('SSM Parameter Store');
    expect(r.stderr + r.stdout).not.toContain(HF_TOKEN.slice(3, 12));
  });

  it('refuses a secret written in the template itself, naming the line, without printing it', async () => {
    writeFileSync(join(dir, 'leaky.yaml'), `#cloud-config\nruncmd:\n  - [sh, -c, "export AWS_ACCESS_KEY_ID=${ACCESS_KEY_ID}"]\n`);
    const r = await render(['--template', 'leaky.yaml', '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error).toMatchObject({ code: 'SecretInUserData', exitCode: 2 });
    expect(doc.error.message).toBe('template leaky.yaml carries a secret at line 3: AWS access key id AKIA…(20 chars); refusing to render it');
    expect(r.stderr + r.stdout).not.toContain(ACCESS_KEY_ID.slice(4));
  });

  it('an unknown template: exit 2 listing the available names', async () => {
    const r = await render(['--template', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: --template "nope": no such template; available: .*node-bootstrap/);
  });

  it('--var without "=": exit 2 naming the flag and the value', async () => {
    const r = await render(['--var', 'bucket']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: --var "bucket": expected KEY=VALUE/);
  });

  it('a variable with no value: exit 2 naming it and its line, before any AWS call', async () => {
    const r = await runCli(['userdata', 'render', '--var', `queue_url=${QUEUE_URL}`], { cwd: tmpdir(), env: testEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: no value for template variable bucket \(node-bootstrap line 14\)/);
    expect(r.stderr).toContain('Hint: Set "bucket" in the stack\'s config (fluxer.config.json) or pass --var bucket=VALUE.');
  });

  it('a --var the template does not use is a warning; piped output has no escape codes', async () => {
    const r = await render(['--var', `queue_url=${QUEUE_URL}`, '--var', 'colour=blue'], { env: { ...env, FORCE_COLOR: '1' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('Warning: --var colour is not used by template node-bootstrap\n');
    expect(r.stdout + r.stderr).not.toMatch(ANSI_ESCAPE);
  });

  it('a value with a line break is refused: it would inject lines into the env file', async () => {
    const r = await render(['--var', `queue_url=${QUEUE_URL}`, '--var', 'bucket=a\nFLUXER_MODEL=x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: --var bucket: the value contains a line break/);
  });

  it('refuses to print gzip to a terminal; --base64 or --out are fine there', async () => {
    const r = await render(['--var', `queue_url=${QUEUE_URL}`, '--gzip'], { tty: true });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.replace(/\u001b\[[0-9;]*m/g, '')).toContain('Hint: Write it to a file with --out FILE, or pass --base64');
    const b = await render(['--var', `queue_url=${QUEUE_URL}`, '--gzip', '--base64'], { tty: true });
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^H4sI[A-Za-z0-9+/=]+\n$/);
  });

  it('looks the queue URL up with SQS GetQueueUrl when no --var gives it', async () => {
    const endpoint = inject('motoEndpoint');
    const queueName = `fluxer-userdata-${process.pid}-${Date.now()}`;
    const sqs = new SQSClient({ region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    // The SDK's credential chain reads the process environment, not the env runCli hands the context.
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'testing');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'testing');
    onTestFinished(() => void vi.unstubAllEnvs());
    const withQueue = { ...env, AWS_ENDPOINT_URL: endpoint, FLUXER_QUEUE_NAME: queueName };
    const r = await render(['--json'], { env: withQueue });
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).variables.queue_url).toMatchObject({ value: QueueUrl, source: `SQS GetQueueUrl ${queueName}` });

    const missing = await render([], { env: { ...withQueue, FLUXER_QUEUE_NAME: `${queueName}-absent` } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^Error: no value for template variable queue_url \(node-bootstrap line 12\): looking up queue .*-absent failed/);
    expect(missing.stderr).toContain('--var queue_url=https://sqs.eu-west-1.amazonaws.com/<account>/');
  });
});
