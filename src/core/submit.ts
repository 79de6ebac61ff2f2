// Submitting jobs: the `queued` status document is written before the message is sent, so every
// write by the runtime (which starts only after it receives the message) lands after ours. Batches
// go 10 messages per SendMessageBatch with several calls in flight; entries SQS reports as Failed
// are retried, then reported. The queue-position estimate (messages ahead, live nodes) is here too.
import type { S3Port } from '../aws/s3.js';
import type { SqsPort } from '../aws/sqs.js';
import { createLimiter, mapConcurrent } from '../lib/concurrency.js';
import type { Job } from './job.js';
import { nodesPrefix, queuedStatus, writeStatus, type JobLocation } from './jobs.js';

export interface SubmitDeps {
  s3: S3Port;
  sqs: SqsPort;
  queueUrl: string;
  loc: JobLocation;
  /** Waits between retries of Failed batch entries (injectable so tests do not sleep). */
  sleep?: (ms: number) => Promise<void>;
}

export async function submitJob(deps: SubmitDeps, job: Job): Promise<void> {
  await writeStatus(deps.s3, deps.loc, queuedStatus(job));
  await deps.sqs.sendMessage({ QueueUrl: deps.queueUrl, MessageBody: JSON.stringify(job) });
}

export interface BatchResult {
  sent: string[];
  failed: Array<{ id: string; code: string; message: string }>;
}

export const BATCH_SIZE = 10;

/**
 * Sends jobs in chunks of 10 with `concurrency` SendMessageBatch calls in flight; the result keeps the
 * input order. Status documents are written by their own pool, running ahead of the sends (a chunk
 * is sent as soon as its ten statuses exist), so on AWS the extra PUTs overlap the sends instead of
 * adding a round trip to each chunk.
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
    await Promise.all(written.slice(c * BATCH_SIZE, c * BATCH_SIZE + chunk.length));
    let pending = chunk;
    const failed = new Map<string, { code: string; message: string }>();
    for (let attempt = 0; pending.length > 0; attempt++) {
      const out = await deps.sqs.sendMessageBatch({
        QueueUrl: deps.queueUrl,
        // Batch entry ids: the job id without dashes would fit, but the index is shorter and unique.
        Entries: pending.map((job, i) => ({ Id: String(i), MessageBody: JSON.stringify(job) })),
      });
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
    return chunk.map((job) => ({ id: job.id, failure: failed.get(job.id) }));
  });
  const result: BatchResult = { sent: [], failed: [] };
  for (const o of outcomes.flat()) {
    if (o.failure) result.failed.push({ id: o.id, ...o.failure });
    else result.sent.push(o.id);
  }
  return result;
}

/** Starts `fn` for each item in order, at most `limit` at a time; returns one promise per item. */
function inOrderPool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void>[] {
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

export interface NodeRecord {
  instanceId?: string;
  /** Written by the runtime (docs/job-contract.md, node record); informative only, never compared with this clock. */
  lastSeenAt?: string;
  state?: string;
  /** The node's configured output location (issue 8) and its write sequence. */
  bucket?: string;
  prefix?: string;
  seq?: number;
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
