// Two `fluxer setup` runs of one stack at once, interleaved call by call against a small in-memory
// IAM and EC2 that answer as AWS does (a profile holds one role: a second AddRoleToInstanceProfile is
// LimitExceeded). Both must succeed and leave one role in one profile. The moto test of the same race
// (test/integration/setup-node.test.ts) depends on timing; this one forces the interleaving.
import { describe, expect, it } from 'vitest';
import type { Ec2Port } from '../../src/aws/ec2.js';
import { isProfileFull } from '../../src/aws/errors.js';
import type { IamPort } from '../../src/aws/iam.js';
import { ensureNodeIdentity } from '../../src/core/node-identity.js';

function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, Code: name, $metadata: { httpStatusCode: status } });
}

const tick = () => new Promise((r) => setImmediate(r));

function fakeIam() {
  const roles = new Map<string, { tags: Array<{ Key: string; Value: string }>; trust?: string }>();
  const profiles = new Map<string, { roles: string[]; tags: Array<{ Key: string; Value: string }> }>();
  const policies = new Map<string, string>();
  const attached = new Set<string>();
  const noSuch = () => awsError('NoSuchEntity', 'not found', 404);
  const io = async <T>(f: () => T): Promise<T> => (await tick(), f());
  const port = {
    getRole: ({ RoleName }: { RoleName: string }) => io(() => {
      const r = roles.get(RoleName);
      if (!r) throw noSuch();
      return { Role: { RoleName, Arn: `arn:aws:iam::1:role/${RoleName}`, AssumeRolePolicyDocument: r.trust, Tags: r.tags } };
    }),
    createRole: ({ RoleName, Tags, AssumeRolePolicyDocument }: { RoleName: string; Tags: Array<{ Key: string; Value: string }>; AssumeRolePolicyDocument: string }) => io(() => {
      if (roles.has(RoleName)) throw awsError('EntityAlreadyExists', 'exists', 409);
      roles.set(RoleName, { tags: Tags, trust: AssumeRolePolicyDocument });
      return { $metadata: {}, Role: { Arn: `arn:aws:iam::1:role/${RoleName}` } };
    }),
    attachRolePolicy: ({ PolicyArn }: { PolicyArn: string }) => io(() => void attached.add(PolicyArn)),
    listAttachedRolePolicies: () => io(() => ({ AttachedPolicies: [...attached].map((PolicyArn) => ({ PolicyArn })) })),
    putRolePolicy: ({ PolicyName, PolicyDocument }: { PolicyName: string; PolicyDocument: string }) => io(() => void policies.set(PolicyName, PolicyDocument)),
    getRolePolicy: ({ PolicyName }: { PolicyName: string }) => io(() => {
      if (!policies.has(PolicyName)) throw noSuch();
      return { PolicyDocument: policies.get(PolicyName) };
    }),
    getInstanceProfile: ({ InstanceProfileName }: { InstanceProfileName: string }) => io(() => {
      const p = profiles.get(InstanceProfileName);
      if (!p) throw noSuch();
      return { InstanceProfile: { Arn: `arn:aws:iam::1:instance-profile/${InstanceProfileName}`, Roles: p.roles.map((RoleName) => ({ RoleName })), Tags: p.tags } };
    }),
    createInstanceProfile: ({ InstanceProfileName, Tags }: { InstanceProfileName: string; Tags: Array<{ Key: string; Value: string }> }) => io(() => {
      if (profiles.has(InstanceProfileName)) throw awsError('EntityAlreadyExists', 'exists', 409);
      profiles.set(InstanceProfileName, { roles: [], tags: Tags });
      return { $metadata: {}, InstanceProfile: { Arn: `arn:aws:iam::1:instance-profile/${InstanceProfileName}` } };
    }),
    addRoleToInstanceProfile: ({ InstanceProfileName, RoleName }: { InstanceProfileName: string; RoleName: string }) => io(() => {
      const p = profiles.get(InstanceProfileName)!;
      if (p.roles.length) throw awsError('LimitExceeded', 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1', 409);
      p.roles.push(RoleName);
      return {};
    }),
    tagRole: () => io(() => ({})),
    tagInstanceProfile: () => io(() => ({})),
    updateAssumeRolePolicy: () => io(() => ({})),
  };
  return { port: port as unknown as IamPort, roles, profiles };
}

function fakeEc2() {
  const groups: Array<{ GroupId: string; GroupName: string; VpcId: string; Tags: unknown[]; IpPermissions: unknown[] }> = [];
  const io = async <T>(f: () => T): Promise<T> => (await tick(), f());
  const port = {
    describeVpcs: () => io(() => ({ Vpcs: [{ VpcId: 'vpc-1' }] })),
    describeSecurityGroups: ({ Filters }: { Filters: Array<{ Name: string; Values: string[] }> }) => io(() => ({
      SecurityGroups: groups.filter((g) => g.GroupName === Filters.find((f) => f.Name === 'group-name')!.Values[0]),
    })),
    createSecurityGroup: ({ GroupName, VpcId, TagSpecifications }: { GroupName: string; VpcId: string; TagSpecifications: Array<{ Tags: unknown[] }> }) => io(() => {
      if (groups.some((g) => g.GroupName === GroupName)) throw awsError('InvalidGroup.Duplicate', 'exists');
      const g = { GroupId: `sg-${groups.length + 1}`, GroupName, VpcId, Tags: TagSpecifications[0]!.Tags, IpPermissions: [] };
      groups.push(g);
      return { $metadata: {}, GroupId: g.GroupId };
    }),
  };
  return { port: port as unknown as Ec2Port, groups };
}

describe('two setups of one stack at once', () => {
  const settings = { region: 'us-east-1', queueName: 'q', bucket: 'b', prefix: 'fx/', instanceProfile: 'fluxer-prod-node', subnets: [], hfTokenParameter: '/fluxer/prod/hf-token' };
  const sts = { getCallerIdentity: async () => ({ account: '1', arn: 'arn:aws:iam::1:user/me', userId: 'me' }) };

  it('classifies a full profile by code and quota name only', () => {
    expect(isProfileFull(awsError('LimitExceeded', 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1'))).toBe(true);
    expect(isProfileFull(awsError('LimitExceeded', 'Cannot exceed quota for RolesPerAccount: 1000'))).toBe(false);
  });

  it('both succeed when both add the role to the new, empty profile; one role, one profile, one group', async () => {
    const iam = fakeIam();
    const ec2 = fakeEc2();
    // Both runs read the profile before either adds the role (each call yields once): the race CI hit.
    const runs = await Promise.all([0, 1].map(() => ensureNodeIdentity({ iam: iam.port, ec2: ec2.port, sts }, settings, 'prod')));
    expect(runs).toHaveLength(2);
    expect([...iam.profiles.values()].map((p) => p.roles)).toEqual([['fluxer-prod-node']]);
    expect(iam.roles.size).toBe(1);
    expect(ec2.groups).toHaveLength(1);
  });

  it('still refuses a profile another role took', async () => {
    const iam = fakeIam();
    const ec2 = fakeEc2();
    await iam.port.createInstanceProfile({ InstanceProfileName: 'fluxer-prod-node', Tags: [] });
    const add = iam.port.addRoleToInstanceProfile.bind(iam.port);
    // Someone else's role lands between our read of the empty profile and our add.
    let first = true;
    iam.port.addRoleToInstanceProfile = async (input) => {
      if (first) (first = false, iam.profiles.get('fluxer-prod-node')!.roles.push('someone-else'));
      return add(input);
    };
    await expect(ensureNodeIdentity({ iam: iam.port, ec2: ec2.port, sts }, settings, 'prod')).rejects.toThrow(/InstanceSessionsPerInstanceProfile/);
  });
});
