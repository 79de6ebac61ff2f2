#!/usr/bin/env node
// `fluxer runtime status --all --json` over 8 nodes (bin/fluxer, a child process, as a user runs it)
// against the local region's emulator (moto + the SSM executor that really runs the scripts), beside the
// baseline a user would otherwise write, in the same run and interleaved: `aws ssm send-command` to the
// 8 nodes, then `aws ssm get-command-invocation` per node, polled once a second until it is done (the
// AWS CLI from .venv). Target: fluxer <= 0.25x of it. Also one `fluxer runtime exec --node ID -- true`
// round trip.
// The nodes are registered local nodes whose root holds a stand-in `fluxer-runtime` (a shell script
// printing a READY status JSON), not real runtimes: the benchmark measures the SSM round trip, and eight
// real runtimes do not fit on two cores. The emulator is dist/region.cjs's (bench/lib/harness.mjs).
// Usage: node bench/runtime-status.mjs [runs]   (needs `npm run build` and .venv from scripts/python-env.sh)
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, emulatorHelpers, median, requireBuilt, startEmulator, startMoto, tempDir, venv } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 7);
const NODES = 8;

const work = tempDir('fluxer-bench-runtime-status-');
const { registerNode } = emulatorHelpers();

const moto = await startMoto();
const nodesDir = join(work, 'nodes');
mkdirSync(nodesDir);
const endpoint = await startEmulator(moto, { nodesDir });

const env = {
  PATH: process.env.PATH,
  HOME: '/nonexistent-home',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_ENDPOINT_URL: endpoint,
  FLUXER_MAX_ATTEMPTS: '1',
};
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
const { EC2Client, RegisterImageCommand, RunInstancesCommand } = await import('@aws-sdk/client-ec2');
const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');

const stack = 'bench';
const bucket = 'fluxer-bench-runtime-status';
const prefix = 'fluxer/';
const config = { region: 'us-east-1', endpoint, maxAttempts: 1 };
const ec2 = new EC2Client(config);
await new S3Client({ ...config, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }));
const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'fluxer-bench-runtime-status', RootDeviceName: '/dev/sda1' }));
const tags = [
  { Key: 'fluxer:managed', Value: 'true' },
  { Key: 'fluxer:stack', Value: stack },
  { Key: 'fluxer:role', Value: 'gpu-node' },
  { Key: 'Name', Value: `fluxer-${stack}-node` },
  { Key: 'fluxer:launch-id', Value: 'bench-launch' },
];
const out = await ec2.send(new RunInstancesCommand({ ImageId, InstanceType: 'g5.xlarge', MinCount: NODES, MaxCount: NODES, TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] }));
const ids = out.Instances.map((i) => i.InstanceId);
const now = new Date().toISOString();
for (const id of ids) {
  const nodeRoot = join(work, 'roots', id);
  mkdirSync(join(nodeRoot, 'opt', 'fluxer', 'venv', 'bin'), { recursive: true });
  const health = { state: 'READY', stateReason: null, model: 'tiny', memoryPolicy: 'full', release: 'bench', version: '0.1.0', instanceId: id, pid: process.pid, startedAt: now, uptimeSeconds: 5, currentJob: null, job: null, counters: { jobs: { succeeded: 0, failed: 0 }, imagesDone: 0, busySeconds: 0 }, gpu: { name: 'cpu', memoryBytes: null, memoryUsedBytes: null }, device: 'cpu', lastError: null };
  const script = join(nodeRoot, 'opt', 'fluxer', 'venv', 'bin', 'fluxer-runtime');
  writeFileSync(script, `#!/bin/sh\n# stand-in runtime for the benchmark: answers status only\necho '${JSON.stringify(health)}'\n`);
  chmodSync(script, 0o755);
  registerNode(nodesDir, { instanceId: id, root: nodeRoot, env: { PATH: process.env.PATH }, pid: process.pid, instanceType: 'g5.xlarge', az: 'us-east-1a', region: 'us-east-1', lifecycle: 'spot', launchTime: now, registeredAt: now });
}
const cwd = join(work, 'project');
mkdirSync(cwd);
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket, prefix } } }));

const aws = join(venv, 'aws');
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { env, cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return r;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);

/** What a user writes: one send-command to all nodes, then get-command-invocation per node, once a second. */
async function baseline() {
  const sent = sh(aws, ['--output', 'json', 'ssm', 'send-command', '--document-name', 'AWS-RunShellScript', '--instance-ids', ...ids, '--parameters', JSON.stringify({ commands: ['"${FLUXER_ROOT:-}/opt/fluxer/venv/bin/fluxer-runtime" status'] })]);
  if (sent.status !== 0) throw new Error(`send-command: ${sent.stderr}`);
  const commandId = JSON.parse(sent.stdout).Command.CommandId;
  let ready = 0;
  for (const id of ids) {
    for (;;) {
      const got = sh(aws, ['--output', 'json', 'ssm', 'get-command-invocation', '--command-id', commandId, '--instance-id', id]);
      // InvocationDoesNotExist right after sending: not yet.
      const doc = got.status === 0 ? JSON.parse(got.stdout) : undefined;
      if (doc && TERMINAL.has(doc.Status)) {
        if (JSON.parse(doc.StandardOutputContent).state === 'READY') ready++;
        break;
      }
      await sleep(1000);
    }
  }
  if (ready !== NODES) throw new Error(`baseline saw ${ready} READY nodes`);
}

function fluxerStatus() {
  const r = sh(process.execPath, [bin, 'runtime', 'status', '--all', '--json']);
  if (r.status !== 0) throw new Error(`fluxer runtime status exited ${r.status}: ${r.stderr}\n${r.stdout}`);
  const nodes = JSON.parse(r.stdout).nodes;
  if (nodes.length !== NODES || !nodes.every((n) => n.ok && n.state === 'READY')) throw new Error(`fluxer saw ${JSON.stringify(nodes)}`);
}

function fluxerExec() {
  const r = sh(process.execPath, [bin, 'runtime', 'exec', '--node', ids[0], '--json', '--', 'true']);
  if (r.status !== 0 || JSON.parse(r.stdout).nodes[0].exitCode !== 0) throw new Error(`fluxer runtime exec exited ${r.status}: ${r.stderr}`);
}

const cases = { 'aws ssm send + get (1 s polls)': baseline, 'fluxer runtime status --all': fluxerStatus, 'fluxer runtime exec -- true': fluxerExec };
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const once = async (fn) => {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
for (const fn of Object.values(cases)) await once(fn); // warm moto, the emulator and the file cache
for (let i = 0; i < runs; i++) for (const [name, fn] of Object.entries(cases)) times[name].push(await once(fn));

const fluxer = median(times['fluxer runtime status --all']);
const ratio = fluxer / median(times['aws ssm send + get (1 s polls)']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), minMs: +Math.min(...xs).toFixed(1) }));
console.error(`runs per case: ${runs}; nodes: ${NODES} (stand-in fluxer-runtime scripts on emulated nodes)`);
for (const r of rows) console.error(`${r.name.padEnd(32)} median ${String(r.medianMs).padStart(8)} ms   min ${String(r.minMs).padStart(8)} ms`);
const target = 0.25;
console.error(`fluxer status / aws CLI baseline: ${ratio.toFixed(3)}x (target <= ${target}x): ${ratio <= target ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'runtime-status', runs, nodes: NODES, results: rows, ratio: +ratio.toFixed(3), target, pass: ratio <= target }));
process.exit(0); // moto and the emulator, children of this process, are killed on exit
