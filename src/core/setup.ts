// `fluxer setup` as a library: make the stack's queue, dead-letter queue and results bucket exist
// with the settings fluxer relies on, idempotently. Each resource is read first and only what differs
// is written, so a second run sends no mutating call and reports every resource "unchanged".
// `fluxer local up` calls ensureStackResources directly against its emulator.
import { hasErrorCode, httpStatus, isNotFound, regionRedirect } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import type { SqsPort } from '../aws/sqs.js';
import type { StackSettings } from '../config/schema.js';
import { FluxerError } from '../lib/errors.js';
import { dlqNameFor, requireBucket } from './stack-resources.js';
import { ensureQueue } from './setup-queue.js';
import { fluxerTagMap, type FluxerRole } from './tags.js';

export { MAX_RECEIVE_COUNT } from './setup-queue.js';

export type SetupAction = 'created' | 'updated' | 'unchanged' | 'would-create' | 'would-update';

export interface SetupChange {
  /** The attribute or sub-resource, e.g. "VisibilityTimeout", "lifecycle rule fluxer-expire-jobs". */
  setting: string;
  /** What was there (null: absent). */
  from: string | null;
  to: string;
}

export interface SetupResource {
  type: 'queue' | 'dead-letter-queue' | 'bucket' | 'node-role' | 'instance-profile' | 'security-group';
  name: string;
  /** Security groups: the group id (undefined when a dry run would create it). */
  id?: string;
  /** Queues: the queue URL (undefined when it would be created by a dry run). */
  url?: string;
  arn?: string;
  action: SetupAction;
  /** What was (or, in a dry run, would be) set; empty when unchanged. */
  changes: SetupChange[];
}

export type SetupSettings = Pick<StackSettings, 'region' | 'queueName' | 'bucket' | 'prefix' | 'jobRetentionDays' | 'nodeRetentionDays' | 'visibilityTimeout'>;

export interface SetupOptions {
  dryRun?: boolean;
  /** Called as each resource is settled, for progress output. */
  onResource?: (resource: SetupResource) => void;
}

/** Long polling: nodes wait up to 20 s for a message instead of hammering an empty queue. */
export const RECEIVE_WAIT_SECONDS = 20;
export const QUEUE_RETENTION_SECONDS = 4 * 24 * 3600;
/** The DLQ keeps messages for the maximum so an operator has two weeks to look and redrive. */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;
export const LIFECYCLE_RULE_ID = 'fluxer-expire-jobs';
/** Node records: a running node rewrites its record, so only a stopped node's record ages out. */
export const NODE_LIFECYCLE_RULE_ID = 'fluxer-expire-node-records';
/** Encryption algorithms that satisfy "encrypted at rest": SSE-S3 is what we set; KMS is never downgraded. */
const ACCEPTED_SSE = new Set(['AES256', 'aws:kms', 'aws:kms:dsse']);

export async function ensureStackResources(
  ports: { sqs: SqsPort; s3: S3Port },
  settings: SetupSettings,
  stack: string,
  opts: SetupOptions = {},
): Promise<SetupResource[]> {
  const bucket = requireBucket(settings, stack);
  const dryRun = opts.dryRun ?? false;
  const report = (r: SetupResource) => {
    opts.onResource?.(r);
    return r;
  };
  // The DLQ first: the main queue's redrive policy needs its ARN.
  const dlqName = dlqNameFor(settings.queueName);
  const dlq = report(
    await ensureQueue(ports.sqs, {
      type: 'dead-letter-queue',
      name: dlqName,
      attributes: { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) },
      tags: fluxerTagMap(stack, 'queue', dlqName),
      dryRun,
    }),
  );
  const queue = report(
    await ensureQueue(ports.sqs, {
      type: 'queue',
      name: settings.queueName,
      attributes: {
        VisibilityTimeout: String(settings.visibilityTimeout),
        ReceiveMessageWaitTimeSeconds: String(RECEIVE_WAIT_SECONDS),
        MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS),
      },
      // Without the DLQ's ARN (dry run, DLQ not created yet) it is derived from the queue's own ARN:
      // same account, same region.
      redriveTo: (ownArn) => dlq.arn ?? (ownArn ? ownArn.replace(/[^:]+$/, dlqName) : undefined),
      dlqName,
      tags: fluxerTagMap(stack, 'queue', settings.queueName),
      dryRun,
    }),
  );
  const bucketResource = report(await ensureBucket(ports.s3, { bucket, stack, settings, dryRun }));
  return [queue, dlq, bucketResource];
}

