// `fluxer fleet down` as a library: what fluxer made for the fleet (the group, its launch template, the
// backlog and scale-from-zero policies, the node role's fleet policy, CloudWatch alarms tagged for the
// stack whose names start with the group's), found and checked for fluxer's tags, then — optionally
// after draining every node — the group to zero, its nodes gone, and each deleted. Nothing else is
// touched.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import type { CloudWatchPort } from '../../aws/cloudwatch.js';
import type { Ec2Port } from '../../aws/ec2.js';
import { isNotFound } from '../../aws/errors.js';
import type { IamPort } from '../../aws/iam.js';
import type { Clock } from '../../lib/clock.js';
import { PendingError } from '../../lib/errors.js';
import { jobFinished, runtimeControl, waitForStatus, type RemotePorts, type RemoteSettings } from '../remote/runtime.js';
import { isManagedBy } from '../tags.js';
import { BACKLOG_POLICY_NAME, NODE_FLEET_POLICY_NAME, ZERO_POLICY_NAME } from './names.js';
import { liveMembers, setProtection } from './nodes.js';
import { readGroup, readPolicy, readTemplate, type TemplatePort } from './read.js';

export interface DownItem {
  type: 'auto-scaling-group' | 'launch-template' | 'scaling-policy' | 'node-role-policy' | 'alarm';
  name: string;
}

export interface DownPlan {
  group: Asg.AutoScalingGroup | undefined;
  nodes: string[];
  items: DownItem[];
}

export interface DownPorts {
  ec2: TemplatePort & Pick<Ec2Port, 'deleteLaunchTemplate'>;
  autoscaling: AutoScalingPort & Pick<AutoScalingPort, 'deletePolicy'>;
  iam: Pick<IamPort, 'getRolePolicy' | 'deleteRolePolicy'>;
  cloudwatch: CloudWatchPort;
}

export async function planFleetDown(ports: DownPorts, opts: { stack: string; groupName: string; templateName: string; roleName: string }): Promise<DownPlan> {
  const [group, template, alarms, nodePolicy] = await Promise.all([
    readGroup(ports.autoscaling, opts.groupName, opts.stack),
    readTemplate(ports.ec2, opts.templateName, opts.stack),
    fleetAlarms(ports.cloudwatch, opts.groupName, opts.stack),
    ports.iam.getRolePolicy({ RoleName: opts.roleName, PolicyName: NODE_FLEET_POLICY_NAME }).then(() => true, (err) => (isNotFound(err, 'iam') ? false : Promise.reject(err))),
  ]);
  const policies = group ? await Promise.all([BACKLOG_POLICY_NAME, ZERO_POLICY_NAME].map(async (name) => ((await readPolicy(ports.autoscaling, opts.groupName, name)) ? name : undefined))) : [];
  const items: DownItem[] = [
    ...policies.filter((name): name is string => name !== undefined).map((name) => ({ type: 'scaling-policy' as const, name })),
    ...alarms.map((name) => ({ type: 'alarm' as const, name })),
    ...(group ? [{ type: 'auto-scaling-group' as const, name: opts.groupName }] : []),
    ...(template ? [{ type: 'launch-template' as const, name: opts.templateName }] : []),
    ...(nodePolicy ? [{ type: 'node-role-policy' as const, name: `${opts.roleName}/${NODE_FLEET_POLICY_NAME}` }] : []),
  ];
  return { group, nodes: liveMembers(group).map((i) => i.InstanceId!), items };
}

