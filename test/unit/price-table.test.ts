// The pure parts of `spot prices`: reading a price-list document, building and ordering the rows,
// the sparkline, and the day-long cache on a fake clock.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { priceFromDocument } from '../../src/core/launch/on-demand.js';
import { buildPriceRows, sparkline } from '../../src/core/launch/price-table.js';
import { fileTtlCache } from '../../src/core/launch/ttl-cache.js';
import type { Clock } from '../../src/lib/clock.js';

const a10g = { instanceType: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, gpu: { name: 'NVIDIA A10G', count: 1, memoryMiB: 22888 } };

describe('price rows', () => {
  it('reads the hourly USD price from an offer document; other shapes give none', () => {
    const doc = { terms: { OnDemand: { 'SKU.T': { priceDimensions: { 'SKU.T.R': { unit: 'Hrs', pricePerUnit: { USD: '1.0060000000' } } } } } } };
    expect(priceFromDocument(JSON.stringify(doc))).toBe(1.006);
    expect(priceFromDocument('{"terms":{}}')).toBeUndefined();
    expect(priceFromDocument('not json')).toBeUndefined();
  });

  it('cheapest first, unpriced pools last, pools neither offered nor priced left out; savings from on-demand', () => {
    const rows = buildPriceRows({
      types: new Map([['g5.xlarge', a10g], ['g6.xlarge', { ...a10g, instanceType: 'g6.xlarge', gpu: { name: 'NVIDIA L4', count: 1, memoryMiB: 22888 } }]]),
      zones: new Map([['us-east-1a', 'use1-az6'], ['us-east-1b', 'use1-az1'], ['us-east-1c', 'use1-az2']]),
      offered: new Map([['g5.xlarge', new Set(['us-east-1a', 'us-east-1b'])], ['g6.xlarge', new Set(['us-east-1a'])]]),
      spot: [
        { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.5, since: 0 },
        { instanceType: 'g6.xlarge', az: 'us-east-1a', price: 0.4, since: 0 },
      ],
      onDemand: new Map([['g5.xlarge', 1], ['g6.xlarge', null]]),
      scoresByAzId: new Map([['use1-az6', 8]]),
    });
    expect(rows.map((r) => [r.instanceType, r.az, r.spotPrice, r.score])).toEqual([
      ['g6.xlarge', 'us-east-1a', 0.4, 8],
      ['g5.xlarge', 'us-east-1a', 0.5, 8],
      ['g5.xlarge', 'us-east-1b', null, null],
    ]);
    expect(rows[1]!.savings).toEqual({ fraction: 0.5, perHour: 0.5 });
    expect(rows[0]!.savings).toBeNull(); // no on-demand price: no savings claimed
  });

  it('sparkline: one bar per point up to the width, lowest to highest', () => {
    expect(sparkline([{ price: 1 }, { price: 2 }, { price: 3 }])).toBe('▁▅█');
    expect(sparkline([{ price: 2 }, { price: 2 }])).toBe('▄▄');
    expect(sparkline(Array.from({ length: 100 }, (_, i) => ({ price: i }))).length).toBeLessThanOrEqual(26);
    expect(sparkline([])).toBe('');
  });
});

describe('the on-demand cache', () => {
  it('keeps a value for its lifetime on the injected clock, then forgets it; a broken file is no cache', () => {
    let t = 1_000_000;
    const clock: Clock = { now: () => t, sleep: async () => {} };
    const path = join(mkdtempSync(join(tmpdir(), 'fx-cache-')), 'sub', 'c.json');
    const cache = fileTtlCache<number | null>(path, 24 * 3600_000, clock);
    cache.set('aws\tus-east-1\tg5.xlarge', 1.006);
    cache.set('aws\tus-east-1\tp9.huge', null);
    t += 23 * 3600_000;
    const reread = fileTtlCache<number | null>(path, 24 * 3600_000, clock);
    expect(reread.get('aws\tus-east-1\tg5.xlarge')).toBe(1.006);
    expect(reread.get('aws\tus-east-1\tp9.huge')).toBeNull();
    t += 2 * 3600_000;
    expect(reread.get('aws\tus-east-1\tg5.xlarge')).toBeUndefined();
    expect(fileTtlCache('/proc/nonexistent/x.json', 1000, clock).get('k')).toBeUndefined();
  });
});