interface BucketSpec {
  bucket: string;
  stack: string;
  settings: SetupSettings;
  dryRun: boolean;
}

async function ensureBucket(s3: S3Port, spec: BucketSpec): Promise<SetupResource> {
  const { bucket, settings, dryRun } = spec;
  const arn = `arn:aws:s3:::${bucket}`;
  const fluxerRules = [
    { ID: LIFECYCLE_RULE_ID, Status: 'Enabled' as const, Filter: { Prefix: `${settings.prefix}jobs/` }, Expiration: { Days: settings.jobRetentionDays } },
    { ID: NODE_LIFECYCLE_RULE_ID, Status: 'Enabled' as const, Filter: { Prefix: `${settings.prefix}nodes/` }, Expiration: { Days: settings.nodeRetentionDays } },
  ];
  const tags = fluxerTagMap(spec.stack, 'bucket' satisfies FluxerRole, bucket);
  const exists = await bucketExists(s3, bucket, settings.region);

  if (!exists) {
    const changes: SetupChange[] = [
      { setting: 'bucket', from: null, to: `${bucket} in ${settings.region}` },
      { setting: 'public access block', from: null, to: 'all four blocked' },
      { setting: 'default encryption', from: null, to: 'AES256' },
      ...fluxerRules.map((r) => ({ setting: `lifecycle rule ${r.ID}`, from: null, to: describeRule(r) })),
      { setting: 'tags', from: null, to: describeTags(tags) },
    ];
    if (dryRun) return { type: 'bucket', name: bucket, arn, action: 'would-create', changes };
    await createBucket(s3, bucket, settings.region);
    await s3.putPublicAccessBlock({ Bucket: bucket, PublicAccessBlockConfiguration: ALL_BLOCKED });
    await s3.putBucketEncryption({ Bucket: bucket, ServerSideEncryptionConfiguration: SSE_S3 });
    await s3.putBucketLifecycleConfiguration({ Bucket: bucket, LifecycleConfiguration: { Rules: fluxerRules } });
    await s3.putBucketTagging({ Bucket: bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } });
    return { type: 'bucket', name: bucket, arn, action: 'created', changes };
  }

  const changes: SetupChange[] = [];
  const writes: Array<() => Promise<unknown>> = [];

  const pab = await readOrUndefined(() => s3.getPublicAccessBlock({ Bucket: bucket }), ['NoSuchPublicAccessBlockConfiguration']);
  const pabConfig = pab?.PublicAccessBlockConfiguration;
  const blocked = (Object.keys(ALL_BLOCKED) as Array<keyof typeof ALL_BLOCKED>).filter((k) => pabConfig?.[k] === true);
  if (blocked.length !== 4) {
    changes.push({ setting: 'public access block', from: pabConfig ? `${blocked.length} of 4 blocked` : null, to: 'all four blocked' });
    writes.push(() => s3.putPublicAccessBlock({ Bucket: bucket, PublicAccessBlockConfiguration: ALL_BLOCKED }));
  }

  const enc = await readOrUndefined(() => s3.getBucketEncryption({ Bucket: bucket }), ['ServerSideEncryptionConfigurationNotFoundError']);
  const algorithms = (enc?.ServerSideEncryptionConfiguration?.Rules ?? []).map((r) => r.ApplyServerSideEncryptionByDefault?.SSEAlgorithm);
  if (!algorithms.some((a) => a !== undefined && ACCEPTED_SSE.has(a))) {
    changes.push({ setting: 'default encryption', from: algorithms.filter(Boolean).join(',') || null, to: 'AES256' });
    writes.push(() => s3.putBucketEncryption({ Bucket: bucket, ServerSideEncryptionConfiguration: SSE_S3 }));
  }

  const lifecycle = await readOrUndefined(() => s3.getBucketLifecycleConfiguration({ Bucket: bucket }), ['NoSuchLifecycleConfiguration']);
  const rules = lifecycle?.Rules ?? [];
  let lifecycleDrift = false;
  for (const want of fluxerRules) {
    const ours = rules.find((r) => r.ID === want.ID);
    const matches =
      ours !== undefined &&
      ours.Status === 'Enabled' &&
      (ours.Filter?.Prefix ?? ours.Prefix) === want.Filter.Prefix &&
      ours.Expiration?.Days === want.Expiration.Days;
    if (matches) continue;
    lifecycleDrift = true;
    changes.push({ setting: `lifecycle rule ${want.ID}`, from: ours ? describeRule(ours) : null, to: describeRule(want) });
  }
  if (lifecycleDrift) {
    // PutBucketLifecycleConfiguration replaces every rule: keep the ones that are not fluxer's.
    const ids = new Set(fluxerRules.map((r) => r.ID));
    const others = rules.filter((r) => !ids.has(r.ID ?? ''));
    writes.push(() => s3.putBucketLifecycleConfiguration({ Bucket: bucket, LifecycleConfiguration: { Rules: [...others, ...fluxerRules] } }));
  }

  const tagging = await readOrUndefined(() => s3.getBucketTagging({ Bucket: bucket }), ['NoSuchTagSet', 'NoSuchTagSetError']);
  const currentTags = Object.fromEntries((tagging?.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const missingTags = Object.entries(tags).filter(([k, v]) => currentTags[k] !== v);
  if (missingTags.length) {
    for (const [k, v] of missingTags) changes.push({ setting: `tag ${k}`, from: currentTags[k] ?? null, to: v });
    // PutBucketTagging replaces the whole set: merge so the owner's own tags survive.
    const merged = { ...currentTags, ...tags };
    writes.push(() => s3.putBucketTagging({ Bucket: bucket, Tagging: { TagSet: Object.entries(merged).map(([Key, Value]) => ({ Key, Value })) } }));
  }

  if (changes.length === 0) return { type: 'bucket', name: bucket, arn, action: 'unchanged', changes };
  if (dryRun) return { type: 'bucket', name: bucket, arn, action: 'would-update', changes };
  for (const write of writes) await write();
  return { type: 'bucket', name: bucket, arn, action: 'updated', changes };
}

const ALL_BLOCKED = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };
const SSE_S3 = { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' as const } }] };

/** true: ours (reachable); false: no such bucket. A bucket someone else owns is an error. */
async function bucketExists(s3: S3Port, bucket: string, region: string): Promise<boolean> {
  try {
    const head = await s3.headBucket({ Bucket: bucket });
    if (head.BucketRegion && head.BucketRegion !== region) {
      throw new FluxerError(`Bucket ${bucket} exists in ${head.BucketRegion}, but the stack's region is ${region}`, {
        code: 'BucketRegionMismatch',
        hint: `Set the stack's region to ${head.BucketRegion}, or choose another bucket name.`,
      });
    }
    return true;
  } catch (err) {
    if (err instanceof FluxerError) throw err;
    if (isNotFound(err, 's3')) return false;
    if (httpStatus(err) === 403) throw bucketTaken(bucket, err);
    const redirect = regionRedirect(err);
    if (redirect) {
      // S3 answers HeadBucket from the wrong region with a redirect naming the bucket's region.
      throw new FluxerError(`Bucket ${bucket} exists in ${redirect.region ?? 'another region'}, but the stack's region is ${region}`, {
        code: 'BucketRegionMismatch',
        hint: 'Set the stack\'s region to the bucket\'s, or choose another bucket name.',
        cause: err,
      });
    }
    throw err;
  }
}

async function createBucket(s3: S3Port, bucket: string, region: string): Promise<void> {
  try {
    // us-east-1 is the one region where CreateBucket must not name a location constraint.
    await s3.createBucket(region === 'us-east-1' ? { Bucket: bucket } : { Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: region as never } });
  } catch (err) {
    if (hasErrorCode(err, 'BucketAlreadyOwnedByYou')) return;
    if (hasErrorCode(err, 'BucketAlreadyExists')) throw bucketTaken(bucket, err);
    throw err;
  }
}

function bucketTaken(bucket: string, cause: unknown): FluxerError {
  return new FluxerError(`The bucket name "${bucket}" is already taken by another AWS account (bucket names are global)`, {
    code: 'BucketAlreadyExists',
    hint: 'Choose another name: set "bucket" in fluxer.config.json (or FLUXER_BUCKET) and run `fluxer setup` again.',
    cause,
  });
}

async function readOrUndefined<T>(read: () => Promise<T>, absentCodes: string[]): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (hasErrorCode(err, ...absentCodes)) return undefined;
    throw err;
  }
}

function describeRule(rule: { Status?: string; Filter?: { Prefix?: string }; Prefix?: string; Expiration?: { Days?: number } }): string {
  const prefix = rule.Filter?.Prefix ?? rule.Prefix ?? '';
  return `expire ${prefix || '(whole bucket)'} after ${rule.Expiration?.Days ?? '?'} days${rule.Status === 'Enabled' ? '' : ` (${rule.Status})`}`;
}

function describeTags(tags: Record<string, string>): string {
  return Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(', ');
}
