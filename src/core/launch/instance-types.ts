// What an instance type is (vCPUs, GPUs and their memory) and where it is offered, from EC2 itself:
// DescribeInstanceTypes and DescribeInstanceTypeOfferings (location type availability-zone).
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceTypes.html
import type { Ec2Port } from '../../aws/ec2.js';
import { hasErrorCode } from '../../aws/errors.js';
import { UsageError } from '../../lib/errors.js';

export interface GpuInfo {
  name: string;
  count: number;
  /** Memory of all the type's GPUs together, MiB (EC2's TotalGpuMemoryInMiB). */
  memoryMiB: number;
}

export interface InstanceTypeInfo {
  instanceType: string;
  vcpus: number;
  memoryMiB: number;
  /** Undefined for a type with no GPU. */
  gpu: GpuInfo | undefined;
}

export type InstanceTypePort = Pick<Ec2Port, 'describeInstanceTypes' | 'describeInstanceTypeOfferings'>;

type TypeNames = NonNullable<Parameters<Ec2Port['describeInstanceTypes']>[0]['InstanceTypes']>;

/**
 * Describes `types`; an unknown name is a usage error naming it (exit 2: only this read was sent).
 * EC2 answers InvalidInstanceType for the whole call when one name is unknown.
 */
export async function describeTypes(ec2: Pick<Ec2Port, 'describeInstanceTypes'>, types: readonly string[], flag = '--type'): Promise<Map<string, InstanceTypeInfo>> {
  const out = new Map<string, InstanceTypeInfo>();
  let token: string | undefined;
  try {
    do {
      const page = await ec2.describeInstanceTypes({ InstanceTypes: [...types] as TypeNames, ...(token ? { NextToken: token } : {}) });
      for (const t of page.InstanceTypes ?? []) {
        if (!t.InstanceType) continue;
        const gpus = t.GpuInfo?.Gpus ?? [];
        const count = gpus.reduce((n, g) => n + (g.Count ?? 0), 0);
        out.set(t.InstanceType, {
          instanceType: t.InstanceType,
          vcpus: t.VCpuInfo?.DefaultVCpus ?? 0,
          memoryMiB: t.MemoryInfo?.SizeInMiB ?? 0,
          gpu: count > 0
            ? { name: [gpus[0]?.Manufacturer, gpus[0]?.Name].filter(Boolean).join(' '), count, memoryMiB: t.GpuInfo?.TotalGpuMemoryInMiB ?? gpus.reduce((n, g) => n + (g.Count ?? 0) * (g.MemoryInfo?.SizeInMiB ?? 0), 0) }
            : undefined,
        });
      }
      token = page.NextToken || undefined;
    } while (token);
  } catch (err) {
    if (hasErrorCode(err, 'InvalidInstanceType')) {
      throw new UsageError(`${flag}: ${(err as Error).message}`, { code: 'InvalidInstanceType', hint: '`aws ec2 describe-instance-types --filters Name=instance-type,Values=g*` lists the GPU types.' });
    }
    throw err;
  }
  const unknown = types.filter((t) => !out.has(t));
  if (unknown.length) {
    throw new UsageError(`${flag}: unknown instance type ${unknown.map((t) => `"${t}"`).join(', ')}`, { code: 'InvalidInstanceType', hint: '`aws ec2 describe-instance-types --filters Name=instance-type,Values=g*` lists the GPU types.' });
  }
  return out;
}

/** The AZs (names) where each of `types` is offered in the client's region. */
export async function offeredAzs(ec2: Pick<Ec2Port, 'describeInstanceTypeOfferings'>, types: readonly string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>(types.map((t) => [t, new Set<string>()]));
  let token: string | undefined;
  do {
    const page = await ec2.describeInstanceTypeOfferings({
      LocationType: 'availability-zone',
      Filters: [{ Name: 'instance-type', Values: [...types] }],
      ...(token ? { NextToken: token } : {}),
    });
    for (const o of page.InstanceTypeOfferings ?? []) if (o.InstanceType && o.Location) out.get(o.InstanceType)?.add(o.Location);
    token = page.NextToken || undefined;
  } while (token);
  return out;
}
