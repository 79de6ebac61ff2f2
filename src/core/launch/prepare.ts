// Everything `spot launch` reads before it may spend money: the types (bad ones are usage errors,
// exit 2, after at most DescribeInstanceTypes), the pools in order, and the spot quota (over → exit
// 5 before any launch call).
import type { Ec2Port } from '../../aws/ec2.js';
import type { QuotasPort } from '../../aws/quotas.js';
import { launchErrorMessage } from '../../aws/errors.js';
import type { Clock } from '../../lib/clock.js';
import { CapacityError, UsageError } from '../../lib/errors.js';
import { gpuFit } from './gpu-fit.js';
import { describeTypes, offeredAzs, type InstanceTypeInfo } from './instance-types.js';
import { placementScores } from './placement.js';
import { planPools, priceKey, type DroppedPool, type Pool, type Zone } from './pools.js';
import { assertQuotaRoom, readQuotaValue, spotQuotaFor, spotVcpusInUse } from './quota.js';
import { currentSpotPrices } from './spot-prices.js';

/** Checks the types and that at least one GPU among them holds the model: exit 2 otherwise. */
export async function checkLaunchTypes(ec2: Pick<Ec2Port, 'describeInstanceTypes'>, types: readonly string[], model: string, flag: string): Promise<Map<string, InstanceTypeInfo>> {
  const info = await describeTypes(ec2, types, flag);
  const noGpu = types.filter((t) => !info.get(t)?.gpu);
  if (noGpu.length) {
    throw new UsageError(`${flag}: ${noGpu.join(', ')} ${noGpu.length === 1 ? 'has' : 'have'} no GPU; nodes need one`, { code: 'NoGpu', hint: 'Pick GPU types (g5, g6, g6e…): `fluxer spot prices` lists them with their GPUs.' });
  }
  const fits = types.map((t) => ({ t, fit: gpuFit(model, info.get(t)!.gpu!) }));
  if (!fits.some((f) => f.fit.policy)) {
    throw new UsageError(`${flag}: no type holds ${model}: ${fits.map((f) => `${f.t}: ${f.fit.reason}`).join('; ')}`, { code: 'GpuTooSmall', hint: 'Pick a type with more GPU memory (g5/g6 24 GB, g6e 48 GB), or a smaller model.' });
  }
  return info;
}

export interface PoolPlanInput {
  types: readonly string[];
  info: ReadonlyMap<string, InstanceTypeInfo>;
  model: string;
  zones: readonly Zone[];
  region: string;
  count: number;
  maxPrice?: number;
  recentFailure?: (pool: { instanceType: string; azId: string }) => string | undefined;
}

export interface PoolPlan {
  pools: Pool[];
  dropped: DroppedPool[];
  notes: string[];
}

export async function planLaunchPools(ec2: Pick<Ec2Port, 'describeInstanceTypeOfferings' | 'describeSpotPriceHistory' | 'getSpotPlacementScores'>, clock: Clock, input: PoolPlanInput): Promise<PoolPlan> {
  const fitting = input.types.filter((t) => gpuFit(input.model, input.info.get(t)!.gpu!).policy);
  const azs = input.zones.map((z) => z.az);
  const [offered, prices, scores] = await Promise.all([
    offeredAzs(ec2, fitting),
    currentSpotPrices(ec2, clock, fitting, azs),
    placementScores(ec2, input.region, fitting, input.count),
  ]);
  const notes: string[] = [];
  if (scores.unavailable) notes.push(`no placement scores (${scores.unavailable}); ranked by price and type order only`);
  const plan = planPools({
    ...input,
    offered,
    prices: new Map(prices.map((p) => [priceKey(p.instanceType, p.az), p.price])),
    scores: scores.byAzId,
  });
  return { ...plan, notes };
}

export interface QuotaReport {
  code: string;
  value: number | undefined;
  inUse: number;
  requested: number;
  note?: string;
}

/**
 * The spot vCPU quota of the plan's families: running spot vCPUs (counted here from DescribeInstances)
 * plus the request (count × the largest type's vCPUs) against the quota's value. Over → exit 5.
 * A quota that cannot be read is noted and the launch goes on (EC2 says if it is too low).
 */
export async function checkSpotQuota(ports: { ec2: Pick<Ec2Port, 'describeInstances'>; quotas: QuotasPort }, pools: readonly Pool[], info: ReadonlyMap<string, InstanceTypeInfo>, count: number, region: string): Promise<QuotaReport[]> {
  const needs = new Map<string, { vcpus: number; quota: NonNullable<ReturnType<typeof spotQuotaFor>> }>();
  for (const p of pools) {
    const quota = spotQuotaFor(p.instanceType);
    if (!quota) continue;
    const n = needs.get(quota.code);
    if (!n || p.vcpus > n.vcpus) needs.set(quota.code, { vcpus: p.vcpus, quota });
  }
  if (!needs.size) return [];
  const used = await spotVcpusInUse(ports.ec2, (t) => info.get(t)?.vcpus);
  const reports: QuotaReport[] = [];
  for (const { quota, vcpus } of needs.values()) {
    const requested = count * vcpus;
    const inUse = used.get(quota.code) ?? 0;
    let value: number;
    try {
      value = await readQuotaValue(ports.quotas, quota.code);
    } catch (err) {
      reports.push({ code: quota.code, value: undefined, inUse, requested, note: `quota not read (${launchErrorMessage(err)}); EC2 will refuse the launch if it is too low` });
      continue;
    }
    assertQuotaRoom({ quota, value, inUse, requested }, region);
    reports.push({ code: quota.code, value, inUse, requested });
  }
  return reports;
}

/** Nothing left to try: each pool dropped or failed, with its reason (exit 5). */
export function noPoolError(dropped: readonly DroppedPool[], region: string): CapacityError {
  const lines = dropped.map((d) => `${d.instanceType}${d.az ? ` in ${d.az}` : ''}: ${d.reason}`);
  return new CapacityError(`No pool to launch into in ${region}:\n  ${lines.join('\n  ')}`, {
    code: 'NoPool',
    hint: 'Add instance types or subnets in other AZs, raise --max-price, or --retry-failed-pools to try recently failed pools again.',
  });
}
