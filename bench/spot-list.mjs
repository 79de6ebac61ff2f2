#!/usr/bin/env node
// `fluxer spot list --json` with 50 nodes (bin/fluxer, a child process, as a user runs it) against a
// local moto server, beside two baselines run in the same invocation, interleaved so machine noise
// hits all alike: `aws ec2 describe-instances` with the stack's tag filters (the AWS CLI: one call;
// target: fluxer <= 0.4x of it) and a bare AWS SDK script making fluxer's calls
// (bench/spot-list-baseline.mjs; target: <= 1.3x). The 50 nodes are made with RunInstances, tagged as
// `spot launch` tags them, each with a node record in the bucket.
// Usage: node bench/spot-list.mjs [runs]   (needs `npm run build` and .venv from scripts/python-env.sh)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, median, requireBuilt, root, startMoto, tempDir, venv } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 15);
const NODES = 50;

const endpoint = await startMoto();

const env = {
  PATH: process.env.PATH,
  HOME: '/nonexistent-home',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  FLUXER_MAX_ATTEMPTS: '1',
};
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
// Imported here, after the variable that silences the SDK's Node-version notice is set.
const { EC2Client, RegisterImageCommand, RunInstancesCommand } = await import('@aws-sdk/client-ec2');
const { CreateBucketCommand, PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');

// 50 nodes as `fluxer spot launch` leaves them, each with a node record (schema/node.v1.schema.json).
const stack = 'bench';
const bucket = 'fluxer-bench-spot';
const prefix = 'fluxer/';
const config = { region: 'us-east-1', endpoint, maxAttempts: 1 };
const ec2 = new EC2Client(config);
const s3 = new S3Client({ ...config, forcePathStyle: true });
await s3.send(new CreateBucketCommand({ Bucket: bucket }));
const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'fluxer-bench-spot', RootDeviceName: '/dev/sda1' }));
const tags = [
  { Key: 'fluxer:managed', Value: 'true' },
  { Key: 'fluxer:stack', Value: stack },
  { Key: 'fluxer:role', Value: 'gpu-node' },
  { Key: 'Name', Value: `fluxer-${stack}-node` },
  { Key: 'fluxer:launch-id', Value: 'bench-launch' },
];
const ids = [];
for (const [type, az, count] of [['g5.xlarge', 'us-east-1a', 30], ['g6.xlarge', 'us-east-1b', 20]]) {
  const out = await ec2.send(
    new RunInstancesCommand({
      ImageId, InstanceType: type, MinCount: count, MaxCount: count, Placement: { AvailabilityZone: az },
      InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time' } },
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'volume', Tags: tags }],
    }),
  );
  ids.push(...out.Instances.map((i) => i.InstanceId));
}
const now = new Date().toISOString();
await Promise.all(
  ids.map((id, i) =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}nodes/${id}.json`,
        ContentType: 'application/json',
        Body: JSON.stringify({ instanceId: id, state: i % 3 ? 'READY' : 'BUSY', stack, bucket, prefix, firstSeenAt: now, lastSeenAt: now, seq: 5, currentJob: null, jobs: { succeeded: i, failed: 0, rejected: 0, cancelled: 0, requeued: 0 }, imagesDone: 2 * i, busySeconds: i }),
      }),
    ),
  ),
);
const cwd = tempDir('fluxer-bench-spot-list-');
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket, prefix } } }));

const filters = ['Name=tag:fluxer:managed,Values=true', `Name=tag:fluxer:stack,Values=${stack}`, 'Name=tag:fluxer:role,Values=gpu-node', 'Name=instance-state-name,Values=pending,running,stopping,stopped'];
const cases = {
  'aws ec2 describe-instances': [join(venv, 'aws'), ['--endpoint-url', endpoint, '--output', 'json', 'ec2', 'describe-instances', '--filters', ...filters]],
  'bare SDK script': [process.execPath, [join(root, 'bench', 'spot-list-baseline.mjs'), endpoint, stack, bucket, prefix]],
  'fluxer spot list --json': [process.execPath, [bin, 'spot', 'list', '--json', '--endpoint-url', endpoint]],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const counted = {};
const once = (name, [cmd, args]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}\n${r.stdout}`);
  const doc = JSON.parse(r.stdout);
  counted[name] = doc.nodes ? doc.nodes.length : doc.Reservations.flatMap((x) => x.Instances).length;
  if (name.startsWith('fluxer') && doc.nodes.filter((n) => n.runtime).length !== NODES) throw new Error('fluxer spot list did not read every node record');
  return ms;
};
for (const [name, c] of Object.entries(cases)) once(name, c); // warm moto's backends and the file cache
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(cases)) times[name].push(once(name, c));
for (const [name, n] of Object.entries(counted)) if (n !== NODES) throw new Error(`${name} saw ${n} nodes, not ${NODES}`);

const fluxer = median(times['fluxer spot list --json']);
const vsAws = fluxer / median(times['aws ec2 describe-instances']);
const vsSdk = fluxer / median(times['bare SDK script']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), minMs: +Math.min(...xs).toFixed(1) }));
console.error(`runs per case: ${runs}; nodes: ${NODES}`);
for (const r of rows) console.error(`${r.name.padEnd(28)} median ${String(r.medianMs).padStart(7)} ms   min ${String(r.minMs).padStart(7)} ms`);
const targets = { vsAwsCli: 0.4, vsBareSdk: 1.3 };
const pass = vsAws <= targets.vsAwsCli && vsSdk <= targets.vsBareSdk;
console.error(`fluxer / aws CLI: ${vsAws.toFixed(2)}x (target <= ${targets.vsAwsCli}x); fluxer / bare SDK: ${vsSdk.toFixed(2)}x (target <= ${targets.vsBareSdk}x): ${pass ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'spot-list', runs, nodes: NODES, results: rows, ratios: { vsAwsCli: +vsAws.toFixed(2), vsBareSdk: +vsSdk.toFixed(2) }, targets, pass }));
process.exit(0); // moto, a child of this process, keeps the event loop alive; it is killed on exit, and the temp folders go
