// Doctor's checks of what nodes run as (src/core/node-identity.ts makes them): the instance profile's
// role (EC2 may assume it, SSM's managed policy, fluxer's inline policy) and the nodes' security group.
import type { Ec2Port } from '../aws/ec2.js';
import { isNotFound } from '../aws/errors.js';
import type { StackSettings } from '../config/schema.js';
import type { CheckOutcome, DoctorPorts } from './doctor.js';
import { findNodeSecurityGroup, resolveNodeVpc } from './node-identity.js';
import {
  NODE_INLINE_POLICY_NAME, SSM_MANAGED_POLICY, managedPolicyArn, nodeInlinePolicy, nodeSecurityGroupName, parsePolicyDocument, partitionOf, sameDocument,
} from './node-policy.js';

const SETUP_HINT = 'Run `fluxer setup`: it creates or repairs the node role, instance profile and security group.';

export async function checkNodeRole(ports: DoctorPorts, settings: StackSettings, stack: string): Promise<CheckOutcome> {
  const iam = await ports.iam();
  let profile;
  try {
    profile = (await iam.getInstanceProfile({ InstanceProfileName: settings.instanceProfile })).InstanceProfile;
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
  }
  const roleName = profile?.Roles?.[0]?.RoleName;
  if (!roleName) return { status: 'fail', detail: `instance profile "${settings.instanceProfile}" has no role to check`, hint: SETUP_HINT };
  const role = (await iam.getRole({ RoleName: roleName })).Role;
  const trust = JSON.stringify(parsePolicyDocument(role?.AssumeRolePolicyDocument) ?? {});
  if (!trust.includes('ec2.amazonaws.com')) {
    return { status: 'fail', detail: `role ${roleName} does not let EC2 assume it: nodes would get no credentials`, hint: SETUP_HINT };
  }
  const caller = await (await ports.sts()).getCallerIdentity();
  const partition = partitionOf(caller.arn);
  const attached = (await iam.listAttachedRolePolicies({ RoleName: roleName })).AttachedPolicies ?? [];
  if (!attached.some((p) => p.PolicyArn === managedPolicyArn(partition, SSM_MANAGED_POLICY))) {
    return { status: 'fail', detail: `role ${roleName} lacks ${SSM_MANAGED_POLICY}: fluxer cannot reach nodes over SSM`, hint: SETUP_HINT };
  }
  let inline: unknown;
  try {
    inline = parsePolicyDocument((await iam.getRolePolicy({ RoleName: roleName, PolicyName: NODE_INLINE_POLICY_NAME })).PolicyDocument);
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
  }
  if (!settings.bucket) return { status: 'warn', detail: `role ${roleName}: no bucket set, so its policy cannot be checked`, hint: 'Set "bucket", then run `fluxer setup`.' };
  const want = nodeInlinePolicy({
    partition, account: caller.account, region: settings.region, queueName: settings.queueName, bucket: settings.bucket,
    prefix: settings.prefix, stack, hfTokenParameter: settings.hfTokenParameter,
  });
  if (!sameDocument(inline, want)) {
    return {
      status: 'warn',
      detail: `role ${roleName}: inline policy ${NODE_INLINE_POLICY_NAME} ${inline ? 'differs from' : 'is missing, not'} what this stack needs (its queue, bucket prefixes, SSM parameters)`,
      hint: SETUP_HINT,
    };
  }
  return { status: 'ok', detail: `${roleName}: EC2 trust, ${SSM_MANAGED_POLICY}, ${NODE_INLINE_POLICY_NAME} scoped to the stack` };
}

export async function checkNodeSecurityGroup(ports: DoctorPorts, settings: StackSettings, stack: string): Promise<CheckOutcome> {
  const region = settings.spotRegion ?? settings.region;
  const ec2: Ec2Port = await ports.ec2(region);
  if (settings.securityGroups.length) {
    const groups = (await ec2.describeSecurityGroups({ GroupIds: settings.securityGroups })).SecurityGroups ?? [];
    const open = groups.filter((g) => (g.IpPermissions ?? []).length);
    if (open.length) return { status: 'warn', detail: `${open.map((g) => g.GroupId).join(', ')} allow inbound traffic; nodes need none`, hint: 'Remove the inbound rules, or leave "securityGroups" empty to use fluxer\'s group.' };
    return { status: 'ok', detail: `configured groups ${settings.securityGroups.join(', ')}: no inbound rules` };
  }
  const name = nodeSecurityGroupName(stack);
  const vpc = await resolveNodeVpc(ec2, settings, region);
  const group = await findNodeSecurityGroup(ec2, vpc, stack);
  if (!group) return { status: 'fail', detail: `security group "${name}" not found in ${vpc} (${region})`, hint: SETUP_HINT };
  const inbound = group.IpPermissions ?? [];
  if (inbound.length) return { status: 'warn', detail: `${name} (${group.GroupId}) has ${inbound.length} inbound rule(s); nodes need none`, hint: SETUP_HINT };
  return { status: 'ok', detail: `${name} (${group.GroupId}) in ${vpc}: no inbound rules` };
}
