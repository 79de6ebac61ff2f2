// `models push` as a library: hash the folder, compare with what S3 holds, upload what differs, then
// write the manifest. The order is what makes a push safe to interrupt and to repeat:
//   1. every file is hashed first (a multipart upload's metadata is fixed when it is created);
//   2. the plan reads only: the manifest, the objects under files/ (size, then HeadObject's `sha256`
//      metadata where the size matches), and incomplete multipart uploads under the model;
//   3. incomplete uploads left by an interrupted push are aborted; if the push replaces a file the
//      current manifest names, that manifest is deleted first, so no node pulls a half-changed model
//      as complete;
//   4. files go up (skipped: an object of the same size and sha256), the manifest last.
// A second push of the same folder uploads nothing; a push killed at any point leaves no manifest
// that lies, and the next push uploads only what is missing.
import { hasErrorCode, isNotFound } from '../../aws/errors.js';
import type { S3Port } from '../../aws/s3.js';
import type { Clock } from '../../lib/clock.js';
import { createPriorityLimiter, mapConcurrent } from '../../lib/concurrency.js';
import { type LocalFile, sha256OfFile } from './folder.js';
import {
  buildManifest,
  diffManifestFiles,
  fileKey,
  filesPrefix,
  isSameContent,
  type ManifestDiff,
  manifestKey,
  type ModelManifest,
  modelPrefix,
  parseManifest,
  SHA256_METADATA,
} from './manifest.js';
import { abortUpload, MULTIPART_THRESHOLD, uploadFile } from './upload.js';

export interface HashedFile extends LocalFile {
  sha256: string;
}

/** Hashes every file (two at a time: reading one while hashing the other), reporting bytes read. */
export async function hashFiles(files: readonly LocalFile[], opts: { signal: AbortSignal; onBytes: (n: number) => void }): Promise<HashedFile[]> {
  const out = new Array<HashedFile>(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      out[i] = { ...files[i]!, sha256: await sha256OfFile(files[i]!.absPath, { onBytes: opts.onBytes, signal: opts.signal }) };
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

export type ExistingManifest = { kind: 'none' } | { kind: 'valid'; manifest: ModelManifest; etag?: string } | { kind: 'invalid'; problem: string };

export interface PushPlan {
  model: string;
  bucket: string;
  /** <prefix>models/<model>/ */
  keyPrefix: string;
  manifestKey: string;
  files: Array<HashedFile & { key: string; upload: boolean }>;
  manifest: ModelManifest;
  existing: ExistingManifest;
  /** Against the existing manifest (everything "added" when there is none). */
  diff: ManifestDiff;
  /** The manifest must be (re)written: there is none, or it says something else. */
  writeManifest: boolean;
  /** Files the existing manifest names whose object this push replaces: it is deleted before the first. */
  replacesNamedFiles: boolean;
  staleUploads: Array<{ key: string; uploadId: string }>;
  /** Objects under files/ that are not in the folder: left alone (the runtime pulls only the manifest's files). */
  extraObjects: string[];
}

type PlanPort = Pick<S3Port, 'getObject' | 'listObjectsV2' | 'headObject' | 'listMultipartUploads'>;

export async function planPush(s3: PlanPort, opts: { bucket: string; prefix: string; model: string; files: readonly HashedFile[]; now: Date }): Promise<PushPlan> {
  const { bucket, prefix, model } = opts;
  const [existing, objects, staleUploads] = await Promise.all([
    readManifest(s3, bucket, manifestKey(prefix, model)),
    listSizes(s3, bucket, filesPrefix(prefix, model)),
    listUploads(s3, bucket, modelPrefix(prefix, model)),
  ]);
  // HeadObject only where an object of the same size exists: a first push sends none.
  const files = await mapConcurrent(opts.files, 16, async (f) => {
    const key = fileKey(prefix, model, f.path);
    const same = objects.get(key) === f.size && (await storedSha256(s3, bucket, key)) === f.sha256;
    return { ...f, key, upload: !same };
  });
  const manifest = buildManifest(model, files, opts.now);
  const diff = diffManifestFiles(existing.kind === 'valid' ? existing.manifest.files : [], manifest.files);
  const named = new Set(existing.kind === 'valid' ? existing.manifest.files.map((f) => f.path) : []);
  const local = new Set(files.map((f) => f.key));
  return {
    model,
    bucket,
    keyPrefix: modelPrefix(prefix, model),
    manifestKey: manifestKey(prefix, model),
    files,
    manifest,
    existing,
    diff,
    writeManifest: existing.kind !== 'valid' || !isSameContent(diff),
    replacesNamedFiles: existing.kind === 'valid' && files.some((f) => f.upload && named.has(f.path)),
    staleUploads,
    extraObjects: [...objects.keys()].filter((k) => !local.has(k)),
  };
}

export interface PushProgress {
  bytesUploaded: number;
  bytesToUpload: number;
  filesDone: number;
  filesToUpload: number;
}

export interface PushDeps {
  s3: Pick<S3Port, 'putObject' | 'deleteObject' | 'createMultipartUpload' | 'uploadPart' | 'completeMultipartUpload' | 'abortMultipartUpload'>;
  clock: Clock;
  signal: AbortSignal;
  concurrency: number;
  onProgress?: (p: PushProgress) => void;
  debug?: (message: string) => void;
}

export interface PushOutcome {
  uploaded: string[];
  bytesUploaded: number;
  abortedUploads: number;
  manifestWritten: boolean;
}

export async function executePush(deps: PushDeps, plan: PushPlan): Promise<PushOutcome> {
  const { s3 } = deps;
  const { bucket } = plan;
  for (const u of plan.staleUploads) await abortUpload(s3, bucket, u.key, u.uploadId, deps.debug);
  if (plan.replacesNamedFiles) {
    // From here until the new manifest is written the model reads as incomplete, not as the old one.
    const etag = plan.existing.kind === 'valid' ? plan.existing.etag : undefined;
    await s3.deleteObject({ Bucket: bucket, Key: plan.manifestKey, ...(etag ? { IfMatch: etag } : {}) });
  }
  const todo = plan.files.filter((f) => f.upload);
  const progress: PushProgress = { bytesUploaded: 0, bytesToUpload: todo.reduce((n, f) => n + f.size, 0), filesDone: 0, filesToUpload: todo.length };
  deps.onProgress?.({ ...progress });
  // One failure stops new requests everywhere; each file in flight settles (a multipart one aborts itself).
  const stop = new AbortController();
  const signal = AbortSignal.any([deps.signal, stop.signal]);
  const limiter = createPriorityLimiter(deps.concurrency);
  const uploadDeps = {
    s3,
    limiter,
    clock: deps.clock,
    signal,
    debug: deps.debug,
    onBytes: (n: number) => {
      progress.bytesUploaded += n;
      deps.onProgress?.({ ...progress });
    },
  };
  // As many files at once as there are slots (eight small files: eight PutObjects), and never more
  // multipart uploads open than that; earlier files get free slots first.
  let next = 0;
  const uploaded: string[] = [];
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < todo.length && !signal.aborted) {
      const i = next++;
      const f = todo[i]!;
      try {
        await uploadFile(uploadDeps, { bucket, key: f.key, absPath: f.absPath, size: f.size, sha256: f.sha256, priority: i });
        uploaded.push(f.path);
        progress.filesDone += 1;
        deps.onProgress?.({ ...progress });
        deps.debug?.(`uploaded ${f.path} (${f.size} bytes${f.size >= MULTIPART_THRESHOLD ? ', multipart' : ''})`);
      } catch (err) {
        failures.push(err);
        stop.abort(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency, todo.length) }, worker));
  if (deps.signal.aborted) throw deps.signal.reason;
  if (failures.length) throw failures[0];
  if (plan.writeManifest) {
    await s3.putObject({ Bucket: bucket, Key: plan.manifestKey, Body: `${JSON.stringify(plan.manifest, null, 2)}\n`, ContentType: 'application/json' });
  }
  return { uploaded: uploaded.sort(), bytesUploaded: progress.bytesUploaded, abortedUploads: plan.staleUploads.length, manifestWritten: plan.writeManifest };
}

