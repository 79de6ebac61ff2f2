// On-demand prices per (region, instance type): the ceiling a spot price is compared with. From the
// Pricing API's GetProducts (its endpoint is in us-east-1 whatever the region asked about), with the
// TERM_MATCH filters that leave exactly one product: Linux, shared tenancy, no pre-installed
// software, capacity used (not an unused reservation), on-demand.
// https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
//
// Prices change a few times a year; they are cached a day in a file keyed by endpoint and region, so
// an emulated endpoint never poisons the real cache.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { PricingPort } from '../../aws/pricing.js';
import type { Clock } from '../../lib/clock.js';
import { isFresh, readCacheFile, writeCacheFile } from '../../lib/ttl-file-cache.js';

export const ON_DEMAND_CACHE_MS = 24 * 3_600_000;

export function onDemandFilters(region: string, instanceType: string) {
  const terms: Array<[string, string]> = [
    ['regionCode', region],
    ['instanceType', instanceType],
    ['operatingSystem', 'Linux'],
    ['tenancy', 'Shared'],
    ['preInstalledSw', 'NA'],
    ['capacitystatus', 'Used'],
    ['marketoption', 'OnDemand'],
  ];
  return terms.map(([Field, Value]) => ({ Type: 'TERM_MATCH' as const, Field, Value }));
}

interface PriceListDocument {
  product?: { attributes?: Record<string, string> };
  terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: { USD?: string } }> }> };
}

/**
 * The hourly USD price in one Price List document (a JSON string), or undefined when it has none.
 * Only OnDemand terms count (documents carry Reserved terms too); a zero price is no price.
 */
export function parsePriceListDocument(text: string): { instanceType?: string; regionCode?: string; usdPerHour: number } | undefined {
  let doc: PriceListDocument;
  try {
    doc = JSON.parse(text) as PriceListDocument;
  } catch {
    return undefined;
  }
  for (const term of Object.values(doc.terms?.OnDemand ?? {})) {
    for (const dim of Object.values(term.priceDimensions ?? {})) {
      const usd = Number(dim.pricePerUnit?.USD);
      if (Number.isFinite(usd) && usd > 0 && (dim.unit === undefined || dim.unit === 'Hrs')) {
        return { instanceType: doc.product?.attributes?.instanceType, regionCode: doc.product?.attributes?.regionCode, usdPerHour: usd };
      }
    }
  }
  return undefined;
}

/** The on-demand price of one type in one region, paging through GetProducts; undefined when unlisted. */
export async function fetchOnDemandPrice(pricing: PricingPort, region: string, instanceType: string): Promise<number | undefined> {
  let token: string | undefined;
  const found: number[] = [];
  do {
    const page = await pricing.getProducts({ ServiceCode: 'AmazonEC2', FormatVersion: 'aws_v1', Filters: onDemandFilters(region, instanceType), ...(token ? { NextToken: token } : {}) });
    for (const text of page.PriceList ?? []) {
      // The SDK hands each document over as a LazyJsonString (a String object): its text is String(x).
      const p = parsePriceListDocument(String(text));
      if (p && (p.instanceType === undefined || p.instanceType === instanceType)) found.push(p.usdPerHour);
    }
    token = page.NextToken || undefined;
  } while (token);
  // The filters leave one product; if AWS ever lists more, the dearest is the safe ceiling.
  return found.length ? Math.max(...found) : undefined;
}

interface CacheFile {
  endpoint: string;
  region: string;
  prices: Record<string, { usdPerHour: number | null; fetchedAt: number }>;
}

export function onDemandCachePath(cacheDir: string, endpoint: string | undefined, region: string): string {
  const key = createHash('sha256').update(`${endpoint ?? 'aws'}\n${region}`).digest('hex').slice(0, 16);
  return join(cacheDir, `on-demand-${region}-${key}.json`);
}

export interface OnDemandOptions {
  pricing: () => Promise<PricingPort>;
  clock: Pick<Clock, 'now'>;
  region: string;
  /** The endpoint the Pricing client talks to (undefined: AWS itself); part of the cache key. */
  endpoint: string | undefined;
  /** Where the cache file lives (fluxerStateDir(env, 'cache')). */
  cacheDir: string;
}

/** On-demand prices for `types` (null where AWS lists none), from the day-old cache where it has them. */
export async function onDemandPrices(opts: OnDemandOptions, types: readonly string[]): Promise<Map<string, number | null>> {
  const path = onDemandCachePath(opts.cacheDir, opts.endpoint, opts.region);
  const now = opts.clock.now();
  let cache: CacheFile = { endpoint: opts.endpoint ?? 'aws', region: opts.region, prices: {} };
  // No cache yet, a damaged one or another endpoint's: fetch.
  const read = await readCacheFile<CacheFile>(path);
  if (read && read.endpoint === cache.endpoint && read.region === opts.region && read.prices) cache = read;
  const out = new Map<string, number | null>();
  let changed = false;
  for (const t of types) {
    const hit = cache.prices[t];
    if (hit && isFresh(hit.fetchedAt, now, ON_DEMAND_CACHE_MS)) {
      out.set(t, hit.usdPerHour);
      continue;
    }
    const price = (await fetchOnDemandPrice(await opts.pricing(), opts.region, t)) ?? null;
    cache.prices[t] = { usdPerHour: price, fetchedAt: now };
    out.set(t, price);
    changed = true;
  }
  if (changed) await writeCacheFile(path, cache);
  return out;
}
