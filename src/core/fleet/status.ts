// `fluxer fleet status` as a library: the group's numbers, each node (type, AZ, price, runtime state and
// job from its node record), the queue's depth, the last hour's scaling activities with AWS's reasons,
// and which of those were interruptions and replacements. Reads only.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import type { S3Port } from '../../aws/s3.js';
import type { SqsPort } from '../../aws/sqs.js';
import type { Clock } from '../../lib/clock.js';
import type { JobLocation } from '../jobs.js';
import { currentSpotPrices } from '../launch/spot-prices.js';
import { instancesById, type InstancesPort } from '../nodes/instances.js';
import { readNodeRecords, type ReadRecord } from '../nodes/list.js';
import { queueStats } from '../queue.js';
import type { SpotPricePort } from '../launch/spot-prices.js';
import { BREAKER_TAG } from './names.js';
import { countByState, groupInstances, readBacklogPolicy, type FleetTemplate } from './read.js';
import { effectiveIdle, pinnedSettings } from './pins.js';

export const ACTIVITY_WINDOW_MS = 3_600_000;

export interface FleetNode {
  instanceId: string;
  instanceType: string;
  az: string;
  lifecycleState: string;
  health: string | null;
  protected: boolean;
  templateVersion: string | null;
  /** EC2's market: "spot" or "on-demand". */
  market: string;
  spotPrice: number | null;
  runtimeState: string | null;
  job: string | null;
}

export interface FleetActivity {
  startTime: string | null;
  status: string;
  description: string;
  cause: string;
  /** interruption / rebalance / refresh / scaling: what kind of event AWS's reason names. */
  kind: 'interruption' | 'rebalance' | 'refresh' | 'health' | 'scaling';
}

export interface FleetStatus {
  group: string;
  exists: boolean;
  min: number;
  max: number;
  desired: number;
  inService: number;
  pending: number;
  terminating: number;
  protected: number;
  capacityRebalance: boolean;
  jobsPerNode: number | null;
  /** The idle times new nodes get from the launch template's default version; `pinned` false: the runtime's defaults. */
  idle: { seconds: number; surplusSeconds: number; pinned: boolean };
  nodes: FleetNode[];
  queue: { name: string; visible: number; inFlight: number } | null;
  activities: FleetActivity[];
  /** The activities that were spot interruptions, rebalancing replacements or refresh replacements. */
  replacements: FleetActivity[];
  /** A node's boot-failure breaker stopped the fleet (the group's fluxer:breaker tag): why, and how to resume. */
  breaker: { reason: string; resume: string } | null;
  /** Auto Scaling processes suspended on the group (the breaker's AlarmNotification, or an operator's), with AWS's reason. */
  suspended: Array<{ process: string; reason: string | null }>;
}

/** What AWS's activity text says happened (its wording: Description and Cause of each activity). */
export function activityKind(a: Pick<Asg.Activity, 'Description' | 'Cause'>): FleetActivity['kind'] {
  const text = `${a.Description ?? ''} ${a.Cause ?? ''}`;
  if (/interrupt/i.test(text)) return 'interruption';
  if (/rebalanc/i.test(text)) return 'rebalance';
  if (/instance refresh/i.test(text)) return 'refresh';
  if (/unhealthy|health check/i.test(text)) return 'health';
  return 'scaling';
}

export interface FleetStatusPorts {
  autoscaling: Pick<AutoScalingPort, 'describeAutoScalingGroups' | 'describeScalingActivities' | 'describePolicies'>;
  ec2: InstancesPort & SpotPricePort;
  sqs: SqsPort;
  s3: Pick<S3Port, 'getObjectDated'> | undefined;
}

