// `fluxer fleet roll` as a library: a new default template version (new AMI or pinned release), then
// AWS's instance refresh keeping capacity (MinHealthyPercentage 100, MaxHealthyPercentage 200: the
// replacement first), SkipMatching (only nodes on an older version), ScaleInProtectedInstances Wait.
// fluxer holds each old node with scale-in protection, and lets it go only once a replacement serves
// and the old node has drained (no new jobs, the running one finished): no job is cut off.
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh.html
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import type { Clock } from '../../lib/clock.js';
import type { InstancesPort } from '../nodes/instances.js';
import { jobFinished, runtimeControl, runtimeStatus, type RemotePorts, type RemoteSettings } from '../remote/runtime.js';
import { launchedVersions, liveMembers, setProtection } from './nodes.js';
import { readGroup, type FleetTemplate } from './read.js';
import { templateChanges } from './template.js';
import { newDefaultVersion, type FleetUpPorts } from './up.js';

export const REFRESH_PREFERENCES: Asg.RefreshPreferences = { MinHealthyPercentage: 100, MaxHealthyPercentage: 200, SkipMatching: true, ScaleInProtectedInstances: 'Wait' };
const ACTIVE = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

export interface RollPorts {
  ec2: FleetUpPorts['ec2'] & InstancesPort;
  autoscaling: AutoScalingPort;
  remote: RemotePorts;
}

export interface RollStart {
  version: number;
  newVersion: boolean;
  /** The nodes the refresh replaces (launched from an older version). */
  oldIds: string[];
  refreshId: string | undefined;
  /** A refresh that was already running is followed instead. */
  resumed: boolean;
}

export async function activeRefresh(asg: Pick<AutoScalingPort, 'describeInstanceRefreshes'>, groupName: string): Promise<Asg.InstanceRefresh | undefined> {
  const found = (await asg.describeInstanceRefreshes({ AutoScalingGroupName: groupName, MaxRecords: 5 })).InstanceRefreshes ?? [];
  return found.find((r) => ACTIVE.has(r.Status ?? ''));
}

export async function startRoll(ports: RollPorts, opts: { stack: string; groupName: string; group: Asg.AutoScalingGroup; template: FleetTemplate; desired: Ec2.RequestLaunchTemplateData }): Promise<RollStart> {
  const running = await activeRefresh(ports.autoscaling, opts.groupName);
  const changed = templateChanges(opts.template.data, opts.desired).length > 0;
  const version = !running && changed ? await newDefaultVersion(ports.ec2, opts.template.id, opts.desired, 'fluxer fleet roll') : opts.template.defaultVersion;
  const members = liveMembers(opts.group).map((i) => i.InstanceId!);
  const versions = await launchedVersions(ports.ec2, members);
  const oldIds = members.filter((id) => versions.get(id) !== String(version));
  if (running) return { version, newVersion: false, oldIds, refreshId: running.InstanceRefreshId, resumed: true };
  if (!oldIds.length) return { version, newVersion: changed, oldIds, refreshId: undefined, resumed: false };
  // Held until each has drained: the refresh waits for protected nodes (ScaleInProtectedInstances: Wait).
  await setProtection(ports.autoscaling, opts.groupName, oldIds, true);
  const { InstanceRefreshId } = await ports.autoscaling.startInstanceRefresh({ AutoScalingGroupName: opts.groupName, Strategy: 'Rolling', Preferences: REFRESH_PREFERENCES });
  return { version, newVersion: changed, oldIds, refreshId: InstanceRefreshId, resumed: false };
}

export interface RollProgress {
  status: string;
  percentage: number;
  toUpdate: number | null;
  reason: string;
  draining: string[];
  released: string[];
}

export interface RollOutcome extends RollProgress {
  done: boolean;
  /** Old nodes given back to the group after a failed refresh (resumed, unprotected). */
  restored: string[];
}

/**
 * Follows the refresh: drains one old node for each replacement whose runtime serves, releases it
 * (protection off) once no job runs on it, until AWS says the refresh ended or the deadline passes.
 */
