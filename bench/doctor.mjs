#!/usr/bin/env node
// Doctor benchmark: `fluxer doctor --json` (bin/fluxer, a child process, as a user runs it) against a
// local moto server, N runs, median wall time — beside the median of a bare
// `aws sts get-caller-identity --endpoint-url` (the AWS CLI: one call, one process) as a baseline.
// The two are interleaved so machine noise hits both alike. The stack is made ready first (queue +
// DLQ, bucket with public access blocked, AMI, instance profile) so every check does its full work.
// Usage: node bench/doctor.mjs [runs]   (needs `npm run build` and .venv from scripts/python-env.sh)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'fluxer');
const venv = join(root, '.venv', 'bin');
for (const [path, fix] of [[join(root, 'dist', 'fluxer.cjs'), 'npm run build'], [join(venv, 'moto_server'), 'bash scripts/python-env.sh']]) {
  if (!existsSync(path)) {
    console.error(`${path} is missing: run \`${fix}\` first`);
    process.exit(2);
  }
}
const runs = Number(process.argv[2] ?? 15);

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const endpoint = `http://127.0.0.1:${port}`;
const moto = spawn(join(venv, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
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

// A ready stack, made with the AWS CLI (what `fluxer setup` and an AMI bake would leave behind).
const stack = 'bench';
const queue = 'fluxer-bench-jobs';
const dlqUrl = aws('sqs', 'create-queue', '--queue-name', `${queue}-dlq`).QueueUrl;
const dlqArn = aws('sqs', 'get-queue-attributes', '--queue-url', dlqUrl, '--attribute-names', 'QueueArn').Attributes.QueueArn;
aws('sqs', 'create-queue', '--queue-name', queue, '--attributes', JSON.stringify({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) }));
aws('s3api', 'create-bucket', '--bucket', 'fluxer-bench');
aws('s3api', 'put-public-access-block', '--bucket', 'fluxer-bench', '--public-access-block-configuration', 'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true');
const ami = aws('ec2', 'register-image', '--name', 'fluxer-bench-1', '--root-device-name', '/dev/xvda').ImageId;
aws('ec2', 'create-tags', '--resources', ami, '--tags', 'Key=fluxer:managed,Value=true', `Key=fluxer:stack,Value=${stack}`, 'Key=fluxer:role,Value=ami');
aws('iam', 'create-role', '--role-name', 'fluxer-bench-node', '--assume-role-policy-document', '{"Version":"2012-10-17","Statement":[]}');
aws('iam', 'create-instance-profile', '--instance-profile-name', 'fluxer-bench-node');
aws('iam', 'add-role-to-instance-profile', '--instance-profile-name', 'fluxer-bench-node', '--role-name', 'fluxer-bench-node');
const cwd = mkdtempSync(join(tmpdir(), 'fluxer-bench-doctor-'));
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: 'fluxer-bench', instanceTypes: ['g5.xlarge'] } } }));

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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(times['aws sts get-caller-identity']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), minMs: +Math.min(...xs).toFixed(1), ratio: +(median(xs) / base).toFixed(2) }));
console.error(`runs per case: ${runs}; doctor rows: ${lastDoctor.checks.map((c) => `${c.id}=${c.status}`).join(' ')}`);
for (const r of rows) console.error(`${r.name.padEnd(30)} median ${String(r.medianMs).padStart(7)} ms   min ${String(r.minMs).padStart(7)} ms   ${r.ratio}x`);
console.log(JSON.stringify({ bench: 'doctor', runs, checks: lastDoctor.checks.length, results: rows }));
moto.kill();
