// `fluxer spot list` against moto: nodes made with RunInstances as `spot launch` tags them, node
// records written as a runtime writes them, one record made stale by S3's own answer (a proxy in
// front of moto reports its Last-Modified 10 minutes back).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as s3sdk from '@aws-sdk/client-s3';
import Ajv2020 from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { REPO_ROOT } from '../support/moto.js';
import { launchTestNodes, nodeClients, writeNodeRecord } from '../support/nodes.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const endpoint = inject('awsEndpoint');
const KEY = 'SPOTLIST';
const env = testEnv({ AWS_ACCESS_KEY_ID: KEY });
const { ec2, s3 } = nodeClients(endpoint, { accessKeyId: KEY });
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ajv = new ((Ajv2020 as any).default ?? Ajv2020)({ allErrors: true, strict: false });
const validateRecord = ajv.compile(JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'node.v1.schema.json'), 'utf8')));

let proxy: FaultProxy;
/** Keys whose GetObject answers the proxy dates 10 minutes back, as S3 would for a record no one rewrote. */
const staleKeys = new Set<string>();

beforeAll(async () => {
  proxy = await startFaultProxy({
    upstream: endpoint,
    intercept: async (req, forward) => {
      if (req.method !== 'GET' || ![...staleKeys].some((k) => req.path.split('?')[0]!.endsWith(k))) return undefined;
      const reply = await forward();
      const date = Date.parse(reply.headers.date ?? '') || Date.now();
      return { ...reply, headers: { ...reply.headers, 'last-modified': new Date(date - 10 * 60_000).toUTCString() } };
    },
  });
});
afterAll(() => proxy.stop());

async function newStack() {
  const stack = unique('sl');
  const bucket = unique('sl-bkt');
  await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-spot-list-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket, prefix: 'p/' } } }));
  const list = (...args: string[]) => runCli(['spot', 'list', '--endpoint-url', proxy.endpoint, ...args], { cwd, env });
  return { stack, bucket, cwd, loc: { bucket, prefix: 'p/', stack }, list };
}

describe('fluxer spot list', () => {
  it('lists the stack\'s nodes with their records: runtime state, jobs, images, busy share, stale flagged; JSON shape', async () => {
    const s = await newStack();
    const [a, b] = await launchTestNodes(ec2, { stack: s.stack, launchId: 'launch-one', count: 2, az: 'us-east-1a' });
    const [c] = await launchTestNodes(ec2, { stack: s.stack, launchId: 'launch-two', instanceType: 'g6.xlarge', az: 'us-east-1b' });
    const [other] = await launchTestNodes(ec2, { stack: unique('other'), launchId: 'launch-one' });
    const [untagged] = await launchTestNodes(ec2, {});
    const rec = await writeNodeRecord(s3, s.loc, a!, { state: 'BUSY', jobs: { succeeded: 3, failed: 1, rejected: 0, cancelled: 0, requeued: 2 }, imagesDone: 5, busySeconds: 1 });
    expect(validateRecord(rec), JSON.stringify(validateRecord.errors)).toBe(true);
    await writeNodeRecord(s3, s.loc, c!, { state: 'READY' });
    staleKeys.add(`p/nodes/${c}.json`);

    const r = await s.list('--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['nodes']);
    const byId = Object.fromEntries(doc.nodes.map((n: any) => [n.instanceId, n]));
    expect(Object.keys(byId).sort()).toEqual([a, b, c].sort());
    expect(byId).not.toHaveProperty(other!);
    expect(byId).not.toHaveProperty(untagged!);

    const na = byId[a!];
    expect(Object.keys(na)).toEqual(['instanceId', 'instanceType', 'az', 'state', 'launchedAt', 'uptimeSeconds', 'spotPrice', 'costSoFar', 'ami', 'launchId', 'runtime']);
    expect(na).toMatchObject({ instanceType: 'g5.xlarge', az: 'us-east-1a', state: 'running', launchId: 'launch-one' });
    expect(na.ami).toMatch(/^ami-/);
    expect(Date.parse(na.launchedAt)).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(na.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(typeof na.spotPrice).toBe('number');
    // The 60-second minimum: a node up for seconds is billed a minute.
    expect(na.costSoFar).toBeCloseTo(Math.round(((na.spotPrice * Math.max(60, na.uptimeSeconds)) / 3600) * 10_000) / 10_000, 6);
    expect(na.runtime).toMatchObject({ state: 'BUSY', jobsDone: 4, imagesDone: 5, stale: false });
    expect(na.runtime.lastSeenAt).toBe(rec.lastSeenAt);
    expect(na.runtime.busyShare === null || (na.runtime.busyShare > 0 && na.runtime.busyShare <= 1)).toBe(true);

    expect(byId[b!].runtime).toBeNull();
    expect(byId[c!]).toMatchObject({ instanceType: 'g6.xlarge', az: 'us-east-1b', launchId: 'launch-two', runtime: { state: 'READY', stale: true } });
  });

  it('prints a table on a terminal, tab-separated rows when piped, and the total cost estimate on stderr', async () => {
    const s = await newStack();
    const [a] = await launchTestNodes(ec2, { stack: s.stack, launchId: 'l-table' });
    await writeNodeRecord(s3, s.loc, a!, { state: 'READY', imagesDone: 2 });
    const piped = await s.list();
    expect(piped.code, piped.stderr).toBe(0);
    const lines = piped.stdout.trim().split('\n');
    expect(lines[0]!.split('\t')).toEqual(['ID', 'TYPE', 'AZ', 'STATE', 'LAUNCHED', 'UPTIME', '$/H', 'COST', 'AMI', 'LAUNCH', 'RUNTIME', 'LAST SEEN', 'JOBS', 'IMAGES', 'BUSY']);
    const row = lines[1]!.split('\t');
    expect([row[0], row[1], row[3], row[9], row[10], row[13]]).toEqual([a, 'g5.xlarge', 'running', 'l-table', 'READY', '2']);
    expect(piped.stderr).toMatch(/Estimated cost so far: \$\d+\.\d\d for 1 node/);
    const tty = await runCli(['spot', 'list', '--endpoint-url', proxy.endpoint, '--no-color'], { cwd: s.cwd, env, tty: true });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout).not.toContain('\t');
    expect(tty.stdout).toMatch(new RegExp(`${a}\\s+g5\\.xlarge`));
  });

  it('an empty stack: a clear message on stderr, exit 0; --all adds terminated nodes', async () => {
    const s = await newStack();
    const empty = await s.list('--json');
    expect(empty.code, empty.stderr).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual({ nodes: [] });
    expect(empty.stderr).toContain(`No nodes of stack "${s.stack}"`);

    const [gone] = await launchTestNodes(ec2, { stack: s.stack });
    const { TerminateInstancesCommand } = await import('@aws-sdk/client-ec2');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone!] }));
    expect(JSON.parse((await s.list('--json')).stdout).nodes).toEqual([]);
    const all = JSON.parse((await s.list('--all', '--json')).stdout);
    expect(all.nodes.map((n: any) => [n.instanceId, n.state])).toEqual([[gone, 'terminated']]);
  });
});
