// The local stack's lock: one `fluxer local up` or `down` at a time per stack folder (two concurrent
// `up`s would each start a server). The lock file appears atomically with its content — written
// to a private file, then hard-linked into place, which fails if a lock exists — so no one ever
// reads a half-written lock. It holds the owner's pid and a token for this acquisition: two holders
// in one process are told apart, and a holder removes the lock only while it is still its own.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FluxerError } from '../../lib/errors.js';
import { isAlive } from './processes.js';
import type { LocalPaths } from './state.js';

const busy = (owner: number) =>
  new FluxerError(`Another \`fluxer local\` command (pid ${owner}) is changing this local stack`, {
    code: 'LocalStackBusy',
    hint: 'Wait for it to finish, then run your command again.',
  });

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** "<pid> <token>" (older versions wrote only the pid). */
const ownerOf = (content: string): number => Number(content.trim().split(/\s+/)[0]);

export async function withLock<T>(paths: LocalPaths, body: () => Promise<T>): Promise<T> {
  const lockPath = join(paths.dir, 'lock');
  const token = randomBytes(8).toString('hex');
  const mine = `${process.pid} ${token}\n`;
  const staged = `${lockPath}.${token}`;
  writeFileSync(staged, mine);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(staged, lockPath);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const seen = read(lockPath);
      if (seen === undefined) continue; // released meanwhile: try again
      const owner = ownerOf(seen);
      // A live owner holds it, this process included (another caller in it holds the lock).
      if (isAlive(owner)) throw busy(owner);
      if (attempt > 3) throw busy(owner);
      breakStale(lockPath, seen, token);
    }
  } finally {
    rmSync(staged, { force: true });
  }
  try {
    return await body();
  } finally {
    // Only our own lock: had someone broken it and taken it, removing it would let a third in.
    if (read(lockPath) === mine) rmSync(lockPath, { force: true });
  }
}

/**
 * Takes a dead owner's lock out of the way by renaming it (atomic: of several breakers one wins),
 * then checks that what was moved is the stale lock that was judged; had a new holder's lock taken
 * its place in between, it is linked back (or, if yet another lock exists by then, left to it).
 */
function breakStale(lockPath: string, judged: string, token: string): void {
  const moved = `${lockPath}.stale-${token}`;
  try {
    renameSync(lockPath, moved);
  } catch {
    return; // someone else moved or released it: just try again
  }
  if (read(moved) !== judged) {
    try {
      linkSync(moved, lockPath);
    } catch {
      /* a newer lock exists: it decides */
    }
  }
  rmSync(moved, { force: true });
}
