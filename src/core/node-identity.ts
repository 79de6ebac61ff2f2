// What GPU nodes run as, made by `fluxer setup` like the rest of the stack (read → diff → dry run →
// apply): the IAM role and instance profile (EC2 may assume the role; SSM's managed policy and an
// inline policy scoped to the stack) and a security group with no inbound rule in the stack's VPC.
import type { Ec2Port } from '../aws/ec2.js';
import { isAlreadyExists, isInstanceProfilePropagating, isNotFound, isProfileFull } from '../aws/errors.js';
import type { IamPort } from '../aws/iam.js';
import type { StsPort } from '../aws/sts.js';
import type { StackSettings } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import { FluxerError, UsageError } from '../lib/errors.js';
import {
  NODE_INLINE_POLICY_NAME, SSM_MANAGED_POLICY, managedPolicyArn, nodeInlinePolicy, nodeRoleName, nodeSecurityGroupName,
  nodeTrustPolicy, parsePolicyDocument, partitionOf, sameDocument,
} from './node-policy.js';
import type { SetupChange, SetupResource } from './setup.js';
import { requireBucket } from './stack-resources.js';
import { fluxerTagMap, fluxerTags, type FluxerRole } from './tags.js';

export type NodeIdentitySettings = Pick<StackSettings, 'region' | 'spotRegion' | 'queueName' | 'bucket' | 'prefix' | 'instanceProfile' | 'subnets' | 'hfTokenParameter'>;

export interface NodeIdentityPorts {
  iam: IamPort;
  /** EC2 in the nodes' region (spotRegion, else region). */
  ec2: Ec2Port;
  sts: StsPort;
}

export async function ensureNodeIdentity(
  ports: NodeIdentityPorts,
  settings: NodeIdentitySettings,
  stack: string,
  opts: { dryRun?: boolean; onResource?: (r: SetupResource) => void } = {},
): Promise<SetupResource[]> {
  const dryRun = opts.dryRun ?? false;
  const report = (r: SetupResource) => (opts.onResource?.(r), r);
  const caller = await ports.sts.getCallerIdentity();
  const partition = partitionOf(caller.arn);
  const inline = nodeInlinePolicy({
    partition, account: caller.account, region: settings.region, queueName: settings.queueName,
    bucket: requireBucket(settings, stack), prefix: settings.prefix, stack, hfTokenParameter: settings.hfTokenParameter,
  });
  const roleName = nodeRoleName(settings);
  const role = report(await ensureRole(ports.iam, { roleName, stack, inline, ssmPolicyArn: managedPolicyArn(partition, SSM_MANAGED_POLICY), dryRun }));
  const profile = report(await ensureProfile(ports.iam, { name: settings.instanceProfile, roleName, stack, dryRun }));
  const group = report(await ensureSecurityGroup(ports.ec2, settings, stack, dryRun));
  return [role, profile, group];
}

interface RoleSpec {
  roleName: string;
  stack: string;
  inline: object;
  ssmPolicyArn: string;
  dryRun: boolean;
}

/** Two setups at once: the one whose create loses reads what the other made, then diffs it. */
async function orRead<T>(create: () => Promise<T>, raced: boolean, reread: () => Promise<SetupResource>): Promise<T | SetupResource> {
  try {
    return await create();
  } catch (err) {
    if (!raced && isAlreadyExists(err)) return reread();
    throw err;
  }
}

