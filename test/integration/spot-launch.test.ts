// `fluxer spot launch` against moto behind the stand-in (capacity errors per pool, ClientToken
// idempotency, quota values, the Deep Learning AMI's public parameter): what launch leaves, read back
// with the real AWS CLI; failover and the 3-minute memory; quota and bad input refused before any
// RunInstances. moto's spot prices are one flat 0.00001 for every pool, so pools rank by type order
// then AZ here (price ranking itself: test/unit/launch-pools.test.ts).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { setStandinQuotas } from '../../src/emulator/server.js';
import { standinEc2Calls, setStandinCapacity } from '../../src/emulator/ec2.js';
import { spawn } from 'node:child_process';
import { BIN, runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';
import type { Clock } from '../../src/lib/clock.js';
import { systemClock } from '../../src/lib/clock.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const accessKeyId = `spotlaunch${randomBytes(3).toString('hex')}`;
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

async function awsCli(...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

const stack = unique('sl');
const cwd = mkdtempSync(join(tmpdir(), 'fluxer-spot-launch-'));
const state = mkdtempSync(join(tmpdir(), 'fluxer-spot-state-'));
const env = testEnv({ AWS_ACCESS_KEY_ID: accessKeyId, XDG_STATE_HOME: state });
const cli = (args: string[], opts: { clock?: Clock } = {}) => runCli([...args, '--endpoint-url', endpoint], { cwd, env, ...opts });
const launch = (...args: string[]) => cli(['spot', 'launch', '--json', ...args]);
const tags = (list: any[]) => Object.fromEntries((list ?? []).map((t: any) => [t.Key, t.Value]));

async function instancesOf(launchId: string): Promise<any[]> {
  const out = await awsCli('ec2', 'describe-instances', '--filters', `Name=tag:fluxer:launch-id,Values=${launchId}`, 'Name=instance-state-name,Values=pending,running');
  return out.Reservations.flatMap((r: any) => r.Instances);
}

beforeAll(async () => {
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: unique('sl-bkt'), prefix: 'p/', instanceTypes: ['g5.xlarge', 'g6e.xlarge'] } } }));
  const setup = await cli(['setup', '--yes', '--json']);
  expect(setup.code, setup.stderr).toBe(0);
  // A promoted release, as `runtime publish` leaves it (publishing for real is runtime-publish.test.ts's).
  await awsCli('ssm', 'put-parameter', '--name', `/fluxer/${stack}/runtime-release`, '--type', 'String', '--value', '0.1.0-test', '--overwrite');
}, 120_000);

