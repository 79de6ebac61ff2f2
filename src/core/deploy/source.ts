// What a deploy builds its candidate release from: --from DIR (a runtime source tree, like a clone's
// gpu-runtime/) or --from WHEEL (a built fluxer_runtime wheel), else what `runtime publish` uses (the
// clone's gpu-runtime/, or the wheel an installed CLI ships). Checked before anything is sent.
import { execFile } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FluxerError, UsageError } from '../../lib/errors.js';
import { localRuntime } from '../release-inputs.js';

export type DeploySource = { sourceDir: string } | { wheel: string; pyproject?: string };

export function deploySource(from: string | undefined, cwd: string): DeploySource {
  if (from === undefined) {
    return localRuntime({ message: 'This fluxer has neither the runtime\'s source nor its wheel: give --from DIR or --from WHEEL', hint: 'e.g. `fluxer runtime deploy --from ./gpu-runtime` in a clone.' });
  }
  const path = resolve(cwd, from);
  if (!existsSync(path)) throw new UsageError(`--from ${JSON.stringify(from)}: no such file or folder (${path})`, { hint: 'Give the runtime\'s source folder (with pyproject.toml) or a fluxer_runtime-*.whl.' });
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, 'pyproject.toml'))) throw new UsageError(`--from ${JSON.stringify(from)}: ${path} has no pyproject.toml: not the runtime's source`, { hint: 'A clone\'s gpu-runtime/ folder is one.' });
    return { sourceDir: path };
  }
  if (!/^fluxer_runtime-[^-]+-.*\.whl$/.test(basename(path))) throw new UsageError(`--from ${JSON.stringify(from)}: not a runtime wheel (fluxer_runtime-<version>-…whl) or a source folder`);
  return { wheel: path };
}

/**
 * A wheel alone has no pyproject.toml: its METADATA's Requires-Dist (extras left out) written as one,
 * which is all buildRelease reads from it.
 */
export async function pyprojectFromWheel(python: string, wheel: string, workDir: string): Promise<string> {
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))',
    'reqs = [l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith("Requires-Dist:")]',
    'print(json.dumps([r.replace(chr(34), chr(39)) for r in reqs if "extra ==" not in r]))',
  ].join('\n');
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(python, ['-c', script, wheel]));
  } catch (err) {
    throw new FluxerError(`Cannot read the dependencies of ${wheel}: ${(err as Error).message.split('\n').slice(-2).join(' ')}`, { code: 'ReleaseBuildFailed', cause: err });
  }
  const path = join(workDir, 'wheel-pyproject.toml');
  writeFileSync(path, `[project]\ndependencies = [\n${(JSON.parse(stdout) as string[]).map((r) => `  ${JSON.stringify(r)},`).join('\n')}\n]\n`);
  return path;
}
