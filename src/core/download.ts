// Downloading a job's images: where they go on this machine and under which names. Shared by
// `generate --wait`, `jobs tail` (as images appear) and `jobs get` (all at once).
import { isTransient } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { mapConcurrent } from '../lib/concurrency.js';
import { readObjectBytes } from './jobs.js';

export const DEFAULT_OUT_DIR = './fluxer-output/';

/** Images downloaded at once. */
export const DOWNLOAD_CONCURRENCY = 8;

/** Local file for output i (0-based, the position in `outputs`, as the runtime numbers its keys). */
export const imageFileName = (id: string, index: number): string => `${id}-${index}.png`;

/** Writes to a temporary name first, so a path printed (or seen by another program) is a whole file. */
/** Attempts at one image when S3 throttles or the connection drops (on top of the SDK's own). */
const DOWNLOAD_ATTEMPTS = 5;

export async function downloadImage(s3: S3Port, bucket: string, key: string, path: string): Promise<void> {
  let bytes: Uint8Array | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      bytes = await readObjectBytes(s3, bucket, key);
      break;
    } catch (err) {
      if (attempt >= DOWNLOAD_ATTEMPTS || !isTransient(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
    }
  }
  if (!bytes) throw new Error(`s3://${bucket}/${key} is listed in the job's outputs but does not exist`);
  await writeFileAtomic(path, bytes);
}

/** Every output of a job into `dir` (which exists); the local paths, in the order of `outputs`. */
export async function downloadOutputs(s3: S3Port, bucket: string, id: string, outputs: readonly string[], dir: string): Promise<string[]> {
  return mapConcurrent(outputs, DOWNLOAD_CONCURRENCY, async (key, i) => {
    const path = `${dir}/${imageFileName(id, i)}`;
    await downloadImage(s3, bucket, key, path);
    return path;
  });
}