async function ensureRole(iam: IamPort, spec: RoleSpec, raced = false): Promise<SetupResource> {
  const { roleName, dryRun } = spec;
  const tags = fluxerTagMap(spec.stack, 'node-role', roleName);
  const trust = nodeTrustPolicy();
  const existing = await absentAs(() => iam.getRole({ RoleName: roleName }));
  if (!existing?.Role) {
    const changes: SetupChange[] = [
      { setting: 'trust', from: null, to: 'ec2.amazonaws.com may assume it' },
      { setting: `managed policy ${SSM_MANAGED_POLICY}`, from: null, to: 'attached' },
      { setting: `inline policy ${NODE_INLINE_POLICY_NAME}`, from: null, to: 'the stack\'s queue, bucket prefixes and SSM parameters' },
      { setting: 'tags', from: null, to: describeTags(tags) },
    ];
    if (dryRun) return { type: 'node-role', name: roleName, action: 'would-create', changes };
    const made = await orRead(() => iam.createRole({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify(trust),
      Description: `fluxer GPU nodes of stack ${spec.stack}`,
      Tags: tagList(tags),
    }), raced, () => ensureRole(iam, spec, true));
    if (!('$metadata' in made)) return made;
    const created = made;
    await iam.attachRolePolicy({ RoleName: roleName, PolicyArn: spec.ssmPolicyArn });
    await iam.putRolePolicy({ RoleName: roleName, PolicyName: NODE_INLINE_POLICY_NAME, PolicyDocument: JSON.stringify(spec.inline) });
    return { type: 'node-role', name: roleName, arn: created.Role?.Arn, action: 'created', changes };
  }

  const arn = existing.Role.Arn;
  const changes: SetupChange[] = [];
  const writes: Array<() => Promise<unknown>> = [];
  const currentTrust = parsePolicyDocument(existing.Role.AssumeRolePolicyDocument);
  if (!sameDocument(currentTrust, trust)) {
    changes.push({ setting: 'trust', from: JSON.stringify(currentTrust ?? null), to: JSON.stringify(trust) });
    writes.push(() => iam.updateAssumeRolePolicy({ RoleName: roleName, PolicyDocument: JSON.stringify(trust) }));
  }
  const attached = (await iam.listAttachedRolePolicies({ RoleName: roleName })).AttachedPolicies ?? [];
  if (!attached.some((p) => p.PolicyArn === spec.ssmPolicyArn)) {
    changes.push({ setting: `managed policy ${SSM_MANAGED_POLICY}`, from: null, to: 'attached' });
    writes.push(() => iam.attachRolePolicy({ RoleName: roleName, PolicyArn: spec.ssmPolicyArn }));
  }
  const current = await absentAs(() => iam.getRolePolicy({ RoleName: roleName, PolicyName: NODE_INLINE_POLICY_NAME }));
  const currentDoc = parsePolicyDocument(current?.PolicyDocument);
  if (!sameDocument(currentDoc, spec.inline)) {
    changes.push({ setting: `inline policy ${NODE_INLINE_POLICY_NAME}`, from: currentDoc ? JSON.stringify(currentDoc) : null, to: JSON.stringify(spec.inline) });
    writes.push(() => iam.putRolePolicy({ RoleName: roleName, PolicyName: NODE_INLINE_POLICY_NAME, PolicyDocument: JSON.stringify(spec.inline) }));
  }
  // GetRole and GetInstanceProfile carry the tags (moto lacks ListInstanceProfileTags; AWS has both).
  const currentTags = Object.fromEntries((existing.Role.Tags ?? []).map((t) => [t.Key, t.Value]));
  const missing = missingTags(tags, currentTags, changes);
  if (missing.length) writes.push(() => iam.tagRole({ RoleName: roleName, Tags: missing }));
  return settle({ type: 'node-role', name: roleName, arn }, changes, writes, dryRun);
}

