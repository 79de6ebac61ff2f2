// `spot launch` on a stack with no promoted runtime release: the local build is published as the
// stack's first release (the publish library, as `runtime publish` does) before the launch, and the
// command says so. The wheelhouse is a tiny local package (FLUXER_RELEASE_REQUIREMENTS), as in
// runtime-publish.test.ts: the runtime's real dependencies are hundreds of MB from PyPI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const accessKeyId = `spotrelease${randomBytes(3).toString('hex')}`;
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

function tinyRequirements(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-tinydep-'));
  mkdirSync(join(dir, 'tinydep'));
  writeFileSync(join(dir, 'tinydep', '__init__.py'), 'VERSION = "1.0"\n');
  writeFileSync(join(dir, 'pyproject.toml'), '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "tinydep"\nversion = "1.0"\n');
  writeFileSync(join(dir, 'requirements.txt'), `${dir}\n`);
  return join(dir, 'requirements.txt');
}

it('a stack\'s first launch publishes the local build as its first release and says so', async () => {
  const stack = unique('slr');
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-spot-release-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: unique('slr-bkt'), prefix: 'p/', instanceTypes: ['g5.xlarge'] } } }));
  const env = testEnv({ AWS_ACCESS_KEY_ID: accessKeyId, XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'fluxer-state-')), FLUXER_RELEASE_REQUIREMENTS: tinyRequirements() });
  expect((await runCli(['setup', '--yes', '--endpoint-url', endpoint], { cwd, env })).code).toBe(0);
  const r = await runCli(['spot', 'launch', '--yes', '--json', '--retry-failed-pools', '--endpoint-url', endpoint], { cwd, env });
  expect(r.code, r.stderr).toBe(0);
  const said = /Published the local build as the stack's first runtime release (\S+) /.exec(r.stderr);
  expect(said, r.stderr).not.toBeNull();
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', 'ssm', 'get-parameter', '--name', `/fluxer/${stack}/runtime-release`], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  expect(JSON.parse(stdout).Parameter.Value).toBe(said![1]);
  expect(JSON.parse(r.stdout).instances).toHaveLength(1);
}, 240_000);
