// Pools that just failed for lack of capacity, remembered for 3 minutes (Karpenter's TTL) so the next
// launch does not try them first again. A file in the state folder, keyed by endpoint, account,
// region, AZ id and type: an emulated region never poisons a real one.
import { join } from 'node:path';
import type { Clock } from '../../lib/clock.js';
import { isFresh, readCacheFileSync, writeCacheFileSync } from '../../lib/ttl-file-cache.js';

export const CAPACITY_TTL_MS = 3 * 60_000;

export interface PoolKeyParts {
  endpoint: string;
  account: string;
  region: string;
  azId: string;
  instanceType: string;
}

export interface FailedPool {
  code: string;
  message: string;
  /** ms since the epoch. */
  at: number;
}

export function poolKey(k: PoolKeyParts): string {
  return [k.endpoint, k.account, k.region, k.azId, k.instanceType].join('|');
}

export class CapacityCache {
  private readonly file: string;

  constructor(dir: string, private readonly clock: Clock, private readonly ttlMs = CAPACITY_TTL_MS) {
    this.file = join(dir, 'failed-pools.json');
  }

  private read(): Record<string, FailedPool> {
    return readCacheFileSync<Record<string, FailedPool>>(this.file) ?? {};
  }

  /** The failure still remembered for this pool, if any. */
  recent(key: string): FailedPool | undefined {
    const entry = this.read()[key];
    return entry && isFresh(entry.at, this.clock.now(), this.ttlMs) ? entry : undefined;
  }

  /** Remembers (or re-marks, extending the memory) a failed pool; expired entries are dropped. */
  remember(key: string, failure: Omit<FailedPool, 'at'>): void {
    const now = this.clock.now();
    const kept = Object.fromEntries(Object.entries(this.read()).filter(([, e]) => isFresh(e?.at, now, this.ttlMs)));
    kept[key] = { ...failure, at: now };
    writeCacheFileSync(this.file, kept);
  }
}
