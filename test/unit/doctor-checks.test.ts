// The checks' decisions for AWS answers moto never gives (a pending AMI, a bucket in another region,
// a redrive target that is gone, a profile without a role), with ports that answer as AWS does.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import { buildChecks, runChecks, type DoctorPorts } from '../../src/core/doctor.js';
import type { StackSettings } from '../../src/config/schema.js';
import { nodeInlinePolicy } from '../../src/core/node-policy.js';

const settings: StackSettings = {
  region: 'us-east-1',
  queueName: 'fluxer-t-jobs',
  bucket: 'fluxer-t',
  prefix: 'fluxer/',
  instanceTypes: ['g5.xlarge'],
  ami: 'ami-0123456789abcdef0',
  instanceProfile: 'fluxer-t-node',
  subnets: [],
  securityGroups: [],
  volumeSize: 100,
  template: 'node-bootstrap',
  model: 'flux-dev',
  hfTokenParameter: '/fluxer/t/hf-token',
  jobRetentionDays: 30,
  nodeRetentionDays: 90,
  visibilityTimeout: 300, heartbeatSeconds: 30,
};

const INLINE = nodeInlinePolicy({ partition: 'aws', account: '111122223333', region: 'us-east-1', queueName: 'fluxer-t-jobs', bucket: 'fluxer-t', prefix: 'fluxer/', stack: 't', hfTokenParameter: '/fluxer/t/hf-token' });

const awsError = (name: string, status = 400, headers: Record<string, string> = {}) =>
  Object.assign(new Error(`${name} from AWS`), { name, $metadata: { httpStatusCode: status }, $response: { headers } });

