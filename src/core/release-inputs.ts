// What this machine builds a runtime release with and from, for `runtime publish`, `runtime deploy`
// (without --from) and the first release `spot launch` publishes: the build Python, and the runtime
// itself (a clone's gpu-runtime/, or the wheel an installed CLI ships).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { PACKAGE_ROOT, RUNTIME_SOURCE_DIR, SHIPPED_RUNTIME_DIR } from '../lib/paths.js';
import { shippedRuntime, userVenvDir } from './local/python-env.js';
import type { RuntimeInput } from './releases.js';

/** FLUXER_PYTHON, else the clone's .venv, else the one `local up` built, else python3 from PATH. */
export function buildPython(env: NodeJS.ProcessEnv, packageRoot = PACKAGE_ROOT): string {
  return env.FLUXER_PYTHON || [join(packageRoot, '.venv', 'bin', 'python'), join(userVenvDir(env), 'bin', 'python')].find((p) => existsSync(p)) || 'python3';
}

/**
 * The runtime's source (a clone: gpu-runtime/ with its pyproject.toml), else the wheel an installed CLI
 * (npm install -g, npx) ships; with neither, a UsageError (RuntimeNotShipped) in the caller's words,
 * which say what to do instead where it is called.
 */
export function localRuntime(missing: { message: string; hint: string }, where = { sourceDir: RUNTIME_SOURCE_DIR, shippedDir: SHIPPED_RUNTIME_DIR }): RuntimeInput {
  if (existsSync(join(where.sourceDir, 'pyproject.toml'))) return { sourceDir: where.sourceDir };
  const shipped = shippedRuntime(where.shippedDir);
  if (shipped) return { wheel: shipped.wheel, pyproject: shipped.pyproject };
  throw new UsageError(missing.message, { code: 'RuntimeNotShipped', hint: missing.hint });
}
