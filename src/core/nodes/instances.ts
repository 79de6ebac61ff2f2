// The stack's GPU nodes as EC2 sees them: DescribeInstances filtered by the stack's tags (paged), and
// the few fields `spot list` and `spot terminate` read from each instance.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html
import type { Ec2Port } from '../../aws/ec2.js';
import { stackFilters, TAG_LAUNCH_ID, TAG_NAME } from '../tags.js';

export type InstancesPort = Pick<Ec2Port, 'describeInstances'>;

/** The states of a node that still exists (and may be billed, or its volume is). */
export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'] as const;
/** What EC2 says once a termination is under way. */
export const TERMINATING_STATES: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);
/** The tag Auto Scaling puts on every instance of a group (a fleet's node). */
export const TAG_ASG = 'aws:autoscaling:groupName';

/** AWS's format: i- and 8 or 17 hex digits. */
export const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export interface NodeInstance {
  instanceId: string;
  instanceType: string;
  az: string;
  state: string;
  /** ms since the epoch (EC2's LaunchTime). */
  launchedAt: number | undefined;
  /** When EC2 stopped or terminated it, from StateTransitionReason ("User initiated (2026-01-02 03:04:05 GMT)"). */
  endedAt: number | undefined;
  ami: string;
  launchId: string | undefined;
  name: string | undefined;
  /** "spot", or undefined for on-demand (EC2's InstanceLifecycle). */
  lifecycle: string | undefined;
  /** EC2's StateReason code: `Server.SpotInstanceTermination` when AWS's spot service took it. */
  stateReasonCode?: string;
  publicIp?: string;
  tags: Record<string, string>;
}

type Filter = { Name: string; Values: string[] };
type RawInstance = NonNullable<NonNullable<Awaited<ReturnType<Ec2Port['describeInstances']>>['Reservations']>[number]['Instances']>[number];

/** Every instance matching the filters, over all pages. */
export async function describeAll(ec2: InstancesPort, filters: Filter[]): Promise<NodeInstance[]> {
  const found: NodeInstance[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.describeInstances({ Filters: filters, MaxResults: 1000, ...(token ? { NextToken: token } : {}) });
    for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId) found.push(toNodeInstance(i));
    token = page.NextToken || undefined;
  } while (token);
  return found.sort((a, b) => (a.launchedAt ?? 0) - (b.launchedAt ?? 0) || a.instanceId.localeCompare(b.instanceId));
}

export interface StackSelection {
  stack: string;
  /** Include shutting-down and terminated instances. */
  all?: boolean;
  launchId?: string;
}

/** The stack's GPU nodes (tags fluxer:managed=true, fluxer:stack, fluxer:role=gpu-node). */
export function stackNodes(ec2: InstancesPort, sel: StackSelection): Promise<NodeInstance[]> {
  return describeAll(ec2, [
    ...stackFilters(sel.stack, 'gpu-node'),
    ...(sel.launchId ? [{ Name: `tag:${TAG_LAUNCH_ID}`, Values: [sel.launchId] }] : []),
    ...(sel.all ? [] : [{ Name: 'instance-state-name', Values: [...LIVE_STATES] }]),
  ]);
}

/**
 * Instances by id, whatever their tags. A filter rather than InstanceIds: an unknown id is simply
 * absent from the answer, where InstanceIds would fail the whole call with InvalidInstanceID.NotFound.
 */
export async function instancesById(ec2: InstancesPort, ids: readonly string[]): Promise<NodeInstance[]> {
  // EC2 takes at most 200 values per filter.
  const found: NodeInstance[] = [];
  for (let i = 0; i < ids.length; i += 200) found.push(...(await describeAll(ec2, [{ Name: 'instance-id', Values: ids.slice(i, i + 200) }])));
  return found;
}

function toNodeInstance(i: RawInstance): NodeInstance {
  const tags = Object.fromEntries((i.Tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key!, t.Value ?? '']));
  const state = i.State?.Name ?? 'unknown';
  return {
    instanceId: i.InstanceId!,
    instanceType: i.InstanceType ?? 'unknown',
    az: i.Placement?.AvailabilityZone ?? '',
    state,
    launchedAt: i.LaunchTime ? new Date(i.LaunchTime).getTime() : undefined,
    endedAt: ['stopped', 'terminated', 'shutting-down', 'stopping'].includes(state) ? transitionTime(i.StateTransitionReason) : undefined,
    ami: i.ImageId ?? '',
    launchId: tags[TAG_LAUNCH_ID],
    name: tags[TAG_NAME],
    lifecycle: i.InstanceLifecycle,
    stateReasonCode: i.StateReason?.Code,
    publicIp: i.PublicIpAddress,
    tags,
  };
}

/**
 * "User initiated (2026-01-02 03:04:05 GMT)" → ms; undefined when EC2 gave no time. AWS writes GMT;
 * moto writes UTC: the same clock.
 */
export function transitionTime(reason: string | undefined): number | undefined {
  const m = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)/.exec(reason ?? '');
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isFinite(ms) ? ms : undefined;
}
