// Writing a file so that no reader ever sees half of it: write a temporary file beside it, then
// rename over the target (atomic on one filesystem). Used for config, local state, journals, images.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';

type Data = string | Uint8Array;

let counter = 0;
/** Unique per process and call, so two writes of one path (two downloads, two saves) never share a temporary. */
const tempPathFor = (path: string) => `${path}.${process.pid}.${++counter}.tmp`;

export function writeFileAtomicSync(path: string, data: Data, opts: { mode?: number } = {}): void {
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data, opts.mode === undefined ? undefined : { mode: opts.mode });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export async function writeFileAtomic(path: string, data: Data, opts: { mode?: number } = {}): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data, opts.mode === undefined ? undefined : { mode: opts.mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
