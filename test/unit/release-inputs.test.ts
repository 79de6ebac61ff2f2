// What `runtime publish`, `runtime deploy` and `spot launch`'s first release build with and from: one
// finder for the build Python and one for the runtime (a clone's source, else the shipped wheel).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPython, localRuntime } from '../../src/core/release-inputs.js';
import { UsageError } from '../../src/lib/errors.js';
import { RUNTIME_SOURCE_DIR } from '../../src/lib/paths.js';
import { tempDirs } from '../support/temp.js';

const temp = tempDirs('fluxer-inputs-');
function touch(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
  return path;
}

describe('buildPython', () => {
  it('FLUXER_PYTHON, else the clone\'s .venv, else the venv `local up` built, else python3', () => {
    const root = temp();
    const home = temp();
    expect(buildPython({ HOME: home }, root)).toBe('python3');
    const userPython = touch(join(home, '.local', 'share', 'fluxer', 'venv', 'bin', 'python'));
    expect(buildPython({ HOME: home }, root)).toBe(userPython);
    const clonePython = touch(join(root, '.venv', 'bin', 'python'));
    expect(buildPython({ HOME: home }, root)).toBe(clonePython);
    expect(buildPython({ HOME: home, FLUXER_PYTHON: '/opt/py/bin/python3.11' }, root)).toBe('/opt/py/bin/python3.11');
  });
});

describe('localRuntime', () => {
  const missing = { message: 'no runtime here', hint: 'do this instead' };

  it('a clone builds from its source, even when an `npm pack` also left a shipped wheel', () => {
    const sourceDir = temp();
    const shippedDir = temp();
    touch(join(shippedDir, 'local-requirements.txt'));
    touch(join(shippedDir, 'fluxer_runtime-0.1.0-py3-none-any.whl'));
    touch(join(sourceDir, 'pyproject.toml'));
    expect(localRuntime(missing, { sourceDir, shippedDir })).toEqual({ sourceDir });
    expect(RUNTIME_SOURCE_DIR.endsWith('gpu-runtime')).toBe(true);
  });

  it('an installed CLI builds from the wheel it ships, with its pyproject.toml', () => {
    const shippedDir = temp();
    touch(join(shippedDir, 'local-requirements.txt'));
    const wheel = touch(join(shippedDir, 'fluxer_runtime-0.1.0-py3-none-any.whl'));
    expect(localRuntime(missing, { sourceDir: join(temp(), 'gpu-runtime'), shippedDir })).toEqual({ wheel, pyproject: join(shippedDir, 'pyproject.toml') });
  });

  it('with neither, a usage error (RuntimeNotShipped, exit 2) in the caller\'s words', () => {
    let err: unknown;
    try {
      localRuntime(missing, { sourceDir: join(temp(), 'gpu-runtime'), shippedDir: temp() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject({ message: 'no runtime here', hint: 'do this instead', code: 'RuntimeNotShipped', exitCode: 2 });
  });
});