/** Alarms named after the group and tagged fluxer:managed=true for the stack (the scale-from-zero backstop). */
async function fleetAlarms(cw: CloudWatchPort, groupName: string, stack: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await cw.describeAlarms({ AlarmNamePrefix: groupName, ...(token ? { NextToken: token } : {}) });
    for (const a of page.MetricAlarms ?? []) {
      if (!a.AlarmArn || !a.AlarmName) continue;
      const tags = (await cw.listTagsForResource({ ResourceARN: a.AlarmArn })).Tags ?? [];
      if (isManagedBy(tags.map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' })), stack)) found.push(a.AlarmName);
    }
    token = page.NextToken || undefined;
  } while (token);
  return found;
}

/** Drained nodes take no job; waits until none runs (exit 8 when the deadline passes: nothing deleted yet). */
export async function drainFleet(remote: RemotePorts, clock: Clock, ids: readonly string[], opts: { settings: RemoteSettings; deadlineMs: number; progress: (m: string) => void }): Promise<void> {
  if (!ids.length) return;
  const rows = await runtimeControl(remote, clock, ids, 'drain', { ...opts.settings, waitMs: 60_000 });
  const drained = rows.filter((r) => r.ok).map((r) => r.instanceId);
  for (const r of rows.filter((x) => !x.ok)) opts.progress(`${r.instanceId}: ${r.error} (its job, if any, is handed back when it stops)`);
  opts.progress(`Drained ${drained.length} node(s); waiting for their running jobs to finish`);
  const waited = await waitForStatus(remote, clock, drained, jobFinished, { ...opts.settings, deadlineMs: opts.deadlineMs, intervalMs: 2000, roundWaitMs: 60_000 });
  if (waited.waiting.length) {
    throw new PendingError(`Jobs still running on ${waited.waiting.join(', ')}: the fleet was left as it is (drained)`, { hint: 'Run `fluxer fleet down --drain` again to keep waiting, or without --drain to stop them now (their jobs go back to the queue).' });
  }
}

/** The group to zero, its nodes unprotected and gone, then every item deleted (the group's own last but one). */
export async function tearDown(ports: DownPorts, clock: Clock, plan: DownPlan, opts: { groupName: string; templateName: string; roleName: string; deadlineMs: number; progress: (m: string) => void }): Promise<DownItem[]> {
  const deleted: DownItem[] = [];
  const has = (type: DownItem['type']) => plan.items.filter((i) => i.type === type);
  for (const p of has('scaling-policy')) (await ports.autoscaling.deletePolicy({ AutoScalingGroupName: opts.groupName, PolicyName: p.name }), deleted.push(p));
  if (has('alarm').length) (await ports.cloudwatch.deleteAlarms({ AlarmNames: has('alarm').map((a) => a.name) }), deleted.push(...has('alarm')));
  if (plan.group) {
    await ports.autoscaling.updateAutoScalingGroup({ AutoScalingGroupName: opts.groupName, MinSize: 0, MaxSize: 0, DesiredCapacity: 0 });
    if (plan.nodes.length) await setProtection(ports.autoscaling, opts.groupName, plan.nodes, false).catch(() => undefined);
    opts.progress(`Group ${opts.groupName} set to 0: waiting for its ${plan.nodes.length} node(s) to terminate`);
    for (;;) {
      // Every member, Terminating:Wait too: a node in the hook is still finishing or handing back its job,
      // and deleting the group then would cut it short (ForceDelete ends outstanding lifecycle actions).
      const group = await ports.autoscaling.describeAutoScalingGroups({ AutoScalingGroupNames: [opts.groupName] }).then((r) => r.AutoScalingGroups?.[0]);
      const left = (group?.Instances ?? []).filter((i) => i.InstanceId && i.LifecycleState !== 'Terminated');
      if (!left.length) break;
      if (clock.now() > opts.deadlineMs) throw new PendingError(`${left.length} node(s) of ${opts.groupName} still terminating`, { hint: 'Run `fluxer fleet down` again to finish: it deletes what is left.' });
      await clock.sleep(2000);
    }
    await ports.autoscaling.deleteAutoScalingGroup({ AutoScalingGroupName: opts.groupName, ForceDelete: true });
    deleted.push(...has('auto-scaling-group'));
  }
  for (const t of has('launch-template')) (await ports.ec2.deleteLaunchTemplate({ LaunchTemplateName: opts.templateName }), deleted.push(t));
  for (const p of has('node-role-policy')) (await ports.iam.deleteRolePolicy({ RoleName: opts.roleName, PolicyName: NODE_FLEET_POLICY_NAME }), deleted.push(p));
  return deleted;
}
