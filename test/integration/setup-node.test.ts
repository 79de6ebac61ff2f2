// `fluxer setup`'s node identity against moto (started with AWS managed policies loaded): the role,
// instance profile and security group, read back with the real AWS CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ec2sdk from '@aws-sdk/client-ec2';
import * as iamsdk from '@aws-sdk/client-iam';
import { describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const endpoint = inject('motoEndpoint');
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

async function awsCli(...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

const config = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 };
const iam = new iamsdk.IAMClient(config);
const ec2 = new ec2sdk.EC2Client(config);

function newStack() {
  const stack = unique('nd');
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-setup-node-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: unique('nd-bkt'), prefix: 'p/' } } }));
  const setup = (...args: string[]) => runCli(['setup', '--endpoint-url', endpoint, '--json', ...args], { cwd, env: testEnv() });
  return { stack, name: `fluxer-${stack}-node`, setup };
}

const node = (doc: any) => doc.resources.filter((r: any) => ['node-role', 'instance-profile', 'security-group'].includes(r.type));

async function groupOf(name: string) {
  return (await ec2.send(new ec2sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }] }))).SecurityGroups ?? [];
}

describe('fluxer setup: what nodes run as', () => {
  it('two setups of one stack at once both succeed and leave one role, one profile and one group', async () => {
    const s = newStack();
    const [a, b] = await Promise.all([s.setup('--yes'), s.setup('--yes')]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    expect(await groupOf(s.name)).toHaveLength(1);
    const role = await awsCli('iam', 'get-role', '--role-name', s.name);
    expect(role.Role.RoleName).toBe(s.name);
    const again = await s.setup();
    expect(node(JSON.parse(again.stdout)).map((x: any) => x.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
  });

  it('the tests\' moto has AWS managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES)', async () => {
    const { Policy } = await awsCli('iam', 'get-policy', '--policy-arn', 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore');
    expect(Policy.PolicyName).toBe('AmazonSSMManagedInstanceCore');
  });

  it('creates the role, profile and group; the AWS CLI shows the policies and no inbound rule; a second run changes nothing', async () => {
    const s = newStack();
    const r = await s.setup();
    expect(r.code, r.stderr).toBe(0);
    expect(node(JSON.parse(r.stdout)).map((x: any) => [x.type, x.name, x.action])).toEqual([
      ['node-role', s.name, 'created'],
      ['instance-profile', s.name, 'created'],
      ['security-group', s.name, 'created'],
    ]);
    const [role, attached, inline, profile, groups] = await Promise.all([
      awsCli('iam', 'get-role', '--role-name', s.name),
      awsCli('iam', 'list-attached-role-policies', '--role-name', s.name),
      awsCli('iam', 'get-role-policy', '--role-name', s.name, '--policy-name', 'fluxer-node'),
      awsCli('iam', 'get-instance-profile', '--instance-profile-name', s.name),
      awsCli('ec2', 'describe-security-groups', '--filters', `Name=group-name,Values=${s.name}`),
    ]);
    expect(role.Role.AssumeRolePolicyDocument.Statement).toEqual([{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
    expect(Object.fromEntries(role.Role.Tags.map((t: any) => [t.Key, t.Value]))).toMatchObject({ 'fluxer:managed': 'true', 'fluxer:stack': s.stack, 'fluxer:role': 'node-role' });
    expect(attached.AttachedPolicies.map((p: any) => p.PolicyArn)).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    const statements = Object.fromEntries(inline.PolicyDocument.Statement.map((x: any) => [x.Sid, x]));
    expect(statements.JobQueue.Resource).toBe(`arn:aws:sqs:us-east-1:123456789012:fluxer-${s.stack}-jobs`);
    expect(statements.JobQueue.Action).toContain('sqs:ReceiveMessage');
    const bucket = JSON.parse(r.stdout).resources.find((x: any) => x.type === 'bucket').name;
    expect(statements.ReadWriteStackObjects.Resource).toEqual([`arn:aws:s3:::${bucket}/p/jobs/*`, `arn:aws:s3:::${bucket}/p/nodes/*`, `arn:aws:s3:::${bucket}/p/ssm-output/*`]);
    expect(statements.ReadReleasesAndModels).toMatchObject({ Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${bucket}/p/releases/*`, `arn:aws:s3:::${bucket}/p/models/*`] });
    expect(statements.ListStackPrefixes.Condition.StringLike['s3:prefix']).toContain('p/jobs/*');
    expect(statements.StackParameters.Resource).toEqual([`arn:aws:ssm:us-east-1:123456789012:parameter/fluxer/${s.stack}/*`]);
    expect(profile.InstanceProfile.Roles.map((x: any) => x.RoleName)).toEqual([s.name]);
    expect(groups.SecurityGroups).toHaveLength(1);
    expect(groups.SecurityGroups[0].IpPermissions).toEqual([]);
    expect(groups.SecurityGroups[0].IpPermissionsEgress.length).toBeGreaterThan(0);
    expect(groups.SecurityGroups[0].Tags).toEqual(expect.arrayContaining([{ Key: 'fluxer:stack', Value: s.stack }, { Key: 'fluxer:role', Value: 'node-security-group' }]));

    const again = await s.setup();
    expect(node(JSON.parse(again.stdout)).map((x: any) => [x.action, x.changes])).toEqual(Array(3).fill(['unchanged', []]));
  });

  it('--dry-run creates no role, profile or group', async () => {
    const s = newStack();
    const r = await s.setup('--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(node(JSON.parse(r.stdout)).map((x: any) => x.action)).toEqual(['would-create', 'would-create', 'would-create']);
    await expect(iam.send(new iamsdk.GetRoleCommand({ RoleName: s.name }))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    await expect(iam.send(new iamsdk.GetInstanceProfileCommand({ InstanceProfileName: s.name }))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    expect(await groupOf(s.name)).toEqual([]);
  });

  it('reports drift (an inbound rule, a detached policy, a changed inline policy), a dry run leaves it, a run repairs it', async () => {
    const s = newStack();
    expect((await s.setup()).code).toBe(0);
    const [group] = await groupOf(s.name);
    await Promise.all([
      ec2.send(new ec2sdk.AuthorizeSecurityGroupIngressCommand({ GroupId: group!.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })),
      iam.send(new iamsdk.DetachRolePolicyCommand({ RoleName: s.name, PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' })),
      iam.send(new iamsdk.PutRolePolicyCommand({ RoleName: s.name, PolicyName: 'fluxer-node', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }) })),
    ]);
    const dry = JSON.parse((await s.setup('--dry-run')).stdout);
    const settings = (d: any) => node(d).map((x: any) => [x.action, x.changes.map((c: any) => c.setting)]);
    expect(settings(dry)).toEqual([
      ['would-update', ['managed policy AmazonSSMManagedInstanceCore', 'inline policy fluxer-node']],
      ['unchanged', []],
      ['would-update', ['inbound rules']],
    ]);
    expect((await groupOf(s.name))[0]!.IpPermissions).toHaveLength(1);
    const fix = JSON.parse((await s.setup()).stdout);
    expect(settings(fix).map((x: any) => x[0])).toEqual(['updated', 'unchanged', 'updated']);
    expect((await groupOf(s.name))[0]!.IpPermissions).toEqual([]);
    const again = JSON.parse((await s.setup()).stdout);
    expect(node(again).map((x: any) => x.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
  });
});
