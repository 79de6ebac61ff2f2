// `fluxer fleet up` as a library: read → diff → (plan shown, confirmed) → apply, as setup does. Each
// resource is read first and only what differs is written, so a second run sends no mutating call.
// A group or template that exists keeps its AMI, release and desired capacity (those are `fleet roll`'s
// and `fleet scale`'s, and the target tracking's); its bounds change only when --min/--max say so.
// Each resource's step (read, diff, write) is in src/core/fleet/up/, one file per resource.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import { isNotFound } from '../../aws/errors.js';
import type { IamPort } from '../../aws/iam.js';
import { UsageError } from '../../lib/errors.js';
import { readGroup } from './read.js';
import { planPolicy } from './up/backlog-policy.js';
import { planGroup } from './up/group.js';
import { planTemplate } from './up/launch-template.js';
import { planNodePolicy } from './up/node-role-policy.js';
import { planZeroAlarm, planZeroPolicy } from './up/scale-from-zero.js';
import type { FleetResource, FleetUpInput, FleetUpPorts, Step } from './up/types.js';

export type { FleetResource, FleetResourceType, FleetUpInput, FleetUpPorts } from './up/types.js';
export { newDefaultVersion } from './up/launch-template.js';
export { tagMap } from './read.js';

export interface FleetPlan {
  resources: FleetResource[];
  /** Whether anything would change. */
  pending: boolean;
  /** Runs the writes in order and returns the resources as applied. */
  apply(): Promise<FleetResource[]>;
}

/** `group`: the group as the caller already read it (readGroup), so it is not read twice. */
export async function planFleetUp(ports: FleetUpPorts, input: FleetUpInput, known?: { group: Asg.AutoScalingGroup | undefined }): Promise<FleetPlan> {
  const group = known ? known.group : await readGroup(ports.autoscaling, input.groupName, input.stack);
  await requireRole(ports.iam, input.roleName);
  const steps: Step[] = [
    planTemplate(ports.ec2, input),
    await planGroup(ports.autoscaling, input, group),
    await planPolicy(ports.autoscaling, input, group),
  ];
  // The backstop for jobs other clients send: its policy, then the alarm that names the policy's ARN.
  const zero = await planZeroPolicy(ports.autoscaling, input, group);
  steps.push(zero.step, await planZeroAlarm(ports.cloudwatch, input, zero));
  // The node policy names the group's ARN, which AWS gives the group when it is made.
  let groupArn = group?.AutoScalingGroupARN;
  const arnStep = await planNodePolicy(ports.iam, input, () => groupArn);
  steps.push(arnStep);
  const resources = steps.map((s) => s.resource);
  return {
    resources,
    pending: resources.some((r) => r.action !== 'unchanged'),
    async apply() {
      for (const s of steps) {
        if (s.resource.type === 'node-role-policy' && !groupArn) groupArn = (await readGroup(ports.autoscaling, input.groupName, input.stack))?.AutoScalingGroupARN;
        if (!s.write) continue;
        await s.write();
        s.resource.action = s.resource.action === 'would-create' ? 'created' : 'updated';
        if (s.resource.type === 'node-role-policy') s.resource.arn = groupArn;
      }
      return resources;
    },
  };
}

async function requireRole(iam: Pick<IamPort, 'getRole'>, roleName: string): Promise<void> {
  try {
    await iam.getRole({ RoleName: roleName });
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
    throw new UsageError(`The node role ${roleName} does not exist`, { code: 'NodeRoleMissing', hint: 'Run `fluxer setup` first: it makes the role, instance profile and security group the fleet\'s nodes use.' });
  }
}
