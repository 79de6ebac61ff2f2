#!/usr/bin/env node
// `fluxer spot launch --count 1 --yes --json` (bin/fluxer, a child process, as a user runs it) against a
// local moto server, beside a bare AWS SDK RunInstances of the same node (bench/spot-launch-baseline.mjs),
// interleaved in one invocation so machine noise hits both alike. Target: fluxer <= 1.5x. fluxer's run
// includes what the baseline skips: the type and GPU-fit check, user data rendered and scanned, the AMI,
// subnets and node group looked up, spot prices and placement scores, the quota check, the plan saved,
// a ClientToken, the instances listed by launch id after the call, and the launch record in S3.
// Usage: node bench/spot-launch.mjs [runs]   (needs `npm run build` and .venv from scripts/python-env.sh)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, median, requireBuilt, root, startMoto, tempDir, venv } from './lib/harness.mjs';

requireBuilt();
const runs = Number(process.argv[2] ?? 15);

const endpoint = await startMoto({ ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' });

const state = tempDir('fluxer-bench-launch-state-');
const env = {
  PATH: process.env.PATH,
  HOME: state,
  XDG_STATE_HOME: state,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  FLUXER_MAX_ATTEMPTS: '1',
};
const stack = 'bench';
const cwd = tempDir('fluxer-bench-spot-launch-');
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: 'fluxer-bench-launch', instanceTypes: ['g5.xlarge'], model: 'sdxl' } } }));
const fluxer = (...args) => spawnSync(process.execPath, [bin, ...args, '--endpoint-url', endpoint], { env, cwd, encoding: 'utf8' });
const aws = (...args) => spawnSync(join(venv, 'aws'), ['--endpoint-url', endpoint, '--output', 'json', ...args], { env, cwd, encoding: 'utf8' });
const setup = fluxer('setup', '--yes');
if (setup.status !== 0) throw new Error(`fluxer setup failed: ${setup.stderr}`);
// A promoted release, as `runtime publish` leaves it (a first launch would publish one).
aws('ssm', 'put-parameter', '--name', `/fluxer/${stack}/runtime-release`, '--type', 'String', '--value', '0.1.0-bench', '--overwrite');
// The stack's default AMI (plain moto has no Deep Learning AMI parameter): `ami: latest` resolves to it.
const image = JSON.parse(aws('ec2', 'register-image', '--name', 'fluxer-bench-launch', '--root-device-name', '/dev/sda1').stdout).ImageId;
aws('ssm', 'put-parameter', '--name', `/fluxer/${stack}/default-ami`, '--type', 'String', '--value', image, '--overwrite');

// The baseline sends what fluxer's first launch sent (read back from EC2), minus the ClientToken.
const first = fluxer('spot', 'launch', '--count', '1', '--yes', '--json');
if (first.status !== 0) throw new Error(`fluxer spot launch failed: ${first.stderr}\n${first.stdout}`);
const launched = JSON.parse(first.stdout).instances[0];
const described = JSON.parse(aws('ec2', 'describe-instances', '--instance-ids', launched.instanceId).stdout).Reservations[0].Instances[0];
const userData = JSON.parse(aws('ec2', 'describe-instance-attribute', '--instance-id', launched.instanceId, '--attribute', 'userData').stdout).UserData?.Value ?? '';
const spec = {
  ImageId: described.ImageId,
  InstanceType: described.InstanceType,
  SubnetId: described.SubnetId,
  SecurityGroupIds: described.SecurityGroups.map((g) => g.GroupId),
  IamInstanceProfile: { Name: described.IamInstanceProfile?.Arn?.split('/').pop() },
  MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
  InstanceInitiatedShutdownBehavior: 'terminate',
  BlockDeviceMappings: [{ DeviceName: described.RootDeviceName, Ebs: { VolumeSize: 100, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
  InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } },
  TagSpecifications: [{ ResourceType: 'instance', Tags: described.Tags }, { ResourceType: 'volume', Tags: described.Tags }],
  UserData: Buffer.from(userData, 'base64').toString(),
};
const specFile = join(cwd, 'spec.json');
writeFileSync(specFile, JSON.stringify(spec));

const cases = {
  'bare SDK RunInstances': [process.execPath, [join(root, 'bench', 'spot-launch-baseline.mjs'), endpoint, specFile]],
  'fluxer spot launch --json': [process.execPath, [bin, 'spot', 'launch', '--count', '1', '--yes', '--json', '--endpoint-url', endpoint]],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const once = (name, [cmd, args]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}\n${r.stdout}`);
  if (JSON.parse(r.stdout).instances.length !== 1) throw new Error(`${name} did not launch one instance`);
  return ms;
};
for (const [name, c] of Object.entries(cases)) once(name, c); // warm moto's backends
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(cases)) times[name].push(once(name, c));

const ratio = median(times['fluxer spot launch --json']) / median(times['bare SDK RunInstances']);
const rows = Object.entries(times).map(([name, xs]) => ({ name, medianMs: +median(xs).toFixed(1), minMs: +Math.min(...xs).toFixed(1) }));
console.error(`runs per case: ${runs}`);
for (const r of rows) console.error(`${r.name.padEnd(28)} median ${String(r.medianMs).padStart(7)} ms   min ${String(r.minMs).padStart(7)} ms`);
const target = 1.5;
console.error(`fluxer / bare SDK RunInstances: ${ratio.toFixed(2)}x (target <= ${target}x): ${ratio <= target ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'spot-launch', runs, results: rows, ratio: +ratio.toFixed(2), target, pass: ratio <= target }));
process.exit(0); // moto, a child of this process, keeps the event loop alive; it is killed on exit, and the temp folders go
