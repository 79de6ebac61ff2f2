// The fleet's nodes as the roll and the teardown handle them: which launch template version each was
// launched from (EC2's aws:ec2launchtemplate:version tag), protection in batches of 50 (the API's
// limit), and the runtime's drain → no job → release step over SSM.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import { instancesById, type InstancesPort } from '../nodes/instances.js';

export const TAG_TEMPLATE_VERSION = 'aws:ec2launchtemplate:version';
const PROTECTION_BATCH = 50;

/** Instance id → the template version it was launched from (absent: not launched from a template). */
export async function launchedVersions(ec2: InstancesPort, ids: readonly string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  return new Map((await instancesById(ec2, ids)).filter((i) => i.tags[TAG_TEMPLATE_VERSION]).map((i) => [i.instanceId, i.tags[TAG_TEMPLATE_VERSION]!]));
}

export async function setProtection(asg: Pick<AutoScalingPort, 'setInstanceProtection'>, groupName: string, ids: readonly string[], on: boolean): Promise<void> {
  for (let i = 0; i < ids.length; i += PROTECTION_BATCH) {
    await asg.setInstanceProtection({ AutoScalingGroupName: groupName, InstanceIds: ids.slice(i, i + PROTECTION_BATCH), ProtectedFromScaleIn: on });
  }
}

/** The group's members that are there or coming (not on their way out). */
export function liveMembers(group: Asg.AutoScalingGroup | undefined): Asg.Instance[] {
  return (group?.Instances ?? []).filter((i) => i.InstanceId && !/^(Terminating|Terminated|Detach)/.test(i.LifecycleState ?? ''));
}
