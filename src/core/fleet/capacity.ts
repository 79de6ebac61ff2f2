// What `fleet up` checks before it plans, as `spot launch` does before it launches: the stack's types
// have GPUs and at least one holds the model (exit 2 otherwise); the group only gets the types that hold
// it (a node on one that cannot would fail its boot, again and again, until the breaker stops the fleet);
// and the spot vCPU quota of those types can run at least one node (exit 5 otherwise), with a note when
// it cannot run --max of them. EC2 spot quotas: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html
// And a note when the nodes' region is not the queue's: the backlog policy and the backstop alarm live
// with the group and read the queue's metrics, which a CloudWatch alarm cannot do across regions.
import type { Ec2Port } from '../../aws/ec2.js';
import { launchErrorMessage } from '../../aws/errors.js';
import type { QuotasPort } from '../../aws/quotas.js';
import { CapacityError } from '../../lib/errors.js';
import { gpuFit } from '../launch/gpu-fit.js';
import type { InstanceTypeInfo } from '../launch/instance-types.js';
import { checkLaunchTypes } from '../launch/prepare.js';
import { quotaIncreaseCommand, quotaNeeds, readQuotaValue, type QuotaNeed } from '../launch/quota.js';

export interface QuotaRoom {
  code: string;
  name: string;
  /** The quota's value in vCPUs; undefined when it could not be read. */
  value: number | undefined;
  vcpusPerNode: number;
  largestType: string;
  /** Nodes of the largest type the quota holds, when nothing else runs. */
  nodes: number | undefined;
}

export interface FleetCapacity {
  /** The stack's types that hold the model, in the stack's order: the group's overrides. */
  types: string[];
  quotas: QuotaRoom[];
  notes: string[];
}

/** Pure: how many nodes a quota holds, and what to say about it against the group's max. */
export function quotaRoom(need: QuotaNeed, value: number | undefined, max: number, region: string): { room: QuotaRoom; note?: string } {
  const nodes = value === undefined ? undefined : Math.floor(value / need.vcpusPerNode);
  const room: QuotaRoom = { code: need.quota.code, name: need.quota.name, value, vcpusPerNode: need.vcpusPerNode, largestType: need.largestType, nodes };
  if (nodes === undefined) return { room };
  const wanted = max * need.vcpusPerNode;
  if (nodes === 0) {
    throw new CapacityError(`${need.quota.code} (${need.quota.name}) in ${region} is ${value} vCPUs: not one ${need.largestType} (${need.vcpusPerNode} vCPUs) fits, so the fleet could never start a node`, {
      code: 'SpotQuotaExceeded',
      hint: `Request ${wanted} vCPUs for --max ${max}: ${quotaIncreaseCommand(need.quota.code, wanted, region)}`,
    });
  }
  if (nodes >= max) return { room };
  return {
    room,
    note: `${need.quota.code} (${need.quota.name}) is ${value} vCPUs: at most ${nodes} of the fleet's --max ${max} nodes (${need.largestType}, ${need.vcpusPerNode} vCPUs) can run, fewer beside other spot instances; target tracking asks for more in vain. Request ${wanted}: ${quotaIncreaseCommand(need.quota.code, wanted, region)}`,
  };
}

/**
 * Pure: what a group in `nodeRegion` loses when its queue is in `queueRegion`. Target tracking's metric math and
 * the backstop alarm are CloudWatch alarms in the group's region, and an alarm reads only its own region's
 * metrics (CloudWatch refuses "an Alarm in region X based on metric ... in Y": aws/aws-cdk#30483), so SQS's
 * metrics in the queue's region never reach them: they sit in INSUFFICIENT_DATA and never act.
 */
export function crossRegionNote(nodeRegion: string, queueRegion: string): string | undefined {
  if (nodeRegion === queueRegion) return undefined;
  return `the fleet is in spotRegion ${nodeRegion} and its queue in region ${queueRegion}: CloudWatch alarms read only their own region's metrics, so the backlog policy and the scale-from-zero alarm never act. The fleet still starts from 0 when \`fluxer generate\` sends work, sizes with \`fluxer fleet scale\`, and its idle nodes leave; other clients' jobs wait for a node. Unset spotRegion to put the fleet beside its queue.`;
}

export async function checkFleetCapacity(
  ports: { ec2: Pick<Ec2Port, 'describeInstanceTypes'>; quotas: QuotasPort },
  input: { types: readonly string[]; model: string; max: number; region: string; queueRegion?: string },
): Promise<FleetCapacity> {
  const info: Map<string, InstanceTypeInfo> = await checkLaunchTypes(ports.ec2, input.types, input.model, 'instanceTypes');
  const notes: string[] = [];
  const regionNote = crossRegionNote(input.region, input.queueRegion ?? input.region);
  if (regionNote) notes.push(regionNote);
  const types = input.types.filter((t) => {
    const fit = gpuFit(input.model, info.get(t)!.gpu!);
    if (!fit.policy) notes.push(`${t} is left out of the group: ${fit.reason}`);
    return fit.policy !== undefined;
  });
  const { needs } = quotaNeeds(new Map(types.map((t) => [t, info.get(t)!.vcpus])));
  const quotas: QuotaRoom[] = [];
  for (const need of needs) {
    let value: number | undefined;
    try {
      value = await readQuotaValue(ports.quotas, need.quota.code);
    } catch (err) {
      notes.push(`${need.quota.code} not read (${launchErrorMessage(err)}): EC2 refuses launches above it`);
    }
    const { room, note } = quotaRoom(need, value, input.max, input.region);
    quotas.push(room);
    if (note) notes.push(note);
  }
  return { types, quotas, notes };
}
