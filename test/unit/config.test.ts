import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/lib/errors.js';
import { jsonErrorLocation, loadConfig } from '../../src/config/loader.js';

function workspace(project?: unknown, user?: unknown) {
  const root = mkdtempSync(join(tmpdir(), 'fluxer-config-'));
  const home = join(root, 'home');
  const cwd = join(root, 'project', 'sub', 'dir');
  mkdirSync(cwd, { recursive: true });
  if (project !== undefined) writeFileSync(join(root, 'project', 'fluxer.config.json'), typeof project === 'string' ? project : JSON.stringify(project, null, 2));
  if (user !== undefined) {
    mkdirSync(join(home, '.config', 'fluxer'), { recursive: true });
    writeFileSync(join(home, '.config', 'fluxer', 'config.json'), JSON.stringify(user));
  }
  return { root, home, cwd, projectFile: join(root, 'project', 'fluxer.config.json') };
}

describe('config precedence: flags > env > project file > user file > defaults', () => {
  it('takes each value from the highest source that sets it and records where it came from', () => {
    const ws = workspace(
      { defaultStack: 'prod', stacks: { prod: { region: 'eu-west-1', bucket: 'proj-bucket', queueName: 'proj-q' } } },
      { stacks: { prod: { region: 'us-west-2', bucket: 'user-bucket', model: 'sdxl', volumeSize: 200 } } },
    );
    const config = loadConfig({
      cwd: ws.cwd,
      env: { HOME: ws.home, FLUXER_QUEUE_NAME: 'env-q', AWS_REGION: 'ap-south-1' },
      flags: { region: { value: 'ca-central-1', flag: '--region' } },
    });
    expect(config.stack).toBe('prod');
    expect(config.settings.region).toBe('ca-central-1');
    expect(config.sources.region).toEqual({ kind: 'flag', name: '--region' });
    expect(config.settings.queueName).toBe('env-q');
    expect(config.sources.queueName).toEqual({ kind: 'env', name: 'FLUXER_QUEUE_NAME' });
    expect(config.settings.bucket).toBe('proj-bucket');
    expect(config.sources.bucket).toMatchObject({ kind: 'file', fileKind: 'project', path: ws.projectFile });
    expect(config.settings.model).toBe('sdxl');
    expect(config.sources.model).toMatchObject({ kind: 'file', fileKind: 'user' });
    expect(config.settings.volumeSize).toBe(200);
    expect(config.settings.prefix).toBe('fluxer/');
    expect(config.sources.prefix).toEqual({ kind: 'default' });
    expect(config.settings.hfTokenParameter).toBe('/fluxer/prod/hf-token');
  });

  it('picks the stack from --stack, then FLUXER_STACK, then defaultStack', () => {
    const ws = workspace({ defaultStack: 'a', stacks: { a: { bucket: 'bucket-a' }, b: { bucket: 'bucket-b' } } });
    expect(loadConfig({ cwd: ws.cwd, env: { HOME: ws.home }, flags: {} }).settings.bucket).toBe('bucket-a');
    expect(loadConfig({ cwd: ws.cwd, env: { HOME: ws.home, FLUXER_STACK: 'b' }, flags: {} }).settings.bucket).toBe('bucket-b');
    expect(loadConfig({ cwd: ws.cwd, env: { HOME: ws.home, FLUXER_STACK: 'b' }, stack: 'a', flags: {} }).settings.bucket).toBe('bucket-a');
  });

  it('works with no config file at all (defaults)', () => {
    const ws = workspace();
    const config = loadConfig({ cwd: ws.cwd, env: { HOME: ws.home }, flags: {} });
    expect(config.stack).toBe('default');
    expect(config.settings.queueName).toBe('fluxer-default-jobs');
    expect(config.files).toEqual([]);
  });
});

describe('config errors name the key and the file', () => {
  const load = (project: unknown, extra: Partial<Parameters<typeof loadConfig>[0]> = {}) => {
    const ws = workspace(project);
    try {
      loadConfig({ cwd: ws.cwd, env: { HOME: ws.home }, flags: {}, ...extra });
    } catch (err) {
      return { err: err as UsageError, ws };
    }
    throw new Error('expected an error');
  };

  it('rejects an unknown key with a suggestion', () => {
    const { err, ws } = load({ stacks: { prod: { regoin: 'us-east-1' } } });
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain(ws.projectFile);
    expect(err.message).toContain('stacks.prod.regoin');
    expect(err.message).toContain('did you mean "region"');
  });

  it('rejects wrong types', () => {
    const { err } = load({ stacks: { prod: { volumeSize: '100' } } });
    expect(err.message).toMatch(/stacks\.prod\.volumeSize" must be an integer, got the string "100"/);
    const { err: err2 } = load({ stacks: { prod: { instanceTypes: 'g5.xlarge' } } });
    expect(err2.message).toMatch(/instanceTypes" must be an array of strings/);
  });

  it('rejects out-of-range values, naming the range', () => {
    const { err } = load({ stacks: { prod: { volumeSize: 5 } } });
    expect(err.message).toContain('between 30 and 16384');
  });

  it('reports malformed JSON with its line and column', () => {
    const { err, ws } = load('{\n  "stacks": {\n    "prod": { "region": "us-east-1", }\n  }\n}\n');
    expect(err.message).toContain(ws.projectFile);
    expect(err.message).toMatch(/line 3, column \d+/);
  });

  it('rejects an unknown stack and lists the known ones', () => {
    const { err } = load({ stacks: { prod: {}, staging: {} } }, { stack: 'prd' });
    expect(err.message).toContain('Unknown stack "prd"');
    expect(err.message).toContain('prod, staging');
    expect(err.hint).toContain('--stack prod');
  });

  it('rejects a bad environment value naming the variable', () => {
    const ws = workspace();
    expect(() => loadConfig({ cwd: ws.cwd, env: { HOME: ws.home, FLUXER_VOLUME_SIZE: 'big' }, flags: {} })).toThrow(/FLUXER_VOLUME_SIZE/);
  });
});

describe('jsonErrorLocation', () => {
  it('turns a character position into line and column', () => {
    expect(jsonErrorLocation('{\n"a": x}', 'Unexpected token x in JSON at position 7')).toBe(' at line 2, column 6');
  });
});