export async function fleetStatus(ports: FleetStatusPorts, clock: Clock, opts: { group: Asg.AutoScalingGroup | undefined; template: Pick<FleetTemplate, 'data'> | undefined; groupName: string; queueName: string; region: string; location: JobLocation | undefined }): Promise<FleetStatus> {
  const g = opts.group;
  const members = groupInstances(g);
  const ids = members.map((i) => i.InstanceId!);
  const [instances, activities, policy, queue] = await Promise.all([
    ids.length ? instancesById(ports.ec2, ids) : Promise.resolve([]),
    g ? recentActivities(ports.autoscaling, opts.groupName, clock.now()) : Promise.resolve([]),
    g ? readBacklogPolicy(ports.autoscaling, opts.groupName) : Promise.resolve(undefined),
    queueStats(ports.sqs, opts.queueName, opts.region).then((q) => ({ name: q.queue.name, visible: q.queue.visible, inFlight: q.queue.inFlight })).catch(() => null),
  ]);
  const byId = new Map(instances.map((i) => [i.instanceId, i]));
  const typeOf = (i: Asg.Instance) => i.InstanceType || byId.get(i.InstanceId!)?.instanceType || '';
  const spot = members.filter((i) => byId.get(i.InstanceId!)?.lifecycle === 'spot');
  const [prices, records] = await Promise.all([
    spot.length ? currentSpotPrices(ports.ec2, clock, [...new Set(spot.map(typeOf))]) : Promise.resolve([]),
    ports.s3 && opts.location && ids.length ? readNodeRecords(ports.s3, opts.location, ids) : Promise.resolve(new Map<string, ReadRecord>()),
  ]);
  const priceOf = new Map(prices.map((p) => [`${p.instanceType}\t${p.az}`, p.price]));
  const nodes = members.map((i): FleetNode => {
    const ec2 = byId.get(i.InstanceId!);
    const record = records.get(i.InstanceId!)?.record;
    const market = ec2?.lifecycle === 'spot' ? 'spot' : 'on-demand';
    return {
      instanceId: i.InstanceId!,
      instanceType: typeOf(i),
      az: i.AvailabilityZone ?? ec2?.az ?? '',
      lifecycleState: i.LifecycleState ?? 'unknown',
      health: i.HealthStatus ?? null,
      protected: i.ProtectedFromScaleIn ?? false,
      templateVersion: i.LaunchTemplate?.Version ?? null,
      market,
      spotPrice: market === 'spot' ? (priceOf.get(`${typeOf(i)}\t${i.AvailabilityZone}`) ?? null) : null,
      runtimeState: record?.state ?? null,
      job: record?.currentJob ?? null,
    };
  });
  const counts = countByState(g);
  return {
    group: opts.groupName,
    exists: g !== undefined,
    min: g?.MinSize ?? 0,
    max: g?.MaxSize ?? 0,
    desired: g?.DesiredCapacity ?? 0,
    ...counts,
    capacityRebalance: g?.CapacityRebalance ?? false,
    jobsPerNode: policy?.TargetTrackingConfiguration?.TargetValue ?? null,
    idle: idleOf(opts.template),
    nodes,
    queue,
    activities,
    replacements: activities.filter((a) => a.kind !== 'scaling'),
    breaker: breakerOf(g),
    suspended: (g?.SuspendedProcesses ?? []).map((p) => ({ process: p.ProcessName ?? '?', reason: p.SuspensionReason ?? null })),
  };
}

async function recentActivities(asg: FleetStatusPorts['autoscaling'], groupName: string, nowMs: number): Promise<FleetActivity[]> {
  const since = nowMs - ACTIVITY_WINDOW_MS;
  const found: FleetActivity[] = [];
  let token: string | undefined;
  // Newest first; stop paging once the page reaches past the hour.
  do {
    const page = await asg.describeScalingActivities({ AutoScalingGroupName: groupName, MaxRecords: 100, ...(token ? { NextToken: token } : {}) });
    const acts = page.Activities ?? [];
    for (const a of acts) {
      const t = a.StartTime ? new Date(a.StartTime).getTime() : undefined;
      if (t !== undefined && t < since) continue;
      found.push({ startTime: t === undefined ? null : new Date(t).toISOString(), status: a.StatusCode ?? 'unknown', description: a.Description ?? '', cause: a.Cause ?? '', kind: activityKind(a) });
    }
    const oldest = acts.at(-1)?.StartTime;
    token = oldest && new Date(oldest).getTime() < since ? undefined : page.NextToken || undefined;
  } while (token);
  return found;
}

function idleOf(template: Pick<FleetTemplate, 'data'> | undefined): FleetStatus['idle'] {
  const pins = pinnedSettings(template?.data);
  return { ...effectiveIdle(pins), pinned: pins.idleSeconds !== undefined || pins.surplusIdleSeconds !== undefined };
}

/** The breaker's tag (set by a node after FLUXER_BOOT_FAILURE_LIMIT failed boots, docs/fleet.md): the fleet is at 0 until scaled again. */
export function breakerOf(g: Pick<Asg.AutoScalingGroup, 'Tags'> | undefined): FleetStatus['breaker'] {
  const reason = g?.Tags?.find((t) => t.Key === BREAKER_TAG)?.Value;
  return reason
    ? { reason, resume: 'fix what failed the boots (the reason names the last one; `fluxer spot list --all` lists the FAILED nodes, whose records under the bucket\'s nodes/ say more), then `fluxer fleet scale N` (it clears the breaker and resumes the alarm actions)' }
    : null;
}
