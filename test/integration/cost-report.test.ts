// `fluxer cost report` against moto behind the emulator: node records and a launch record in the stack's
// bucket, instances EC2 still lists (terminated by fluxer, running), a seeded spot price series that
// moves twice during a node's life (and a month of hourly changes in other zones: more than one page),
// on-demand and gp3 prices from the Pricing stand-in, an AMI snapshot, and Cost Explorer seeded through
// moto's own static-results API for --reconcile.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ec2sdk from '@aws-sdk/client-ec2';
import * as s3sdk from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { setStandinOnDemandPrices, setStandinSpotPrices, standinRequests } from '../../src/emulator/prices.js';
import { fluxerTags } from '../../src/core/tags.js';
import { runCli, testEnv } from '../support/cli.js';
import { expectCostReport, parseCsv } from '../support/cost-schema.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const moto = inject('motoEndpoint');
const KEY = `AKCOST${randomBytes(4).toString('hex').toUpperCase()}`;
const env = testEnv({ AWS_ACCESS_KEY_ID: KEY, XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'fluxer-cost-state-')) });
const { ec2, s3 } = nodeClients(endpoint, { accessKeyId: KEY });
const MIN = 60_000;
const HOUR = 3_600_000;
const stack = `cost-${randomBytes(4).toString('hex')}`;
const bucket = `${stack}-bkt`;
const cwd = mkdtempSync(join(tmpdir(), 'fluxer-cost-'));
const report = (...args: string[]) => runCli(['cost', 'report', '--endpoint-url', endpoint, ...args], { cwd, env });
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const hist = (bounds: number[], counts: number[], sum: number) => ({ bounds, counts, sum, count: counts.reduce((a, b) => a + b, 0) });
const GEN = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
const WAIT = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];
let ended = '';
let running = '';
let bootFailed = '';

async function putJson(key: string, doc: unknown) {
  await s3.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(doc), ContentType: 'application/json' }));
}

function record(instanceId: string, o: Record<string, unknown>) {
  return {
    instanceId,
    state: 'READY',
    instanceType: 'g5.xlarge',
    az: 'us-east-1a',
    region: 'us-east-1',
    lifecycle: 'spot',
    stack,
    bucket,
    prefix: 'p/',
    lastSeenAt: iso(now),
    firstSeenAt: iso(now - 3 * HOUR),
    seq: 40,
    currentJob: null,
    ...o,
  };
}

beforeAll(async () => {
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { region: 'us-east-1', bucket, prefix: 'p/', queueName: `${stack}-jobs`, volumeSize: 100 } } }));
  await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
  ended = (await launchTestNodes(ec2, { stack, launchId: 'l-20261201000000-0a0b0c0d', az: 'us-east-1a' }))[0]!;
  running = (await launchTestNodes(ec2, { stack, az: 'us-east-1a' }))[0]!;
  bootFailed = (await launchTestNodes(ec2, { stack, instanceType: 'g6.xlarge', az: 'us-east-1b' }))[0]!;
  // fluxer terminated the first node (and the one that never booted): billed in full.
  await ec2.send(new ec2sdk.TerminateInstancesCommand({ InstanceIds: [ended!, bootFailed!] }));

  await putJson(`p/nodes/${ended}.json`, record(ended!, {
    state: 'STOPPED',
    launchTime: iso(now - 3 * HOUR),
    jobs: { succeeded: 30, failed: 1, rejected: 1, cancelled: 0, requeued: 2 },
    imagesDone: 40,
    busySeconds: 3600,
    histograms: { generationSeconds: hist(GEN, [0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0], 160), queueWaitSeconds: hist(WAIT, [20, 10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 60) },
  }));
  await putJson(`p/nodes/${running}.json`, record(running!, {
    state: 'BUSY',
    launchTime: iso(now - 2 * HOUR),
    jobs: { succeeded: 10, failed: 0, rejected: 0, cancelled: 1, requeued: 0 },
    imagesDone: 12,
    busySeconds: 1800.5,
    histograms: { generationSeconds: hist(GEN, [0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0], 18), queueWaitSeconds: hist(WAIT, [11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 3) },
  }));
  // The node whose bootstrap failed has only its launch record.
  await putJson('p/launches/l-20261201000000-0a0b0c0d.json', {
    version: 1,
    launchId: 'l-20261201000000-0a0b0c0d',
    stack,
    rootVolumeGiB: 60,
    instances: [{ instanceId: bootFailed, instanceType: 'g6.xlarge', az: 'us-east-1b', spotPrice: 0.3, state: 'running', launchTime: iso(now - 50 * MIN) }],
  });

  // g5 in 1a: 0.40, then 0.50 from 90 min ago, 0.30 from 30 min ago. A month of hourly prices in 1b
  // and 1c (no node there): over a thousand rows, so the history comes in more than one page.
  const filler = ['us-east-1b', 'us-east-1c'].flatMap((az) => Array.from({ length: 30 * 24 }, (_, i) => ({ instanceType: 'g5.xlarge', az, price: 0.35 + (i % 7) / 100, at: now - i * HOUR, accessKeyId: KEY })));
  await setStandinSpotPrices(endpoint, [
    { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.4, at: now - 40 * 24 * HOUR, accessKeyId: KEY },
    { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.5, at: now - 90 * MIN, accessKeyId: KEY },
    { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.3, at: now - 30 * MIN, accessKeyId: KEY },
    { instanceType: 'g6.xlarge', az: 'us-east-1b', price: 0.36, at: now - 10 * 24 * HOUR, accessKeyId: KEY },
    ...filler,
  ]);
  await setStandinOnDemandPrices(endpoint, [
    { region: 'us-east-1', instanceType: 'g5.xlarge', price: 1.006, accessKeyId: KEY },
    { region: 'us-east-1', instanceType: 'g6.xlarge', price: 0.8048, accessKeyId: KEY },
    { region: 'us-east-1', volumeApiName: 'gp3', price: 0.08, accessKeyId: KEY },
  ]);

  // An AMI snapshot of the stack (ami bake tags its snapshots with the stack's tags).
  const vol = await ec2.send(new ec2sdk.CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 30 }));
  const snap = await ec2.send(new ec2sdk.CreateSnapshotCommand({ VolumeId: vol.VolumeId!, Description: 'Created by CreateImage for ami-0123456789abcdef0' }));
  await ec2.send(new ec2sdk.CreateTagsCommand({ Resources: [snap.SnapshotId!], Tags: fluxerTags(stack, 'ami', `${stack}-ami`) }));
}, 60_000);

