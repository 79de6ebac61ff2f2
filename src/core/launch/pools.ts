// Pools and their order: a pool is one instance type in one AZ (one subnet). Pure: the inputs were
// read by the caller (types, offerings, subnets, prices, scores), so the plan is computed in
// microseconds and unit-tested without a server (bench/spot-plan.mjs measures it).
import { gpuFit } from './gpu-fit.js';
import type { InstanceTypeInfo } from './instance-types.js';

export interface Zone {
  az: string;
  azId: string;
  subnetId: string;
}

export interface Pool extends Zone {
  instanceType: string;
  vcpus: number;
  /** USD per hour now, when known. */
  spotPrice: number | undefined;
  /** EC2's placement score for the AZ (1-10), when known. */
  score: number | undefined;
  /** The memory policy the runtime will pick on this GPU. */
  policy: string;
}

export interface DroppedPool {
  instanceType: string;
  az?: string;
  reason: string;
}

export interface PlanPoolsInput {
  /** The stack's (or --type's) instance types, in the order that breaks ties. */
  types: readonly string[];
  info: ReadonlyMap<string, InstanceTypeInfo>;
  model: string;
  zones: readonly Zone[];
  /** AZ names where each type is offered. */
  offered: ReadonlyMap<string, ReadonlySet<string>>;
  /** Price by `${type}\t${az}`. */
  prices: ReadonlyMap<string, number>;
  /** Score by AZ id. */
  scores: ReadonlyMap<string, number>;
  maxPrice?: number;
  /** A failure to skip this pool for (the capacity cache), or undefined. */
  recentFailure?: (pool: { instanceType: string; azId: string }) => string | undefined;
}

/** Pools whose price is within this share of the cheapest are ranked by placement score first. */
export const NEAR_TIE = 0.05;

export const priceKey = (instanceType: string, az: string) => `${instanceType}\t${az}`;

export function planPools(input: PlanPoolsInput): { pools: Pool[]; dropped: DroppedPool[] } {
  const dropped: DroppedPool[] = [];
  const candidates: Pool[] = [];
  for (const type of input.types) {
    const info = input.info.get(type);
    if (!info?.gpu) {
      dropped.push({ instanceType: type, reason: 'has no GPU' });
      continue;
    }
    const fit = gpuFit(input.model, info.gpu);
    if (!fit.policy) {
      dropped.push({ instanceType: type, reason: fit.reason ?? `cannot hold ${input.model}` });
      continue;
    }
    for (const zone of input.zones) {
      if (!input.offered.get(type)?.has(zone.az)) {
        dropped.push({ instanceType: type, az: zone.az, reason: `not offered in ${zone.az}` });
        continue;
      }
      const spotPrice = input.prices.get(priceKey(type, zone.az));
      if (input.maxPrice !== undefined && spotPrice !== undefined && spotPrice > input.maxPrice) {
        dropped.push({ instanceType: type, az: zone.az, reason: `spot price $${spotPrice.toFixed(4)}/h is over --max-price $${input.maxPrice}` });
        continue;
      }
      const failed = input.recentFailure?.({ instanceType: type, azId: zone.azId });
      if (failed) {
        dropped.push({ instanceType: type, az: zone.az, reason: `failed recently (${failed}); --retry-failed-pools tries it again` });
        continue;
      }
      candidates.push({ ...zone, instanceType: type, vcpus: info.vcpus, spotPrice, score: input.scores.get(zone.azId), policy: fit.policy });
    }
  }
  return { pools: rankPools(candidates, input.types), dropped };
}

/**
 * Cheapest first; among pools within 5 % of the cheapest, the higher placement score first, then the
 * order of `instanceTypes` (it breaks ties, it does not override price), then the AZ. Unpriced pools last.
 */
export function rankPools(pools: readonly Pool[], typeOrder: readonly string[]): Pool[] {
  const order = new Map(typeOrder.map((t, i) => [t, i]));
  const byPrice = (a: Pool, b: Pool) => (a.spotPrice ?? Infinity) - (b.spotPrice ?? Infinity);
  const tieBreak = (a: Pool, b: Pool) => (order.get(a.instanceType) ?? 0) - (order.get(b.instanceType) ?? 0) || a.az.localeCompare(b.az);
  const cheapest = pools.reduce((m, p) => Math.min(m, p.spotPrice ?? Infinity), Infinity);
  const near = (p: Pool) => p.spotPrice !== undefined && Number.isFinite(cheapest) && p.spotPrice <= cheapest * (1 + NEAR_TIE);
  const head = pools.filter(near).sort((a, b) => (b.score ?? 0) - (a.score ?? 0) || tieBreak(a, b) || byPrice(a, b));
  const tail = pools.filter((p) => !near(p)).sort((a, b) => byPrice(a, b) || tieBreak(a, b));
  return [...head, ...tail];
}
