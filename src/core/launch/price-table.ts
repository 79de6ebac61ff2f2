// `fluxer spot prices` as a library: per (instance type, AZ) of a region, the spot price in force, the
// on-demand price, the savings, what the type is (GPUs, vCPUs), whether the AZ offers it and EC2's
// placement score for the AZ. The reads run concurrently; the rows are built by a pure function.
import type { Ec2Port } from '../../aws/ec2.js';
import type { PricingPort } from '../../aws/pricing.js';
import type { Clock } from '../../lib/clock.js';
import { describeTypes, offeredAzs, type GpuInfo, type InstanceTypeInfo } from './instance-types.js';
import { onDemandPrices } from './on-demand.js';
import { placementScores } from './placement.js';
import { currentSpotPrices, spotPriceHistory, type PricePoint, type SpotPrice } from './spot-prices.js';
import type { TtlCache } from './ttl-cache.js';

export interface PriceRow {
  instanceType: string;
  az: string;
  azId: string | null;
  /** USD per hour in force now; null when EC2 lists no spot price for the pool. */
  spotPrice: number | null;
  onDemandPrice: number | null;
  /** 1 − spot/on-demand as a fraction, and the difference in USD per hour. */
  savings: { fraction: number; perHour: number } | null;
  gpu: GpuInfo | null;
  vcpus: number;
  offered: boolean;
  /** EC2's placement score (1–10) of the AZ for the types asked about together; null when unknown. */
  score: number | null;
  history?: Array<{ at: string; price: number }>;
}

export interface PriceTableInput {
  types: Map<string, InstanceTypeInfo>;
  /** AZ name → AZ id, every AZ of the region. */
  zones: Map<string, string>;
  offered: Map<string, Set<string>>;
  spot: SpotPrice[];
  onDemand: Map<string, number | null>;
  scoresByAzId: Map<string, number>;
  history?: Map<string, PricePoint[]>;
}

const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;

/** Cheapest first; pools with no spot price last; then by type and AZ. Pure. */
export function buildPriceRows(input: PriceTableInput): PriceRow[] {
  const spot = new Map(input.spot.map((p) => [`${p.instanceType}\t${p.az}`, p.price]));
  const rows: PriceRow[] = [];
  for (const [type, info] of input.types) {
    const azs = new Set([...input.zones.keys(), ...input.spot.filter((p) => p.instanceType === type).map((p) => p.az)]);
    for (const az of azs) {
      const offered = input.offered.get(type)?.has(az) ?? false;
      const price = spot.get(`${type}\t${az}`) ?? null;
      if (!offered && price === null) continue;
      const onDemand = input.onDemand.get(type) ?? null;
      const azId = input.zones.get(az) ?? null;
      const row: PriceRow = {
        instanceType: type,
        az,
        azId,
        spotPrice: price,
        onDemandPrice: onDemand,
        savings: price !== null && onDemand ? { fraction: round(1 - price / onDemand, 4), perHour: round(onDemand - price, 4) } : null,
        gpu: info.gpu ?? null,
        vcpus: info.vcpus,
        offered,
        score: azId ? (input.scoresByAzId.get(azId) ?? null) : null,
      };
      if (input.history) row.history = (input.history.get(`${type}\t${az}`) ?? []).map((p) => ({ at: new Date(p.at).toISOString(), price: p.price }));
      rows.push(row);
    }
  }
  return rows.sort(
    (a, b) => (a.spotPrice ?? Infinity) - (b.spotPrice ?? Infinity) || a.instanceType.localeCompare(b.instanceType) || a.az.localeCompare(b.az),
  );
}

export interface PriceTablePorts {
  ec2: Pick<Ec2Port, 'describeInstanceTypes' | 'describeInstanceTypeOfferings' | 'describeAvailabilityZones' | 'describeSpotPriceHistory' | 'getSpotPlacementScores'>;
  pricing: PricingPort;
}

export interface PriceTableOptions {
  region: string;
  types: readonly string[];
  /** Adds each pool's price changes since this many ms ago. */
  historyMs?: number;
  onDemandCache: TtlCache<number | null>;
  /** Names the endpoint the prices came from, so an emulated region's prices never answer for AWS's. */
  cacheScope: string;
}

export async function priceTable(ports: PriceTablePorts, clock: Clock, opts: PriceTableOptions): Promise<{ rows: PriceRow[]; scoresUnavailable?: string }> {
  // The type check comes first: an unknown type is a usage error before anything else is asked.
  const types = await describeTypes(ports.ec2, opts.types);
  const [zones, offered, spot, onDemand, scores, history] = await Promise.all([
    ports.ec2.describeAvailabilityZones({ Filters: [{ Name: 'zone-type', Values: ['availability-zone'] }] }),
    offeredAzs(ports.ec2, opts.types),
    currentSpotPrices(ports.ec2, clock, opts.types),
    onDemandPrices(ports.pricing, opts.onDemandCache, opts.cacheScope, opts.region, opts.types),
    placementScores(ports.ec2, opts.region, opts.types, 1),
    opts.historyMs ? spotPriceHistory(ports.ec2, clock, opts.types, clock.now() - opts.historyMs) : Promise.resolve(undefined),
  ]);
  const zoneIds = new Map<string, string>();
  for (const z of zones.AvailabilityZones ?? []) if (z.ZoneName) zoneIds.set(z.ZoneName, z.ZoneId ?? z.ZoneName);
  const rows = buildPriceRows({ types, zones: zoneIds, offered, spot, onDemand, scoresByAzId: scores.byAzId, ...(history ? { history } : {}) });
  return { rows, ...(scores.unavailable ? { scoresUnavailable: scores.unavailable } : {}) };
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** A sparkline of a price series (one character per point, at most `width`, resampled by time). */
export function sparkline(points: ReadonlyArray<{ price: number }>, width = 24): string {
  if (!points.length) return '';
  const step = Math.max(1, Math.ceil(points.length / width));
  const sampled = points.filter((_, i) => i % step === 0 || i === points.length - 1);
  const lo = Math.min(...sampled.map((p) => p.price));
  const hi = Math.max(...sampled.map((p) => p.price));
  return sampled.map((p) => SPARKS[hi === lo ? 3 : Math.round(((p.price - lo) / (hi - lo)) * (SPARKS.length - 1))]).join('');
}
