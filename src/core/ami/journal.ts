// The bake journal: one file per bake, `<state dir>/bakes/<name>.json`, written by `ami bake` before
// CreateImage (CreateImage takes no ClientToken: a lost answer is recovered by the name) and at each
// step; read by `ami bake --resume` and by `ami prune`, which finishes the cleanups it lists. The
// shape is a contract between the two commands: keep it exactly this.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { fluxerStateDir } from '../../lib/state-dir.js';

export type BakeState = 'preparing' | 'creating' | 'waiting' | 'available' | 'failed' | 'cleaning' | 'cleaned' | 'interrupted';

export const BAKE_STATES: readonly BakeState[] = ['preparing', 'creating', 'waiting', 'available', 'failed', 'cleaning', 'cleaned', 'interrupted'];

export interface BakeEntry {
  /** The image name (unique per bake): the file's name too. */
  name: string;
  stack: string;
  /** The nodes' region, where the image is made. */
  region: string;
  sourceNode: string;
  imageId?: string;
  snapshots?: string[];
  state: BakeState;
  /** What is still to be deleted; `ami prune` finishes it and marks the entry `cleaned`. */
  cleanup?: { images: string[]; snapshots: string[] };
  startedAt: string;
  updatedAt: string;
}

export function bakesDir(env: NodeJS.ProcessEnv): string {
  return fluxerStateDir(env, 'bakes');
}

/** Image names are EC2's (3–128 characters, no slash), so a name is a safe file name once `/` is out. */
function fileOf(dir: string, name: string): string {
  if (!name || name.includes('/') || name.includes('\0') || name === '.' || name === '..') throw new Error(`not a bake name: ${JSON.stringify(name)}`);
  return join(dir, `${name}.json`);
}

function isEntry(v: unknown): v is BakeEntry {
  const e = v as Partial<BakeEntry> | null;
  return (
    typeof e === 'object' && e !== null &&
    typeof e.name === 'string' && typeof e.stack === 'string' && typeof e.region === 'string' && typeof e.sourceNode === 'string' &&
    BAKE_STATES.includes(e.state as BakeState) && typeof e.startedAt === 'string' && typeof e.updatedAt === 'string' &&
    (e.imageId === undefined || typeof e.imageId === 'string') &&
    (e.snapshots === undefined || (Array.isArray(e.snapshots) && e.snapshots.every((s) => typeof s === 'string'))) &&
    (e.cleanup === undefined || (Array.isArray(e.cleanup?.images) && Array.isArray(e.cleanup?.snapshots)))
  );
}

/** One entry, or undefined when there is none. A file that is not an entry throws, naming it. */
export function readBake(dir: string, name: string): BakeEntry | undefined {
  const file = fileOf(dir, name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed: unknown = JSON.parse(text);
  if (!isEntry(parsed)) throw new Error(`${file}: not a bake journal entry`);
  return parsed;
}

export interface BakeJournalRead {
  entries: BakeEntry[];
  /** Files that are not entries (half-written by hand, another version): named, never acted on. */
  unreadable: string[];
}

/** Every entry, oldest first. */
export function readBakes(dir: string): BakeJournalRead {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], unreadable: [] };
    throw err;
  }
  const entries: BakeEntry[] = [];
  const unreadable: string[] = [];
  for (const f of names) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (isEntry(parsed)) entries.push(parsed);
      else unreadable.push(join(dir, f));
    } catch {
      unreadable.push(join(dir, f));
    }
  }
  entries.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name));
  return { entries, unreadable };
}

/** Writes the entry whole (no reader sees half of it), stamping updatedAt. */
export function writeBake(dir: string, entry: BakeEntry, nowMs: number = Date.now()): BakeEntry {
  mkdirSync(dir, { recursive: true });
  const saved = { ...entry, updatedAt: new Date(nowMs).toISOString() };
  writeFileAtomicSync(fileOf(dir, entry.name), `${JSON.stringify(saved, null, 2)}\n`);
  return saved;
}

/** What `ami bake` calls an entry (the same shape). */
export type BakeRecord = BakeEntry;

/** Image names fluxer makes and accepts: a subset of AMI names' characters that is also a safe file name. */
export const BAKE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$/;
