// The local stack's pure parts: finding the Python tools, choosing the model, reading a worker's
// state file, and recording the `local` stack without disturbing the rest of the config.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/lib/errors.js';
import { localStackSettings, recordLocalStack } from '../../src/core/local/config.js';
import { resolveLocalModel } from '../../src/core/local/model.js';
import { findLocalTools, localToolsBin } from '../../src/core/local/tools.js';
import { ensureUserVenv, pickPython, userVenvDir, type RunStreaming } from '../../src/core/local/python-env.js';
import { readWorkerHealth } from '../../src/core/local/worker-health.js';

const temp = () => mkdtempSync(join(tmpdir(), 'fluxer-local-unit-'));

function executable(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}

describe('findLocalTools', () => {
  it('missing tools are a usage error (exit 2) whose hint is the command that installs them', () => {
    const root = temp();
    // An installed CLI (no scripts/ shipped) is told how to rebuild its own environment instead.
    expect(() => findLocalTools(join(root, 'venv', 'bin'), { PATH: '' }, root)).toThrow(expect.objectContaining({ hint: expect.stringContaining('run `fluxer local up` again') }));
    executable(join(root, 'scripts'), 'python-env.sh');
    let error: unknown;
    try {
      findLocalTools(join(root, '.venv', 'bin'), { PATH: '' }, root);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as UsageError).message).toContain('moto_server and fluxer-runtime');
    expect((error as UsageError).hint).toContain('bash scripts/python-env.sh');
  });

  it("prefers the project's .venv, and falls back to PATH", () => {
    const root = temp();
    const onPath = join(root, 'elsewhere');
    executable(onPath, 'moto_server');
    const pathRuntime = executable(onPath, 'fluxer-runtime');
    const venvMoto = executable(join(root, '.venv', 'bin'), 'moto_server');
    expect(findLocalTools(join(root, '.venv', 'bin'), { PATH: onPath }, root)).toEqual({ motoServer: venvMoto, runtime: pathRuntime });
  });
});

describe('localToolsBin: which Python environment the local stack uses', () => {
  /** An installed CLI's package: dist/runtime/ and no gpu-runtime/ beside it. */
  function installedPackage(): { root: string; shipped: string } {
    const root = temp();
    const shipped = join(root, 'dist', 'runtime');
    mkdirSync(shipped, { recursive: true });
    writeFileSync(join(shipped, 'fluxer_runtime-0.1.0-py3-none-any.whl'), 'wheel');
    writeFileSync(join(shipped, 'local-requirements.txt'), 'moto[server]==5.2.1\n');
    writeFileSync(join(shipped, 'pyproject.toml'), '');
    return { root, shipped };
  }
  const noRun: RunStreaming = async () => {
    throw new Error('nothing may run');
  };

  it('FLUXER_VENV wins; a clone uses its .venv even when dist/runtime/ exists', async () => {
    const { root, shipped } = installedPackage();
    expect(await localToolsBin({ packageRoot: root, shippedDir: shipped, env: { FLUXER_VENV: '/opt/v' }, run: noRun, progress: () => {} })).toBe('/opt/v/bin');
    mkdirSync(join(root, 'gpu-runtime'));
    expect(await localToolsBin({ packageRoot: root, shippedDir: shipped, env: {}, run: noRun, progress: () => {} })).toBe(join(root, '.venv', 'bin'));
  });

  it('an installed CLI builds a venv under $XDG_DATA_HOME/fluxer once, with progress, and reuses it', async () => {
    const { root, shipped } = installedPackage();
    const data = temp();
    const env = { XDG_DATA_HOME: data, FLUXER_PYTHON: 'python-x' };
    const calls: string[] = [];
    const run: RunStreaming = async (cmd, args, opts) => {
      calls.push([cmd, ...args].join(' '));
      if (args[0] === '-m' && args[1] === 'venv') executable(join(args[2]!, 'bin'), 'python');
      if (args.includes('install')) opts.onLine?.('Collecting moto[server]==5.2.1');
    };
    const progress: string[] = [];
    const bin = await localToolsBin({ packageRoot: root, shippedDir: shipped, env, run, progress: (m) => progress.push(m) });
    expect(bin).toBe(join(data, 'fluxer', 'venv', 'bin'));
    expect(calls[0]).toMatch(/^python-x -c /);
    expect(calls[1]).toBe(`python-x -m venv ${join(data, 'fluxer', 'venv')}`);
    expect(calls[2]).toContain(`-r ${join(shipped, 'local-requirements.txt')} ${join(shipped, 'fluxer_runtime-0.1.0-py3-none-any.whl')}`);
    expect(progress.join('\n')).toMatch(/Building fluxer's Python environment[\s\S]*pip: Collecting moto[\s\S]*ready/);
    // Second use: nothing runs.
    expect(await localToolsBin({ packageRoot: root, shippedDir: shipped, env, run: noRun, progress: () => {} })).toBe(bin);
    // A new CLI (other shipped files) rebuilds.
    writeFileSync(join(shipped, 'local-requirements.txt'), 'moto[server]==5.2.2\n');
    calls.length = 0;
    await ensureUserVenv({ shipped: { wheel: join(shipped, 'fluxer_runtime-0.1.0-py3-none-any.whl'), pyproject: '', localRequirements: join(shipped, 'local-requirements.txt') }, env, run, progress: () => {} });
    expect(calls).toHaveLength(3);
  });

  it('with no Python >= 3.10 it says exactly that, exit 2, and what to install', async () => {
    const err = await pickPython({}, noRun).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^Python >= 3\.10 .*not found: tried python3\.11, python3\.12, python3\.10, python3$/);
    expect(err.hint).toMatch(/install python3\.11.*FLUXER_PYTHON/i);
    expect(userVenvDir({ HOME: '/home/u' })).toBe('/home/u/.local/share/fluxer/venv');
  });
});

