// `fleet up`'s inline policy on the node role: what a node may do to its own group (instance
// protection, lifecycle actions, leaving it), scoped to the group's ARN.
import { isNotFound } from '../../../aws/errors.js';
import { parsePolicyDocument, sameDocument } from '../../node-policy.js';
import { NODE_FLEET_POLICY_NAME } from '../names.js';
import { groupArnPattern, nodeFleetPolicy } from '../spec.js';
import type { FleetUpInput, FleetUpPorts, Step } from './types.js';

export async function planNodePolicy(iam: FleetUpPorts['iam'], input: FleetUpInput, arn: () => string | undefined): Promise<Step> {
  const name = `${input.roleName}/${NODE_FLEET_POLICY_NAME}`;
  const known = arn();
  const desired = nodeFleetPolicy(known ?? groupArnPattern(input.partition, input.region, input.account, input.groupName));
  let current: unknown;
  try {
    current = parsePolicyDocument((await iam.getRolePolicy({ RoleName: input.roleName, PolicyName: NODE_FLEET_POLICY_NAME })).PolicyDocument);
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
  }
  const to = `SetInstanceProtection, lifecycle actions, TerminateInstanceInAutoScalingGroup on ${known ?? `group ${input.groupName}`} only`;
  const write = async () => {
    const groupArn = arn();
    if (!groupArn) throw new Error(`group ${input.groupName} has no ARN`);
    await iam.putRolePolicy({ RoleName: input.roleName, PolicyName: NODE_FLEET_POLICY_NAME, PolicyDocument: JSON.stringify(nodeFleetPolicy(groupArn)) });
  };
  if (current === undefined) return { resource: { type: 'node-role-policy', name, action: 'would-create', changes: [{ setting: 'autoscaling', from: null, to }] }, write };
  if (known && sameDocument(current, desired)) return { resource: { type: 'node-role-policy', name, arn: known, action: 'unchanged', changes: [] } };
  return { resource: { type: 'node-role-policy', name, action: 'would-update', changes: [{ setting: 'autoscaling', from: JSON.stringify(current), to }] }, write };
}
