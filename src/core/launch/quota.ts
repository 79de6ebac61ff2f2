// Spot vCPU quotas: which quota an instance type counts against, the quota's value in the account, and
// — before `fluxer spot launch` sends anything — whether the request fits beside what already runs.
// EC2 spot quotas are vCPU counts per instance-family group (Service Quotas, service code "ec2"):
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html
import type { Ec2Port } from '../../aws/ec2.js';
import type { QuotasPort } from '../../aws/quotas.js';
import { isNotFound } from '../../aws/errors.js';
import { CapacityError } from '../../lib/errors.js';

export interface SpotQuota {
  code: string;
  name: string;
}

// EC2 spot quotas are vCPU counts per instance-family group (Service Quotas, service code "ec2").
const G_VT: SpotQuota = { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests' };
const P_OLD: SpotQuota = { code: 'L-7212CCBC', name: 'All P4, P3 and P2 Spot Instance Requests' };
const P5: SpotQuota = { code: 'L-C4BD4855', name: 'All P5 Spot Instance Requests' };
const F: SpotQuota = { code: 'L-88CF9481', name: 'All F Spot Instance Requests' };
const STANDARD: SpotQuota = { code: 'L-34B43A08', name: 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests' };
const X: SpotQuota = { code: 'L-E3A00192', name: 'All X Spot Instance Requests' };
const INF: SpotQuota = { code: 'L-B5D1601B', name: 'All Inf Spot Instance Requests' };
const DL: SpotQuota = { code: 'L-85EED4F7', name: 'All DL Spot Instance Requests' };
const TRN: SpotQuota = { code: 'L-6B0D517C', name: 'All Trn Spot Instance Requests' };

export const SPOT_QUOTAS: readonly SpotQuota[] = [G_VT, P_OLD, P5, F, STANDARD, X, INF, DL, TRN];

/** Multi-letter family prefixes first, so "vt1" is VT (not V) and "inf2" is Inf (not I). */
const PREFIX_QUOTAS: Array<[RegExp, SpotQuota | undefined]> = [
  [/^vt\d/, G_VT],
  [/^inf\d/, INF],
  [/^trn\d/, TRN],
  [/^dl\d/, DL],
  // Mac, high-memory (u-) and HPC instances are not sold as spot: no spot quota applies.
  [/^(mac|u-|hpc)/, undefined],
  [/^g[a-z]?\d/, G_VT],
  [/^p[234]/, P_OLD],
  [/^p5/, P5],
  [/^f\d/, F],
  [/^x\d/, X],
  [/^[acdhimrtz][a-z]?\d/, STANDARD],
];

/** The spot vCPU quota an instance type counts against, or undefined when none is known. */
export function spotQuotaFor(instanceType: string): SpotQuota | undefined {
  const family = instanceType.split('.')[0] ?? '';
  for (const [pattern, quota] of PREFIX_QUOTAS) if (pattern.test(family)) return quota;
  return undefined;
}

export interface QuotaNeed {
  quota: SpotQuota;
  /** vCPUs one node needs: the largest of the stack's types under this quota. */
  vcpusPerNode: number;
  /** The type that sets vcpusPerNode. */
  largestType: string;
  types: string[];
}

/** Groups the stack's instance types by spot quota; types with no known quota come back separately. */
export function quotaNeeds(vcpusByType: ReadonlyMap<string, number>): { needs: QuotaNeed[]; unquoted: string[] } {
  const needs = new Map<string, QuotaNeed>();
  const unquoted: string[] = [];
  for (const [type, vcpus] of vcpusByType) {
    const quota = spotQuotaFor(type);
    if (!quota) {
      unquoted.push(type);
      continue;
    }
    const need = needs.get(quota.code) ?? { quota, vcpusPerNode: 0, largestType: type, types: [] };
    need.types.push(type);
    if (vcpus > need.vcpusPerNode) {
      need.vcpusPerNode = vcpus;
      need.largestType = type;
    }
    needs.set(quota.code, need);
  }
  return { needs: [...needs.values()], unquoted };
}

/**
 * The quota's value in the account: the applied value, else AWS's default (an account that never
 * changed a quota may have no applied value). When the default cannot be read either, the first error stands.
 */
export async function readQuotaValue(quotas: QuotasPort, quotaCode: string): Promise<number> {
  const input = { ServiceCode: 'ec2', QuotaCode: quotaCode };
  const applied = await quotas.getServiceQuota(input).catch(async (err: unknown) => {
    if (!isNotFound(err, 'quotas')) throw err;
    return quotas.getAwsDefaultServiceQuota(input).catch(() => Promise.reject(err));
  });
  return applied.Quota?.Value ?? 0;
}

export function quotaIncreaseCommand(quotaCode: string, desired: number, region: string): string {
  return `aws service-quotas request-service-quota-increase --service-code ec2 --quota-code ${quotaCode} --desired-value ${desired} --region ${region}`;
}

/** Running (and pending) spot instances' vCPUs per quota code, counted client-side from DescribeInstances. */
export async function spotVcpusInUse(ec2: Pick<Ec2Port, 'describeInstances'>, vcpusOf: (type: string) => number | undefined): Promise<Map<string, number>> {
  const used = new Map<string, number>();
  let token: string | undefined;
  do {
    // moto answers the instance-lifecycle filter with 500: the lifecycle is read from each instance instead.
    const page = await ec2.describeInstances({ Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }], ...(token ? { NextToken: token } : {}) });
    for (const r of page.Reservations ?? []) {
      for (const i of r.Instances ?? []) {
        if (i.InstanceLifecycle !== 'spot' || !i.InstanceType) continue;
        const quota = spotQuotaFor(i.InstanceType);
        if (!quota) continue;
        const vcpus = (i.CpuOptions?.CoreCount && i.CpuOptions.ThreadsPerCore ? i.CpuOptions.CoreCount * i.CpuOptions.ThreadsPerCore : undefined) ?? vcpusOf(i.InstanceType) ?? 0;
        used.set(quota.code, (used.get(quota.code) ?? 0) + vcpus);
      }
    }
    token = page.NextToken || undefined;
  } while (token);
  return used;
}

export interface QuotaCheck {
  quota: SpotQuota;
  value: number;
  inUse: number;
  requested: number;
}

/**
 * Refuses (exit 5) a request of `count` nodes of up to `vcpusPerNode` vCPUs under `quota` that would not
 * fit beside what runs; `undefined` value (unknown quota) lets the launch go on: EC2 will say.
 */
export function assertQuotaRoom(check: QuotaCheck, region: string): void {
  if (check.inUse + check.requested <= check.value) return;
  const desired = Math.ceil(check.inUse + check.requested);
  throw new CapacityError(
    `${check.quota.code} (${check.quota.name}) in ${region} is ${check.value} vCPUs; ${check.inUse} in use by running spot instances, ` +
      `and this launch needs ${check.requested} more`,
    { code: 'SpotQuotaExceeded', hint: `Request ${desired} vCPUs (or terminate idle nodes: \`fluxer spot terminate\`): ${quotaIncreaseCommand(check.quota.code, desired, region)}` },
  );
}
