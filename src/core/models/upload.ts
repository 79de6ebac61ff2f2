// Uploading one file of a model: PutObject below the multipart threshold, else a multipart upload
// whose parts go up in parallel, each part retried, and which is aborted on any failure (an
// incomplete upload is billed storage until aborted). Every request takes a slot of the push's one
// concurrency budget, reading its bytes only once it has the slot, so memory stays at about
// concurrency × part size.
import * as zlib from 'node:zlib';
import { open } from 'node:fs/promises';
import { isNoSuchUpload, isTransient } from '../../aws/errors.js';
import type { S3Port } from '../../aws/s3.js';
import type { Clock } from '../../lib/clock.js';
import type { PriorityLimiter } from '../../lib/concurrency.js';
import { FluxerError } from '../../lib/errors.js';
import { SHA256_METADATA } from './manifest.js';

const MiB = 1024 * 1024;

/**
 * A part's CRC32 (base64, big-endian), computed by zlib in C (Node ≥ 20.15) and sent with the part, so
 * the SDK does not compute it again in JavaScript; undefined on an older Node (the SDK computes it then).
 */
const withCrc = (crc: string | undefined) => (crc ? { ChecksumCRC32: crc } : {});

function partCrc32(body: Buffer): string | undefined {
  const crc32 = (zlib as { crc32?: (data: Buffer) => number }).crc32;
  if (typeof crc32 !== 'function') return undefined;
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(body) >>> 0);
  return out.toString('base64');
}
/** Files this size and larger go multipart. */
export const MULTIPART_THRESHOLD = 64 * MiB;
export const MIN_PART_SIZE = 16 * MiB;
export const MAX_PART_SIZE = 64 * MiB;
/** S3's limit on the parts of one upload. */
export const MAX_PARTS = 10_000;
/** Attempts per request on a transient failure (throttling, 5xx, a dropped connection), on top of the SDK's own. */
const ATTEMPTS = 4;
const BACKOFF_MS = 500;

/** The part size for a file: 16 MiB, larger (whole MiB) only where 10,000 parts would not hold it. */
export function partSizeFor(size: number): number {
  const needed = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  const part = Math.max(MIN_PART_SIZE, needed);
  if (part > MAX_PART_SIZE) throw new FluxerError(`A file of ${size} bytes needs parts over ${MAX_PART_SIZE / MiB} MiB (S3 allows ${MAX_PARTS} parts)`, { code: 'FileTooLarge' });
  return part;
}

export interface PartRange {
  partNumber: number;
  start: number;
  length: number;
}

export function partRanges(size: number, partSize: number): PartRange[] {
  const parts: PartRange[] = [];
  for (let start = 0, n = 1; start < size; start += partSize, n++) parts.push({ partNumber: n, start, length: Math.min(partSize, size - start) });
  return parts;
}

export interface UploadDeps {
  s3: Pick<S3Port, 'putObject' | 'createMultipartUpload' | 'uploadPart' | 'completeMultipartUpload' | 'abortMultipartUpload'>;
  limiter: PriorityLimiter;
  clock: Clock;
  /** Aborted by Ctrl-C or by another file's failure: no new request starts. */
  signal: AbortSignal;
  /** Bytes that reached S3 (a whole request's body, once S3 answered). */
  onBytes: (n: number) => void;
  debug?: (message: string) => void;
}

export interface UploadTarget {
  bucket: string;
  key: string;
  absPath: string;
  size: number;
  sha256: string;
  /** Lower goes first when slots are scarce: the file's place in the push. */
  priority: number;
}

export async function uploadFile(deps: UploadDeps, t: UploadTarget): Promise<void> {
  if (t.size < MULTIPART_THRESHOLD) {
    await deps.limiter(t.priority, async () => {
      const body = await readRange(t.absPath, 0, t.size);
      await withRetries(deps, `PutObject ${t.key}`, () => deps.s3.putObject({ Bucket: t.bucket, Key: t.key, Body: body, ContentLength: t.size, Metadata: { [SHA256_METADATA]: t.sha256 } }));
      deps.onBytes(t.size);
    });
    return;
  }
  await uploadMultipart(deps, t);
}

