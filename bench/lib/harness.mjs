// What the benchmark scripts share: the repo's paths, the check that the build and the Python
// environment exist, a moto server of their own on a free loopback port (killed when the script
// exits), and the median.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = join(root, 'bin', 'fluxer');
export const venv = join(root, '.venv', 'bin');

/** Exits 2 naming the command to run when dist/ or .venv is missing. */
export function requireBuilt() {
  for (const [path, fix] of [[join(root, 'dist', 'fluxer.cjs'), 'npm run build'], [join(venv, 'moto_server'), 'bash scripts/python-env.sh']]) {
    if (!existsSync(path)) {
      console.error(`${path} is missing: run \`${fix}\` first`);
      process.exit(2);
    }
  }
}

/** Starts moto_server on a free port and resolves its endpoint once it answers. */
export async function startMoto(env = process.env) {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const moto = spawn(join(venv, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', env });
  process.on('exit', () => moto.kill());
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${endpoint}/moto-api/`)).status < 500) break;
    } catch {
      /* not up yet */
    }
    if (i > 300) throw new Error('moto_server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return endpoint;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
