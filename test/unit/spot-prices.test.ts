// spot prices' pure parts: Price List documents, the on-demand cache, ranking, savings, sparklines.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PricingPort } from '../../src/aws/pricing.js';
import { ON_DEMAND_CACHE_MS, fetchOnDemandPrice, onDemandCachePath, onDemandFilters, onDemandPrices, parsePriceListDocument } from '../../src/core/launch/on-demand.js';
import { buildPriceRows, savingsOf, sparkline } from '../../src/core/launch/price-table.js';
import { parseHistory } from '../../src/commands/spot/prices.js';
import { priceListDocument } from '../../src/emulator/price-list.js';

describe('Price List documents', () => {
  it('reads the OnDemand hourly USD price, not the Reserved one', () => {
    expect(parsePriceListDocument(priceListDocument({ region: 'eu-north-1', instanceType: 'g5.xlarge', price: 1.067 }))).toEqual({ instanceType: 'g5.xlarge', regionCode: 'eu-north-1', usdPerHour: 1.067 });
  });

  it('gives nothing for a document without an on-demand price or one that is not JSON', () => {
    expect(parsePriceListDocument(JSON.stringify({ product: {}, terms: { Reserved: {} } }))).toBeUndefined();
    expect(parsePriceListDocument(JSON.stringify({ terms: { OnDemand: { a: { priceDimensions: { b: { unit: 'Hrs', pricePerUnit: { USD: '0.0000000000' } } } } } } }))).toBeUndefined();
    expect(parsePriceListDocument('{not json')).toBeUndefined();
  });

  it('asks with the seven TERM_MATCH filters', () => {
    expect(onDemandFilters('us-east-1', 'g6.xlarge').map((f) => `${f.Field}=${f.Value}`)).toEqual([
      'regionCode=us-east-1', 'instanceType=g6.xlarge', 'operatingSystem=Linux', 'tenancy=Shared', 'preInstalledSw=NA', 'capacitystatus=Used', 'marketoption=OnDemand',
    ]);
  });
});

describe('GetProducts paging', () => {
  it('reads every page, and a type AWS does not list is undefined', async () => {
    const tokens: Array<string | undefined> = [];
    const pricing: PricingPort = {
      getProducts: async (input) => {
        tokens.push(input.NextToken);
        if (input.Filters!.some((f) => f.Value === 'g9.none')) return { PriceList: [], $metadata: {} };
        return input.NextToken
          ? { PriceList: [priceListDocument({ region: 'us-east-1', instanceType: 'g5.xlarge', price: 1.006 })], $metadata: {} }
          : { PriceList: [], NextToken: 'page-2', $metadata: {} };
      },
    };
    expect(await fetchOnDemandPrice(pricing, 'us-east-1', 'g5.xlarge')).toBe(1.006);
    expect(tokens).toEqual([undefined, 'page-2']);
    expect(await fetchOnDemandPrice(pricing, 'us-east-1', 'g9.none')).toBeUndefined();
  });
});

describe('on-demand cache', () => {
  const pricingWith = (calls: string[]): PricingPort => ({
    getProducts: async (input) => {
      const type = input.Filters!.find((f) => f.Field === 'instanceType')!.Value!;
      calls.push(type);
      return { PriceList: [priceListDocument({ region: 'us-east-1', instanceType: type, price: 1.5 })], $metadata: {} };
    },
  });

  it('is reused for a day, per endpoint and region, then fetched again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxer-od-'));
    const calls: string[] = [];
    let now = 1_000_000;
    const opts = { pricing: async () => pricingWith(calls), clock: { now: () => now }, region: 'us-east-1', endpoint: 'http://127.0.0.1:9', cacheDir: dir };
    expect((await onDemandPrices(opts, ['g5.xlarge'])).get('g5.xlarge')).toBe(1.5);
    await onDemandPrices(opts, ['g5.xlarge']);
    expect(calls).toEqual(['g5.xlarge']);
    now += ON_DEMAND_CACHE_MS;
    await onDemandPrices(opts, ['g5.xlarge']);
    expect(calls).toHaveLength(2);
    // The real endpoint has its own file: an emulated one never answers for it.
    await onDemandPrices({ ...opts, endpoint: undefined }, ['g5.xlarge']);
    expect(calls).toHaveLength(3);
    expect(readdirSync(dir)).toHaveLength(2);
    expect(onDemandCachePath(dir, undefined, 'us-east-1')).not.toBe(onDemandCachePath(dir, 'http://127.0.0.1:9', 'us-east-1'));
  });
});

describe('price rows', () => {
  const info = new Map([
    ['g5.xlarge', { instanceType: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, gpu: { name: 'NVIDIA A10G', count: 1, memoryMiB: 22888 } }],
    ['g6.xlarge', { instanceType: 'g6.xlarge', vcpus: 4, memoryMiB: 16384, gpu: { name: 'NVIDIA L4', count: 1, memoryMiB: 22888 } }],
  ]);

  it('puts the cheapest first, pools without a spot price last, with savings and scores by AZ id', () => {
    const rows = buildPriceRows({
      types: ['g5.xlarge', 'g6.xlarge'],
      info,
      spot: [
        { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.4, since: 0 },
        { instanceType: 'g6.xlarge', az: 'us-east-1b', price: 0.3, since: 0 },
      ],
      onDemand: new Map([['g5.xlarge', 1.006], ['g6.xlarge', null]]),
      offered: new Map([['g5.xlarge', new Set(['us-east-1a', 'us-east-1c'])], ['g6.xlarge', new Set(['us-east-1b'])]]),
      azIds: new Map([['us-east-1a', 'use1-az1'], ['us-east-1b', 'use1-az2']]),
      scoresByAzId: new Map([['use1-az1', 8]]),
    });
    expect(rows.map((r) => [r.instanceType, r.az, r.spotPrice, r.savings, r.score, r.offered])).toEqual([
      ['g6.xlarge', 'us-east-1b', 0.3, null, null, true],
      ['g5.xlarge', 'us-east-1a', 0.4, { fraction: 0.6024, usdPerHour: 0.606 }, 8, true],
      ['g5.xlarge', 'us-east-1c', null, null, null, true],
    ]);
    expect(rows[1]!.gpu).toEqual({ name: 'NVIDIA A10G', count: 1, memoryMiB: 22888 });
  });

  it('savings need both prices', () => {
    expect(savingsOf(0.5, 1)).toEqual({ fraction: 0.5, usdPerHour: 0.5 });
    expect(savingsOf(null, 1)).toBeNull();
    expect(savingsOf(0.5, 0)).toBeNull();
  });

  it('a sparkline steps with the price in force, low to high', () => {
    const line = sparkline([{ at: 0, price: 1 }, { at: 50, price: 2 }], 0, 100, 4);
    expect(line).toBe('▁███');
    expect(sparkline([{ at: 0, price: 1 }], 0, 100, 3)).toBe('▄▄▄');
    expect(sparkline([], 0, 100)).toBe('');
  });
});

describe('--history', () => {
  it('takes 1h to 90d', () => {
    expect(parseHistory('7d')).toBe(7 * 86_400_000);
    expect(parseHistory('1h')).toBe(3_600_000);
    expect(() => parseHistory('59m')).toThrow(/--history "59m": must be between 1h and 90d/);
    expect(() => parseHistory('91d')).toThrow(/between 1h and 90d/);
    expect(() => parseHistory('week')).toThrow(/--history/);
  });
});
