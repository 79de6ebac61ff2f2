// Where nodes may launch: the stack's subnets, or (none configured) the default VPC's default subnet
// of each AZ. The AZ id travels with each zone: placement scores and the capacity cache use ids,
// which name the same physical zone in every account (AZ names are shuffled per account).
import type { Ec2Port } from '../../aws/ec2.js';
import { UsageError } from '../../lib/errors.js';
import type { Zone } from './pools.js';

export async function launchZones(ec2: Pick<Ec2Port, 'describeSubnets'>, subnets: readonly string[], vpcId: string, region: string): Promise<Zone[]> {
  const found = subnets.length
    ? ((await ec2.describeSubnets({ SubnetIds: [...subnets] })).Subnets ?? [])
    : ((await ec2.describeSubnets({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'default-for-az', Values: ['true'] }] })).Subnets ?? []);
  const byAz = new Map<string, Zone>();
  for (const s of found) {
    if (!s.SubnetId || !s.AvailabilityZone || byAz.has(s.AvailabilityZone)) continue;
    byAz.set(s.AvailabilityZone, { az: s.AvailabilityZone, azId: s.AvailabilityZoneId ?? s.AvailabilityZone, subnetId: s.SubnetId });
  }
  if (!byAz.size) {
    throw new UsageError(`No subnet to launch into in ${region} (${subnets.length ? subnets.join(', ') : `default subnets of ${vpcId}`})`, { code: 'NoSubnets', hint: 'Set "subnets" (FLUXER_SUBNETS) to subnets of the nodes\' VPC.' });
  }
  return [...byAz.values()].sort((a, b) => a.az.localeCompare(b.az));
}
