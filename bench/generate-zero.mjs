#!/usr/bin/env node
// What scale from zero costs `fluxer generate` (src/core/fleet/zero.ts), against its own moto server:
// wall time of one `generate "…" --json` (one job, no --wait: where a fixed extra cost shows most),
// R interleaved rounds of each case:
//   base          the build before scale from zero (FLUXER_BENCH_BASE_BIN=…/bin/fluxer; skipped without it)
//   no fleet, first look   a stack with no group, nothing remembered: one DescribeAutoScalingGroups
//   no fleet, remembered   the same, "no fleet" remembered from the run before: no Auto Scaling call
//   fleet at 0    a group of the stack's at desired 0: the look and one SetDesiredCapacity (reset after)
// the in-process time the step added after the sends (from --debug: the look's remaining wait plus the
// raise), and the two calls' own latency against the same moto (SDK, p50). Medians; a table and a JSON line.
// Usage: node bench/generate-zero.mjs [--runs 15]   (run `npm run build` first)
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bin, median, requireBuilt, startMoto, tempDir } from './lib/harness.mjs';

requireBuilt();
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const RUNS = arg('runs', 15);
const BASE_BIN = process.env.FLUXER_BENCH_BASE_BIN;
const run = promisify(execFile);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const asgSdk = await import('@aws-sdk/client-auto-scaling');
const ec2Sdk = await import('@aws-sdk/client-ec2');

// fluxer setup attaches AWS's managed SSM policy to the node role: moto has those only when asked.
const endpoint = await startMoto({ ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' });
const cwd = tempDir('fluxer-bench-zero-');
// Two stacks, settings from the environment: "nofleet" has no group, "zerofleet" one at 0.
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'nofleet', stacks: { nofleet: {}, zerofleet: {} } }));
const creds = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
const cfg = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
// Both stacks share one queue and bucket: only the fleet differs.
const baseEnv = { PATH: process.env.PATH, HOME: cwd, ...creds, FLUXER_ENDPOINT_URL: endpoint, FLUXER_MODEL: 'tiny', FLUXER_QUEUE_NAME: 'bench-zero', FLUXER_BUCKET: 'bench-zero' };

async function fluxer(binPath, args, env) {
  const t0 = performance.now();
  const { stdout, stderr } = await run(process.execPath, [binPath, ...args], { env, cwd, maxBuffer: 16 << 20 });
  return { ms: performance.now() - t0, stdout, stderr };
}

await fluxer(bin, ['setup', '--json'], { ...baseEnv, FLUXER_STACK: 'nofleet' });

