// Test nodes: EC2 instances made directly with RunInstances against moto, tagged as `fluxer spot
// launch` tags them (src/core/tags.ts: instance and volume), spot market options included, and node
// records written into the stack's bucket as a node's runtime writes them (schema/node.v1.schema.json).
import * as ec2sdk from '@aws-sdk/client-ec2';
import * as s3sdk from '@aws-sdk/client-s3';
import { fluxerTags, TAG_LAUNCH_ID, type KeyValueTag } from '../../src/core/tags.js';

export interface NodeClients {
  ec2: ec2sdk.EC2Client;
  s3: s3sdk.S3Client;
}

export function nodeClients(endpoint: string, opts: { region?: string; accessKeyId?: string } = {}): NodeClients {
  const config = { region: opts.region ?? 'us-east-1', endpoint, credentials: { accessKeyId: opts.accessKeyId ?? 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 };
  return { ec2: new ec2sdk.EC2Client(config), s3: new s3sdk.S3Client({ ...config, forcePathStyle: true }) };
}

const images = new WeakMap<ec2sdk.EC2Client, Promise<string>>();
/** One registered AMI per client (moto refuses an unknown ImageId). */
export function testImage(ec2: ec2sdk.EC2Client): Promise<string> {
  let p = images.get(ec2);
  if (!p) {
    p = ec2.send(new ec2sdk.RegisterImageCommand({ Name: `fluxer-test-${Math.random().toString(16).slice(2)}`, RootDeviceName: '/dev/sda1' })).then((o) => o.ImageId!);
    images.set(ec2, p);
  }
  return p;
}

export interface LaunchNodesOptions {
  /** The stack the nodes are tagged for; undefined: no fluxer tags at all. */
  stack?: string;
  launchId?: string;
  count?: number;
  instanceType?: string;
  az?: string;
  /** Extra tags (e.g. aws:autoscaling:groupName for a fleet member). */
  tags?: Record<string, string>;
  /** Default true: spot market options, as `spot launch` sends them. */
  spot?: boolean;
}

/** Launches `count` instances as `fluxer spot launch` would tag them; returns their ids. */
export async function launchTestNodes(ec2: ec2sdk.EC2Client, opts: LaunchNodesOptions = {}): Promise<string[]> {
  const count = opts.count ?? 1;
  const tags: KeyValueTag[] = [
    ...(opts.stack ? fluxerTags(opts.stack, 'gpu-node', `fluxer-${opts.stack}-node`, opts.launchId ? { [TAG_LAUNCH_ID]: opts.launchId } : {}) : [{ Key: 'Name', Value: 'not-fluxer' }]),
    ...Object.entries(opts.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
  ];
  const out = await ec2.send(
    new ec2sdk.RunInstancesCommand({
      ImageId: await testImage(ec2),
      InstanceType: (opts.instanceType ?? 'g5.xlarge') as ec2sdk._InstanceType,
      MinCount: count,
      MaxCount: count,
      ...(opts.az ? { Placement: { AvailabilityZone: opts.az } } : {}),
      ...(opts.spot === false ? {} : { InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } } }),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
    }),
  );
  return (out.Instances ?? []).map((i) => i.InstanceId!);
}

export interface RecordFields {
  state?: string;
  jobs?: { succeeded: number; failed: number; rejected: number; cancelled: number; requeued: number };
  imagesDone?: number;
  busySeconds?: number;
  instanceType?: string;
  az?: string;
}

/** Writes `<prefix>nodes/<id>.json` as a runtime does (valid per schema/node.v1.schema.json). */
export async function writeNodeRecord(s3: s3sdk.S3Client, loc: { bucket: string; prefix: string; stack: string }, instanceId: string, fields: RecordFields = {}): Promise<Record<string, unknown>> {
  const now = new Date().toISOString();
  const record = {
    instanceId,
    state: fields.state ?? 'READY',
    ...(fields.instanceType ? { instanceType: fields.instanceType } : {}),
    ...(fields.az ? { az: fields.az } : {}),
    lifecycle: 'spot',
    stack: loc.stack,
    bucket: loc.bucket,
    prefix: loc.prefix,
    startedAt: now,
    firstSeenAt: now,
    lastSeenAt: now,
    seq: 3,
    currentJob: null,
    jobs: fields.jobs ?? { succeeded: 0, failed: 0, rejected: 0, cancelled: 0, requeued: 0 },
    imagesDone: fields.imagesDone ?? 0,
    busySeconds: fields.busySeconds ?? 0,
  };
  await s3.send(new s3sdk.PutObjectCommand({ Bucket: loc.bucket, Key: `${loc.prefix}nodes/${instanceId}.json`, Body: JSON.stringify(record), ContentType: 'application/json' }));
  return record;
}
