// A small file-backed cache with expiry on an injected clock, for values worth keeping across
// commands on this machine (on-demand prices for a day). One JSON file per cache; a file that cannot
// be read or written means no cache, never a failed command.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import type { Clock } from '../../lib/clock.js';

export interface TtlCache<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
}

interface Stored<T> {
  entries: Record<string, { value: T; at: number }>;
}

export function fileTtlCache<T>(path: string, ttlMs: number, clock: Clock): TtlCache<T> {
  const read = (): Stored<T> => {
    try {
      const doc = JSON.parse(readFileSync(path, 'utf8')) as Stored<T>;
      return doc && typeof doc.entries === 'object' ? doc : { entries: {} };
    } catch {
      return { entries: {} };
    }
  };
  return {
    get(key) {
      const hit = read().entries[key];
      const age = hit ? clock.now() - hit.at : Infinity;
      return hit && age >= 0 && age < ttlMs ? hit.value : undefined;
    },
    set(key, value) {
      const doc = read();
      const now = clock.now();
      for (const [k, v] of Object.entries(doc.entries)) if (now - v.at >= ttlMs) delete doc.entries[k];
      doc.entries[key] = { value, at: now };
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileAtomicSync(path, JSON.stringify(doc));
      } catch {
        // No cache this time: the next command asks again.
      }
    },
  };
}

/** Only in-memory (tests, or a machine with no writable state folder). */
export function memoryTtlCache<T>(ttlMs: number, clock: Clock): TtlCache<T> {
  const entries = new Map<string, { value: T; at: number }>();
  return {
    get: (key) => {
      const hit = entries.get(key);
      return hit && clock.now() - hit.at < ttlMs ? hit.value : undefined;
    },
    set: (key, value) => void entries.set(key, { value, at: clock.now() }),
  };
}
