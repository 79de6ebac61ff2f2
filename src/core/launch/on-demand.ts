// On-demand prices, the ceiling a spot price is compared with: Pricing GetProducts for AmazonEC2 with
// the TERM_MATCH filters that select exactly the Linux, shared-tenancy, no-preinstalled-software,
// used-capacity product of a type in a region; PriceList is an array of JSON documents whose
// terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD is the hourly price.
// https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
// https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/reading-an-offer.html
// Prices change rarely and the API is throttled (10 burst, 5/s): each answer is cached for a day.
import type { PricingPort } from '../../aws/pricing.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import type { TtlCache } from './ttl-cache.js';

export const ON_DEMAND_CACHE_MS = 24 * 3600_000;

const FIELDS = { operatingSystem: 'Linux', tenancy: 'Shared', preInstalledSw: 'NA', capacitystatus: 'Used', marketoption: 'OnDemand' } as const;

/** The hourly USD price in one PriceList document, or undefined when it holds none. */
export function priceFromDocument(doc: string): number | undefined {
  let parsed: { terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, { pricePerUnit?: { USD?: string } }> }> } };
  try {
    parsed = JSON.parse(doc) as typeof parsed;
  } catch {
    return undefined;
  }
  for (const term of Object.values(parsed.terms?.OnDemand ?? {})) {
    for (const dim of Object.values(term.priceDimensions ?? {})) {
      const usd = Number(dim.pricePerUnit?.USD);
      if (Number.isFinite(usd) && usd > 0) return usd;
    }
  }
  return undefined;
}

/** The SDK hands PriceList entries over as strings or as its LazyJsonString (whose text is toString()). */
function documentText(doc: unknown): string {
  if (typeof doc === 'string') return doc;
  const text = String(doc);
  return text.startsWith('{') ? text : JSON.stringify(doc);
}

async function askOne(pricing: PricingPort, region: string, instanceType: string): Promise<number | null> {
  const filters = Object.entries({ regionCode: region, instanceType, ...FIELDS }).map(([Field, Value]) => ({ Type: 'TERM_MATCH' as const, Field, Value }));
  let token: string | undefined;
  do {
    const page = await pricing.getProducts({ ServiceCode: 'AmazonEC2', Filters: filters, FormatVersion: 'aws_v1', MaxResults: 10, ...(token ? { NextToken: token } : {}) });
    for (const doc of page.PriceList ?? []) {
      const price = priceFromDocument(documentText(doc));
      if (price !== undefined) return price;
    }
    token = page.NextToken || undefined;
  } while (token);
  return null;
}

/**
 * The on-demand price of each type in `region` (null: the price list has none, e.g. a type the
 * region does not sell on demand). `cacheScope` names the endpoint, so an emulated region's prices
 * never answer for AWS's.
 */
export async function onDemandPrices(pricing: PricingPort, cache: TtlCache<number | null>, cacheScope: string, region: string, types: readonly string[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  const missing: string[] = [];
  for (const t of types) {
    const hit = cache.get(`${cacheScope}\t${region}\t${t}`);
    if (hit === undefined) missing.push(t);
    else out.set(t, hit);
  }
  // Pricing allows 10 requests in a burst: stay well inside it.
  const asked = await mapConcurrent(missing, 4, (t) => askOne(pricing, region, t));
  missing.forEach((t, i) => {
    out.set(t, asked[i]!);
    cache.set(`${cacheScope}\t${region}\t${t}`, asked[i]!);
  });
  return out;
}