async function ensureProfile(iam: IamPort, spec: { name: string; roleName: string; stack: string; dryRun: boolean }, raced = false): Promise<SetupResource> {
  const { name, roleName, dryRun } = spec;
  const tags = fluxerTagMap(spec.stack, 'node-profile', name);
  const existing = (await absentAs(() => iam.getInstanceProfile({ InstanceProfileName: name })))?.InstanceProfile;
  if (!existing) {
    const changes: SetupChange[] = [
      { setting: 'role', from: null, to: roleName },
      { setting: 'tags', from: null, to: describeTags(tags) },
    ];
    if (dryRun) return { type: 'instance-profile', name, action: 'would-create', changes };
    const made = await orRead(() => iam.createInstanceProfile({ InstanceProfileName: name, Tags: tagList(tags) }), raced, () => ensureProfile(iam, spec, true));
    if (!('$metadata' in made)) return made;
    const created = made;
    await addRoleOnce(iam, name, roleName);
    return { type: 'instance-profile', name, arn: created.InstanceProfile?.Arn, action: 'created', changes };
  }
  const changes: SetupChange[] = [];
  const writes: Array<() => Promise<unknown>> = [];
  const roles = (existing.Roles ?? []).map((r) => r.RoleName);
  if (!roles.includes(roleName)) {
    // A profile holds one role: replacing another's role is for its owner to decide.
    if (roles.length) {
      throw new FluxerError(`Instance profile ${name} holds role ${roles.join(', ')}, not ${roleName}`, {
        code: 'InstanceProfileRoleMismatch',
        hint: `Remove it (aws iam remove-role-from-instance-profile --instance-profile-name ${name} --role-name ${roles[0]}) and run \`fluxer setup\` again, or set "instanceProfile" to another name.`,
      });
    }
    changes.push({ setting: 'role', from: null, to: roleName });
    writes.push(() => addRoleOnce(iam, name, roleName));
  }
  const currentTags = Object.fromEntries((existing.Tags ?? []).map((t) => [t.Key, t.Value]));
  const missing = missingTags(tags, currentTags, changes);
  if (missing.length) writes.push(() => iam.tagInstanceProfile({ InstanceProfileName: name, Tags: missing }));
  return settle({ type: 'instance-profile', name, arn: existing.Arn }, changes, writes, dryRun);
}

/**
 * Two setups at once both see the new profile empty and both add the role: the one IAM refuses
 * (the profile is full) succeeds if the role it holds is ours.
 */
async function addRoleOnce(iam: IamPort, name: string, roleName: string): Promise<void> {
  try {
    await iam.addRoleToInstanceProfile({ InstanceProfileName: name, RoleName: roleName });
  } catch (err) {
    if (!isProfileFull(err)) throw err;
    const roles = (await iam.getInstanceProfile({ InstanceProfileName: name })).InstanceProfile?.Roles ?? [];
    if (!roles.some((r) => r.RoleName === roleName)) throw err;
  }
}

/** The VPC nodes launch into: the configured subnets' VPC, else the region's default VPC. */
export async function resolveNodeVpc(ec2: Pick<Ec2Port, 'describeSubnets' | 'describeVpcs'>, settings: Pick<StackSettings, 'subnets'>, region: string): Promise<string> {
  if (settings.subnets.length) {
    const subnets = (await ec2.describeSubnets({ SubnetIds: settings.subnets })).Subnets ?? [];
    const vpcs = [...new Set(subnets.map((s) => s.VpcId).filter((v): v is string => !!v))];
    if (vpcs.length !== 1) {
      throw new UsageError(`The stack's subnets (${settings.subnets.join(', ')}) ${vpcs.length ? `span ${vpcs.length} VPCs` : 'were not found'} in ${region}`, {
        code: 'SubnetsVpc',
        hint: 'Set "subnets" to subnets of one VPC in the nodes\' region.',
      });
    }
    return vpcs[0]!;
  }
  const vpc = ((await ec2.describeVpcs({ Filters: [{ Name: 'is-default', Values: ['true'] }] })).Vpcs ?? [])[0]?.VpcId;
  if (!vpc) {
    throw new UsageError(`${region} has no default VPC, and the stack names no subnets`, {
      code: 'NoDefaultVpc',
      hint: 'Set "subnets" (FLUXER_SUBNETS) to the subnets nodes launch into; the security group is made in their VPC.',
    });
  }
  return vpc;
}

export async function findNodeSecurityGroup(ec2: Pick<Ec2Port, 'describeSecurityGroups'>, vpcId: string, stack: string) {
  const filters = [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'group-name', Values: [nodeSecurityGroupName(stack)] }];
  return ((await ec2.describeSecurityGroups({ Filters: filters })).SecurityGroups ?? [])[0];
}

