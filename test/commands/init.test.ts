// `fluxer init`: the wizard (fake prompter on a pretend terminal) and the flag-driven path for CI.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Prompter } from '../../src/cli/prompter.js';
import { runCli, testEnv } from '../support/cli.js';

function workdir(): string {
  return mkdtempSync(join(tmpdir(), 'fluxer-init-'));
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** Answers questions in order by matching their text; records every question asked. */
function scriptedPrompter(answers: Array<[RegExp, string | boolean]>): Prompter & { asked: string[] } {
  const asked: string[] = [];
  const next = (message: string) => {
    asked.push(message);
    const i = answers.findIndex(([re]) => re.test(message));
    if (i < 0) throw new Error(`unexpected question: ${message}`);
    return answers.splice(i, 1)[0]![1];
  };
  return {
    asked,
    confirm: async (message) => next(message) as boolean,
    input: async (message, opts) => {
      const answer = next(message) as string;
      const value = answer === '' ? (opts?.default ?? '') : answer;
      const ok = opts?.validate?.(value);
      if (ok !== undefined && ok !== true) throw new Error(`validation rejected "${value}": ${ok}`);
      return value;
    },
    select: async (message) => next(message) as never,
  };
}

const CI_FLAGS = ['--stack', 'prod', '--region', 'eu-west-1', '--bucket', 'acme-fluxer-prod', '--instance-types', 'g5.xlarge,g6.xlarge', '--max-price', '0.9', '--model', 'sdxl'];

describe('fluxer init with flags (CI)', () => {
  it('writes a config that `fluxer config show` reads back', async () => {
    const cwd = workdir();
    const r = await runCli(['init', ...CI_FLAGS, '--yes', '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ path: join(cwd, 'fluxer.config.json'), stack: 'prod', createdFile: true, defaultStack: 'prod' });
    expect(r.stderr).toContain('fluxer setup');

    // No AWS_REGION in the environment: it would (rightly) win over the file.
    const show = await runCli(['config', 'show', '--json'], { cwd, env: testEnv({ AWS_REGION: '' }) });
    expect(show.code, show.stderr).toBe(0);
    const doc = JSON.parse(show.stdout);
    expect(doc.stack).toBe('prod');
    const file = `project file ${join(cwd, 'fluxer.config.json')}`;
    expect(doc.settings.region).toEqual({ value: 'eu-west-1', source: file });
    expect(doc.settings.bucket).toEqual({ value: 'acme-fluxer-prod', source: file });
    expect(doc.settings.queueName).toEqual({ value: 'fluxer-prod-jobs', source: file });
    expect(doc.settings.instanceTypes.value).toEqual(['g5.xlarge', 'g6.xlarge']);
    expect(doc.settings.maxPrice.value).toBe(0.9);
    expect(doc.settings.model.value).toBe('sdxl');
  });

  it('writes to --config FILE when given', async () => {
    const cwd = workdir();
    const r = await runCli(['init', '--config', 'conf/fluxer.json', '--bucket', 'acme-fluxer-b'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(readJson(join(cwd, 'conf', 'fluxer.json'))).toEqual({
      defaultStack: 'default',
      stacks: { default: { region: 'us-east-1', queueName: 'fluxer-default-jobs', bucket: 'acme-fluxer-b', instanceTypes: ['g6e.xlarge', 'g5.xlarge', 'g6.xlarge'], model: 'flux-dev' } },
    });
    expect(existsSync(join(cwd, 'fluxer.config.json'))).toBe(false);
  });

  it('refuses to replace an existing stack without --force (exit 2, file untouched); --force replaces it', async () => {
    const cwd = workdir();
    expect((await runCli(['init', ...CI_FLAGS, '--yes'], { cwd })).code).toBe(0);
    const before = readFileSync(join(cwd, 'fluxer.config.json'), 'utf8');
    const again = await runCli(['init', '--stack', 'prod', '--bucket', 'other-bucket', '--yes'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already has a stack "prod"');
    expect(again.stderr).toContain('--force');
    expect(readFileSync(join(cwd, 'fluxer.config.json'), 'utf8')).toBe(before);

    const forced = await runCli(['init', '--stack', 'prod', '--bucket', 'other-bucket', '--force'], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(readJson(join(cwd, 'fluxer.config.json')).stacks.prod.bucket).toBe('other-bucket');
  });

  it('adding a stack keeps the others and the default, but needs --yes when not interactive', async () => {
    const cwd = workdir();
    expect((await runCli(['init', ...CI_FLAGS], { cwd })).code).toBe(0);
    const refused = await runCli(['init', '--stack', 'staging', '--bucket', 'acme-fluxer-staging'], { cwd });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect(Object.keys(readJson(join(cwd, 'fluxer.config.json')).stacks)).toEqual(['prod']);

    const added = await runCli(['init', '--stack', 'staging', '--bucket', 'acme-fluxer-staging', '--yes'], { cwd });
    expect(added.code, added.stderr).toBe(0);
    const doc = readJson(join(cwd, 'fluxer.config.json'));
    expect(Object.keys(doc.stacks)).toEqual(['prod', 'staging']);
    expect(doc.defaultStack).toBe('prod');
    expect(doc.stacks.prod.bucket).toBe('acme-fluxer-prod');
    expect(added.stderr).toContain('fluxer setup --stack staging');
  });

  it('not interactive without --bucket: exit 2 naming the flag, nothing written', async () => {
    const cwd = workdir();
    const r = await runCli(['init', '--yes', '--json'], { cwd });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toContain('--bucket');
    expect(existsSync(join(cwd, 'fluxer.config.json'))).toBe(false);
  });

  it('a bad value names the flag, the value and the rule', async () => {
    const cwd = workdir();
    for (const [flag, value, rule] of [
      ['--bucket', 'Bad_Bucket', 'not a valid S3 bucket name'],
      ['--max-price', '-1', 'must be > 0'],
      ['--instance-types', 'gpu', 'is not an instance type'],
      ['--region', 'mars-1', 'not an AWS region'],
    ] as const) {
      const args = flag === '--bucket' ? ['init', flag, value] : ['init', '--bucket', 'ok-bucket', flag, value];
      const r = await runCli(args, { cwd });
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toContain(flag);
      expect(r.stderr).toContain(value);
      expect(r.stderr).toContain(rule);
    }
    expect(existsSync(join(cwd, 'fluxer.config.json'))).toBe(false);
  });

  it('an invalid existing file is reported, not overwritten; --force replaces it', async () => {
    const cwd = workdir();
    writeFileSync(join(cwd, 'fluxer.config.json'), '{ "stacks": { "x": { "regoin": "us-east-1" } } }');
    const r = await runCli(['init', '--bucket', 'acme-fluxer-x', '--yes'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('regoin');
    const forced = await runCli(['init', '--bucket', 'acme-fluxer-x', '--force'], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(readJson(join(cwd, 'fluxer.config.json')).stacks).toEqual({ default: expect.objectContaining({ bucket: 'acme-fluxer-x' }) });
  });
});

describe('fluxer init on a terminal (wizard)', () => {
  it('asks for each setting and writes the answers', async () => {
    const cwd = workdir();
    const prompter = scriptedPrompter([
      [/Stack name/, 'blue'],
      [/region/, 'us-west-2'],
      [/queue name/, ''], // accept the default
      [/bucket/, 'acme-fluxer-blue'],
      [/instance types/, 'g6e.xlarge'],
      [/Max spot price/, '1.25'],
      [/Default model/, 'flux-schnell'],
    ]);
    const r = await runCli(['init'], { cwd, tty: true, prompter });
    expect(r.code, r.stderr).toBe(0);
    expect(prompter.asked).toHaveLength(7);
    expect(readJson(join(cwd, 'fluxer.config.json'))).toEqual({
      defaultStack: 'blue',
      stacks: { blue: { region: 'us-west-2', queueName: 'fluxer-blue-jobs', bucket: 'acme-fluxer-blue', instanceTypes: ['g6e.xlarge'], maxPrice: 1.25, model: 'flux-schnell' } },
    });
  });

  it('asks only what the flags did not say', async () => {
    const cwd = workdir();
    const prompter = scriptedPrompter([
      [/queue name/, ''],
      [/instance types/, ''],
      [/Max spot price/, ''],
      [/Default model/, 'tiny'],
    ]);
    const r = await runCli(['init', '--stack', 'dev', '--region', 'eu-central-1', '--bucket', 'acme-fluxer-dev'], { cwd, tty: true, prompter });
    expect(r.code, r.stderr).toBe(0);
    const stack = readJson(join(cwd, 'fluxer.config.json')).stacks.dev;
    expect(stack).toEqual({ region: 'eu-central-1', queueName: 'fluxer-dev-jobs', bucket: 'acme-fluxer-dev', instanceTypes: ['g6e.xlarge', 'g5.xlarge', 'g6.xlarge'], model: 'tiny' });
  });

  it('asks before replacing an existing stack; "no" leaves the file as it was', async () => {
    const cwd = workdir();
    expect((await runCli(['init', ...CI_FLAGS, '--yes'], { cwd })).code).toBe(0);
    const before = readFileSync(join(cwd, 'fluxer.config.json'), 'utf8');
    const prompter = scriptedPrompter([[/already has a stack "prod".*Replace/, false]]);
    const r = await runCli(['init', '--stack', 'prod'], { cwd, tty: true, prompter });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Nothing written');
    expect(readFileSync(join(cwd, 'fluxer.config.json'), 'utf8')).toBe(before);
  });
});
