// The local stack's lock: two `fluxer local up` at once must never both hold it, whether they run
// in two processes or (as runCli does in tests, and a library caller might) in one; a lock whose
// owner died is taken over, and a lock is never removed by someone who does not hold it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withLock } from '../../src/core/local/lock.js';
import type { LocalPaths } from '../../src/core/local/state.js';

const folder = (): LocalPaths => ({ dir: mkdtempSync(join(tmpdir(), 'fluxer-lock-')) }) as LocalPaths;

/** A body that holds the lock until released, and says when it got it. */
function holder() {
  let release!: () => void;
  let entered!: () => void;
  const held = new Promise<void>((r) => (entered = r));
  const done = new Promise<void>((r) => (release = r));
  return { held, release, body: async () => (entered(), await done, 'done') };
}

describe('local stack lock', () => {
  it('a second taker in the same process is refused while the first holds it', async () => {
    const paths = folder();
    const a = holder();
    const first = withLock(paths, a.body);
    await a.held;
    await expect(withLock(paths, async () => 'second')).rejects.toMatchObject({ code: 'LocalStackBusy' });
    a.release();
    await expect(first).resolves.toBe('done');
    // Released: the next one gets it.
    await expect(withLock(paths, async () => 'third')).resolves.toBe('third');
  });

  it('many at once (as two `local up` started together): exactly one gets it', async () => {
    const paths = folder();
    const a = holder();
    let entered = 0;
    const takers = Array.from({ length: 8 }, () =>
      withLock(paths, async () => {
        entered++;
        await a.body();
      }),
    );
    await a.held;
    a.release();
    const results = await Promise.allSettled(takers);
    expect(entered).toBe(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'LocalStackBusy')).toBe(true);
  });

  it('a lock held by another live process is refused naming its pid; one left by a dead process is taken over', async () => {
    const paths = folder();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(paths.dir, 'lock'), `${other.pid}\n`);
      await expect(withLock(paths, async () => 'x')).rejects.toThrow(`pid ${other.pid}`);
    } finally {
      other.kill('SIGKILL');
    }
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(paths.dir, 'lock'), dead.stdout);
    await expect(withLock(paths, async () => readFileSync(join(paths.dir, 'lock'), 'utf8'))).resolves.toMatch(new RegExp(`^${process.pid}\\b`));
    expect(existsSync(join(paths.dir, 'lock'))).toBe(false);
  });

  it('a holder never removes a lock that is no longer its own', async () => {
    const paths = folder();
    const lock = join(paths.dir, 'lock');
    await withLock(paths, async () => {
      // Someone broke this lock (e.g. judged it stale) and took it: our release must leave theirs.
      writeFileSync(lock, '999999999 someone-else\n');
    });
    expect(readFileSync(lock, 'utf8')).toBe('999999999 someone-else\n');
  });
});