describe('fluxer spot launch', () => {
  it('launches a node as the spec says: IMDSv2 only, no key pair, only the node group, the profile, tags on instance and volume, encrypted gp3 root', async () => {
    const r = await launch('--yes');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(r.stderr.split('\n')[0]).toContain(`Launch ${doc.launchId}`);
    expect(doc.instances).toHaveLength(1);
    expect(doc.instances[0]).toMatchObject({ instanceType: 'g5.xlarge', az: 'us-east-1a', state: expect.any(String) });
    expect(doc.attempts).toEqual([{ instanceType: 'g5.xlarge', az: 'us-east-1a', outcome: 'launched', code: null, message: '1 of 1' }]);

    const [i] = await instancesOf(doc.launchId);
    expect(i.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' });
    expect(i.KeyName).toBeUndefined();
    expect(i.InstanceLifecycle).toBe('spot');
    const groups = await awsCli('ec2', 'describe-security-groups', '--filters', `Name=group-name,Values=fluxer-${stack}-node`);
    expect(i.SecurityGroups.map((g: any) => g.GroupId)).toEqual([groups.SecurityGroups[0].GroupId]);
    expect(groups.SecurityGroups[0].IpPermissions).toEqual([]);
    expect(i.IamInstanceProfile.Arn).toContain(`instance-profile/fluxer-${stack}-node`);
    expect(tags(i.Tags)).toMatchObject({ 'fluxer:managed': 'true', 'fluxer:stack': stack, 'fluxer:role': 'gpu-node', 'fluxer:launch-id': doc.launchId });

    const root = i.BlockDeviceMappings.find((b: any) => b.DeviceName === i.RootDeviceName);
    const { Volumes } = await awsCli('ec2', 'describe-volumes', '--volume-ids', root.Ebs.VolumeId);
    expect(Volumes[0]).toMatchObject({ Encrypted: true, VolumeType: 'gp3', Size: 100 });
    expect(tags(Volumes[0].Tags)).toMatchObject({ 'fluxer:stack': stack, 'fluxer:launch-id': doc.launchId });

    // The launch record, for the cost report.
    const config = JSON.parse(JSON.stringify({ bucket: JSON.parse((await import('node:fs')).readFileSync(join(cwd, 'fluxer.config.json'), 'utf8')).stacks[stack].bucket }));
    const dest = join(state, 'record.json');
    await awsCli('s3api', 'get-object', '--bucket', config.bucket, '--key', `p/launches/${doc.launchId}.json`, dest);
    const record = JSON.parse((await import('node:fs')).readFileSync(dest, 'utf8'));
    expect(record).toMatchObject({ launchId: doc.launchId, stack, count: 1, instances: [{ instanceId: i.InstanceId }] });
  }, 60_000);

  it('fails over to the next pool on a capacity error, remembers the pool for 3 minutes, and tries it again after', async () => {
    await setStandinCapacity(endpoint, [{ instanceType: 'g5.xlarge', az: 'us-east-1a', code: 'InsufficientInstanceCapacity', accessKeyId }]);
    const first = await launch('--yes');
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a.attempts.map((x: any) => [x.az, x.outcome, x.code])).toEqual([
      ['us-east-1a', 'capacity', 'InsufficientInstanceCapacity'],
      ['us-east-1b', 'launched', null],
    ]);
    expect(a.instances.map((x: any) => x.az)).toEqual(['us-east-1b']);

    const second = await launch('--yes');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/skipped g5\.xlarge in us-east-1a: failed recently \(InsufficientInstanceCapacity\)/);
    expect(JSON.parse(second.stdout).attempts.map((x: any) => x.az)).toEqual(['us-east-1b']);

    const later: Clock = { now: () => Date.now() + 181_000, sleep: systemClock.sleep };
    const third = await cli(['spot', 'launch', '--json', '--yes'], { clock: later });
    expect(JSON.parse(third.stdout).attempts.map((x: any) => [x.az, x.outcome])).toEqual([
      ['us-east-1a', 'capacity'],
      ['us-east-1b', 'launched'],
    ]);
    await fetch(`${endpoint}/_standin/capacity?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
  }, 90_000);

  it('every pool out of capacity: exit 5 listing each attempt', async () => {
    const azs = ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'];
    await setStandinCapacity(endpoint, ['g5.xlarge', 'g6e.xlarge'].flatMap((instanceType) => azs.map((az) => ({ instanceType, az, code: 'InsufficientInstanceCapacity', accessKeyId }))));
    const r = await launch('--yes', '--retry-failed-pools');
    expect(r.code, r.stderr).toBe(5);
    const doc = JSON.parse(r.stdout);
    expect(doc.instances).toEqual([]);
    // Every offered pool of both types (g5.xlarge is not offered in us-east-1e), each tried once.
    expect(new Set(doc.attempts.map((x: any) => x.instanceType))).toEqual(new Set(['g5.xlarge', 'g6e.xlarge']));
    expect(new Set(doc.attempts.map((x: any) => `${x.instanceType} ${x.az}`)).size).toBe(doc.attempts.length);
    expect(doc.attempts.every((x: any) => x.outcome === 'capacity')).toBe(true);
    expect(r.stderr).toMatch(/No capacity in any pool/);
    await fetch(`${endpoint}/_standin/capacity?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
  }, 90_000);

  it('a partial launch keeps what it got, lists it, exits 5 with the hint to resume or terminate; 0 with --allow-partial', async () => {
    const azs = ['us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'];
    const full = ['g5.xlarge', 'g6e.xlarge'].flatMap((instanceType) => azs.map((az) => ({ instanceType, az, code: 'InsufficientInstanceCapacity', accessKeyId })));
    await setStandinCapacity(endpoint, [{ instanceType: 'g5.xlarge', az: 'us-east-1a', available: 1, accessKeyId }, { instanceType: 'g6e.xlarge', az: 'us-east-1a', code: 'InsufficientInstanceCapacity', accessKeyId }, ...full]);
    const r = await launch('--yes', '--count', '3', '--retry-failed-pools');
    expect(r.code, r.stderr).toBe(5);
    const doc = JSON.parse(r.stdout);
    expect(doc.instances.map((i: any) => [i.instanceType, i.az])).toEqual([['g5.xlarge', 'us-east-1a']]);
    expect(doc.attempts[0]).toMatchObject({ az: 'us-east-1a', outcome: 'partial', message: '1 of 3' });
    expect(r.stderr).toMatch(/Launched 1 of 3/);
    expect(r.stderr).toContain(`--launch-id ${doc.launchId}`);
    expect(await instancesOf(doc.launchId)).toHaveLength(1);

    const allowed = await launch('--yes', '--count', '2', '--retry-failed-pools', '--allow-partial');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout).instances).toHaveLength(1);
    await fetch(`${endpoint}/_standin/capacity?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
  }, 60_000);

  it('the stand-in honours ClientToken as EC2 does: same token and parameters → the same reservation; other parameters → IdempotentParameterMismatch', async () => {
    const { ImageId } = (await awsCli('ec2', 'describe-images', '--owners', '898082745236')).Images[0];
    const token = unique('tok');
    const a = await awsCli('ec2', 'run-instances', '--image-id', ImageId, '--instance-type', 't3.micro', '--count', '1', '--client-token', token);
    const b = await awsCli('ec2', 'run-instances', '--image-id', ImageId, '--instance-type', 't3.micro', '--count', '1', '--client-token', token);
    expect(b.ReservationId).toBe(a.ReservationId);
    const err = await awsCli('ec2', 'run-instances', '--image-id', ImageId, '--instance-type', 't3.small', '--count', '1', '--client-token', token).catch((e: Error & { stderr?: string }) => e.stderr ?? e.message);
    expect(String(err)).toContain('IdempotentParameterMismatch');
    await awsCli('ec2', 'terminate-instances', '--instance-ids', a.Instances[0].InstanceId);
  }, 30_000);

  it('over the spot vCPU quota: exit 5 naming the quota, its value, the vCPUs in use and the command, with no RunInstances sent', async () => {
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 8, accessKeyId }]);
    const before = (await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0;
    const r = await launch('--yes', '--count', '2', '--retry-failed-pools');
    expect(r.code, r.stderr).toBe(5);
    const error = JSON.parse(r.stdout).error;
    expect(error.message).toMatch(/L-3819A6DF .* is 8 vCPUs; \d+ in use by running spot instances, and this launch needs 8 more/);
    expect(error.hint).toContain('aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-3819A6DF');
    expect((await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0).toBe(before);
    await fetch(`${endpoint}/_standin/quotas?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
  }, 60_000);

  it.each([
    [['--count', '0'], /--count "0": must be an integer from 1 to 100/],
    [['--count', '101'], /--count "101"/],
    [['--max-price', '-1'], /--max-price "-1"/],
    [['--type', 'nosuch.xlarge'], /nosuch\.xlarge/],
    [['--type', 'm5.large'], /m5\.large has no GPU/],
    [['--type', 'g4ad.xlarge'], /no type holds flux-dev: g4ad\.xlarge: .* 8\.0 GiB per GPU; flux-dev needs at least 14 GiB/],
    [['--launch-id', 'nope'], /--launch-id/],
  ])('bad input %j: exit 2, no launch call', async (args, message) => {
    const before = (await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0;
    const r = await launch('--yes', ...args);
    expect(r.code, r.stderr).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(message);
    expect((await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0).toBe(before);
  }, 30_000);

  it('user data carrying a secret is refused (exit 2) before any launch call', async () => {
    const before = (await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0;
    const template = join(cwd, 'leaky.yaml');
    writeFileSync(template, `#cloud-config\nwrite_files:\n  - path: /etc/k\n    content: "AKIA${'ABCDEFGHIJKLMNOP'}"\n`);
    const r = await runCli(['spot', 'launch', '--json', '--yes', '--endpoint-url', endpoint], { cwd, env: { ...env, FLUXER_TEMPLATE: template } });
    expect(r.code, r.stderr).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('SecretInUserData');
    expect((await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0).toBe(before);
  }, 30_000);

  it('on a terminal the plan is shown and the operator asked; "no" launches nothing (exit 1, as other declined commands)', async () => {
    const before = (await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0;
    const questions: string[] = [];
    const prompter = { confirm: async (q: string) => (questions.push(q), false), input: async () => '', select: async () => '' };
    const r = await runCli(['spot', 'launch', '--retry-failed-pools', '--endpoint-url', endpoint], { cwd, env, tty: true, prompter: prompter as never });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/Plan: 1 node\(s\)/);
    expect(questions).toEqual([expect.stringMatching(/^Launch 1 spot node\(s\) for stack/)]);
    expect(r.stderr).toContain('Nothing launched.');
    expect((await standinEc2Calls(endpoint, accessKeyId)).RunInstances ?? 0).toBe(before);
  }, 30_000);

  it('without --yes and without a terminal: exit 2 before any call', async () => {
    const r = await launch();
    expect(r.code).toBe(2);
  });

  it('--dry-run: EC2 DryRun on the first pool plus the plan; nothing launched', async () => {
    const before = await awsCli('ec2', 'describe-instances', '--filters', `Name=tag:fluxer:stack,Values=${stack}`);
    const r = await launch('--dry-run', '--retry-failed-pools');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ dryRun: true, check: { ok: true, code: 'DryRunOperation' } });
    expect(doc.plan.pools[0]).toMatchObject({ instanceType: 'g5.xlarge', az: 'us-east-1a' });
    const after = await awsCli('ec2', 'describe-instances', '--filters', `Name=tag:fluxer:stack,Values=${stack}`);
    expect(after.Reservations.length).toBe(before.Reservations.length);
  }, 30_000);

  it('with real-looking prices and scores (the prices stand-in): cheapest first, near-ties by placement score, then type order', async () => {
    const at = new Date(Date.now() - 3_600_000).toISOString();
    const g5 = { 'us-east-1a': 0.5, 'us-east-1b': 0.4, 'us-east-1c': 0.41, 'us-east-1d': 0.6, 'us-east-1f': 0.45 };
    // moto offers g6e.xlarge in us-east-1a to 1d only.
    const g6e = { 'us-east-1a': 0.405, 'us-east-1b': 0.405, 'us-east-1c': 0.405, 'us-east-1d': 0.405 };
    const prices = [...Object.entries(g5).map(([az, price]) => ({ instanceType: 'g5.xlarge', az, price, at, accessKeyId })), ...Object.entries(g6e).map(([az, price]) => ({ instanceType: 'g6e.xlarge', az, price, at, accessKeyId }))];
    await fetch(`${endpoint}/_standin/spot-prices`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(prices) });
    const scores = ['use1-az1', 'use1-az2', 'use1-az3', 'use1-az4', 'use1-az5', 'use1-az6'].map((azId) => ({ region: 'us-east-1', azId, score: azId === 'use1-az2' ? 9 : 5, accessKeyId }));
    await fetch(`${endpoint}/_standin/placement-scores`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(scores) });
    try {
      const r = await launch('--dry-run', '--retry-failed-pools');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).plan.pools.map((p: any) => `${p.instanceType} ${p.az} ${p.spotPrice}`)).toEqual([
        // within 5 % of 0.40: score 9 (us-east-1c) first, then score 5; ties by instanceTypes order, then AZ
        'g5.xlarge us-east-1c 0.41',
        'g6e.xlarge us-east-1c 0.405',
        'g5.xlarge us-east-1b 0.4',
        'g6e.xlarge us-east-1a 0.405',
        'g6e.xlarge us-east-1b 0.405',
        'g6e.xlarge us-east-1d 0.405',
        // the rest by price
        'g5.xlarge us-east-1f 0.45',
        'g5.xlarge us-east-1a 0.5',
        'g5.xlarge us-east-1d 0.6',
      ]);
      const capped = await launch('--dry-run', '--retry-failed-pools', '--max-price', '0.42');
      expect(JSON.parse(capped.stdout).plan.pools).toHaveLength(6);
      expect(capped.stderr).toMatch(/skipped g5\.xlarge in us-east-1a: spot price \$0\.5000\/h is over --max-price \$0\.42/);
    } finally {
      await fetch(`${endpoint}/_standin/spot-prices?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
      await fetch(`${endpoint}/_standin/placement-scores?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
    }
  }, 60_000);

  it('a CLI killed while its launch call is in flight, resumed with --launch-id, leaves exactly --count instances', async () => {
    // The stand-in lets moto make the instances, then holds EC2's answer: the CLI dies not knowing what it got.
    await setStandinCapacity(endpoint, [{ instanceType: 'g5.xlarge', az: 'us-east-1a', delayMs: 60_000, accessKeyId }]);
    const child = spawn(process.execPath, [BIN, 'spot', 'launch', '--json', '--yes', '--count', '2', '--retry-failed-pools', '--endpoint-url', endpoint], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const launchId = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /Launch (l-\d{14}-[0-9a-f]{8})/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('close', () => reject(new Error(`the CLI ended before printing its launch id: ${stderr}`)));
    });
    // Event, not sleep: wait until moto holds the instances the held call made, then kill.
    const deadline = Date.now() + 20_000;
    while ((await instancesOf(launchId)).length < 2) {
      if (Date.now() > deadline) throw new Error(`no instances for ${launchId}: ${stderr} ${JSON.stringify(await standinEc2Calls(endpoint, accessKeyId))} ${JSON.stringify((await awsCli("ec2", "describe-instances", "--filters", `Name=tag:fluxer:launch-id,Values=${launchId}`)).Reservations)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    await fetch(`${endpoint}/_standin/capacity?accessKeyId=${accessKeyId}`, { method: 'DELETE' });

    const resumed = await launch('--yes', '--launch-id', launchId);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resumed from its saved plan');
    expect(JSON.parse(resumed.stdout).instances).toHaveLength(2);
    expect(await instancesOf(launchId)).toHaveLength(2);
  }, 60_000);

  // Node records are written here as a node's bootstrap and runtime would; the emulated region with
  // real node processes (local nodes behind the launch) comes with a later issue.
  const fast: Clock = { now: () => Date.now(), sleep: (ms, signal) => systemClock.sleep(Math.min(ms, 50), signal) };
  const bucket = () => JSON.parse(readFileSync(join(cwd, 'fluxer.config.json'), 'utf8')).stacks[stack].bucket as string;
  const putRecord = async (instanceId: string, state: string) => {
    const file = join(cwd, `${instanceId}-${state}.json`);
    writeFileSync(file, JSON.stringify({ instanceId, state, lastSeenAt: new Date().toISOString(), seq: 1 }));
    await awsCli('s3api', 'put-object', '--bucket', bucket(), '--key', `p/nodes/${instanceId}.json`, '--body', file);
  };

  it('--wait follows each node\'s record from BOOTSTRAPPING to READY, with progress on stderr', async () => {
    let launchId: string | undefined;
    const writer = (async () => {
      for (let i = 0; i < 400 && !launchId; i++) await new Promise((r) => setTimeout(r, 25));
      let ids: string[] = [];
      for (let i = 0; i < 400 && !ids.length; i++) {
        ids = (await instancesOf(launchId!)).map((x) => x.InstanceId);
        if (!ids.length) await new Promise((r) => setTimeout(r, 50));
      }
      for (const id of ids) await putRecord(id, 'BOOTSTRAPPING');
      await new Promise((r) => setTimeout(r, 300));
      for (const id of ids) await putRecord(id, 'READY');
    })();
    const r = await runCli(['spot', 'launch', '--json', '--yes', '--retry-failed-pools', '--wait', '--timeout', '60s', '--endpoint-url', endpoint], {
      cwd, env, clock: fast,
      onStderr: (text) => { launchId ??= /Launch (l-\d{14}-[0-9a-f]{8})/.exec(text)?.[1]; },
    });
    await writer;
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.nodes).toEqual([{ instanceId: doc.instances[0].instanceId, state: 'READY' }]);
    expect(r.stderr).toMatch(new RegExp(`${doc.instances[0].instanceId}: (BOOTSTRAPPING[\\s\\S]*)?READY`));
  }, 60_000);

  it('--wait past --timeout: exit 8, the nodes keep running, the hint says how to follow or terminate them', async () => {
    const r = await runCli(['spot', 'launch', '--json', '--yes', '--retry-failed-pools', '--wait', '--timeout', '1s', '--endpoint-url', endpoint], { cwd, env, clock: fast });
    expect(r.code, r.stderr).toBe(8);
    const id = JSON.parse(r.stdout).instances[0].instanceId;
    expect(r.stderr).toMatch(/--launch-id l-\d{14}-[0-9a-f]{8} --wait/);
    expect(r.stderr).toContain('spot terminate --launch-id');
    expect((await awsCli('ec2', 'describe-instances', '--instance-ids', id)).Reservations[0].Instances[0].State.Name).toBe('running');
  }, 60_000);

  it('--timeout is validated (exit 2)', async () => {
    const r = await launch('--yes', '--wait', '--timeout', 'soon');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toContain('--timeout');
  });
});
