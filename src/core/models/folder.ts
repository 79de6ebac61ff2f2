// The model folder on disk: which files a push sends, and their SHA-256.
//
// Every regular file under DIR, at any depth, except hidden entries (a name starting with "."): .git,
// .gitattributes, .cache/ (what `huggingface-cli download --local-dir` keeps for itself), .DS_Store —
// none is part of a diffusers model. Symbolic links are followed (a Hugging Face cache snapshot is a
// tree of links into blobs/); a link cycle, a dangling link or anything that is neither a file nor a
// folder is an error naming it, as is a name that cannot be a manifest path.
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { comparePaths, pathProblem } from './manifest.js';

export interface LocalFile {
  /** Relative POSIX path: the manifest's path. */
  path: string;
  absPath: string;
  size: number;
}

/** Files of the folder, sorted by path. Throws UsageError (exit 2) naming DIR or the offending entry. */
export function listModelFolder(dir: string, keyPrefix = ''): LocalFile[] {
  let top;
  try {
    top = statSync(dir);
  } catch {
    throw new UsageError(`DIR "${dir}": no such folder`, { hint: 'Give the model folder, e.g. the folder `huggingface-cli download --local-dir` wrote.' });
  }
  if (!top.isDirectory()) throw new UsageError(`DIR "${dir}": not a folder`, { hint: 'Give the model folder (model_index.json and its component folders), not a file.' });
  const files: LocalFile[] = [];
  const walk = (abs: string, rel: string, seen: ReadonlySet<string>) => {
    const real = realpathSync(abs);
    if (seen.has(real)) throw new UsageError(`DIR "${dir}": "${rel}" links back to a folder above it`, { hint: 'Remove the link cycle, or push a copy of the folder.' });
    const inside = new Set(seen).add(real);
    for (const name of readdirSync(abs).sort()) {
      if (name.startsWith('.')) continue;
      const childAbs = join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      let st;
      try {
        st = statSync(childAbs);
      } catch {
        throw new UsageError(`DIR "${dir}": "${childRel}" is a dangling link`, { hint: 'Fix or remove the link (a Hugging Face snapshot whose blob was deleted: download it again).' });
      }
      if (st.isDirectory()) walk(childAbs, childRel, inside);
      else if (st.isFile()) {
        const problem = pathProblem(childRel, keyPrefix);
        if (problem) throw new UsageError(`DIR "${dir}": "${childRel}" cannot be pushed: ${problem}`, { hint: 'Rename the file.' });
        files.push({ path: childRel, absPath: childAbs, size: st.size });
      } else {
        throw new UsageError(`DIR "${dir}": "${childRel}" is neither a file nor a folder`, { hint: 'A model folder holds only files and folders: move it out.' });
      }
    }
  };
  walk(dir, '', new Set());
  if (files.length === 0) throw new UsageError(`DIR "${dir}": no files to push (hidden entries such as .git are left out)`, { hint: 'Give the folder that holds the model\'s files.' });
  return files.sort((a, b) => comparePaths(a.path, b.path));
}

/** Streaming SHA-256 of a file, reporting bytes as they are read; stops with the signal. */
export function sha256OfFile(absPath: string, opts: { onBytes?: (n: number) => void; signal?: AbortSignal } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(absPath, { highWaterMark: 1024 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) });
    stream.on('data', (chunk) => {
      hash.update(chunk as Buffer);
      opts.onBytes?.((chunk as Buffer).length);
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}
