#!/usr/bin/env node
// Startup benchmark: `fluxer --help` and `fluxer --version` against a bare `node -e 0`, measured in
// the same run, interleaved, so machine noise hits all three alike. Target: ratio <= 1.5.
// Usage: node bench/cli-startup.mjs [runs]   (run `npm run build` first)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'fluxer');
if (!existsSync(join(root, 'dist', 'fluxer.cjs'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}
const runs = Number(process.argv[2] ?? 30);
const cases = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'fluxer --help': [process.execPath, [bin, '--help']],
  'fluxer --version': [process.execPath, [bin, '--version']],
};
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));

const once = ([cmd, args]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
};

for (const c of Object.values(cases)) once(c); // warm the file cache
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(cases)) times[name].push(once(c));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(times['node -e 0']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), ratio: +(median(xs) / base).toFixed(2) }));
console.error(`runs per case: ${runs}`);
for (const r of rows) console.error(`${r.name.padEnd(18)} ${String(r.medianMs).padStart(7)} ms   ${r.ratio}x`);
const pass = rows.filter((r) => r.name !== 'node -e 0').every((r) => r.ratio <= 1.5);
console.error(pass ? 'target <= 1.5x: met' : 'target <= 1.5x: NOT met');
console.log(JSON.stringify({ bench: 'cli-startup', runs, results: rows, target: 1.5, pass }));
