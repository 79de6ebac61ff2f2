// The local stack's pure parts: finding the Python tools, choosing the model, reading a worker's
// state file, and recording the `local` stack without disturbing the rest of the config.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/lib/errors.js';
import { localStackSettings, recordLocalStack } from '../../src/core/local/config.js';
import { resolveLocalModel } from '../../src/core/local/model.js';
import { findLocalTools } from '../../src/core/local/tools.js';
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
    let error: unknown;
    try {
      findLocalTools(root, { PATH: '' });
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
    expect(findLocalTools(root, { PATH: onPath })).toEqual({ motoServer: venvMoto, runtime: pathRuntime });
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