export async function readManifest(s3: Pick<S3Port, 'getObject'>, bucket: string, key: string): Promise<ExistingManifest> {
  let text: string | undefined;
  let etag: string | undefined;
  try {
    const out = await s3.getObject({ Bucket: bucket, Key: key });
    etag = out.ETag;
    text = await out.Body?.transformToString();
  } catch (err) {
    // A missing bucket is the stack's problem (run setup), not "no manifest yet".
    if (isNotFound(err, 's3') && !hasErrorCode(err, 'NoSuchBucket')) return { kind: 'none' };
    throw err;
  }
  const read = await parseManifest(text ?? '');
  return read.ok ? { kind: 'valid', manifest: read.manifest, ...(etag ? { etag } : {}) } : { kind: 'invalid', problem: read.problem };
}

async function listSizes(s3: Pick<S3Port, 'listObjectsV2'>, bucket: string, prefix: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await s3.listObjectsV2({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) });
    for (const o of page.Contents ?? []) if (o.Key !== undefined) sizes.set(o.Key, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return sizes;
}

async function listUploads(s3: Pick<S3Port, 'listMultipartUploads'>, bucket: string, prefix: string): Promise<Array<{ key: string; uploadId: string }>> {
  const uploads: Array<{ key: string; uploadId: string }> = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await s3.listMultipartUploads({ Bucket: bucket, Prefix: prefix, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}) });
    for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) uploads.push({ key: u.Key, uploadId: u.UploadId });
    if (!page.IsTruncated) return uploads;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

async function storedSha256(s3: Pick<S3Port, 'headObject'>, bucket: string, key: string): Promise<string | undefined> {
  try {
    return (await s3.headObject({ Bucket: bucket, Key: key })).Metadata?.[SHA256_METADATA];
  } catch (err) {
    if (isNotFound(err, 's3')) return undefined;
    throw err;
  }
}
