import { describe, expect, it } from 'vitest';
import { buildJob, type BuildContext, type JobRequest } from '../../src/core/job.js';
import { modelDefaults } from '../../src/lib/job-schema.js';
import { UsageError } from '../../src/lib/errors.js';

const ctx: BuildContext = {
  id: '01890a5d-ac96-774b-bcce-b302099a8057',
  now: new Date('2026-11-29T10:00:00Z'),
  output: { bucket: 'fluxer-test-bucket', prefix: 'fluxer/' },
  submittedBy: 'alice@host',
  defaultModel: 'flux-dev',
  randomSeed: () => 1234,
};

async function failure(request: JobRequest, origin?: Parameters<typeof buildJob>[2]): Promise<UsageError> {
  try {
    await buildJob(request, ctx, origin);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('buildJob: defaults come from the schema', () => {
  it('fills width, height, steps and guidance from the model\'s branch of the schema', async () => {
    const job = await buildJob({ prompt: 'a fox' }, ctx);
    expect(job).toMatchObject({ version: 1, model: 'flux-dev', width: 1024, height: 1024, steps: 28, guidance: 3.5, count: 1, seed: 1234 });
    expect(job.submittedAt).toBe('2026-11-29T10:00:00.000Z');
    expect(job.output).toEqual({ bucket: 'fluxer-test-bucket', prefix: 'fluxer/' });
    expect(job.submittedBy).toBe('alice@host');
  });

  it('uses each model\'s own defaults', async () => {
    expect(await buildJob({ prompt: 'x', model: 'flux-schnell' }, ctx)).toMatchObject({ steps: 4, guidance: 0 });
    expect(await buildJob({ prompt: 'x', model: 'tiny' }, ctx)).toMatchObject({ width: 64, height: 64, steps: 4 });
    expect(modelDefaults('sdxl')).toEqual({ width: 1024, height: 1024, steps: 30, guidance: 5 });
  });

  it('keeps what the user gave over the defaults', async () => {
    const job = await buildJob({ prompt: 'x', model: 'tiny', width: 32, height: 48, steps: 2, guidance: 1, seed: 7, count: 3, negativePrompt: 'blur' }, ctx);
    expect(job).toMatchObject({ width: 32, height: 48, steps: 2, guidance: 1, seed: 7, count: 3, negativePrompt: 'blur' });
  });

  it('a random seed is within the schema\'s bounds when none is given', async () => {
    const { randomSeed: _omit, ...noSeed } = ctx;
    const job = await buildJob({ prompt: 'x' }, noSeed);
    expect(Number.isInteger(job.seed)).toBe(true);
    expect(job.seed).toBeGreaterThanOrEqual(0);
    expect(job.seed).toBeLessThanOrEqual(4294967295);
  });
});

describe('buildJob: errors name the flag, the value and the valid range', () => {
  it('--size: width not a multiple of 16', async () => {
    const e = await failure({ prompt: 'x', width: 1000, height: 1000 }, { kind: 'flags', sizeText: '1000x1000' });
    expect(e.message).toMatch(/^--size 1000x1000: width 1000 must be a multiple of 16/);
    expect(e.exitCode).toBe(2);
  });

  it('--size: beyond the model\'s bounds', async () => {
    const e = await failure({ prompt: 'x', model: 'tiny', width: 1024, height: 64 }, { kind: 'flags', sizeText: '1024x64' });
    expect(e.message).toBe('--size 1024x64: width 1024 must be at most 512 for tiny');
  });

  it('--steps: per-model maximum', async () => {
    expect((await failure({ prompt: 'x', steps: 500 })).message).toBe('--steps 500: must be at most 100 for flux-dev');
    expect((await failure({ prompt: 'x', model: 'flux-schnell', steps: 20 })).message).toBe('--steps 20: must be at most 16 for flux-schnell');
    expect((await failure({ prompt: 'x', steps: 0 })).message).toBe('--steps 0: must be at least 1');
    expect((await failure({ prompt: 'x', steps: 2.5 })).message).toBe('--steps 2.5: must be a whole number');
  });

  it('--guidance, --seed, --count', async () => {
    expect((await failure({ prompt: 'x', guidance: 25 })).message).toBe('--guidance 25: must be at most 20 for flux-dev');
    expect((await failure({ prompt: 'x', seed: -1 })).message).toBe('--seed -1: must be at least 0');
    expect((await failure({ prompt: 'x', seed: 2 ** 32 })).message).toBe('--seed 4294967296: must be at most 4294967295');
    expect((await failure({ prompt: 'x', count: 9 })).message).toBe('--count 9: must be at most 8');
  });

  it('--model: the valid models', async () => {
    expect((await failure({ prompt: 'x', model: 'dalle' })).message).toBe('--model dalle: must be one of: flux-dev, flux-schnell, sdxl, tiny');
  });

  it('--negative with a model that takes none', async () => {
    expect((await failure({ prompt: 'x', negativePrompt: 'blur' })).message).toBe('--negative: flux-dev does not take a negative prompt');
  });

  it('PROMPT: empty or too long', async () => {
    expect((await failure({ prompt: '' })).message).toBe('PROMPT: must not be empty');
    expect((await failure({ prompt: 'a'.repeat(4001) })).message).toBe('PROMPT: must be at most 4000 characters (got 4001)');
  });

  it('several problems: the first, and how many more', async () => {
    const e = await failure({ prompt: 'x', steps: 500, count: 20 });
    expect(e.message).toBe('--steps 500: must be at most 100 for flux-dev (and 1 more problem)');
  });

  it('a batch line names the file and line number, and the field', async () => {
    const e = await failure({ prompt: 'x', steps: 500 }, { kind: 'line', source: 'jobs.jsonl', line: 3 });
    expect(e.message).toBe('jobs.jsonl line 3: steps 500 must be at most 100 for flux-dev');
  });
});
