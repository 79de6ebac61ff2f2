// Starts moto in server mode on a free loopback port: the real AWS-compatible server the tests run
// against (see ../../shared AWS-TESTING.md and test/README.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/core/local/processes.js';
import { MOTO_ENV } from '../../src/core/local/tools.js';

export { freePort };

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const VENV_BIN = join(REPO_ROOT, '.venv', 'bin');

export interface MotoServer {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const bin = join(VENV_BIN, 'moto_server');
  if (!existsSync(bin)) throw new Error(`moto_server not found at ${bin}: run \`bash scripts/python-env.sh\` (the test command does)`);
  const port = await freePort();
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...MOTO_ENV } });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok || res.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not start on ${endpoint}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function resetMoto(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
}
