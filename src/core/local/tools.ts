// Finds the Python programs the local stack runs: the moto server (the AWS-compatible emulator) and
// the GPU runtime. The project's own .venv first (what `bash scripts/python-env.sh` builds), then PATH.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UsageError } from '../../lib/errors.js';

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

export function findLocalTools(packageRoot: string, env: NodeJS.ProcessEnv): LocalTools {
  const venvBin = join(packageRoot, '.venv', 'bin');
  const pathDirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const find = (name: string) => [venvBin, ...pathDirs].map((d) => join(d, name)).find(isExecutable);
  const motoServer = find(MOTO_SERVER_BIN);
  const runtime = find(RUNTIME_BIN);
  const missing = [motoServer ? undefined : MOTO_SERVER_BIN, runtime ? undefined : RUNTIME_BIN].filter(Boolean);
  if (!motoServer || !runtime) {
    throw new UsageError(`The local stack needs ${missing.join(' and ')}, found neither in ${venvBin} nor on PATH`, {
      code: 'LocalToolsMissing',
      hint: `Build the Python environment: \`bash scripts/python-env.sh\` (in ${packageRoot}).`,
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