/** Ports where everything is in order; each test breaks one thing. */
function healthyPorts(over: Partial<Record<string, unknown>> = {}): DoctorPorts {
  const port = <T>(o: T) => async () => ({ ...o, ...(over as object) }) as T;
  return {
    sts: port({ getCallerIdentity: async () => ({ account: '111122223333', arn: 'arn:aws:iam::111122223333:user/ops', userId: 'AID' }) }),
    ec2: port({
      describeInstanceTypes: async () => ({ InstanceTypes: [{ InstanceType: 'g5.xlarge', VCpuInfo: { DefaultVCpus: 4 } }], $metadata: {} }),
      describeImages: async () => ({ Images: [{ ImageId: 'ami-0123456789abcdef0', Name: 'dlami', State: 'available' }], $metadata: {} }),
      describeVpcs: async () => ({ Vpcs: [{ VpcId: 'vpc-1', IsDefault: true }], $metadata: {} }),
      describeSecurityGroups: async () => ({ SecurityGroups: [{ GroupId: 'sg-1', GroupName: 'fluxer-t-node', IpPermissions: [] }], $metadata: {} }),
    }) as never,
    quotas: port({ getServiceQuota: async () => ({ Quota: { Value: 64 }, $metadata: {} }) }) as never,
    sqs: port({
      getQueueUrl: async ({ QueueName }: { QueueName: string }) => ({ QueueUrl: `https://sqs.us-east-1.amazonaws.com/111122223333/${QueueName}`, $metadata: {} }),
      getQueueAttributes: async () => ({ Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:111122223333:fluxer-t-jobs-dlq', maxReceiveCount: 5 }) }, $metadata: {} }),
    }) as never,
    s3: port({
      headBucket: async () => ({ $metadata: {} }),
      listObjectsV2Dated: async () => ({ Contents: [], serverDate: new Date('2026-12-02T00:00:00Z'), $metadata: {} }),
      getPublicAccessBlock: async () => ({ PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true }, $metadata: {} }),
    }) as never,
    iam: port({
      getInstanceProfile: async () => ({ InstanceProfile: { InstanceProfileName: 'fluxer-t-node', Roles: [{ RoleName: 'fluxer-t-node-role' }] }, $metadata: {} }),
      // IAM returns policy documents URL-encoded.
      getRole: async () => ({ Role: { RoleName: 'fluxer-t-node-role', AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify({ Statement: [{ Principal: { Service: 'ec2.amazonaws.com' } }] })) } }),
      listAttachedRolePolicies: async () => ({ AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' }] }),
      getRolePolicy: async () => ({ PolicyDocument: encodeURIComponent(JSON.stringify(INLINE)) }),
    }) as never,
    ssm: port({ getParameter: async () => Promise.reject(Object.assign(new Error('not found'), { name: 'ParameterNotFound', $metadata: { httpStatusCode: 400 } })) }) as never,
  };
}

async function rows(ports: DoctorPorts, s: Partial<StackSettings> = {}) {
  const result = await runChecks(buildChecks({ stack: 't', settings: { ...settings, ...s }, ports }), { timeoutMs: 2000, clock: systemClock });
  return Object.fromEntries(result.map((r) => [r.id, r]));
}

describe('doctor checks against AWS-shaped answers', () => {
  it('everything in order: every row ok, in a fixed order', async () => {
    const r = await rows(healthyPorts());
    expect(Object.keys(r)).toEqual(['credentials', 'region', 'spot-quota', 'queue', 'bucket', 'ami', 'instance-profile', 'node-role', 'node-security-group', 'node-locations']);
    expect(Object.values(r).filter((x) => x.status !== 'ok')).toEqual([]);
    expect(r.credentials!.detail).toBe('account 111122223333, arn:aws:iam::111122223333:user/ops');
  });

  it('node role: an inline policy scoped elsewhere warns; configured security groups with inbound rules warn', async () => {
    const ports = healthyPorts();
    const iam = await healthyPorts().iam();
    ports.iam = async () => ({ ...iam, getRolePolicy: async () => ({ PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }) }) }) as never;
    const ec2 = await healthyPorts().ec2();
    ports.ec2 = async () => ({ ...ec2, describeSecurityGroups: async () => ({ SecurityGroups: [{ GroupId: 'sg-mine', IpPermissions: [{ IpProtocol: '-1' }] }] }) }) as never;
    const r = await rows(ports, { securityGroups: ['sg-mine'] });
    expect(r['node-role']).toMatchObject({ status: 'warn', detail: expect.stringContaining('differs from'), hint: expect.stringContaining('fluxer setup') });
    expect(r['node-security-group']).toMatchObject({ status: 'warn', detail: expect.stringContaining('sg-mine allow inbound') });
  });

  it('a redrive target that no longer exists fails the queue row', async () => {
    const ports = healthyPorts();
    ports.sqs = async () => ({
      ...(await healthyPorts().sqs()),
      getQueueUrl: async ({ QueueName }: { QueueName: string }) => {
        if (QueueName.endsWith('-dlq')) throw awsError('QueueDoesNotExist');
        return { QueueUrl: `https://sqs/${QueueName}`, $metadata: {} };
      },
    }) as never;
    expect((await rows(ports)).queue).toMatchObject({ status: 'fail', detail: expect.stringContaining('"fluxer-t-jobs-dlq", which does not exist'), hint: expect.stringContaining('fluxer setup') });
  });

  it('a bucket in another region fails with that region named', async () => {
    const ports = healthyPorts();
    ports.s3 = async () => ({ ...(await healthyPorts().s3()), headBucket: async () => Promise.reject(awsError('Unknown', 301, { 'x-amz-bucket-region': 'eu-west-1' })) }) as never;
    expect((await rows(ports)).bucket).toMatchObject({ status: 'fail', detail: 'bucket "fluxer-t" is in eu-west-1, not us-east-1' });
  });

  it('public access not fully blocked is a warning naming the open settings', async () => {
    const ports = healthyPorts();
    ports.s3 = async () => ({ ...(await healthyPorts().s3()), getPublicAccessBlock: async () => Promise.reject(awsError('NoSuchPublicAccessBlockConfiguration', 404)) }) as never;
    expect((await rows(ports)).bucket).toMatchObject({ status: 'warn', detail: expect.stringContaining('BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets not set'), hint: expect.stringContaining('put-public-access-block') });
  });

  it('AMI: pending warns, missing fails with the region, "latest" picks the newest tagged image', async () => {
    const withImages = (answer: () => Promise<unknown>) => {
      const ports = healthyPorts();
      ports.ec2 = async () => ({ ...(await healthyPorts().ec2()), describeImages: answer }) as never;
      return ports;
    };
    expect((await rows(withImages(async () => ({ Images: [{ ImageId: 'ami-0123456789abcdef0', State: 'pending' }] })))).ami!.status).toBe('warn');
    expect((await rows(withImages(() => Promise.reject(awsError('InvalidAMIID.NotFound'))))).ami).toMatchObject({ status: 'fail', detail: 'AMI ami-0123456789abcdef0 not found in us-east-1' });
    const latest = await rows(
      withImages(async () => ({
        Images: [
          { ImageId: 'ami-old', Name: 'fluxer-t-1', CreationDate: '2026-01-01T00:00:00.000Z', State: 'available' },
          { ImageId: 'ami-new', Name: 'fluxer-t-2', CreationDate: '2026-06-01T00:00:00.000Z', State: 'available' },
        ],
      })),
      { ami: 'latest' },
    );
    expect(latest.ami!.detail).toContain('ami-new in us-east-1 (fluxer-t-2; newest AMI baked for stack "t")');
  });

  it('an instance profile with no role is a warning: nodes would have no credentials', async () => {
    const ports = healthyPorts();
    ports.iam = async () => ({ getInstanceProfile: async () => ({ InstanceProfile: { InstanceProfileName: 'fluxer-t-node', Roles: [] } }) }) as never;
    expect((await rows(ports))['instance-profile']).toMatchObject({ status: 'warn', hint: expect.stringContaining('add-role-to-instance-profile') });
  });

  it('an instance type the region does not offer fails the quota row; a quota you may not read only warns', async () => {
    const ports = healthyPorts();
    ports.ec2 = async () => ({ ...(await healthyPorts().ec2()), describeInstanceTypes: () => Promise.reject(awsError('InvalidInstanceType')) }) as never;
    expect((await rows(ports))['spot-quota']).toMatchObject({ status: 'fail', hint: expect.stringContaining('instanceTypes') });
    const denied = healthyPorts();
    denied.quotas = async () => ({ getServiceQuota: () => Promise.reject(awsError('AccessDeniedException', 403)) }) as never;
    expect((await rows(denied))['spot-quota']!.status).toBe('warn');
  });

  it('no applied quota value: AWS\'s default is used; when that cannot be read either, a warning', async () => {
    const withDefault = (answer: () => Promise<unknown>) => {
      const ports = healthyPorts();
      ports.quotas = async () => ({ getServiceQuota: () => Promise.reject(awsError('NoSuchResourceException')), getAwsDefaultServiceQuota: answer }) as never;
      return ports;
    };
    expect((await rows(withDefault(async () => ({ Quota: { Value: 0 } }))))['spot-quota']).toMatchObject({ status: 'fail', detail: expect.stringContaining(': 0 vCPUs;') });
    expect((await rows(withDefault(() => Promise.reject(awsError('ServiceException', 500)))))['spot-quota']).toMatchObject({ status: 'warn', detail: expect.stringContaining('not found in us-east-1') });
  });
});
