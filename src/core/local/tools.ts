// Finds the Python programs the local stack runs: the moto server (the AWS-compatible emulator) and
// the GPU runtime. One environment's bin folder first, then PATH. The environment is FLUXER_VENV when
// set; else a clone's own .venv (what `bash scripts/python-env.sh` builds); else, for an installed CLI
// (npm install -g, npx), the one it builds under the user's data folder from the wheel it ships.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { ensureUserVenv, shippedRuntime, type RunStreaming } from './python-env.js';

export interface LocalTools {
  motoServer: string;
  runtime: string;
}

export const MOTO_SERVER_BIN = 'moto_server';
/**
 * AWS's managed IAM policies (AmazonSSMManagedInstanceCore, which `fluxer setup` attaches to the node
 * role) exist in moto only when it loads them at start. The tests' moto starts with the same.
 */
export const MOTO_ENV: Readonly<Record<string, string>> = { MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' };

export const RUNTIME_BIN = 'fluxer-runtime';

/** Which environment's bin folder to look in first, building the installed CLI's on first use. */
export async function localToolsBin(opts: { packageRoot: string; shippedDir: string; env: NodeJS.ProcessEnv; run: RunStreaming; progress: (m: string) => void }): Promise<string> {
  if (opts.env.FLUXER_VENV) return join(opts.env.FLUXER_VENV, 'bin');
  const cloneVenv = join(opts.packageRoot, '.venv', 'bin');
  const shipped = shippedRuntime(opts.shippedDir);
  // A clone keeps using its .venv (and python-env.sh's hint) even after an `npm pack` made dist/runtime/.
  if (existsSync(cloneVenv) || !shipped || existsSync(join(opts.packageRoot, 'gpu-runtime'))) return cloneVenv;
  return ensureUserVenv({ shipped, env: opts.env, run: opts.run, progress: opts.progress });
}

export function findLocalTools(venvBin: string, env: NodeJS.ProcessEnv, packageRoot: string): LocalTools {
  const pathDirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const find = (name: string) => [venvBin, ...pathDirs].map((d) => join(d, name)).find(isExecutable);
  const motoServer = find(MOTO_SERVER_BIN);
  const runtime = find(RUNTIME_BIN);
  const missing = [motoServer ? undefined : MOTO_SERVER_BIN, runtime ? undefined : RUNTIME_BIN].filter(Boolean);
  if (!motoServer || !runtime) {
    throw new UsageError(`The local stack needs ${missing.join(' and ')}, found neither in ${venvBin} nor on PATH`, {
      code: 'LocalToolsMissing',
      hint: env.FLUXER_VENV
        ? `FLUXER_VENV=${env.FLUXER_VENV} lacks them: install the runtime and moto[server] there, or unset FLUXER_VENV.`
        : existsSync(join(packageRoot, 'scripts', 'python-env.sh'))
          ? `Build the Python environment: \`bash scripts/python-env.sh\` (in ${packageRoot}).`
          : `Remove ${join(venvBin, '..')} and run \`fluxer local up\` again: it rebuilds that environment.`,
    });
  }
  return { motoServer, runtime };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