export async function followRoll(ports: RollPorts, clock: Clock, opts: {
  stack: string; groupName: string; refreshId: string; oldIds: readonly string[]; remote: RemoteSettings;
  deadlineMs: number; intervalMs: number; onProgress: (p: RollProgress) => void; log: (m: string) => void; warn: (m: string) => void;
}): Promise<RollOutcome> {
  const old = new Set(opts.oldIds);
  const draining = new Set<string>();
  const released = new Set<string>();
  const serving = new Set<string>();
  let last = '';
  for (;;) {
    const refresh = ((await ports.autoscaling.describeInstanceRefreshes({ AutoScalingGroupName: opts.groupName, InstanceRefreshIds: [opts.refreshId] })).InstanceRefreshes ?? [])[0];
    const status = refresh?.Status ?? 'unknown';
    const progress: RollProgress = { status, percentage: refresh?.PercentageComplete ?? 0, toUpdate: refresh?.InstancesToUpdate ?? null, reason: refresh?.StatusReason ?? '', draining: [...draining], released: [...released] };
    const line = JSON.stringify(progress);
    if (line !== last) (opts.onProgress(progress), (last = line));
    if (!ACTIVE.has(status)) {
      const restored = status === 'Successful' ? [] : await restoreOld(ports, clock, opts, draining);
      return { ...progress, done: status === 'Successful', restored };
    }
    if (clock.now() > opts.deadlineMs) return { ...progress, done: false, restored: [] };
    const group = await readGroup(ports.autoscaling, opts.groupName, opts.stack);
    const members = liveMembers(group);
    const present = new Set(members.map((i) => i.InstanceId!));
    // Replacements that serve: in service, and their runtime answers READY or BUSY.
    const fresh = members.filter((i) => !old.has(i.InstanceId!) && i.LifecycleState === 'InService' && !serving.has(i.InstanceId!)).map((i) => i.InstanceId!);
    if (fresh.length) {
      for (const row of await runtimeStatus(ports.remote, clock, fresh, { ...opts.remote, waitMs: 30_000 })) {
        if (row.ok && (row.health?.state === 'READY' || row.health?.state === 'BUSY')) serving.add(row.instanceId);
      }
    }
    const budget = [...serving].filter((id) => present.has(id)).length - draining.size - released.size;
    const next = [...old].filter((id) => present.has(id) && !draining.has(id) && !released.has(id)).slice(0, Math.max(0, budget));
    if (next.length) {
      for (const row of await runtimeControl(ports.remote, clock, next, 'drain', { ...opts.remote, waitMs: 30_000 })) {
        draining.add(row.instanceId);
        if (row.ok) opts.log(`draining ${row.instanceId}: a replacement serves; it takes no new job`);
        else opts.warn(`${row.instanceId}: drain: ${row.error} (released when it has no job)`);
      }
    }
    const busy = [...draining].filter((id) => present.has(id));
    if (busy.length) {
      const idle = (await runtimeStatus(ports.remote, clock, busy, { ...opts.remote, waitMs: 30_000 })).filter((r) => !r.ok || jobFinished(r)).map((r) => r.instanceId);
      if (idle.length) {
        await setProtection(ports.autoscaling, opts.groupName, idle, false);
        for (const id of idle) (draining.delete(id), released.add(id), opts.log(`released ${id}: no job runs on it; the refresh terminates it`));
      }
    }
    for (const id of draining) if (!present.has(id)) (draining.delete(id), released.add(id));
    await clock.sleep(opts.intervalMs, opts.remote.signal);
  }
}

/** A refresh that failed or was cancelled: old nodes still there take jobs again and may be scaled in. */
async function restoreOld(ports: RollPorts, clock: Clock, opts: { stack: string; groupName: string; oldIds: readonly string[]; remote: RemoteSettings }, draining: Set<string>): Promise<string[]> {
  const present = new Set(liveMembers(await readGroup(ports.autoscaling, opts.groupName, opts.stack)).map((i) => i.InstanceId!));
  const ids = opts.oldIds.filter((id) => present.has(id));
  if (!ids.length) return [];
  const drained = ids.filter((id) => draining.has(id));
  if (drained.length) await runtimeControl(ports.remote, clock, drained, 'resume', { ...opts.remote, waitMs: 30_000 });
  await setProtection(ports.autoscaling, opts.groupName, ids, false);
  return ids;
}
