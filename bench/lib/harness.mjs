// What the benchmark scripts share: the repo's paths, the check that the build and the Python
// environment exist, a moto server of their own on a free loopback port, the local region's emulator
// in front of it (both killed when the script exits), temp folders removed when it exits, and the median.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = join(root, 'bin', 'fluxer');
export const venv = join(root, '.venv', 'bin');
const regionBundle = join(root, 'dist', 'region.cjs');

/** Exits 2 naming the command to run when dist/ or .venv is missing. */
export function requireBuilt() {
  for (const [path, fix] of [[join(root, 'dist', 'fluxer.cjs'), 'npm run build'], [regionBundle, 'npm run build'], [join(venv, 'moto_server'), 'bash scripts/python-env.sh']]) {
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

/**
 * The emulator's helpers from dist/region.cjs (the local region's bundle, src/region.ts), the build
 * `fluxer local up` runs: `registerNode(nodesDir, registration)`, `setStandinSpotPrices(endpoint, rows)`,
 * `setStandinOnDemandPrices(endpoint, rows)`.
 */
export const emulatorHelpers = () => createRequire(import.meta.url)(regionBundle);

/**
 * Starts the emulator (src/emulator/, from dist/region.cjs) in front of `upstream` (moto) and resolves
 * its endpoint. It runs in a process of its own, killed when the script exits: the benchmarks time
 * their cases with spawnSync, which would block an emulator in this process along with everything
 * else. `nodesDir` is the local nodes' folder (src/lib/local-nodes.ts) its SSM commands run in.
 */
export async function startEmulator(upstream, { nodesDir } = {}) {
  const script =
    'const [bundle, opts] = process.argv.slice(1);' +
    'require(bundle).startAwsStandin(JSON.parse(opts)).then((e) => {' +
    "  console.log(e.endpoint); process.on('SIGTERM', () => e.stop().then(() => process.exit(0)));" +
    '});';
  const child = spawn(process.execPath, ['-e', script, regionBundle, JSON.stringify({ upstream, nodesDir })], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => child.kill());
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      if (text.includes('\n')) resolve(text.trim());
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited with ${code}`)));
  });
}

/**
 * A fresh folder under the system's temp folder, removed when the script exits: at its end, and on a
 * failure too (an uncaught error or a rejected top-level await still emits 'exit'), so runs leave
 * nothing behind in /tmp. Not on a signal that kills the process (SIGKILL, an unhandled SIGINT).
 */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      console.error(`could not remove ${dir}: ${err.message}`);
    }
  });
  return dir;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