describe('fluxer cost report', () => {
  it('--json: every node costed from its records and the price history; validates against the schema', async () => {
    const r = await report('--since', '30d', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = expectCostReport(JSON.parse(r.stdout));
    const node = (id: string) => doc.nodes.find((n: { instanceId: string }) => n.instanceId === id);
    // 1.5 h at 0.40, 1 h at 0.50, 0.5 h at 0.30; terminated by fluxer: charged.
    expect(node(ended)).toMatchObject({ startSource: 'node-record', endSource: 'ec2', interruptedByAws: false, freeHour: false, images: 40, hasRecord: true });
    expect(node(ended).compute).toBeCloseTo(1.25, 2);
    expect(node(ended).onDemand).toBeCloseTo(3 * 1.006, 2);
    expect(node(ended).rootVolume).toBeCloseTo((100 * 0.08 * 3) / 730, 3);
    expect(node(running)).toMatchObject({ endSource: 'running', end: null, images: 12 });
    expect(node(running).compute).toBeCloseTo(0.5 * 0.4 + 1 * 0.5 + 0.5 * 0.3, 2);
    expect(node(bootFailed)).toMatchObject({ startSource: 'launch-record', endSource: 'ec2', hasRecord: false, images: null, launchId: 'l-20261201000000-0a0b0c0d' });
    expect(node(bootFailed).compute).toBeCloseTo((50 / 60) * 0.36, 2);
    expect(node(bootFailed).rootVolume).toBeCloseTo((60 * 0.08 * (50 / 60)) / 730, 4);

    const t = doc.totals;
    expect(t).toMatchObject({ nodes: 3, images: 52, unpricedNodes: 0, interruptions: 0 });
    expect(t.busySeconds).toBeCloseTo(5400.5, 3);
    expect(t.jobs).toMatchObject({ succeeded: 40, failed: 1, rejected: 1, requeued: 2 });
    expect(t.successRate).toBeCloseTo(40 / 42, 3);
    expect(t.generationSeconds.count).toBe(52);
    expect(t.generationSeconds.p50).toBeGreaterThan(2);
    expect(t.generationSeconds.p95).toBeLessThanOrEqual(5);
    expect(t.queueWaitSeconds.p50).toBeLessThanOrEqual(1);
    expect(t.savings).toBeCloseTo(t.onDemandCost - t.computeCost, 3);
    expect(t.costPerImage).toBeCloseTo(t.cost / 52, 3);
    expect(doc.lines.map((l: { name: string }) => l.name)).toEqual(['spot compute', 'root volumes (gp3)', 'public IPv4', 'AMI snapshots']);
    expect(doc.inputs.gp3PerGbMonth).toEqual({ price: 0.08, source: 'pricing' });
    expect(doc.inputs.snapshots).toEqual([expect.objectContaining({ gib: 30, imageId: 'ami-0123456789abcdef0' })]);
    // The price points used: the 0.40 in force at the first start, then both changes.
    expect(doc.inputs.pricePoints.find((p: { az: string }) => p.az === 'us-east-1a').points.map((p: { price: number }) => p.price)).toEqual([0.4, 0.5, 0.3]);
    // More than a thousand rows of history: read in pages.
    const sent = await standinRequests(endpoint, KEY);
    expect(sent.filter((a) => a === 'DescribeSpotPriceHistory').length).toBeGreaterThan(1);
  });

  it('--csv parses: a header, one row per group and line, totals matching --json', async () => {
    const r = await report('--since', '30d', '--by', 'node', '--csv');
    expect(r.code, r.stderr).toBe(0);
    const rows = parseCsv(r.stdout);
    expect(rows[0]!.slice(0, 6)).toEqual(['kind', 'key', 'nodes', 'nodeHours', 'images', 'cost']);
    expect(rows.every((row) => row.length === rows[0]!.length)).toBe(true);
    expect(rows.filter((x) => x[0] === 'node').map((x) => x[1]).sort()).toEqual([ended, running, bootFailed].sort());
    const total = rows.find((x) => x[0] === 'total')!;
    const json = JSON.parse((await report('--since', '30d', '--json')).stdout);
    expect(Number(total[5])).toBeCloseTo(json.totals.cost, 2);
    expect(rows.at(-1)!.at(-1)).toBe('estimate from price history');
  });

  it('on a terminal: the lines, groups and a bar chart of cost per day; piped: tab-separated rows, no chart', async () => {
    const tty = await runCli(['cost', 'report', '--endpoint-url', endpoint, '--since', '3d'], { cwd, env, tty: true });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/estimate from price history/);
    expect(tty.stdout).toMatch(/Cost per day:\n\d{4}-\d{2}-\d{2} +█+/);
    expect(tty.stdout).toMatch(/success rate +95\.2%/);
    const piped = await report('--since', '3d', '--by', 'type');
    expect(piped.stdout).not.toMatch(/█/);
    expect(piped.stdout).toMatch(/^g5\.xlarge\t2\t/m);
  });

  it('--reconcile sets the report beside Cost Explorer for the fluxer:stack tag, and says it lags a day', async () => {
    const seeded = await fetch(`${moto}/moto-api/static/ce/cost-and-usage-results`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ results: [{ ResultsByTime: [{ TimePeriod: { Start: iso(now - 86_400_000).slice(0, 10), End: iso(now).slice(0, 10) }, Total: { UnblendedCost: { Amount: '1.5', Unit: 'USD' } }, Groups: [], Estimated: true }] }] }),
    });
    expect(seeded.status).toBe(201);
    const r = await report('--since', '2d', '--reconcile', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = expectCostReport(JSON.parse(r.stdout));
    expect(doc.reconcile).toMatchObject({ source: 'Cost Explorer', tag: `fluxer:stack=${stack}`, available: true, costExplorerCost: 1.5, requests: 1, requestCost: 0.01 });
    expect(doc.reconcile.difference).toBeCloseTo(doc.totals.cost - 1.5, 3);
    expect(doc.reconcile.note).toMatch(/lags about a day/);
  });

  it('a node beyond the price history is listed as unpriced, not guessed', async () => {
    const [odd] = await launchTestNodes(ec2, { stack, instanceType: 'g6e.xlarge', az: 'us-east-1c' });
    await putJson(`p/nodes/${odd}.json`, record(odd!, { instanceType: 'g6e.xlarge', az: 'us-east-1c', launchTime: iso(now - HOUR), imagesDone: 3 }));
    const r = await report('--since', '1d', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = expectCostReport(JSON.parse(r.stdout));
    expect(doc.unpriced).toEqual([expect.objectContaining({ instanceId: odd, reason: 'beyond-price-history', images: 3 })]);
    expect(doc.nodes.find((n: { instanceId: string }) => n.instanceId === odd).cost).toBeNull();
    await ec2.send(new ec2sdk.TerminateInstancesCommand({ InstanceIds: [odd!] }));
    await s3.send(new s3sdk.DeleteObjectCommand({ Bucket: bucket, Key: `p/nodes/${odd}.json` }));
  });
});
