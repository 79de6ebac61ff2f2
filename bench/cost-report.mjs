#!/usr/bin/env node
// `fluxer cost report --json` (bin/fluxer, a child process, as a user runs it) over 1,000 node records
// and 30 days of spot prices (3 types × 6 AZs, a change every hour, both ends: 12,978 rows, paged), against moto
// behind the local region's emulator, beside the baseline a script would at least have to do
// (bench/cost-report-baseline.mjs, a child process too): a bare SDK loop that lists the 1,000 records
// and reads each (16 in flight, as fluxer reads them) and nothing else. Interleaved, median of N runs. Target: fluxer <= 1.5x of it.
// The emulator is dist/region.cjs's, in a process of its own (bench/lib/harness.mjs).
// Usage: node bench/cost-report.mjs [runs]   (needs `npm run build` and .venv from scripts/python-env.sh)
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, emulatorHelpers, median, requireBuilt, root, startEmulator, startMoto, tempDir } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 5);
const NODES = 1000;
const DAYS = 30;
const TYPES = ['g5.xlarge', 'g6.xlarge', 'g6e.xlarge'];
const AZS = ['a', 'b', 'c', 'd', 'e', 'f'].map((z) => `us-east-1${z}`);

const work = tempDir('fluxer-bench-cost-');
const { setStandinSpotPrices, setStandinOnDemandPrices } = emulatorHelpers();

const moto = await startMoto();
const endpoint = await startEmulator(moto);

const env = {
  PATH: process.env.PATH,
  HOME: '/nonexistent-home',
  XDG_STATE_HOME: join(work, 'state'),
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_ENDPOINT_URL: endpoint,
  FLUXER_MAX_ATTEMPTS: '1',
};
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');

const stack = 'bench';
const bucket = 'fluxer-bench-cost';
const prefix = 'fluxer/';
const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, maxAttempts: 1 });
await s3.send(new CreateBucketCommand({ Bucket: bucket }));

const now = Date.now();
const HOUR = 3_600_000;
const prices = [];
for (const [t, type] of TYPES.entries()) for (const [z, az] of AZS.entries()) for (let h = 0; h <= DAYS * 24; h++) prices.push({ instanceType: type, az, price: +(0.3 + t * 0.2 + z * 0.01 + ((h * 7 + z) % 11) / 200).toFixed(4), at: now - h * HOUR });
await setStandinSpotPrices(endpoint, prices);
await setStandinOnDemandPrices(endpoint, [...TYPES.map((instanceType, i) => ({ region: 'us-east-1', instanceType, price: 1 + i * 0.4 })), { region: 'us-east-1', volumeApiName: 'gp3', price: 0.08 }]);

const GEN = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
const WAIT = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];
const hist = (bounds, i) => {
  const counts = bounds.map((_, k) => (k * 13 + i) % 9).concat([0]);
  return { bounds, counts, sum: counts.reduce((a, c, k) => a + c * (bounds[k] ?? 0), 0), count: counts.reduce((a, b) => a + b, 0) };
};
const ids = Array.from({ length: NODES }, (_, i) => `i-${(0x1000000000000 + i).toString(16).padStart(17, '0')}`);
const put = async (i) => {
  const launch = now - ((i * 7919) % (DAYS * 24 * 60)) * 60_000;
  const record = {
    instanceId: ids[i], state: 'STOPPED', instanceType: TYPES[i % 3], az: AZS[i % 6], region: 'us-east-1', lifecycle: 'spot', stack, bucket, prefix,
    launchTime: new Date(launch).toISOString(), firstSeenAt: new Date(launch + 120_000).toISOString(), lastSeenAt: new Date(now).toISOString(), seq: 100, currentJob: null,
    jobs: { succeeded: 500 + i, failed: i % 5, rejected: 0, cancelled: i % 3, requeued: i % 2 }, imagesDone: 600 + i, busySeconds: 3000 + i,
    ...(i % 10 === 0 ? { interruption: { action: 'terminate', time: new Date(now - 60_000).toISOString(), noticedAt: new Date(now - 180_000).toISOString() } } : {}),
    histograms: { generationSeconds: hist(GEN, i), queueWaitSeconds: hist(WAIT, i) },
  };
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}nodes/${ids[i]}.json`, Body: JSON.stringify(record), ContentType: 'application/json' }));
};
for (let i = 0; i < NODES; i += 50) await Promise.all(ids.slice(i, i + 50).map((_, k) => put(i + k)));

const cwd = join(work, 'project');
mkdirSync(cwd);
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { region: 'us-east-1', bucket, prefix } } }));

const baselineScript = join(root, 'bench', 'cost-report-baseline.mjs');

const sh = (args) => spawnSync(process.execPath, args, { env, cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
function baseline() {
  const r = sh([baselineScript, bucket, prefix]);
  if (r.status !== 0 || JSON.parse(r.stdout).records !== NODES) throw new Error(`baseline: ${r.stderr}${r.stdout}`);
}
let lastReport;
function fluxerReport() {
  const r = sh([bin, 'cost', 'report', '--since', `${DAYS}d`, '--json']);
  if (r.status !== 0) throw new Error(`fluxer cost report exited ${r.status}: ${r.stderr}`);
  lastReport = JSON.parse(r.stdout);
  if (lastReport.totals.nodes !== NODES || lastReport.unpriced.length) throw new Error(`fluxer saw ${lastReport.totals.nodes} nodes, ${lastReport.unpriced.length} unpriced`);
}

const cases = { 'bare SDK: list + read 1,000 records': baseline, 'fluxer cost report --json': fluxerReport };
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const once = (fn) => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
for (const fn of Object.values(cases)) once(fn); // warm moto, the emulator, the file cache and the on-demand cache
for (let i = 0; i < runs; i++) for (const [name, fn] of Object.entries(cases)) times[name].push(once(fn));

const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), minMs: +Math.min(...xs).toFixed(1) }));
const ratio = median(times['fluxer cost report --json']) / median(times['bare SDK: list + read 1,000 records']);
const target = 1.5;
const points = lastReport.inputs.pricePoints.reduce((a, p) => a + p.points.length, 0);
console.error(`runs per case: ${runs}; ${NODES} node records, ${prices.length} spot price rows over ${DAYS} days (${points} points used), report $${lastReport.totals.cost}`);
for (const r of rows) console.error(`${r.name.padEnd(40)} median ${String(r.medianMs).padStart(8)} ms   min ${String(r.minMs).padStart(8)} ms`);
console.error(`fluxer / bare SDK loop: ${ratio.toFixed(3)}x (target <= ${target}x): ${ratio <= target ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'cost-report', runs, nodes: NODES, priceRows: prices.length, results: rows, ratio: +ratio.toFixed(3), target, pass: ratio <= target }));
process.exit(0); // moto and the emulator, children of this process, are killed on exit
