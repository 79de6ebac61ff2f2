#!/usr/bin/env node
// The launch plan's own cost: ranking 3 instance types × 6 AZs (src/core/launch/pools.ts planPools,
// the pure step after the reads). Target: under 5 ms per plan. The module is bundled from source with
// esbuild (no build step needed). Usage: node bench/spot-plan.mjs [runs]
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = await build({ entryPoints: [join(root, 'src/core/launch/pools.ts')], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent' });
const { planPools, priceKey } = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);

const runs = Number(process.argv[2] ?? 2000);
const gpu = (name, gib) => ({ name, count: 1, memoryMiB: gib * 1024 });
const info = new Map([
  ['g6e.xlarge', { instanceType: 'g6e.xlarge', vcpus: 4, memoryMiB: 32768, gpu: gpu('NVIDIA L40S', 44.7) }],
  ['g5.xlarge', { instanceType: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, gpu: gpu('NVIDIA A10G', 22.35) }],
  ['g6.xlarge', { instanceType: 'g6.xlarge', vcpus: 4, memoryMiB: 16384, gpu: gpu('NVIDIA L4', 22.35) }],
]);
const types = [...info.keys()];
const zones = ['a', 'b', 'c', 'd', 'e', 'f'].map((l, i) => ({ az: `us-east-1${l}`, azId: `use1-az${i + 1}`, subnetId: `subnet-${l}` }));
const offered = new Map(types.map((t) => [t, new Set(zones.map((z) => z.az))]));
const prices = new Map();
types.forEach((t, ti) => zones.forEach((z, zi) => prices.set(priceKey(t, z.az), 0.4 + ti * 0.2 + zi * 0.011)));
const scores = new Map(zones.map((z, i) => [z.azId, (i * 3) % 10 + 1]));
const input = { types, info, model: 'flux-dev', zones, offered, prices, scores, maxPrice: 1.5, recentFailure: () => undefined };

for (let i = 0; i < 200; i++) planPools(input); // warm up
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  planPools(input);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
// The first, cold plan is what one `spot launch` pays: measure it in a fresh module too.
const cold = await import(`data:text/javascript;base64,${Buffer.from(`${out.outputFiles[0].text}\n// cold`).toString('base64')}`);
const c0 = process.hrtime.bigint();
cold.planPools(input);
const coldMs = Number(process.hrtime.bigint() - c0) / 1e6;
const result = { pools: planPools(input).pools.length, runs, medianMs: q(0.5), p99Ms: q(0.99), coldMs, targetMs: 5 };
console.log(JSON.stringify(result));
process.exitCode = result.p99Ms < 5 && coldMs < 5 ? 0 : 1;