// A group of stack "zerofleet" at 0, tagged as fleet up tags it (its launches are moto's, never a node).
const asg = new asgSdk.AutoScalingClient(cfg);
const ec2 = new ec2Sdk.EC2Client(cfg);
const GROUP = 'fluxer-zerofleet-fleet';
await ec2.send(new ec2Sdk.CreateLaunchTemplateCommand({ LaunchTemplateName: GROUP, LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' } }));
const subnet = (await ec2.send(new ec2Sdk.DescribeSubnetsCommand({}))).Subnets[0].SubnetId;
await asg.send(new asgSdk.CreateAutoScalingGroupCommand({
  AutoScalingGroupName: GROUP, MinSize: 0, MaxSize: 2, DesiredCapacity: 0, VPCZoneIdentifier: subnet, LaunchTemplate: { LaunchTemplateName: GROUP },
  Tags: [['fluxer:managed', 'true'], ['fluxer:stack', 'zerofleet']].map(([Key, Value]) => ({ Key, Value, ResourceId: GROUP, ResourceType: 'auto-scaling-group', PropagateAtLaunch: true })),
}));
const resetToZero = () => asg.send(new asgSdk.UpdateAutoScalingGroupCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 0 }));

const remembered = mkdtempSync(join(cwd, 'state-'));
const cases = [
  // Twice: the spread between two identical cases is the machine's noise, not the change's cost.
  ...(BASE_BIN ? ['base (before scale from zero)', 'base again (A/A noise)'].map((name) => ({ name, bin: BASE_BIN, env: () => ({ ...baseEnv, FLUXER_STACK: 'nofleet' }) })) : []),
  { name: 'no fleet, first look', bin, env: () => ({ ...baseEnv, FLUXER_STACK: 'nofleet', XDG_STATE_HOME: mkdtempSync(join(cwd, 'state-')) }), expect: null },
  { name: 'no fleet, remembered', bin, env: () => ({ ...baseEnv, FLUXER_STACK: 'nofleet', XDG_STATE_HOME: remembered }), expect: null },
  { name: 'fleet at 0 (raised to 1)', bin, env: () => ({ ...baseEnv, FLUXER_STACK: 'zerofleet', XDG_STATE_HOME: remembered }), expect: 1, after: resetToZero },
];
// One untimed run each: the V8 code cache and moto's first-call costs are not what is measured.
for (const c of cases) (await fluxer(c.bin, ['generate', 'warm up', '--json'], c.env()), await c.after?.());
const times = Object.fromEntries(cases.map((c) => [c.name, []]));
const added = Object.fromEntries(cases.map((c) => [c.name, []]));
console.error(`${RUNS} interleaved rounds of ${cases.length} cases (moto on ${endpoint})…`);
for (let i = 0; i < RUNS; i++) {
  for (const c of cases) {
    // --debug for every case alike (it writes a few lines more to stderr).
    const r = await fluxer(c.bin, ['generate', `bench ${i}`, '--json', '--debug'], c.env());
    // In-process: what the step added after the sends (the look's remaining wait + the raise).
    const d = /scale from zero: \S+; look ([\d.]+) ms \(([\d.]+) ms after the sends\), raise ([\d.]+) ms/.exec(r.stderr);
    if (d) added[c.name].push(Number(d[2]) + Number(d[3]));
    if ('expect' in c) {
      const got = JSON.parse(r.stdout).fleet?.raisedTo ?? null;
      if (got !== c.expect) throw new Error(`${c.name}: fleet ${JSON.stringify(JSON.parse(r.stdout).fleet)}, expected raisedTo ${c.expect}\n${r.stderr}`);
    }
    times[c.name].push(r.ms);
    await c.after?.();
  }
}

// The calls themselves, as the CLI sends them (one client, warm connection).
const callMs = async (send) => {
  const xs = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await send();
    xs.push(performance.now() - t0);
    await resetToZero();
  }
  return median(xs);
};
const describeMs = await callMs(() => asg.send(new asgSdk.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['fluxer-nofleet-fleet'] })));
const setMs = await callMs(() => asg.send(new asgSdk.SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 1 })));

const p50 = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, Math.round(median(xs))]));
const ref = p50['base (before scale from zero)'] ?? p50['no fleet, remembered'];
const addedP50 = Object.fromEntries(Object.entries(added).filter(([, xs]) => xs.length).map(([k, xs]) => [k, +median(xs).toFixed(1)]));
for (const [k, v] of Object.entries(p50)) {
  const inProcess = addedP50[k] === undefined ? '' : `   in-process added after the sends p50 ${addedP50[k]} ms`;
  console.error(`${k.padEnd(32)} wall p50 ${String(v).padStart(5)} ms   ${v - ref >= 0 ? '+' : ''}${v - ref} ms   (min ${Math.round(Math.min(...times[k]))}, max ${Math.round(Math.max(...times[k]))})${inProcess}`);
}
console.error(`${'DescribeAutoScalingGroups (SDK)'.padEnd(32)} p50 ${describeMs.toFixed(1)} ms`);
console.error(`${'SetDesiredCapacity (SDK)'.padEnd(32)} p50 ${setMs.toFixed(1)} ms`);
console.log(JSON.stringify({ bench: 'generate-zero', runs: RUNS, p50Ms: p50, addedAfterSendsP50Ms: addedP50, describeAutoScalingGroupsMs: +describeMs.toFixed(1), setDesiredCapacityMs: +setMs.toFixed(1) }));
process.exit(0);
