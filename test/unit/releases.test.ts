// Release ids and the wheelhouse's requirement list (pure parts of src/core/releases.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishRelease, releaseId, releaseParameterName, releasePrefix, runtimeRequirements } from '../../src/core/releases.js';
import { REPO_ROOT } from '../support/moto.js';

describe('releases', () => {
  it('a release id names its content: the listing, in any order; any changed file changes it', () => {
    const a = { name: 'fluxer_runtime-0.1.0-py3-none-any.whl', sha256: 'a'.repeat(64) };
    const b = { name: 'wheelhouse/x-1-py3-none-any.whl', sha256: 'b'.repeat(64) };
    expect(releaseId('0.1.0', [a, b])).toMatch(/^0\.1\.0-[0-9a-f]{12}$/);
    expect(releaseId('0.1.0', [b, a])).toBe(releaseId('0.1.0', [a, b]));
    expect(releaseId('0.1.0', [a, { ...b, sha256: 'c'.repeat(64) }])).not.toBe(releaseId('0.1.0', [a, b]));
    expect(releaseId('0.1.0', [a])).not.toBe(releaseId('0.1.0', [a, b]));
  });

  it('the wheelhouse takes the runtime\'s dependencies from its pyproject, torch left to the AMI', () => {
    const reqs = runtimeRequirements(readFileSync(join(REPO_ROOT, 'gpu-runtime', 'pyproject.toml'), 'utf8'));
    expect(reqs).toContain('diffusers>=0.32');
    expect(reqs.some((r) => r.startsWith('torch'))).toBe(false);
    expect(releaseParameterName('prod')).toBe('/fluxer/prod/runtime-release');
    expect(releasePrefix('fx/', '0.1.0-abc')).toBe('fx/releases/0.1.0-abc/');
  });

  it('a candidate (runtime deploy) is never promoted, not even as the stack\'s first release', async () => {
    const puts: string[] = [];
    const ports = {
      s3: { getObject: async () => Promise.reject(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })), putObject: async (i: { Key?: string }) => (puts.push(`s3 ${i.Key}`), {}) },
      ssm: { getParameter: async () => Promise.reject(Object.assign(new Error('ParameterNotFound'), { name: 'ParameterNotFound', $metadata: { httpStatusCode: 400 } })), putParameter: async (i: { Name?: string }) => (puts.push(`ssm ${i.Name}`), {}) },
    };
    const built = { version: '0.1.0', id: '0.1.0-aaaaaaaaaaaa', files: [], sums: '' };
    const opts = { bucket: 'b', prefix: 'p/', stack: 's', promote: false, dryRun: false };
    const first = await publishRelease(ports as never, built, { ...opts, candidate: true });
    expect(first).toMatchObject({ promoted: false, previous: null, uploaded: true });
    expect(puts).toEqual(['s3 p/releases/0.1.0-aaaaaaaaaaaa/SHA256SUMS']);
    expect((await publishRelease(ports as never, built, opts)).promoted).toBe(true);
  });
});

