// templates/node-bootstrap.sh run for real, outside cloud-init, in a temporary root against moto: the
// release that `fluxer runtime publish` put in S3 is downloaded with the real AWS CLI, verified,
// installed offline into a fresh environment that reuses the base Python's packages (here the
// project's .venv stands in for the AMI's torch environment), and `fluxer-runtime selftest` runs from
// it. A corrupted wheel is refused. What is not real here: systemd (FLUXER_START_COMMAND stands in).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as s3sdk from '@aws-sdk/client-s3';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';

const endpoint = inject('motoEndpoint');
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
const s3 = new s3sdk.S3Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, forcePathStyle: true, maxAttempts: 1 });
const SCRIPT = join(REPO_ROOT, 'templates', 'node-bootstrap.sh');

// CommonJS modules: their default export arrives wrapped once or twice depending on the loader
const Ajv2020 = (Ajv2020Module as any).default ?? Ajv2020Module;
const addFormats = (addFormatsModule as any).default ?? addFormatsModule;
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validateNodeRecord = ajv.compile(JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'node.v1.schema.json'), 'utf8')));

describe('templates/node-bootstrap.sh', () => {
  const stack = unique('boot');
  const bucket = unique('boot-bkt');
  let release = '';

  function newRoot(): string {
    const root = mkdtempSync(join(tmpdir(), 'fluxer-node-root-'));
    mkdirSync(join(root, 'etc', 'fluxer'), { recursive: true });
    writeFileSync(join(root, 'etc', 'fluxer', 'runtime.env'), `FLUXER_BUCKET=${bucket}\nFLUXER_PREFIX=p/\nFLUXER_STACK=${stack}\nFLUXER_REGION=us-east-1\nFLUXER_MODEL=tiny\n`);
    return root;
  }

  const bootstrap = (root: string, env: NodeJS.ProcessEnv = {}) =>
    run('bash', [SCRIPT], {
      env: {
        PATH: `${VENV_BIN}:${process.env.PATH}`,
        HOME: '/nonexistent-home',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        FLUXER_ROOT: root,
        FLUXER_ENDPOINT_URL: endpoint,
        FLUXER_BASE_PYTHON: join(VENV_BIN, 'python'),
        FLUXER_START_COMMAND: `touch ${join(root, 'started')}`,
        ...env,
      },
    });

  async function nodeRecord(id: string): Promise<Record<string, unknown>> {
    const out = await s3.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: `p/nodes/${id}.json` }));
    return JSON.parse(await out.Body!.transformToString('utf8'));
  }

  beforeAll(async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fluxer-boot-'));
    writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket, prefix: 'p/' } } }));
    await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
    // An empty wheelhouse: the base environment already holds the runtime's dependencies.
    const req = join(cwd, 'requirements.txt');
    writeFileSync(req, '');
    const r = await runCli(['runtime', 'publish', '--endpoint-url', endpoint, '--json'], { cwd, env: testEnv({ FLUXER_RELEASE_REQUIREMENTS: req }) });
    expect(r.code, r.stderr).toBe(0);
    release = JSON.parse(r.stdout).id;
  }, 120_000);

  it('installs the promoted release offline, switches current, starts, and selftest passes from the installed env', async () => {
    const root = newRoot();
    const { stderr } = await bootstrap(root, { FLUXER_INSTANCE_ID: 'i-0boot' });
    expect(stderr).toContain(`release ${release} is current`);
    const record = await nodeRecord('i-0boot');
    expect(validateNodeRecord(record), JSON.stringify(validateNodeRecord.errors)).toBe(true);
    expect(record).toMatchObject({ instanceId: 'i-0boot', state: 'BOOTSTRAPPING', release, stack, bucket, prefix: 'p/', seq: 1 });
    expect(readlinkSync(join(root, 'opt', 'fluxer', 'current'))).toBe(`releases/${release}`);
    expect(existsSync(join(root, 'started'))).toBe(true);
    const bin = join(root, 'opt', 'fluxer', 'venv', 'bin');
    const { stdout: where } = await run(join(bin, 'python'), ['-c', 'import os, fluxer_runtime; print(os.path.realpath(fluxer_runtime.__file__))']);
    expect(where.trim()).toContain(join(realpathSync(root), 'opt', 'fluxer', 'releases', release, 'venv'));
    const { stdout } = await run(join(bin, 'fluxer-runtime'), ['selftest', '--model', 'tiny', '--device', 'cpu', '--out', join(root, 'selftest.png')], { env: { ...process.env, HOME: root } });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ ok: true, model: 'tiny' });

    // Run again (a reboot, or a baked AMI that holds the release): no download, still current.
    const again = await bootstrap(root, { FLUXER_INSTANCE_ID: 'i-0boot' });
    expect(again.stderr).toContain('already installed: no download');
    expect(await nodeRecord('i-0boot')).toEqual(record); // a rerun never resets the node's record
  }, 180_000);

  it('a corrupted wheel is refused: exit 3, nothing installed, current untouched', async () => {
    const key = `p/releases/${release}/fluxer_runtime-0.1.0-py3-none-any.whl`;
    await s3.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: 'not a wheel' }));
    const root = newRoot();
    const err = await bootstrap(root).then(() => undefined, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(3);
    expect(err?.stderr).toContain('does not match its SHA256SUMS: refused');
    expect(existsSync(join(root, 'opt', 'fluxer', 'current'))).toBe(false);
    expect(existsSync(join(root, 'opt', 'fluxer', 'releases', release))).toBe(false);
    expect(existsSync(join(root, 'started'))).toBe(false);
  });
});
