// The rows of `fluxer spot prices` (pure): one per (type, AZ) with a spot price or an offering,
// savings against on-demand, GPU facts, placement score; cheapest first.
import type { InstanceTypeInfo } from './instance-types.js';
import type { PricePoint, SpotPrice } from './spot-prices.js';

export interface PriceRow {
  instanceType: string;
  az: string;
  /** USD per hour now; null where EC2 reports no spot price for the pool. */
  spotPrice: number | null;
  onDemandPrice: number | null;
  /** What spot saves against on-demand: the fraction (0.6 = 60 % cheaper) and USD per hour. */
  savings: { fraction: number; usdPerHour: number } | null;
  gpu: { name: string; count: number; memoryMiB: number } | null;
  vcpus: number;
  offered: boolean;
  score: number | null;
  history?: PricePoint[];
}

export interface PriceTableInput {
  types: readonly string[];
  info: Map<string, InstanceTypeInfo>;
  spot: readonly SpotPrice[];
  onDemand: Map<string, number | null>;
  offered: Map<string, Set<string>>;
  /** AZ name → AZ id (placement scores are by id). */
  azIds: Map<string, string>;
  scoresByAzId: Map<string, number>;
  history?: Map<string, PricePoint[]>;
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));

export function savingsOf(spot: number | null, onDemand: number | null): PriceRow['savings'] {
  if (spot === null || onDemand === null || onDemand <= 0) return null;
  return { fraction: round(1 - spot / onDemand, 4), usdPerHour: round(onDemand - spot, 6) };
}

export function buildPriceRows(input: PriceTableInput): PriceRow[] {
  const rows = new Map<string, PriceRow>();
  const row = (instanceType: string, az: string): PriceRow => {
    const key = `${instanceType}\t${az}`;
    let r = rows.get(key);
    if (!r) {
      const info = input.info.get(instanceType);
      const onDemandPrice = input.onDemand.get(instanceType) ?? null;
      const azId = input.azIds.get(az);
      r = {
        instanceType,
        az,
        spotPrice: null,
        onDemandPrice,
        savings: null,
        gpu: info?.gpu ? { ...info.gpu } : null,
        vcpus: info?.vcpus ?? 0,
        offered: input.offered.get(instanceType)?.has(az) ?? false,
        score: azId !== undefined ? input.scoresByAzId.get(azId) ?? null : null,
        ...(input.history ? { history: input.history.get(key) ?? [] } : {}),
      };
      rows.set(key, r);
    }
    return r;
  };
  for (const p of input.spot) if (input.types.includes(p.instanceType)) row(p.instanceType, p.az).spotPrice = p.price;
  for (const t of input.types) for (const az of input.offered.get(t) ?? []) row(t, az);
  for (const r of rows.values()) r.savings = savingsOf(r.spotPrice, r.onDemandPrice);
  return rankPriceRows([...rows.values()]);
}

/** Cheapest first; pools without a spot price last; then by type and AZ for a stable order. */
export function rankPriceRows(rows: PriceRow[]): PriceRow[] {
  const price = (r: PriceRow) => r.spotPrice ?? Number.POSITIVE_INFINITY;
  return [...rows].sort((a, b) => price(a) - price(b) || a.instanceType.localeCompare(b.instanceType) || a.az.localeCompare(b.az));
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * A sparkline of the price in force over [start, end] in `width` equal slots (a step function: each
 * slot shows the price in force at its end), scaled from the series' low to its high.
 */
export function sparkline(points: readonly PricePoint[], start: number, end: number, width = 24): string {
  if (!points.length || end <= start) return '';
  const values: number[] = [];
  for (let i = 1; i <= width; i++) {
    const t = start + ((end - start) * i) / width;
    const inForce = [...points].reverse().find((p) => p.at <= t) ?? points[0]!;
    values.push(inForce.price);
  }
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => BARS[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1))]).join('');
}
