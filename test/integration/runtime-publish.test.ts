// `fluxer runtime publish` against moto. What is real: pip builds the runtime's wheel from gpu-runtime/
// (the project's .venv python) and a wheelhouse from a requirements file; the files land in moto's S3
// and the promotion in moto's SSM, read back with the AWS CLI. What is not: the default wheelhouse
// (the runtime's dependencies from PyPI, hundreds of MB): FLUXER_RELEASE_REQUIREMENTS points pip at a
// tiny local package instead, built offline.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as s3sdk from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const endpoint = inject('motoEndpoint');
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
const s3 = new s3sdk.S3Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, forcePathStyle: true, maxAttempts: 1 });

async function awsCliText(...args: string[]): Promise<string> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return stdout;
}

async function awsCli(...args: string[]): Promise<any> {
  const stdout = await awsCliText(...args);
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

/** A requirements file naming one tiny local package (built offline by pip). */
function requirements(version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-tinydep-'));
  mkdirSync(join(dir, 'tinydep'));
  writeFileSync(join(dir, 'tinydep', '__init__.py'), `VERSION = "${version}"\n`);
  writeFileSync(join(dir, 'pyproject.toml'), `[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "tinydep"\nversion = "${version}"\n`);
  const file = join(dir, 'requirements.txt');
  writeFileSync(file, `${dir}\n`);
  return file;
}

describe('fluxer runtime publish', () => {
  const stack = unique('rel');
  const bucket = unique('rel-bkt');
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-publish-'));
  const reqV1 = requirements('1.0');
  const publish = (req: string, ...args: string[]) =>
    runCli(['runtime', 'publish', '--endpoint-url', endpoint, '--json', ...args], { cwd, env: testEnv({ FLUXER_RELEASE_REQUIREMENTS: req }) });
  const promoted = async () => (await awsCli('ssm', 'get-parameter', '--name', `/fluxer/${stack}/runtime-release`)).Parameter.Value;

  beforeAll(async () => {
    writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket, prefix: 'p/' } } }));
    await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
  });

  it('--dry-run builds and reports, and uploads and promotes nothing', async () => {
    const r = await publish(reqV1, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true, uploaded: true, promoted: true, previous: null });
    expect((await s3.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket }))).KeyCount ?? 0).toBe(0);
    await expect(awsCli('ssm', 'get-parameter', '--name', `/fluxer/${stack}/runtime-release`)).rejects.toThrow(/ParameterNotFound/);
  });

  it('the first release is uploaded with SHA256SUMS and promoted; publishing it again is a no-op', async () => {
    const r = await publish(reqV1);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.id).toMatch(/^0\.1\.0-[0-9a-f]{12}$/);
    expect(doc).toMatchObject({ uploaded: true, promoted: true, previous: null, prefix: `p/releases/${doc.id}/` });
    expect(doc.files.map((f: any) => f.name)).toEqual(['fluxer_runtime-0.1.0-py3-none-any.whl', 'wheelhouse/tinydep-1.0-py3-none-any.whl']);
    expect(doc.files.map((f: any) => f.name).join()).not.toMatch(/torch/);

    const listed = await awsCli('s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', doc.prefix);
    expect(listed.Contents.map((o: any) => o.Key).sort()).toEqual([`${doc.prefix}SHA256SUMS`, `${doc.prefix}fluxer_runtime-0.1.0-py3-none-any.whl`, `${doc.prefix}wheelhouse/tinydep-1.0-py3-none-any.whl`]);
    // The sums file verifies what is in S3, as a node would check it.
    const dl = mkdtempSync(join(tmpdir(), 'fluxer-release-dl-'));
    await awsCliText('s3', 'cp', '--recursive', `s3://${bucket}/${doc.prefix}`, dl);
    for (const line of readFileSync(join(dl, 'SHA256SUMS'), 'utf8').trim().split('\n')) {
      const [sum, name] = line.split('  ');
      expect(createHash('sha256').update(readFileSync(join(dl, name!))).digest('hex')).toBe(sum);
    }
    // The wheel carries the job schema.
    const { stdout: entries } = await run(join(VENV_BIN, 'python'), ['-m', 'zipfile', '-l', join(dl, 'fluxer_runtime-0.1.0-py3-none-any.whl')]);
    expect(entries).toContain('fluxer_runtime/job.v1.schema.json');
    expect(await promoted()).toBe(doc.id);

    const again = JSON.parse((await publish(reqV1)).stdout);
    expect(again).toMatchObject({ id: doc.id, uploaded: false, promoted: false, previous: doc.id });
  });

  it('different content is a different release, promoted only with --promote', async () => {
    const first = await promoted();
    const reqV2 = requirements('2.0');
    const r = JSON.parse((await publish(reqV2)).stdout);
    expect(r.id).not.toBe(first);
    expect(r).toMatchObject({ uploaded: true, promoted: false, previous: first });
    expect(await promoted()).toBe(first);
    const p = JSON.parse((await publish(reqV2, '--promote')).stdout);
    expect(p).toMatchObject({ id: r.id, uploaded: false, promoted: true, previous: first });
    expect(await promoted()).toBe(r.id);
  });
});
