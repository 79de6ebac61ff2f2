// Submitting jobs: the `queued` status document is written before the message is sent, so every
// write by the runtime (which starts only after it receives the message) lands after ours. Batches
// go 10 messages per SendMessageBatch with several calls in flight; entries SQS reports as Failed
// are retried, then reported. A job whose send failed has its `queued` status withdrawn (deleted
// with If-Match on the ETag we wrote), unless a node has already replaced it: a send that failed
// may still have arrived. The queue-position estimate (messages ahead, live nodes) is here too.
import { awsErrorName, httpStatus } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import type { SqsPort } from '../aws/sqs.js';
import { createLimiter, mapConcurrent } from '../lib/concurrency.js';
import type { Job } from './job.js';
import { nodesPrefix, queuedStatus, statusKey, writeStatus, type JobLocation } from './jobs.js';

export interface SubmitDeps {
  s3: S3Port;
  sqs: SqsPort;
  queueUrl: string;
  loc: JobLocation;
  /** Waits between retries of Failed batch entries (injectable so tests do not sleep). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * What became of the `queued` status of a job whose message was not (known to be) sent:
 * removed; kept because it changed since we wrote it (a send that timed out had arrived, and a
 * node already wrote `running`); absent; or not removed because the delete itself failed.
 */
export type Withdrawal = 'removed' | 'kept' | 'absent' | 'error';

export interface SendFailure {
  id: string;
  code: string;
  message: string;
  status: Withdrawal;
}

/** Thrown by submitJob when the send failed; the status was dealt with as `status` says. */
export class SendFailedError extends Error {
  readonly failure: SendFailure;
  constructor(failure: SendFailure, cause: unknown) {
    super(failure.message, { cause });
    this.failure = failure;
  }
}

/**
 * Deletes the job's `queued` status only if it is still the document we wrote (If-Match on its
 * ETag): the message may have arrived although the send failed (a timeout), and its node may have
 * written `running` since; that document, and the job, are then left alone.
 */
export async function withdrawQueued(s3: S3Port, loc: JobLocation, id: string, etag: string | undefined): Promise<Withdrawal> {
  // Without an ETag nothing proves the document is still ours: deleting it could erase a node's.
  if (!etag) return 'error';
  try {
    await s3.deleteObject({ Bucket: loc.bucket, Key: statusKey(loc.prefix, id), IfMatch: etag });
    return 'removed';
  } catch (err) {
    if (httpStatus(err) === 412 || awsErrorName(err) === 'PreconditionFailed') return 'kept';
    if (httpStatus(err) === 404 || awsErrorName(err) === 'NoSuchKey') return 'absent';
    return 'error';
  }
}

const errorCode = (err: unknown) => awsErrorName(err) || (err as { code?: string }).code || 'Error';

export async function submitJob(deps: SubmitDeps, job: Job): Promise<void> {
  const etag = await writeStatus(deps.s3, deps.loc, queuedStatus(job));
  try {
    await deps.sqs.sendMessage({ QueueUrl: deps.queueUrl, MessageBody: JSON.stringify(job) });
  } catch (err) {
    const status = await withdrawQueued(deps.s3, deps.loc, job.id, etag);
    throw new SendFailedError({ id: job.id, code: errorCode(err), message: (err as Error).message, status }, err);
  }
}

export interface BatchResult {
  sent: string[];
  failed: SendFailure[];
}

export const BATCH_SIZE = 10;

/**
 * Sends jobs in chunks of 10 with `concurrency` SendMessageBatch calls in flight; the result keeps the
 * input order. Status documents are written by their own pool, running ahead of the sends (a chunk
 * is sent as soon as its ten statuses exist), so on AWS the extra PUTs overlap the sends instead of
 * adding a round trip to each chunk. Nothing here throws for one job or one chunk: a status that
 * could not be written means that job is not sent; a call that fails fails its chunk's jobs, whose
 * statuses are then withdrawn (withdrawQueued).
 */
export async function submitBatch(
  deps: SubmitDeps,
  jobs: readonly Job[],
  opts: { concurrency?: number; statusConcurrency?: number; retries?: number; onSent?: (n: number) => void } = {},
): Promise<BatchResult> {
  const chunks: Job[][] = [];
  for (let i = 0; i < jobs.length; i += BATCH_SIZE) chunks.push(jobs.slice(i, i + BATCH_SIZE));
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const written = inOrderPool(jobs, opts.statusConcurrency ?? 32, (job) => writeStatus(deps.s3, deps.loc, queuedStatus(job)));
  const outcomes = await mapConcurrent(chunks, opts.concurrency ?? 8, async (chunk, c) => {
    const etags = await Promise.allSettled(written.slice(c * BATCH_SIZE, c * BATCH_SIZE + chunk.length));
    const etagOf = new Map<string, string | undefined>();
    const failed = new Map<string, { code: string; message: string; status?: Withdrawal }>();
    chunk.forEach((job, i) => {
      const e = etags[i]!;
      if (e.status === 'fulfilled') etagOf.set(job.id, e.value);
      // No status, no message: a job must never run without its `queued` document to report to.
      else failed.set(job.id, { code: errorCode(e.reason), message: `writing its queued status failed: ${(e.reason as Error).message}`, status: 'absent' });
    });
    let pending = chunk.filter((job) => etagOf.has(job.id));
    for (let attempt = 0; pending.length > 0; attempt++) {
      let out;
      try {
        out = await deps.sqs.sendMessageBatch({
          QueueUrl: deps.queueUrl,
          // Batch entry ids: the job id without dashes would fit, but the index is shorter and unique.
          Entries: pending.map((job, i) => ({ Id: String(i), MessageBody: JSON.stringify(job) })),
        });
      } catch (err) {
        // The whole call failed (network, timeout, queue gone): none of these is known to be sent.
        for (const job of pending) failed.set(job.id, { code: errorCode(err), message: (err as Error).message });
        break;
      }
      for (const job of pending) failed.delete(job.id);
      const retry: Job[] = [];
      for (const f of out.Failed ?? []) {
        const job = pending[Number(f.Id)];
        if (!job) continue;
        failed.set(job.id, { code: f.Code ?? 'Failed', message: f.Message ?? 'SendMessageBatch reported this entry as failed' });
        // A sender fault (a bad message) fails the same way again; only the service's own failures are retried.
        if (!f.SenderFault && attempt < (opts.retries ?? 3)) retry.push(job);
      }
      opts.onSent?.(pending.length - (out.Failed?.length ?? 0));
      pending = retry;
      if (pending.length > 0) await sleep(100 * 2 ** attempt);
    }
    const withdrawn = await Promise.all(
      chunk.map((job) => {
        const f = failed.get(job.id);
        return f && f.status === undefined ? withdrawQueued(deps.s3, deps.loc, job.id, etagOf.get(job.id)) : Promise.resolve(f?.status);
      }),
    );
    return chunk.map((job, i) => {
      const f = failed.get(job.id);
      return { id: job.id, failure: f ? { ...f, status: withdrawn[i]! } : undefined };
    });
  });
  const result: BatchResult = { sent: [], failed: [] };
  for (const o of outcomes.flat()) {
    if (o.failure) result.failed.push({ id: o.id, ...o.failure });
    else result.sent.push(o.id);
  }
  return result;
}

/** Starts `fn` for each item in order, at most `limit` at a time; returns one promise per item. */
function inOrderPool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R>[] {
  const run = createLimiter(limit);
  return items.map((item) => {
    const p = run(() => fn(item));
    // Awaited by the chunk that needs it; a failure must not also surface as "unhandled".
    p.catch(() => {});
    return p;
  });
}

export interface QueuePosition {
  /** Messages waiting before ours (ApproximateNumberOfMessages just before sending). */
  messagesAhead: number;
  /** Messages being worked on right now. */
  inFlight: number;
  /** Nodes whose record (`<prefix>nodes/*.json`) was updated within the last two minutes. */
  liveNodes: number;
}

export const LIVE_NODE_WINDOW_MS = 2 * 60_000;

export async function queueDepth(sqs: SqsPort, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const out = await sqs.getQueueAttributes({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] });
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** A histogram with fixed bounds (docs/runtime.md, "Node record"): records merge by adding counts. */
export interface NodeHistogram {
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}

/**
 * `<prefix>nodes/<instance-id>.json`, as schema/node.v1.schema.json defines it (the bootstrap writes
 * BOOTSTRAPPING, the runtime every later state). Every field is optional here: a record is read from
 * S3, where an older or a half-booted node may have written less.
 */
export interface NodeRecord {
  instanceId?: string;
  state?: 'BOOTSTRAPPING' | 'STARTING' | 'PULLING' | 'LOADING' | 'READY' | 'BUSY' | 'DRAINING' | 'FAILED' | 'STOPPED' | string;
  stateReason?: string;
  /** Written by the runtime; informative only, never compared with this clock. */
  lastSeenAt?: string;
  firstSeenAt?: string;
  startedAt?: string;
  /** +1 on every write, continued across restarts. */
  seq?: number;
  /** The node's configured output location (issue 8). */
  bucket?: string;
  prefix?: string;
  instanceType?: string;
  az?: string;
  azId?: string;
  region?: string;
  lifecycle?: 'spot' | 'on-demand';
  launchTime?: string;
  release?: string;
  version?: string;
  stack?: string;
  model?: string;
  memoryPolicy?: string;
  currentJob?: string | null;
  jobs?: { succeeded: number; failed: number; rejected: number; cancelled: number; requeued: number };
  imagesDone?: number;
  busySeconds?: number;
  interruption?: { action: string; time?: string; noticedAt: string };
  histograms?: { generationSeconds?: NodeHistogram; queueWaitSeconds?: NodeHistogram };
  device?: { name?: string; memoryBytes?: number };
}

/**
 * Nodes whose record S3 saw rewritten within the window and that are not stopping; read concurrently.
 * Liveness compares the record's LastModified with the list response's Date header, both S3's
 * clock: this machine's clock and the node's `lastSeenAt` may each be off by minutes.
 * `fallbackNowMs` is used only when a response carries no Date header.
 */
export async function liveNodes(s3: Pick<S3Port, 'listObjectsV2Dated' | 'getObject'>, loc: JobLocation, fallbackNowMs: number): Promise<NodeRecord[]> {
  const listed = await s3.listObjectsV2Dated({ Bucket: loc.bucket, Prefix: nodesPrefix(loc.prefix), MaxKeys: 1000 });
  const s3Now = listed.serverDate?.getTime() ?? fallbackNowMs;
  const recent = (listed.Contents ?? []).filter((o) => o.Key?.endsWith('.json') && o.LastModified && s3Now - o.LastModified.getTime() <= LIVE_NODE_WINDOW_MS);
  const records = await mapConcurrent(recent, 16, async (o) => {
    try {
      const out = await s3.getObject({ Bucket: loc.bucket, Key: o.Key! });
      return JSON.parse((await out.Body?.transformToString('utf8')) ?? '{}') as NodeRecord;
    } catch {
      return undefined;
    }
  });
  // A loading node takes jobs soon; a draining, stopped or failed one does not.
  return records.filter((r): r is NodeRecord => r !== undefined && r !== null && !['STOPPED', 'FAILED', 'DRAINING'].includes(String(r.state ?? '').toUpperCase()));
}

export function describePosition(p: QueuePosition): string {
  const ahead = p.messagesAhead === 0 ? 'no jobs ahead' : `~${p.messagesAhead} job${p.messagesAhead === 1 ? '' : 's'} ahead`;
  const busy = p.inFlight > 0 ? `, ${p.inFlight} running` : '';
  const nodes = p.liveNodes === 0 ? 'no live nodes (the job waits until a node starts; locally: `fluxer local up`)' : `${p.liveNodes} live node${p.liveNodes === 1 ? '' : 's'}`;
  return `Queue: ${ahead}${busy}; ${nodes}`;
}