describe('resolveLocalModel', () => {
  it('tiny (the default) runs on the CPU with no model directory', () => {
    expect(resolveLocalModel(undefined, '/')).toEqual({ model: 'tiny', modelDir: null, device: 'cpu' });
    expect(resolveLocalModel('tiny', '/')).toEqual({ model: 'tiny', modelDir: null, device: 'cpu' });
  });

  it('a diffusers directory gives its model name from model_index.json and lets the runtime pick the GPU', () => {
    const root = temp();
    const schnell = join(root, 'FLUX.1-schnell');
    mkdirSync(schnell);
    writeFileSync(join(schnell, 'model_index.json'), JSON.stringify({ _class_name: 'FluxPipeline' }));
    expect(resolveLocalModel('FLUX.1-schnell', root)).toEqual({ model: 'flux-schnell', modelDir: schnell, device: 'auto' });
    const sdxl = join(root, 'sdxl');
    mkdirSync(sdxl);
    writeFileSync(join(sdxl, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }));
    expect(resolveLocalModel(sdxl, '/').model).toBe('sdxl');
  });

  it('anything else is a usage error naming --model and what it accepts', () => {
    expect(() => resolveLocalModel('flux-dev', temp())).toThrow(/--model "flux-dev": must be "tiny" or a model directory/);
    const empty = temp();
    expect(() => resolveLocalModel(empty, '/')).toThrow(/model_index\.json is missing/);
  });
});

describe('readWorkerHealth', () => {
  it("reads the runtime's state file: state, the health port it picked, and why", () => {
    const file = join(temp(), 'w.json');
    writeFileSync(file, JSON.stringify({ state: 'FAILED', healthUrl: 'http://127.0.0.1:41234', stateReason: 'out of memory', pid: 7 }));
    expect(readWorkerHealth(file)).toEqual({ state: 'FAILED', healthPort: 41234, reason: 'out of memory' });
  });

  it('a missing, torn or unknown document reads as "not reported yet"', () => {
    const dir = temp();
    expect(readWorkerHealth(join(dir, 'none.json'))).toBeUndefined();
    writeFileSync(join(dir, 'torn.json'), '{"state": "REA');
    expect(readWorkerHealth(join(dir, 'torn.json'))).toBeUndefined();
    writeFileSync(join(dir, 'odd.json'), '{"state": "SLEEPING"}');
    expect(readWorkerHealth(join(dir, 'odd.json'))).toBeUndefined();
  });
});

describe('recordLocalStack', () => {
  const settings = localStackSettings('http://127.0.0.1:5000', 'tiny');

  it('adds stacks.local to an existing file, keeping the other stacks and the default', () => {
    const path = join(temp(), 'fluxer.config.json');
    writeFileSync(path, JSON.stringify({ defaultStack: 'prod', stacks: { prod: { region: 'eu-west-1', bucket: 'my-images' } } }));
    recordLocalStack(path, settings);
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc.defaultStack).toBe('prod');
    expect(doc.stacks.prod).toEqual({ region: 'eu-west-1', bucket: 'my-images' });
    expect(doc.stacks.local).toMatchObject({ endpointUrl: 'http://127.0.0.1:5000', queueName: 'fluxer-local-jobs', bucket: 'fluxer-local', prefix: 'fluxer/', model: 'tiny' });
  });

  it('a new file gets the local stack but no defaultStack', () => {
    const path = join(temp(), 'fluxer.config.json');
    recordLocalStack(path, settings);
    expect(JSON.parse(readFileSync(path, 'utf8')).defaultStack).toBeUndefined();
  });

  it('a broken config file is reported, not overwritten', () => {
    const path = join(temp(), 'fluxer.config.json');
    writeFileSync(path, '{"stacks": {,}}');
    expect(() => recordLocalStack(path, settings)).toThrow(/Malformed JSON/);
    expect(readFileSync(path, 'utf8')).toBe('{"stacks": {,}}');
  });
});
