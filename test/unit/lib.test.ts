// The shared helpers in src/lib/: bounded concurrency and atomic file writes.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/lib/atomic-write.js';
import { createLimiter, mapConcurrent } from '../../src/lib/concurrency.js';

/** A task whose end the test decides: resolves when released. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { done, release };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('mapConcurrent', () => {
  it('keeps at most `limit` calls in flight and the results in input order', async () => {
    let inFlight = 0;
    let most = 0;
    const gates = Array.from({ length: 7 }, gate);
    const all = mapConcurrent(gates, 3, async (g, i) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await g.done;
      inFlight -= 1;
      return i * 10;
    });
    await flush();
    expect(inFlight).toBe(3);
    // Released last-first, so completion order differs from input order.
    for (const g of [...gates].reverse()) {
      g.release();
      await flush();
    }
    expect(await all).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(most).toBe(3);
  });

  it('rejects with the first failure and starts no further item', async () => {
    const started: number[] = [];
    const first = gate();
    const result = mapConcurrent([0, 1, 2, 3, 4, 5], 2, async (i) => {
      started.push(i);
      if (i === 0) await first.done;
      if (i === 1) throw new Error('item 1 failed');
      return i;
    });
    await expect(result).rejects.toThrow('item 1 failed');
    // Item 0 was in flight when item 1 failed: it finishes, and its worker takes nothing more.
    first.release();
    await flush();
    expect(started).toEqual([0, 1]);
  });

  it('an empty list resolves to an empty list', async () => {
    expect(await mapConcurrent([], 4, async () => 1)).toEqual([]);
  });
});

describe('createLimiter', () => {
  it('starts tasks in the order given, at most `limit` at once, and passes results and failures through', async () => {
    const limit = createLimiter(2);
    const gates = Array.from({ length: 4 }, gate);
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      limit(async () => {
        started.push(i);
        await g.done;
        if (i === 2) throw new Error('task 2 failed');
        return i;
      }),
    );
    runs[2]!.catch(() => {});
    await flush();
    expect(started).toEqual([0, 1]);
    gates[1]!.release();
    await flush();
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.release();
    expect(await runs[0]).toBe(0);
    await expect(runs[2]).rejects.toThrow('task 2 failed');
    expect(await runs[3]).toBe(3);
  });
});

describe('atomic writes', () => {
  it('replace the file whole and leave no temporary behind (sync and async)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxer-atomic-'));
    const path = join(dir, 'state.json');
    writeFileSync(path, 'old');
    writeFileAtomicSync(path, '{"a":1}\n', { mode: 0o600 });
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}\n');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('a failed rename leaves the target as it was and no temporary (sync and async)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxer-atomic-'));
    // Renaming a file over a directory fails after the temporary was written beside it.
    const target = join(dir, 'sub');
    mkdirSync(target);
    expect(() => writeFileAtomicSync(target, 'z')).toThrow();
    await expect(writeFileAtomic(target, 'z')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['sub']);
  });
});
