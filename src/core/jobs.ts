// Where a job lives in S3 and how to read it: the one place that knows the key layout shared with
// the runtime (DESIGN.md "S3 layout"), and the status document's shape (schema/status.v1.schema.json).
import { isNotFound, isNotModified } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import { FluxerError } from '../lib/errors.js';

export interface JobLocation {
  bucket: string;
  /** Empty, or ends with "/". */
  prefix: string;
}

export const jobsPrefix = (prefix: string): string => `${prefix}jobs/`;
export const jobPrefix = (prefix: string, id: string): string => `${prefix}jobs/${id}/`;
export const statusKey = (prefix: string, id: string): string => `${jobPrefix(prefix, id)}status.json`;
export const cancelKey = (prefix: string, id: string): string => `${jobPrefix(prefix, id)}cancel`;
/** The runtime's name for image i (0-based, as in `outputs`); the status document's `outputs` is what readers trust. */
export const imageKey = (prefix: string, id: string, index: number): string => `${jobPrefix(prefix, id)}image-${index}.png`;
export const nodesPrefix = (prefix: string): string => `${prefix}nodes/`;

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'rejected', 'requeued', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** `requeued` is not here: another node picks the job up again. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);

export const isTerminal = (state: JobState): boolean => TERMINAL_STATES.has(state);

export interface JobProgress {
  step: number;
  steps: number;
  image: number;
  count: number;
}

export interface JobStatus {
  id: string;
  state: JobState;
  attempt: number;
  /** Write sequence: 0 for the CLI's queued document, +1 on every runtime write (absent in old documents). */
  seq?: number;
  updatedAt: string;
  progress?: JobProgress;
  node?: { instanceId?: string; instanceType?: string; az?: string };
  timings?: { submittedAt?: string | null; startedAt?: string | null; firstStepAt?: string | null; finishedAt?: string | null };
  outputs?: string[];
  error?: { type?: string; message?: string } | null;
  model?: string;
}

/** The document fluxer writes before sending the message, so a job is visible from the moment it is submitted. */
export function queuedStatus(job: { id: string; model: string; steps: number; count: number; submittedAt: string }): JobStatus {
  return {
    id: job.id,
    state: 'queued',
    attempt: 1,
    seq: 0,
    updatedAt: job.submittedAt,
    progress: { step: 0, steps: job.steps, image: 1, count: job.count },
    timings: { submittedAt: job.submittedAt, startedAt: null, firstStepAt: null, finishedAt: null },
    outputs: [],
    error: null,
    model: job.model,
  };
}

/** Parses a status document defensively: a partial or odd document must not crash a tail. */
export function parseStatus(text: string, id: string): JobStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`status.json of job ${id} is not JSON`);
  }
  const d = (doc ?? {}) as Partial<JobStatus>;
  if (typeof d.state !== 'string' || !(JOB_STATES as readonly string[]).includes(d.state)) {
    throw new Error(`status.json of job ${id} has no known state (got ${JSON.stringify(d.state)})`);
  }
  return { ...d, id: typeof d.id === 'string' ? d.id : id, state: d.state, attempt: typeof d.attempt === 'number' ? d.attempt : 1, seq: Number.isInteger(d.seq) && (d.seq as number) >= 0 ? d.seq : undefined, updatedAt: String(d.updatedAt ?? '') };
}

export type StatusRead = { kind: 'found'; status: JobStatus; etag?: string } | { kind: 'not-modified' } | { kind: 'not-found' };

/** One conditional GET of status.json: unchanged documents cost a 304 and no parsing. */
export async function readStatus(s3: S3Port, loc: JobLocation, id: string, ifNoneMatch?: string): Promise<StatusRead> {
  try {
    const out = await s3.getObject({ Bucket: loc.bucket, Key: statusKey(loc.prefix, id), ...(ifNoneMatch ? { IfNoneMatch: ifNoneMatch } : {}) });
    const text = (await out.Body?.transformToString('utf8')) ?? '';
    return { kind: 'found', status: parseStatus(text, id), etag: out.ETag };
  } catch (err) {
    if (isNotModified(err)) return { kind: 'not-modified' };
    if (isNotFound(err, 's3')) return { kind: 'not-found' };
    throw err;
  }
}

/** The job's status document; a job with none is not a job of this stack (exit 1, JobNotFound). */
export async function requireStatus(s3: S3Port, loc: JobLocation, id: string): Promise<JobStatus> {
  const read = await readStatus(s3, loc, id);
  if (read.kind !== 'found') {
    throw new FluxerError(`No job ${id} in s3://${loc.bucket}/${statusKey(loc.prefix, id)}`, { code: 'JobNotFound', hint: 'Check the stack (--stack) and list recent jobs with `fluxer jobs list`.' });
  }
  return read.status;
}

/** Returns the ETag S3 gave the document (what a later conditional delete or write names). */
export async function writeStatus(s3: S3Port, loc: JobLocation, status: JobStatus): Promise<string | undefined> {
  const out = await s3.putObject({
    Bucket: loc.bucket,
    Key: statusKey(loc.prefix, status.id),
    Body: JSON.stringify(status),
    ContentType: 'application/json',
  });
  return out.ETag;
}

export async function readObjectBytes(s3: S3Port, bucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    const out = await s3.getObject({ Bucket: bucket, Key: key });
    return (await out.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (err) {
    if (isNotFound(err, 's3')) return undefined;
    throw err;
  }
}

export async function writeCancelMarker(s3: S3Port, loc: JobLocation, id: string, requestedBy: string, now: Date): Promise<void> {
  await s3.putObject({
    Bucket: loc.bucket,
    Key: cancelKey(loc.prefix, id),
    Body: JSON.stringify({ id, requestedAt: now.toISOString(), requestedBy }),
    ContentType: 'application/json',
  });
}

/**
 * Job ids under `<prefix>jobs/`, oldest first. Ids are UUIDv7, so a listing that starts after the
 * smallest id of the cutoff millisecond (`startAfterId`) skips every older job without reading it.
 */
export async function listJobIds(s3: S3Port, loc: JobLocation, opts: { startAfterId?: string } = {}): Promise<string[]> {
  const base = jobsPrefix(loc.prefix);
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.listObjectsV2({
      Bucket: loc.bucket,
      Prefix: base,
      Delimiter: '/',
      ...(token ? { ContinuationToken: token } : opts.startAfterId ? { StartAfter: `${base}${opts.startAfterId}` } : {}),
    });
    for (const p of out.CommonPrefixes ?? []) if (p.Prefix) ids.push(p.Prefix.slice(base.length, -1));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return ids;
}
