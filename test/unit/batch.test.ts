import { describe, expect, it } from 'vitest';
import { buildBatch, parseBatch } from '../../src/core/batch.js';
import type { BuildContext } from '../../src/core/job.js';
import { createUuidV7 } from '../../src/core/ids.js';

const make = createUuidV7();
const ctx = (): BuildContext => ({ id: make(), now: new Date('2026-11-29T10:00:00Z'), output: { bucket: 'bkt-test', prefix: '' }, defaultModel: 'tiny', randomSeed: () => 1 });

describe('--batch files', () => {
  it('plain prompts and JSON lines; blank lines and # comments skipped; line numbers kept', () => {
    const lines = parseBatch('# header\na fox\n\n{"prompt": "a cat", "size": "32x48", "steps": 2}\n  a dog  \n', 'f.txt');
    expect(lines).toEqual([
      { line: 2, request: { prompt: 'a fox' } },
      { line: 4, request: { prompt: 'a cat', width: 32, height: 48, steps: 2 } },
      { line: 5, request: { prompt: 'a dog' } },
    ]);
  });

  it('flags are defaults for every line; a line\'s own fields win', async () => {
    const jobs = await buildBatch(parseBatch('a\n{"prompt":"b","steps":7}\n', 'f'), { steps: 3, count: 2 }, 'f', ctx);
    expect(jobs.map((j) => [j.prompt, j.steps, j.count])).toEqual([['a', 3, 2], ['b', 7, 2]]);
    expect(jobs[0]!.id < jobs[1]!.id).toBe(true);
  });

  it('bad JSON, unknown fields and bad sizes name the line', () => {
    expect(() => parseBatch('ok\n{"prompt": }', 'jobs.jsonl')).toThrow(/^jobs\.jsonl line 2: not valid JSON/);
    expect(() => parseBatch('{"prompt":"x","stpes":3}', 'jobs.jsonl')).toThrow('jobs.jsonl line 1: unknown field "stpes"; known fields: prompt, negativePrompt, model, size, width, height, steps, guidance, seed, count');
    expect(() => parseBatch('{"prompt":"x","size":"big"}', 'jobs.jsonl')).toThrow('jobs.jsonl line 1: size "big" must be WIDTHxHEIGHT');
  });

  it('every line is validated: the first bad one is named, with the others counted', async () => {
    const text = ['good', '{"prompt":"x","steps":500}', 'good', '{"prompt":"y","width":1000}', '{"prompt":""}'].join('\n');
    await expect(buildBatch(parseBatch(text, 'jobs.jsonl'), {}, 'jobs.jsonl', ctx)).rejects.toThrow(
      'jobs.jsonl line 2: steps 500 must be at most 50 for tiny (2 more bad lines: 4, 5)',
    );
  });

  it('an empty file is a usage error', async () => {
    await expect(buildBatch(parseBatch('\n# nothing\n', 'empty.txt'), {}, 'empty.txt', ctx)).rejects.toThrow('empty.txt: no prompts found');
  });
});