async function ensureSecurityGroup(ec2: Ec2Port, settings: NodeIdentitySettings, stack: string, dryRun: boolean, raced = false): Promise<SetupResource> {
  const region = settings.spotRegion ?? settings.region;
  const name = nodeSecurityGroupName(stack);
  const role: FluxerRole = 'node-security-group';
  const vpcId = await resolveNodeVpc(ec2, settings, region);
  const group = await findNodeSecurityGroup(ec2, vpcId, stack);
  if (!group?.GroupId) {
    const changes: SetupChange[] = [
      { setting: 'security group', from: null, to: `${name} in ${vpcId} (${region})` },
      { setting: 'inbound rules', from: null, to: 'none (outbound: all)' },
    ];
    if (dryRun) return { type: 'security-group', name, action: 'would-create', changes };
    const made = await orRead(() => ec2.createSecurityGroup({
      GroupName: name,
      Description: `fluxer GPU nodes of stack ${stack}: no inbound access (SSM reaches them from inside)`,
      VpcId: vpcId,
      TagSpecifications: [{ ResourceType: 'security-group', Tags: fluxerTags(stack, role, name) }],
    }), raced, () => ensureSecurityGroup(ec2, settings, stack, dryRun, true));
    if (!('$metadata' in made)) return made;
    const created = made;
    return { type: 'security-group', name, id: created.GroupId, action: 'created', changes };
  }
  const changes: SetupChange[] = [];
  const writes: Array<() => Promise<unknown>> = [];
  const inbound = group.IpPermissions ?? [];
  if (inbound.length) {
    changes.push({ setting: 'inbound rules', from: `${inbound.length} rule(s)`, to: 'none' });
    writes.push(() => ec2.revokeSecurityGroupIngress({ GroupId: group.GroupId, IpPermissions: inbound }));
  }
  const current = Object.fromEntries((group.Tags ?? []).map((t) => [t.Key, t.Value]));
  const missing = missingTags(fluxerTagMap(stack, role, name), current, changes);
  if (missing.length) writes.push(() => ec2.createTags({ Resources: [group.GroupId!], Tags: missing }));
  return settle({ type: 'security-group', name, id: group.GroupId }, changes, writes, dryRun);
}

/**
 * Runs a launch, retrying while a freshly made instance profile propagates to EC2 (a few seconds,
 * rarely a minute). Any other error is thrown at once.
 */
export async function retryWhileProfilePropagates<T>(clock: Clock, launch: () => Promise<T>, opts: { maxWaitMs?: number; delayMs?: number; signal?: AbortSignal } = {}): Promise<T> {
  const maxWaitMs = opts.maxWaitMs ?? 60_000;
  let delayMs = opts.delayMs ?? 2_000;
  const start = clock.now();
  for (;;) {
    try {
      return await launch();
    } catch (err) {
      if (!isInstanceProfilePropagating(err) || clock.now() - start + delayMs > maxWaitMs) throw err;
    }
    await clock.sleep(delayMs, opts.signal);
    delayMs = Math.min(delayMs * 2, 10_000);
  }
}

async function settle(base: Omit<SetupResource, 'action' | 'changes'>, changes: SetupChange[], writes: Array<() => Promise<unknown>>, dryRun: boolean): Promise<SetupResource> {
  if (!changes.length) return { ...base, action: 'unchanged', changes };
  if (dryRun) return { ...base, action: 'would-update', changes };
  for (const write of writes) await write();
  return { ...base, action: 'updated', changes };
}

async function absentAs<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err, 'iam')) return undefined;
    throw err;
  }
}

function missingTags(want: Record<string, string>, current: Record<string, string | undefined>, changes: SetupChange[]) {
  const missing = Object.entries(want).filter(([k, v]) => current[k] !== v);
  for (const [k, v] of missing) changes.push({ setting: `tag ${k}`, from: current[k] ?? null, to: v });
  return tagList(Object.fromEntries(missing));
}

function tagList(tags: Record<string, string>) {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function describeTags(tags: Record<string, string>): string {
  return Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(', ');
}