async function uploadMultipart(deps: UploadDeps, t: UploadTarget): Promise<void> {
  const partSize = partSizeFor(t.size);
  const created = await deps.limiter(t.priority, () =>
    withRetries(deps, `CreateMultipartUpload ${t.key}`, () =>
      deps.s3.createMultipartUpload({ Bucket: t.bucket, Key: t.key, Metadata: { [SHA256_METADATA]: t.sha256 }, ChecksumAlgorithm: 'CRC32' }),
    ),
  );
  const uploadId = created.UploadId!;
  // One part's failure stops the others from starting; the ones in flight are waited for, then the upload is aborted.
  const stop = new AbortController();
  const signal = AbortSignal.any([deps.signal, stop.signal]);
  try {
    const parts = await Promise.all(
      partRanges(t.size, partSize).map((p) =>
        deps
          .limiter(t.priority + p.partNumber / (MAX_PARTS + 1), async () => {
            signal.throwIfAborted();
            const body = await readRange(t.absPath, p.start, p.length);
            const out = await withRetries(deps, `UploadPart ${p.partNumber} of ${t.key}`, () =>
              deps.s3.uploadPart({ Bucket: t.bucket, Key: t.key, UploadId: uploadId, PartNumber: p.partNumber, Body: body, ContentLength: p.length, ChecksumAlgorithm: 'CRC32', ...withCrc(partCrc32(body)) }),
            );
            deps.onBytes(p.length);
            return { PartNumber: p.partNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 };
          })
          .catch((err: unknown) => {
            stop.abort(err);
            throw err;
          }),
      ).map((p) => p.catch((err: unknown) => ({ failed: err }))),
    );
    const failure = parts.find((p): p is { failed: unknown } => 'failed' in p);
    if (failure) throw deps.signal.aborted ? deps.signal.reason : failure.failed;
    await deps.limiter(t.priority, () =>
      withRetries(deps, `CompleteMultipartUpload ${t.key}`, () =>
        deps.s3.completeMultipartUpload({ Bucket: t.bucket, Key: t.key, UploadId: uploadId, MultipartUpload: { Parts: parts as Array<{ PartNumber: number; ETag?: string; ChecksumCRC32?: string }> } }),
      ),
    );
  } catch (err) {
    await abortUpload(deps.s3, t.bucket, t.key, uploadId, deps.debug);
    throw err;
  }
}

/** Aborts a multipart upload; one already gone (completed or aborted elsewhere) is the wanted end state. */
export async function abortUpload(s3: Pick<S3Port, 'abortMultipartUpload'>, bucket: string, key: string, uploadId: string, debug?: (m: string) => void): Promise<void> {
  try {
    await s3.abortMultipartUpload({ Bucket: bucket, Key: key, UploadId: uploadId });
    debug?.(`aborted multipart upload ${uploadId} of ${key}`);
  } catch (err) {
    if (!isNoSuchUpload(err)) throw err;
  }
}

async function withRetries<R>(deps: Pick<UploadDeps, 'clock' | 'signal' | 'debug'>, what: string, call: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    deps.signal.throwIfAborted();
    try {
      return await call();
    } catch (err) {
      if (attempt >= ATTEMPTS || !isTransient(err) || deps.signal.aborted) throw err;
      const delay = BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random());
      deps.debug?.(`${what}: attempt ${attempt} failed (${(err as Error).message}); again in ${Math.round(delay)} ms`);
      await deps.clock.sleep(delay, deps.signal);
    }
  }
}

async function readRange(absPath: string, start: number, length: number): Promise<Buffer> {
  const handle = await open(absPath, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buf, done, length - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done !== length) throw new FluxerError(`${absPath} changed while it was being pushed (read ${start + done} of the ${start + length} bytes expected)`, { code: 'FileChanged', hint: 'Run the push again once nothing writes to the folder.' });
    return buf;
  } finally {
    await handle.close();
  }
}
