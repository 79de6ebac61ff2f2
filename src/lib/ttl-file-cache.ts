// The small JSON files under the state folder that remember an answer for a while (failed pools,
// on-demand prices, "no fleet"): read as nothing when missing or damaged (the caller then asks AWS),
// written whole through a temporary file (two CLIs never read half of one), forgotten by removal.
// Each stamp is the writer's clock in ms; freshness is judged at the caller's nowMs (no clock here).
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from './atomic-write.js';

/**
 * A stamp is fresh at nowMs when it is a number less than ttlMs old. One from the future (the clock
 * was set back since) is not: it would otherwise last for the whole jump.
 */
export function isFresh(stampMs: unknown, nowMs: number, ttlMs: number): boolean {
  if (typeof stampMs !== 'number') return false;
  const age = nowMs - stampMs;
  return age >= 0 && age < ttlMs;
}

/**
 * The JSON object in `path`, undefined when there is none, it does not parse, or it is not an object.
 * Its fields are not checked: the caller checks the ones it relies on (its key, its stamps).
 */
export async function readCacheFile<T extends object>(path: string): Promise<T | undefined> {
  try {
    return asObject<T>(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return undefined;
  }
}

/** readCacheFile for callers that cannot wait (the launch planner asks about pools synchronously). */
export function readCacheFileSync<T extends object>(path: string): T | undefined {
  try {
    return asObject<T>(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}

function asObject<T extends object>(parsed: unknown): T | undefined {
  return parsed !== null && typeof parsed === 'object' ? (parsed as T) : undefined;
}

const serialize = (doc: object) => `${JSON.stringify(doc, null, 2)}\n`;

/** Writes `doc` as JSON, making the folder first; throws what the filesystem throws. */
export async function writeCacheFile(path: string, doc: object): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, serialize(doc));
}

export function writeCacheFileSync(path: string, doc: object): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomicSync(path, serialize(doc));
}

/** Forgets the cached answer (nothing to forget is fine). */
export async function forgetCacheFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
