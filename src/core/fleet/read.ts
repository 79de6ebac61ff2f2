// Reading the stack's fleet as AWS has it: the group, its launch template (and latest version), the
// backlog and scale-from-zero policies, the backstop alarm. A resource with fluxer's name that is not
// tagged for the stack is refused, never adopted.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type * as Cw from '@aws-sdk/client-cloudwatch';
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import type { CloudWatchPort } from '../../aws/cloudwatch.js';
import type { Ec2Port } from '../../aws/ec2.js';
import { isNotFound } from '../../aws/errors.js';
import { FluxerError } from '../../lib/errors.js';
import { isManagedBy } from '../tags.js';
import { BACKLOG_POLICY_NAME } from './names.js';

export interface FleetTemplate {
  id: string;
  name: string;
  latestVersion: number;
  /** The version the group launches ($Default). */
  defaultVersion: number;
  /** The default version's data. */
  data: Ec2.ResponseLaunchTemplateData;
}

export type TemplatePort = Pick<Ec2Port, 'describeLaunchTemplates' | 'describeLaunchTemplateVersions'>;

export async function readTemplate(ec2: TemplatePort, name: string, stack: string): Promise<FleetTemplate | undefined> {
  let found: Ec2.LaunchTemplate | undefined;
  try {
    found = (await ec2.describeLaunchTemplates({ LaunchTemplateNames: [name] })).LaunchTemplates?.[0];
  } catch (err) {
    if (isNotFound(err, 'ec2')) return undefined;
    throw err;
  }
  if (!found?.LaunchTemplateId) return undefined;
  if (!isManagedBy(tagMap(found.Tags), stack)) throw notOurs('launch template', name, stack);
  const version = (await ec2.describeLaunchTemplateVersions({ LaunchTemplateId: found.LaunchTemplateId, Versions: ['$Default'] })).LaunchTemplateVersions?.[0];
  return {
    id: found.LaunchTemplateId, name, latestVersion: found.LatestVersionNumber ?? 1, defaultVersion: version?.VersionNumber ?? found.DefaultVersionNumber ?? 1, data: version?.LaunchTemplateData ?? {},
  };
}

export async function readGroup(asg: Pick<AutoScalingPort, 'describeAutoScalingGroups'>, name: string, stack: string): Promise<Asg.AutoScalingGroup | undefined> {
  const group = (await asg.describeAutoScalingGroups({ AutoScalingGroupNames: [name] })).AutoScalingGroups?.[0];
  if (!group) return undefined;
  if (!isManagedBy(tagMap(group.Tags), stack)) throw notOurs('Auto Scaling group', name, stack);
  return group;
}

export async function readBacklogPolicy(asg: Pick<AutoScalingPort, 'describePolicies'>, groupName: string): Promise<Asg.ScalingPolicy | undefined> {
  return readPolicy(asg, groupName, BACKLOG_POLICY_NAME);
}

export async function readPolicy(asg: Pick<AutoScalingPort, 'describePolicies'>, groupName: string, name: string): Promise<Asg.ScalingPolicy | undefined> {
  return (await asg.describePolicies({ AutoScalingGroupName: groupName, PolicyNames: [name] })).ScalingPolicies?.find((p) => p.PolicyName === name);
}

/** The alarm of that name, with whether it is tagged for the stack (one not tagged is refused, never adopted). */
export async function readAlarm(cw: Pick<CloudWatchPort, 'describeAlarms' | 'listTagsForResource'>, name: string, stack: string): Promise<Cw.MetricAlarm | undefined> {
  const alarm = (await cw.describeAlarms({ AlarmNames: [name], AlarmTypes: ['MetricAlarm'] })).MetricAlarms?.find((a) => a.AlarmName === name);
  if (!alarm) return undefined;
  const tags = alarm.AlarmArn ? ((await cw.listTagsForResource({ ResourceARN: alarm.AlarmArn })).Tags ?? []) : [];
  if (!isManagedBy(tagMap(tags), stack)) throw notOurs('CloudWatch alarm', name, stack);
  return alarm;
}

export function tagMap(tags: ReadonlyArray<{ Key?: string; Value?: string }> | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key!, t.Value ?? '']));
}

function notOurs(what: string, name: string, stack: string): FluxerError {
  return new FluxerError(`A ${what} named ${name} exists but is not tagged fluxer:managed=true for stack "${stack}"`, {
    code: 'FleetNameTaken',
    hint: 'fluxer never adopts or changes what it did not create: rename or delete that resource, or use another --stack.',
  });
}

/** The group's instances that are (or will be) serving, with what fluxer shows of each. */
export function groupInstances(group: Asg.AutoScalingGroup | undefined): Asg.Instance[] {
  return (group?.Instances ?? []).filter((i) => i.InstanceId);
}

export function countByState(group: Asg.AutoScalingGroup | undefined) {
  const all = groupInstances(group);
  return {
    inService: all.filter((i) => i.LifecycleState === 'InService').length,
    pending: all.filter((i) => String(i.LifecycleState ?? '').startsWith('Pending')).length,
    terminating: all.filter((i) => String(i.LifecycleState ?? '').startsWith('Terminating')).length,
    protected: all.filter((i) => i.ProtectedFromScaleIn).length,
  };
}
