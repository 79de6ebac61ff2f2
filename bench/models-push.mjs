#!/usr/bin/env node
// `fluxer models push` of a folder of random files (bin/fluxer, a child process, as a user runs it)
// against a local moto server, beside `aws s3 cp --recursive` of the same folder to the same moto, in
// the same invocation and interleaved, so machine noise hits both alike. fluxer's time includes hashing
// every file (its sha256, which the AWS CLI does not compute); target: fluxer's MB/s >= the AWS CLI's.
// Each run pushes into a bucket of its own (nothing to skip). moto on loopback is CPU-bound Python: on a
// small machine the figures measure moto as much as either client, and say so.
// Usage: node bench/models-push.mjs [runs] [files] [MB per file]   (default 1 run of 8 × 256 MB = 2 GB;
// needs `npm run build` and .venv from scripts/python-env.sh; the folder is made under the temp dir and
// deleted after)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { bin, median, requireBuilt, startMoto, tempDir, venv } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 1);
const files = Number(process.argv[3] ?? 8);
const mbPerFile = Number(process.argv[4] ?? 256);
const bytes = files * mbPerFile * 1e6;

const env = {
  PATH: process.env.PATH,
  HOME: '/nonexistent-home',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
// moto keeps objects in memory: give it a temp dir of ours so spooled parts are removed with the folder.
const work = tempDir('fluxer-bench-models-');
const endpoint = await startMoto({ ...process.env, TMPDIR: work });

// The model folder: a diffusers-like layout, random bytes (nothing compresses or dedupes).
const dir = join(work, 'model');
mkdirSync(join(dir, 'unet'), { recursive: true });
writeFileSync(join(dir, 'model_index.json'), '{}\n');
const chunk = 16 * 1024 * 1024;
for (let i = 0; i < files; i++) {
  const fd = openSync(join(dir, 'unet', `shard-${String(i).padStart(2, '0')}.safetensors`), 'w');
  for (let left = mbPerFile * 1e6; left > 0; left -= chunk) writeSync(fd, randomBytes(Math.min(chunk, left)));
  closeSync(fd);
}
writeFileSync(join(work, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'bench', stacks: { bench: { region: 'us-east-1', bucket: 'unused', prefix: 'fx/' } } }));

const aws = (...args) => spawnSync(join(venv, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', ...args], { env, encoding: 'utf8' });
const makeBucket = (name) => {
  const r = aws('s3api', 'create-bucket', '--bucket', name);
  if (r.status !== 0) throw new Error(r.stderr);
};
const timed = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

const results = { fluxer: [], awscli: [], hash: [] };
for (let i = 0; i < runs; i++) {
  makeBucket(`bench-fluxer-${i}`);
  makeBucket(`bench-awscli-${i}`);
  let doc;
  results.fluxer.push(
    timed(() => {
      const r = spawnSync(process.execPath, [bin, 'models', 'push', dir, '--model', 'sdxl', '--endpoint-url', endpoint, '--json'], { cwd: work, env: { ...env, FLUXER_BUCKET: `bench-fluxer-${i}` }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`fluxer exited ${r.status}: ${r.stderr}`);
      doc = JSON.parse(r.stdout);
    }),
  );
  if (doc.bytesUploaded !== doc.totalBytes) throw new Error(`fluxer uploaded ${doc.bytesUploaded} of ${doc.totalBytes}`);
  results.hash.push(doc.hashSeconds);
  results.awscli.push(
    timed(() => {
      const r = aws('s3', 'cp', '--recursive', '--only-show-errors', dir, `s3://bench-awscli-${i}/fx/models/sdxl/files/`);
      if (r.status !== 0) throw new Error(`aws exited ${r.status}: ${r.stderr}`);
    }),
  );
  // Free moto's memory before the next run.
  await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
}

const mbps = (s) => bytes / 1e6 / s;
const f = median(results.fluxer);
const a = median(results.awscli);
console.log(`models push: ${files} × ${mbPerFile} MB = ${(bytes / 1e9).toFixed(2)} GB, ${runs} run(s), moto on loopback, ${cpus().length} CPU(s)`);
console.log(`  fluxer models push (sha256 included) ${f.toFixed(2)} s  ${mbps(f).toFixed(0)} MB/s  (hashing ${median(results.hash).toFixed(2)} s of it)`);
console.log(`  aws s3 cp --recursive                ${a.toFixed(2)} s  ${mbps(a).toFixed(0)} MB/s`);
console.log(`  ratio (fluxer MB/s ÷ aws MB/s)       ${(a / f).toFixed(2)}x  (target >= 1.0x)`);
const ratio = a / f;
console.log(JSON.stringify({ bench: 'models-push', runs, files, mbPerFile, bytes, cpus: cpus().length, seconds: { fluxer: results.fluxer, awscli: results.awscli, fluxerHashing: results.hash }, mbps: { fluxer: +mbps(f).toFixed(1), awscli: +mbps(a).toFixed(1) }, ratio: +ratio.toFixed(2), target: 1.0, pass: ratio >= 1.0 }));
// The moto child would keep the process alive (the harness kills it on exit).
process.exit(0);
