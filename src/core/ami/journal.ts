// The bake journal: one file per bake, `<state dir>/bakes/<name>.json`, written atomically at every
// step, so a bake killed at any point leaves a record of what it made. `ami bake` writes the name
// before CreateImage (CreateImage takes no ClientToken: the name is how a lost answer is found
// again); `ami bake --resume NAME` continues from it; `ami prune` finishes the cleanups it lists.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { fluxerStateDir } from '../../lib/state-dir.js';

export type BakeState = 'preparing' | 'creating' | 'waiting' | 'available' | 'failed' | 'cleaning' | 'cleaned' | 'interrupted';

export const BAKE_STATES: readonly BakeState[] = ['preparing', 'creating', 'waiting', 'available', 'failed', 'cleaning', 'cleaned', 'interrupted'];

export interface BakeRecord {
  /** The image name (unique per bake): also the journal's file name. */
  name: string;
  stack: string;
  /** Where the image is made: the stack's node region. */
  region: string;
  /** The instance imaged (`--from`, or the builder of `--base`). */
  sourceNode: string;
  imageId?: string;
  snapshots?: string[];
  state: BakeState;
  /** What a failed bake deletes (state cleaning), and what it deleted (cleaned). */
  cleanup?: { images: string[]; snapshots: string[] };
  startedAt: string;
  updatedAt: string;
}

/** Image names fluxer makes and accepts: a subset of AMI names' characters that is also a safe file name. */
export const BAKE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$/;

export function bakesDir(env: NodeJS.ProcessEnv): string {
  return fluxerStateDir(env, 'bakes');
}

export function bakePath(dir: string, name: string): string {
  if (!BAKE_NAME.test(name)) throw new Error(`not a bake name: ${JSON.stringify(name)}`);
  return join(dir, `${name}.json`);
}

export function readBake(dir: string, name: string): BakeRecord | undefined {
  const path = bakePath(dir, name);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as BakeRecord;
  } catch {
    return undefined;
  }
}

export function writeBake(dir: string, record: BakeRecord): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomicSync(bakePath(dir, record.name), `${JSON.stringify(record, null, 2)}\n`);
}

/** Every journaled bake, oldest first. */
export function listBakes(dir: string): BakeRecord[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && BAKE_NAME.test(f.slice(0, -'.json'.length)))
    .map((f) => readBake(dir, f.slice(0, -'.json'.length)))
    .filter((r): r is BakeRecord => r !== undefined)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}
