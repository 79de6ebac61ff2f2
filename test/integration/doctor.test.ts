// `fluxer doctor` against moto + the AWS stand-in (EC2 quota values). Each test uses its own stack,
// resource names and access key id, so this file never needs to reset the shared server.
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateTagsCommand, DescribeVpcsCommand, EC2Client, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, AttachRolePolicyCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, PutPublicAccessBlockCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { nodeInlinePolicy } from '../../src/core/node-policy.js';
import { setStandinQuotas } from '../../src/emulator/server.js';
import { ANSI_ESCAPE, runBin, runCli, testEnv } from '../support/cli.js';

const endpoint = inject('awsEndpoint');
const CHECK_IDS = ['credentials', 'region', 'spot-quota', 'queue', 'bucket', 'ami', 'instance-profile', 'node-role', 'node-security-group', 'node-locations', 'userdata'];
// Per check, where the verdicts are under test, not the timeout: one loaded 2-core run took over the 10 s default.
const SLOW = '60s';

interface Stack {
  name: string;
  queueName: string;
  bucket: string;
  instanceProfile: string;
  accessKeyId: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** A fresh stack in its own project folder, with its own names and its own access key id (quota scope). */
function newStack(settings: Record<string, unknown> = {}): Stack {
  const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const name = `dr${id}`;
  const stack = {
    name,
    queueName: `doctor-${id}-jobs`,
    bucket: `doctor-${id}`,
    instanceProfile: `doctor-${id}-node`,
    accessKeyId: `AKDOCTOR${id.toUpperCase()}`,
    cwd: mkdtempSync(join(tmpdir(), 'fluxer-doctor-')),
    env: {} as NodeJS.ProcessEnv,
  };
  stack.env = testEnv({ AWS_ACCESS_KEY_ID: stack.accessKeyId });
  const config = { defaultStack: name, stacks: { [name]: { queueName: stack.queueName, bucket: stack.bucket, instanceProfile: stack.instanceProfile, instanceTypes: ['g5.xlarge'], ami: 'latest', ...settings } } };
  writeFileSync(join(stack.cwd, 'fluxer.config.json'), JSON.stringify(config, null, 2));
  return stack;
}

function clients(stack: Stack) {
  const config = { region: 'us-east-1', endpoint, credentials: { accessKeyId: stack.accessKeyId, secretAccessKey: 'testing' }, maxAttempts: 1 };
  return { sqs: new SQSClient(config), s3: new S3Client({ ...config, forcePathStyle: true }), ec2: new EC2Client(config), iam: new IAMClient(config) };
}

/** Everything doctor looks for, made the way `fluxer setup` and an AMI bake would leave it. */
async function createEverything(stack: Stack): Promise<string> {
  const { sqs, s3, ec2, iam } = clients(stack);
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${stack.queueName}-dlq` }));
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  await sqs.send(new CreateQueueCommand({ QueueName: stack.queueName, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) } }));
  await s3.send(new CreateBucketCommand({ Bucket: stack.bucket }));
  await s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: stack.bucket,
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
    }),
  );
  const image = await ec2.send(new RegisterImageCommand({ Name: `fluxer-${stack.name}-1`, RootDeviceName: '/dev/xvda', Architecture: 'x86_64' }));
  // moto ignores TagSpecifications on RegisterImage; CreateTags works there and on AWS alike.
  await ec2.send(
    new CreateTagsCommand({
      Resources: [image.ImageId!],
      Tags: [
        { Key: 'fluxer:managed', Value: 'true' },
        { Key: 'fluxer:stack', Value: stack.name },
        { Key: 'fluxer:role', Value: 'ami' },
        { Key: 'Name', Value: `fluxer-${stack.name}-1` },
      ],
    }),
  );
  const role = `${stack.instanceProfile}-role`;
  await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: stack.instanceProfile }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: stack.instanceProfile, RoleName: role }));
  await iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' }));
  const inline = nodeInlinePolicy({ partition: 'aws', account: '123456789012', region: 'us-east-1', queueName: stack.queueName, bucket: stack.bucket, prefix: 'fluxer/', stack: stack.name, hfTokenParameter: `/fluxer/${stack.name}/hf-token` });
  await iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: 'fluxer-node', PolicyDocument: JSON.stringify(inline) }));
  const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs![0]!.VpcId;
  const group = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `fluxer-${stack.name}-node`, Description: 'nodes', VpcId: vpc }));
  return group.GroupId!;
}

const gQuota = (stack: Stack, value: number) => setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value, accessKeyId: stack.accessKeyId }]);

interface Row {
  id: string;
  title: string;
  status: string;
  detail: string;
  hint: string | null;
}

async function doctorJson(stack: Stack, extra: string[] = []) {
  const r = await runCli(['doctor', '--json', '--timeout', SLOW, '--endpoint-url', endpoint, ...extra], { cwd: stack.cwd, env: stack.env });
  const doc = JSON.parse(r.stdout) as { stack: string; region: string; endpoint: string | null; checks: Row[]; ok: boolean };
  const row = (id: string) => doc.checks.find((c) => c.id === id)!;
  return { ...r, doc, row };
}

describe('fluxer doctor against moto and the stand-in', () => {
  it('with nothing created: credentials ok, queue and bucket fail, exit 1, one JSON document with a row per check', async () => {
    const stack = newStack();
    await gQuota(stack, 64);
    const { code, doc, row, stderr } = await doctorJson(stack);
    expect(code).toBe(1);
    expect(doc).toMatchObject({ stack: stack.name, region: 'us-east-1', endpoint, ok: false });
    expect(doc.checks.map((c) => c.id)).toEqual(CHECK_IDS);
    for (const c of doc.checks) expect(Object.keys(c).sort()).toEqual(['detail', 'hint', 'id', 'status', 'title']);
    expect(row('credentials')).toMatchObject({ status: 'ok', detail: expect.stringContaining('account 123456789012') });
    expect(row('queue')).toMatchObject({ status: 'fail', detail: expect.stringContaining(stack.queueName), hint: expect.stringContaining('fluxer setup') });
    expect(row('bucket')).toMatchObject({ status: 'fail', detail: expect.stringContaining(stack.bucket), hint: expect.stringContaining('fluxer setup') });
    expect(row('instance-profile')).toMatchObject({ status: 'fail', detail: expect.stringContaining(stack.instanceProfile) });
    expect(row('node-security-group')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`fluxer-${stack.name}-node`), hint: expect.stringContaining('fluxer setup') });
    // No AMI baked yet: "latest" is the Deep Learning AMI from its public parameter (the launch's meaning too).
    expect(row('ami')).toMatchObject({ status: 'ok', detail: expect.stringContaining('Deep Learning AMI (SSM /aws/service/deeplearning/') });
    // Failures elsewhere hide nothing: the quota and the user data (measured with an assumed queue URL) still report.
    expect(row('spot-quota').status).toBe('ok');
    expect(row('userdata')).toMatchObject({ status: 'ok', detail: expect.stringContaining('queue URL assumed') });
    expect(stderr).toBe('');
  });

  it('with queue + DLQ, bucket (public access blocked), AMI, instance profile and a sufficient quota: all ok, exit 0', async () => {
    const stack = newStack();
    await Promise.all([createEverything(stack), gQuota(stack, 64)]);
    const { code, doc, row } = await doctorJson(stack);
    expect(doc.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(code).toBe(0);
    expect(doc.ok).toBe(true);
    expect(row('queue').detail).toContain(`dead-letter queue "${stack.queueName}-dlq"`);
    expect(row('spot-quota').detail).toMatch(/L-3819A6DF .*64 vCPUs; one node needs 4 vCPUs \(g5\.xlarge\), room for 16 nodes/);
    expect(row('ami').detail).toMatch(/^latest for stack "dr\w+": ami-[0-9a-f]+/);
    expect(row('instance-profile').detail).toContain(`${stack.instanceProfile}-role`);
    expect(row('node-role').detail).toContain('AmazonSSMManagedInstanceCore');
    expect(row('node-security-group').detail).toContain('no inbound rules');
    expect(row('node-locations').detail).toContain('no live nodes');
    expect(row('userdata').detail).not.toContain('assumed');

    // The same stack in a terminal: marks, colors, the endpoint and a summary line.
    const tty = await runCli(['doctor', '--timeout', SLOW, '--endpoint-url', endpoint], { cwd: stack.cwd, env: { ...stack.env, FORCE_COLOR: '1' }, tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toMatch(ANSI_ESCAPE);
    expect(tty.stdout).toContain('✓');
    expect(tty.stdout).toContain(`endpoint ${endpoint} (not AWS)`);
    expect(tty.stdout).toContain('11 checks: 11 ok, 0 warnings, 0 failed');

    // A live node configured for another prefix of the bucket rejects the stack's jobs: doctor says so.
    const { s3 } = clients(stack);
    const record = (prefix: string, id: string) => s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `${prefix}nodes/${id}.json`, Body: JSON.stringify({ instanceId: id, state: 'READY', bucket: stack.bucket, prefix }) }));
    await record('fluxer/', 'i-good');
    let again = await doctorJson(stack);
    expect(again.row('node-locations')).toMatchObject({ status: 'ok', detail: expect.stringContaining('1 live node(s), all writing to') });
    await record('elsewhere/', 'i-astray');
    again = await doctorJson(stack);
    expect(again.code).toBe(1);
    expect(again.row('node-locations')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`i-astray writes to s3://${stack.bucket}/elsewhere/`), hint: expect.stringContaining('FLUXER_PREFIX') });
  });

  it('node identity drift: a security group with an inbound rule warns, a role without SSM\'s managed policy fails', async () => {
    const stack = newStack();
    const [groupId] = await Promise.all([createEverything(stack), gQuota(stack, 64)]);
    const { ec2 } = clients(stack);
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const role = `${stack.instanceProfile}-role-bare`;
    const { iam } = clients(stack);
    await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }));
    const bare = `${stack.instanceProfile}-bare`;
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: bare }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: bare, RoleName: role }));
    const { row } = await doctorJson(stack);
    expect(row('node-security-group')).toMatchObject({ status: 'warn', detail: expect.stringContaining('1 inbound rule'), hint: expect.stringContaining('fluxer setup') });
    expect(row('node-role').status).toBe('ok');
    const other = await runCli(['doctor', '--json', '--timeout', SLOW, '--endpoint-url', endpoint], { cwd: stack.cwd, env: { ...stack.env, FLUXER_INSTANCE_PROFILE: bare } });
    const nodeRole = (JSON.parse(other.stdout) as { checks: Row[] }).checks.find((c) => c.id === 'node-role');
    expect(nodeRole).toMatchObject({ status: 'fail', detail: expect.stringContaining('lacks AmazonSSMManagedInstanceCore') });
  });

  it('a quota below one node fails with the quota code and how to raise it; below two nodes warns', async () => {
    const stack = newStack({ instanceTypes: ['g5.xlarge', 'g5.2xlarge'] });
    await gQuota(stack, 4);
    const small = await doctorJson(stack);
    expect(small.code).toBe(1);
    expect(small.row('spot-quota')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/L-3819A6DF .*4 vCPUs; one node needs 8 vCPUs \(g5\.2xlarge\)/),
      hint: expect.stringContaining('request-service-quota-increase --service-code ec2 --quota-code L-3819A6DF --desired-value 16'),
    });
    expect(small.doc.checks.map((c) => c.id)).toEqual(CHECK_IDS);

    await gQuota(stack, 8);
    expect((await doctorJson(stack)).row('spot-quota').status).toBe('warn');
  });

  it('an account with no applied quota value is held to AWS\'s default value', async () => {
    const stack = newStack();
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 0, kind: 'default', accessKeyId: stack.accessKeyId }]);
    expect((await doctorJson(stack)).row('spot-quota')).toMatchObject({ status: 'fail', detail: expect.stringContaining('0 vCPUs; one node needs 4 vCPUs') });
  });

  it('quotas are read where the nodes run (spotRegion), and an unknown quota is a warning, not a failure', async () => {
    const stack = newStack({ spotRegion: 'us-west-2' });
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 64, accessKeyId: stack.accessKeyId, region: 'us-east-1' }]);
    const { row, doc } = await doctorJson(stack);
    expect(row('region').detail).toBe('queue and bucket in us-east-1, nodes in us-west-2');
    expect(row('spot-quota')).toMatchObject({ status: 'warn', detail: expect.stringContaining('not found in us-west-2') });
    expect(row('ami').detail).toContain('us-west-2');
    expect(doc.checks).toHaveLength(CHECK_IDS.length);
  });

  it('piped: tab-separated rows, no escape codes; context and summary on stderr', async () => {
    const stack = newStack();
    const r = await runCli(['doctor', '--timeout', SLOW, '--endpoint-url', endpoint], { cwd: stack.cwd, env: stack.env });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(ANSI_ESCAPE);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('STATUS\tCHECK\tDETAIL\tHINT');
    expect(lines.slice(1).map((l) => l.split('\t')[1])).toEqual(CHECK_IDS);
    expect(lines.find((l) => l.split('\t')[1] === 'queue')).toMatch(/^fail\tqueue\t/);
    expect(r.stderr).toContain(`stack ${stack.name}`);
    expect(r.stderr).toMatch(/11 checks: \d+ ok, \d+ warnings?, \d+ failed/);
  });

  it('an unreachable endpoint fails every AWS row with the same hint, and still prints one document', async () => {
    const stack = newStack();
    const { code, doc, row } = await doctorJson({ ...stack }, ['--endpoint-url', 'http://127.0.0.1:9']);
    expect(code).toBe(1);
    expect(doc.checks.map((c) => c.id)).toEqual(CHECK_IDS);
    expect(row('region').status).toBe('ok');
    for (const id of ['credentials', 'spot-quota', 'queue', 'bucket', 'ami', 'instance-profile']) {
      expect(row(id)).toMatchObject({ status: 'fail', hint: expect.stringContaining('--endpoint-url') });
    }
  });

  it('no credentials: the credentials row fails with how to configure them, and every other row still reports', async () => {
    const stack = newStack();
    // Not loopback, so no dummy keys; no keys, no profile, no IMDS: the SDK's chain finds nothing.
    const env = { ...testEnv(), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    const r = await runBin(['doctor', '--json', '--timeout', '5s', '--endpoint-url', 'http://fluxer-doctor.invalid'], { cwd: stack.cwd, env });
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.stdout) as { checks: Row[] }).checks;
    expect(checks.map((c) => c.id)).toEqual(CHECK_IDS);
    expect(checks.find((c) => c.id === 'credentials')).toMatchObject({ status: 'fail', hint: expect.stringContaining('aws configure') });
    expect(checks.find((c) => c.id === 'region')?.status).toBe('ok');
  });

  it('an endpoint that accepts and never answers: each row fails at its time limit and fluxer exits right after', async () => {
    const silent = createServer((socket) => socket.on('data', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const stack = newStack();
      const t0 = Date.now();
      const r = await runBin(['doctor', '--json', '--timeout', '1s', '--endpoint-url', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`], { cwd: stack.cwd, env: { ...stack.env, FLUXER_MAX_ATTEMPTS: '3' }, timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const checks = (JSON.parse(r.stdout) as { checks: Row[] }).checks;
      expect(checks.find((c) => c.id === 'queue')).toMatchObject({ status: 'fail', detail: 'no answer within 1s', hint: expect.stringContaining('--timeout') });
    } finally {
      silent.close();
    }
  });

  it('bad --timeout is a usage error naming the flag and the range, before any AWS call', async () => {
    const stack = newStack();
    const r = await runCli(['doctor', '--timeout', '0', '--endpoint-url', 'http://127.0.0.1:9'], { cwd: stack.cwd, env: stack.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--timeout "0"');
    expect(r.stderr).toContain('between 1s and 5m');
  });

  it('bin/fluxer doctor --json --endpoint-url: one JSON document, exit 1 on failures', async () => {
    const stack = newStack();
    const r = await runBin(['doctor', '--json', '--timeout', SLOW, '--endpoint-url', endpoint], { cwd: stack.cwd, env: stack.env });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { checks: Row[] };
    expect(doc.checks.map((c) => c.id)).toEqual(CHECK_IDS);
    expect(r.stderr).toBe('');
  });
});
