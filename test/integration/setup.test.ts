// `fluxer setup` against moto: what it leaves behind is read back with the real AWS CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as s3sdk from '@aws-sdk/client-s3';
import * as sqssdk from '@aws-sdk/client-sqs';
import { describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const endpoint = inject('motoEndpoint');
const run = promisify(execFile);

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The AWS CLI (v1, botocore): a client nobody here wrote, reading what fluxer left behind. */
async function awsCli(region: string, ...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', region, '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

// Checks beyond the first test use the SDK: each AWS CLI start costs a second or more on a busy CI box.
const clientConfig = (region: string) => ({ region, endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });
const sqs = (region = 'us-east-1') => new sqssdk.SQSClient(clientConfig(region));
const s3 = (region = 'us-east-1') => new s3sdk.S3Client({ ...clientConfig(region), forcePathStyle: true });

function names() {
  return { queue: unique('it-setup-q'), bucket: unique('it-setup-bkt'), stack: unique('it') };
}

/** Each test has its own stack: the node role, profile and security group are named after it. */
function setup(n: { queue: string; bucket?: string; stack?: string }, args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) {
  const stack = n.stack ?? unique('it');
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-setup-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: {} } }));
  return runCli(['setup', '--endpoint-url', endpoint, ...args], {
    cwd,
    env: testEnv({ FLUXER_QUEUE_NAME: n.queue, ...(n.bucket ? { FLUXER_BUCKET: n.bucket } : {}), ...extraEnv }),
  });
}

async function queueExists(region: string, name: string): Promise<boolean> {
  const { QueueUrls } = await sqs(region).send(new sqssdk.ListQueuesCommand({ QueueNamePrefix: name }));
  return (QueueUrls ?? []).some((u: string) => u.endsWith(`/${name}`));
}

