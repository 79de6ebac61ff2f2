// The Python environment an installed CLI (npm install -g, npx: no clone, so no .venv and no
// scripts/python-env.sh) builds for `fluxer local up` on first use: a venv under the user's data
// folder with the runtime's wheel the package ships and the local stack's pinned requirements
// (moto[server], torch, diffusers, ...). Rebuilt only when what the package ships changes (a hash stamp).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FluxerError, UsageError } from '../../lib/errors.js';

/** Runs a program; `onLine` sees its output line by line; rejects (with the output's tail) on a non-zero exit. */
export type RunStreaming = (command: string, args: string[], opts: { env: NodeJS.ProcessEnv; onLine?: (line: string) => void }) => Promise<void>;

export const LOCAL_REQUIREMENTS = 'local-requirements.txt';
export const STAMP = '.fluxer-stamp';
const PYTHON_CANDIDATES = ['python3.11', 'python3.12', 'python3.10', 'python3'];

/** `$XDG_DATA_HOME/fluxer`, else `~/.local/share/fluxer`. */
export function fluxerDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'fluxer');
}

export function userVenvDir(env: NodeJS.ProcessEnv): string {
  return join(fluxerDataDir(env), 'venv');
}

export interface ShippedRuntime {
  wheel: string;
  pyproject: string;
  localRequirements: string;
}

/** The runtime the package ships (dist/runtime/), or undefined when there is none (a clone before `npm pack`). */
export function shippedRuntime(dir: string): ShippedRuntime | undefined {
  if (!existsSync(join(dir, LOCAL_REQUIREMENTS))) return undefined;
  const wheel = readdirSync(dir).find((f) => /^fluxer_runtime-.*\.whl$/.test(f));
  if (!wheel) return undefined;
  return { wheel: join(dir, wheel), pyproject: join(dir, 'pyproject.toml'), localRequirements: join(dir, LOCAL_REQUIREMENTS) };
}

/** The first of FLUXER_PYTHON, python3.11, 3.12, 3.10, python3 that is Python >= 3.10; a UsageError saying so otherwise. */
export async function pickPython(env: NodeJS.ProcessEnv, run: RunStreaming): Promise<string> {
  const candidates = env.FLUXER_PYTHON ? [env.FLUXER_PYTHON] : PYTHON_CANDIDATES;
  for (const candidate of candidates) {
    try {
      await run(candidate, ['-c', 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 1)'], { env });
      return candidate;
    } catch {
      /* not there, too old, or without venv/ensurepip: try the next */
    }
  }
  const tried = env.FLUXER_PYTHON ? `FLUXER_PYTHON=${env.FLUXER_PYTHON}` : candidates.join(', ');
  throw new UsageError(`Python >= 3.10 (with venv and ensurepip) not found: tried ${tried}`, {
    code: 'PythonNotFound',
    hint: 'Install python3.11 (on Debian/Ubuntu: `apt install python3.11 python3.11-venv`) or set FLUXER_PYTHON to a Python >= 3.10, then run `fluxer local up` again.',
  });
}

function stampOf(shipped: ShippedRuntime): string {
  const h = createHash('sha256');
  for (const f of [shipped.localRequirements, shipped.wheel]) h.update(readFileSync(f));
  return h.digest('hex');
}

/**
 * The venv's bin folder, built first when missing or made from other shipped files. pip's own output
 * goes to `progress` line by line (Collecting / Installing / Successfully ...).
 */
export async function ensureUserVenv(opts: { shipped: ShippedRuntime; env: NodeJS.ProcessEnv; run: RunStreaming; progress: (m: string) => void }): Promise<string> {
  const venv = userVenvDir(opts.env);
  const bin = join(venv, 'bin');
  const stamp = stampOf(opts.shipped);
  if (existsSync(join(bin, 'python')) && readText(join(venv, STAMP)) === stamp) return bin;

  const python = await pickPython(opts.env, opts.run);
  opts.progress(`Building fluxer's Python environment in ${venv} (first use, or the CLI changed; a few minutes)`);
  // A half-built or outdated venv is replaced whole; the stamp is written last, so an interrupted
  // build is redone next time.
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(venv, { recursive: true });
  const env = { ...opts.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  try {
    await opts.run(python, ['-m', 'venv', venv], { env });
    opts.progress(`Installing the runtime (${opts.shipped.wheel.split('/').pop()}), moto and the pinned requirements with pip`);
    await opts.run(join(bin, 'python'), ['-m', 'pip', 'install', '--progress-bar', 'off', '-r', opts.shipped.localRequirements, opts.shipped.wheel], {
      env,
      onLine: (line) => {
        // "Successfully installed" names every package on one line (about a hundred): counted instead.
        const installed = /^Successfully installed (.*)$/.exec(line)?.[1];
        if (installed) opts.progress(`pip: Successfully installed ${installed.trim().split(/\s+/).length} packages`);
        else if (/^(Collecting|Installing collected)/.test(line)) opts.progress(`pip: ${line.length > 160 ? `${line.slice(0, 157)}...` : line}`);
      },
    });
  } catch (err) {
    throw new FluxerError(`Building the Python environment in ${venv} failed: ${err instanceof Error ? err.message : String(err)}`, {
      code: 'PythonEnvFailed',
      hint: 'pip needs the package index (or PIP_INDEX_URL / PIP_FIND_LINKS pointing at a mirror); fix that and run `fluxer local up` again, or set FLUXER_VENV to an environment that has moto_server and fluxer-runtime.',
      cause: err,
    });
  }
  writeFileSync(join(venv, STAMP), stamp);
  opts.progress('Python environment ready');
  return bin;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** RunStreaming with node's spawn: output kept (last 15 lines) for the error message. */
export async function runStreaming(command: string, args: string[], opts: { env: NodeJS.ProcessEnv; onLine?: (line: string) => void }): Promise<void> {
  const { spawn } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let partial = '';
    const onData = (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (/is ignored: it is neither a file nor a directory/.test(line)) continue;
        tail.push(line);
        if (tail.length > 15) tail.shift();
        opts.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.slice(0, 3).join(' ')} exited ${code}:\n${tail.join('\n')}`))));
  });
}
