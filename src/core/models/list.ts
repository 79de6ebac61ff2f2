// `models list` as a library: every folder under <prefix>models/, complete (a valid manifest), invalid
// (a manifest that does not pass the schema) or incomplete (files but no manifest: a push that did
// not finish, or one replacing the model right now).
import type { S3Port } from '../../aws/s3.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import { filesPrefix, manifestKey, modelsPrefix } from './manifest.js';
import { readManifest } from './push.js';

export interface ListedModel {
  model: string;
  state: 'complete' | 'incomplete' | 'invalid';
  /** From the manifest when complete; else the objects found under files/. */
  files: number;
  totalBytes: number;
  createdAt: string | null;
  manifestKey: string;
  /** Why an invalid manifest is refused. */
  problem?: string;
}

export async function listModels(s3: Pick<S3Port, 'listObjectsV2' | 'getObject'>, bucket: string, prefix: string): Promise<ListedModel[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.listObjectsV2({ Bucket: bucket, Prefix: modelsPrefix(prefix), Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) });
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(modelsPrefix(prefix).length, -1));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return mapConcurrent(names.sort(), 8, async (model): Promise<ListedModel> => {
    const key = manifestKey(prefix, model);
    const read = await readManifest(s3, bucket, key);
    if (read.kind === 'valid') {
      return { model, state: 'complete', files: read.manifest.files.length, totalBytes: read.manifest.totalBytes, createdAt: read.manifest.createdAt, manifestKey: key };
    }
    const found = await countObjects(s3, bucket, filesPrefix(prefix, model));
    return { model, state: read.kind === 'invalid' ? 'invalid' : 'incomplete', ...found, createdAt: null, manifestKey: key, ...(read.kind === 'invalid' ? { problem: read.problem } : {}) };
  });
}

async function countObjects(s3: Pick<S3Port, 'listObjectsV2'>, bucket: string, prefix: string): Promise<{ files: number; totalBytes: number }> {
  let files = 0;
  let totalBytes = 0;
  let token: string | undefined;
  do {
    const page = await s3.listObjectsV2({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) });
    for (const o of page.Contents ?? []) {
      files += 1;
      totalBytes += o.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { files, totalBytes };
}