async function visibilityTimeout(url: string): Promise<string | undefined> {
  const { Attributes } = await sqs().send(new sqssdk.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout'] }));
  return Attributes?.VisibilityTimeout;
}

describe('fluxer setup', () => {
  it('creates the queue, DLQ and bucket with the right attributes and tags', async () => {
    const n = names();
    // Settings from a project file, as a user has them: a named stack with its own timeouts.
    const cwd = mkdtempSync(join(tmpdir(), 'fluxer-setup-'));
    const stack = { queueName: n.queue, bucket: n.bucket, visibilityTimeout: 600, jobRetentionDays: 7 };
    writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'blue', stacks: { blue: stack } }));
    const r = await runCli(['setup', '--endpoint-url', endpoint, '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ stack: 'blue', region: 'us-east-1' });
    expect(doc.resources.map((x: any) => [x.type, x.name, x.action])).toEqual([
      ['queue', n.queue, 'created'],
      ['dead-letter-queue', `${n.queue}-dlq`, 'created'],
      ['bucket', n.bucket, 'created'],
      ['node-role', 'fluxer-blue-node', 'created'],
      ['instance-profile', 'fluxer-blue-node', 'created'],
      ['security-group', 'fluxer-blue-node', 'created'],
    ]);
    const queueUrl = doc.resources[0].url;
    const dlqArn = doc.resources[1].arn;
    expect(queueUrl).toMatch(new RegExp(`/${n.queue}$`));

    // Read back in parallel: each AWS CLI start costs most of a second.
    const [{ Attributes: q }, { Attributes: d }, { Tags: qTags }, pab, enc, lc, tagging] = await Promise.all([
      awsCli('us-east-1', 'sqs', 'get-queue-attributes', '--queue-url', queueUrl, '--attribute-names', 'All'),
      awsCli('us-east-1', 'sqs', 'get-queue-attributes', '--queue-url', doc.resources[1].url, '--attribute-names', 'MessageRetentionPeriod'),
      awsCli('us-east-1', 'sqs', 'list-queue-tags', '--queue-url', queueUrl),
      awsCli('us-east-1', 's3api', 'get-public-access-block', '--bucket', n.bucket),
      awsCli('us-east-1', 's3api', 'get-bucket-encryption', '--bucket', n.bucket),
      awsCli('us-east-1', 's3api', 'get-bucket-lifecycle-configuration', '--bucket', n.bucket),
      awsCli('us-east-1', 's3api', 'get-bucket-tagging', '--bucket', n.bucket),
    ]);
    expect(q.VisibilityTimeout).toBe('600');
    expect(q.ReceiveMessageWaitTimeSeconds).toBe('20');
    expect(q.MessageRetentionPeriod).toBe('345600');
    expect(JSON.parse(q.RedrivePolicy)).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 10 });
    expect(d.MessageRetentionPeriod).toBe('1209600');
    expect(qTags).toEqual({ 'fluxer:managed': 'true', 'fluxer:stack': 'blue', 'fluxer:role': 'queue', Name: n.queue });

    expect(pab.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    expect(enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(lc.Rules).toEqual([
      expect.objectContaining({ ID: 'fluxer-expire-jobs', Status: 'Enabled', Filter: { Prefix: 'fluxer/jobs/' }, Expiration: { Days: 7 } }),
      expect.objectContaining({ ID: 'fluxer-expire-node-records', Status: 'Enabled', Filter: { Prefix: 'fluxer/nodes/' }, Expiration: { Days: 90 } }),
    ]);
    expect(Object.fromEntries(tagging.TagSet.map((t: any) => [t.Key, t.Value]))).toEqual({
      'fluxer:managed': 'true',
      'fluxer:stack': 'blue',
      'fluxer:role': 'bucket',
      Name: n.bucket,
    });
  });

  it('a second run creates nothing and reports every resource ok', async () => {
    const n = names();
    expect((await setup(n)).code).toBe(0);
    const again = await setup(n, ['--json']);
    expect(again.code).toBe(0);
    const doc = JSON.parse(again.stdout);
    expect(doc.resources.map((x: any) => x.action)).toEqual(Array(6).fill('unchanged'));
    expect(doc.resources.every((x: any) => x.changes.length === 0)).toBe(true);
    const human = await setup(n);
    expect(human.stdout).toMatch(new RegExp(`^queue\\s+${n.queue}\\s+ok`, 'm'));
    expect(human.stderr).toContain('0 created, 0 updated, 6 ok');
  });

  it('--dry-run reports what it would create and creates nothing', async () => {
    const n = names();
    const r = await setup(n, ['--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).resources.map((x: any) => x.action)).toEqual(Array(6).fill('would-create'));
    const [queueLeft, dlqLeft, { Buckets = [] }] = await Promise.all([
      queueExists('us-east-1', n.queue),
      queueExists('us-east-1', `${n.queue}-dlq`),
      s3().send(new s3sdk.ListBucketsCommand({})),
    ]);
    expect([queueLeft, dlqLeft]).toEqual([false, false]);
    expect(Buckets.map((b) => b.Name)).not.toContain(n.bucket);
  });

  it('repairs a drifted attribute and a removed lifecycle rule, and says what it changed', async () => {
    const n = names();
    const first = JSON.parse((await setup(n, ['--json'])).stdout);
    await Promise.all([
      sqs().send(new sqssdk.SetQueueAttributesCommand({ QueueUrl: first.resources[0].url, Attributes: { VisibilityTimeout: '30' } })),
      s3().send(new s3sdk.DeleteBucketLifecycleCommand({ Bucket: n.bucket })),
    ]);

    const dry = await setup(n, ['--dry-run']);
    expect(dry.stdout).toMatch(/queue\s+\S+\s+would update/);
    expect(dry.stdout).toContain('~ VisibilityTimeout: 30 → 300');
    expect(await visibilityTimeout(first.resources[0].url)).toBe('30');

    const fix = await setup(n, ['--json']);
    const doc = JSON.parse(fix.stdout);
    expect(doc.resources.map((x: any) => x.action)).toEqual(['updated', 'unchanged', 'updated', 'unchanged', 'unchanged', 'unchanged']);
    expect(doc.resources[0].changes).toEqual([{ setting: 'VisibilityTimeout', from: '30', to: '300' }]);
    expect(doc.resources[2].changes.map((c: any) => c.setting)).toEqual(['lifecycle rule fluxer-expire-jobs', 'lifecycle rule fluxer-expire-node-records']);
    expect(await visibilityTimeout(first.resources[0].url)).toBe('300');
  });

  it('expires node records after nodeRetentionDays: a changed value is drift of that rule alone, and the owner\'s own rules are kept', async () => {
    const n = names();
    expect((await setup(n)).code).toBe(0);
    const { Rules = [] } = await s3().send(new s3sdk.GetBucketLifecycleConfigurationCommand({ Bucket: n.bucket }));
    const own = { ID: 'owner-archive', Status: 'Enabled' as const, Filter: { Prefix: 'archive/' }, Expiration: { Days: 400 } };
    await s3().send(new s3sdk.PutBucketLifecycleConfigurationCommand({ Bucket: n.bucket, LifecycleConfiguration: { Rules: [own, ...Rules] } }));

    const dry = JSON.parse((await setup(n, ['--dry-run', '--json'], { FLUXER_NODE_RETENTION_DAYS: '7' })).stdout);
    expect(dry.resources[2]).toMatchObject({ action: 'would-update', changes: [{ setting: 'lifecycle rule fluxer-expire-node-records', from: 'expire fluxer/nodes/ after 90 days', to: 'expire fluxer/nodes/ after 7 days' }] });
    const fix = JSON.parse((await setup(n, ['--json'], { FLUXER_NODE_RETENTION_DAYS: '7' })).stdout);
    expect(fix.resources[2].action).toBe('updated');
    const lc = await awsCli('us-east-1', 's3api', 'get-bucket-lifecycle-configuration', '--bucket', n.bucket);
    expect(Object.fromEntries(lc.Rules.map((r: any) => [r.ID, [r.Filter.Prefix, r.Expiration.Days]]))).toEqual({
      'owner-archive': ['archive/', 400],
      'fluxer-expire-jobs': ['fluxer/jobs/', 30],
      'fluxer-expire-node-records': ['fluxer/nodes/', 7],
    });
    expect(JSON.parse((await setup(n, ['--json'], { FLUXER_NODE_RETENTION_DAYS: '7' })).stdout).resources[2].action).toBe('unchanged');
  });

  it('a queue redriving after fewer receives than 10 is drift (a few preemptions would dead-letter a job); a higher count is kept', async () => {
    const n = names();
    const first = JSON.parse((await setup(n, ['--json'])).stdout);
    const [queue, dlq] = first.resources;
    const setMax = (max: number) =>
      sqs().send(new sqssdk.SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: max }) } }));
    const policy = async () => JSON.parse((await sqs().send(new sqssdk.GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['RedrivePolicy'] }))).Attributes!.RedrivePolicy!);
    await setMax(5);

    const dry = await setup(n, ['--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/queue\s+\S+\s+would update/);
    expect(dry.stdout).toContain('~ RedrivePolicy:');
    expect(Number((await policy()).maxReceiveCount)).toBe(5);

    const fix = JSON.parse((await setup(n, ['--json'])).stdout);
    expect(fix.resources[0].action).toBe('updated');
    expect(fix.resources[0].changes.map((c: any) => c.setting)).toEqual(['RedrivePolicy']);
    expect(await policy()).toMatchObject({ deadLetterTargetArn: dlq.arn });
    expect(Number((await policy()).maxReceiveCount)).toBe(10);

    // An operator who chose more receives than the default is not overridden.
    await setMax(25);
    const again = JSON.parse((await setup(n, ['--json'])).stdout);
    expect(again.resources[0].action).toBe('unchanged');
    expect(Number((await policy()).maxReceiveCount)).toBe(25);
  });

  it('outside us-east-1 the bucket is created in the stack region', async () => {
    const n = names();
    const r = await setup(n, ['--region', 'eu-west-1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).region).toBe('eu-west-1');
    const loc = await s3('eu-west-1').send(new s3sdk.GetBucketLocationCommand({ Bucket: n.bucket }));
    expect(loc.LocationConstraint).toBe('eu-west-1');
    expect(await queueExists('eu-west-1', n.queue)).toBe(true);
  });

  it('no bucket configured: exit 2 naming the setting and how to set it, and nothing created', async () => {
    const n = { queue: unique('it-setup-q') };
    const r = await setup(n);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no bucket configured (setting "bucket")');
    expect(r.stderr).toMatch(/FLUXER_BUCKET|--bucket/);
    expect(await queueExists('us-east-1', n.queue)).toBe(false);
  });
});
