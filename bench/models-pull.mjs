#!/usr/bin/env node
// A node's weights pull at boot against `aws s3 cp --recursive`, same moto server, same run,
// interleaved. A model folder of FILES random files × MIB MiB (default 8 × 256 MiB = 2 GiB) is pushed
// as `fluxer models push` leaves it (files/ with sha256 metadata, the manifest last); then each run
// times, as processes: the runtime's own puller (fluxer_runtime.weights.Pull through
// `.venv/bin/python bench/models_pull.py pull`, ranged GETs and sha256 verification included) into an
// empty folder, and `aws s3 cp --recursive` of files/ into another (no verification). MB/s = 10^6
// bytes / s, wall time of each process. Target: the puller ≥ 1.0× the AWS CLI.
// Moto on loopback is one Python process: on a small machine both clients and the server share the
// same cores, so this measures CPU per byte more than any network (docs/runtime.md, "Weights").
// Usage: node bench/models-pull.mjs [runs] [files] [mib]   (env FLUXER_PULL_CONCURRENCY, FLUXER_PULL_PART_MIB
// go to the puller)
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, requireBuilt, root, startMoto, tempDir, venv } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 3);
const files = Number(process.argv[3] ?? 8);
const mib = Number(process.argv[4] ?? 256);

const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  PYTHONPATH: join(root, 'gpu-runtime'),
};
delete env.AWS_PROFILE;
delete env.AWS_ENDPOINT_URL;

const work = tempDir('fluxer-bench-models-pull-');
const moto = await startMoto(env);
const bucket = 'fluxer-bench-weights';
const prefix = 'fluxer/';
const python = join(venv, 'python');
const helper = join(root, 'bench', 'models_pull.py');

function run(cmd, args) {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return { seconds, stdout: r.stdout };
}

const setup = run(python, [helper, 'setup', moto, bucket, prefix, join(work, 'source'), String(files), String(mib)]);
const bytes = files * mib * 1024 * 1024;
console.error(`pushed ${files} × ${mib} MiB (${(bytes / 1e9).toFixed(2)} GB) to moto in ${setup.seconds.toFixed(1)} s`);

const puller = [];
const pullerInner = [];
const cli = [];
for (let i = 0; i < runs; i++) {
  const order = i % 2 === 0 ? ['puller', 'cli'] : ['cli', 'puller'];
  for (const which of order) {
    const dest = join(work, `${which}-${i}`);
    if (which === 'puller') {
      const r = run(python, [helper, 'pull', moto, bucket, prefix, dest]);
      const inner = JSON.parse(r.stdout.trim().split('\n').pop());
      puller.push(r.seconds);
      pullerInner.push(inner.seconds);
      console.error(`run ${i + 1} puller   ${r.seconds.toFixed(2)} s  ${(bytes / 1e6 / r.seconds).toFixed(0)} MB/s  (pull alone ${inner.seconds} s; ${inner.concurrency} × ${inner.partMiB} MiB)`);
    } else {
      const r = run(join(venv, 'aws'), ['s3', 'cp', '--recursive', '--quiet', '--endpoint-url', moto, `s3://${bucket}/${prefix}models/flux-schnell/files/`, dest]);
      cli.push(r.seconds);
      console.error(`run ${i + 1} aws cli  ${r.seconds.toFixed(2)} s  ${(bytes / 1e6 / r.seconds).toFixed(0)} MB/s`);
    }
    rmSync(dest, { recursive: true, force: true });
  }
}

const mbps = (s) => Math.round(bytes / 1e6 / s);
const result = {
  bytes,
  files,
  runs,
  pullerSeconds: median(puller),
  pullerMBps: mbps(median(puller)),
  pullerPullOnlySeconds: median(pullerInner),
  awsCliSeconds: median(cli),
  awsCliMBps: mbps(median(cli)),
  ratio: Number((median(cli) / median(puller)).toFixed(2)),
};
console.log(JSON.stringify(result));
console.error(`puller ${result.pullerMBps} MB/s vs aws s3 cp ${result.awsCliMBps} MB/s: ${result.ratio}× (target ≥ 1.0×)`);
process.exit(0); // moto, a child of this process, is killed on exit
