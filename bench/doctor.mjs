#!/usr/bin/env node
// Doctor benchmark: `fluxer doctor --json` (bin/fluxer, a child process, as a user runs it) against a
// local moto server, N runs, median wall time — beside the median of a bare
// `aws sts get-caller-identity --endpoint-url` (the AWS CLI: one call, one process) as a baseline.
// The two are interleaved so machine noise hits both alike. The stack is made ready first (queue +
// DLQ, bucket with public access blocked, AMI, instance profile) so every check does its full work.
// Usage: node bench/doctor.mjs [runs]   (needs `npm run build` and .venv from scripts/python-env.sh)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, median, requireBuilt, root, startMoto, tempDir, venv } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 15);

const endpoint = await startMoto({ ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' });

const env = {
  PATH: process.env.PATH,
  HOME: '/nonexistent-home',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  // The AWS CLI v1 reads AWS_DEFAULT_REGION, not AWS_REGION.
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  FLUXER_MAX_ATTEMPTS: '1',
};
const aws = (...args) => {
  const r = spawnSync(join(venv, 'aws'), ['--endpoint-url', endpoint, '--output', 'json', ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`aws ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : {};
};

// A ready stack: what `fluxer setup` makes (queue, DLQ, bucket, node role, profile and group) and an
// AMI tagged for the stack, as a bake would leave it.
const stack = 'bench';
const cwd = tempDir('fluxer-bench-doctor-');
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: 'fluxer-bench', instanceTypes: ['g5.xlarge'] } } }));
const setup = spawnSync(process.execPath, [bin, 'setup', '--yes', '--endpoint-url', endpoint], { env, cwd, encoding: 'utf8' });
if (setup.status !== 0) throw new Error(`fluxer setup: ${setup.stderr}`);
const ami = aws('ec2', 'register-image', '--name', 'fluxer-bench-1', '--root-device-name', '/dev/xvda').ImageId;
aws('ec2', 'create-tags', '--resources', ami, '--tags', 'Key=fluxer:managed,Value=true', `Key=fluxer:stack,Value=${stack}`, 'Key=fluxer:role,Value=ami');

const cases = {
  'aws sts get-caller-identity': [join(venv, 'aws'), ['--endpoint-url', endpoint, 'sts', 'get-caller-identity']],
  'fluxer doctor --json': [process.execPath, [bin, 'doctor', '--json', '--endpoint-url', endpoint]],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
let lastDoctor;
const once = (name, [cmd, args]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  // doctor exits 1 only when a check fails; moto has no EC2 quota values, so that row warns (exit 0).
  if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}\n${r.stdout}`);
  if (name.startsWith('fluxer')) lastDoctor = JSON.parse(r.stdout);
  return ms;
};
for (const [name, c] of Object.entries(cases)) once(name, c); // warm moto's backends and the file cache
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(cases)) times[name].push(once(name, c));

const base = median(times['aws sts get-caller-identity']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), minMs: +Math.min(...xs).toFixed(1), ratio: +(median(xs) / base).toFixed(2) }));
console.error(`runs per case: ${runs}; doctor rows: ${lastDoctor.checks.map((c) => `${c.id}=${c.status}`).join(' ')}`);
for (const r of rows) console.error(`${r.name.padEnd(30)} median ${String(r.medianMs).padStart(7)} ms   min ${String(r.minMs).padStart(7)} ms   ${r.ratio}x`);
console.log(JSON.stringify({ bench: 'doctor', runs, checks: lastDoctor.checks.length, results: rows }));
process.exit(0); // moto, a child of this process, keeps the event loop alive; it is killed on exit, and the temp folders go
