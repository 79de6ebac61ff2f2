// The cost report's integration on recorded shapes (pure, no server): prices that move during a
// node's life, AWS's first free hour only for AWS's interruptions, the 60 s minimum, nodes still
// running, paging, unpriced nodes, a node known only from its launch record; and the figures around it.
import { describe, expect, it } from 'vitest';
import type { Ec2Port } from '../../src/aws/ec2.js';
import type { S3Port } from '../../src/aws/s3.js';
import { billNode, dayPieces, integrate, type NodeLife } from '../../src/core/cost/billing.js';
import { barChart } from '../../src/core/cost/chart.js';
import { priceSeries, readNodeRecords } from '../../src/core/cost/collect.js';
import { csvField, formatCsv } from '../../src/core/cost/csv.js';
import { mergeHistogram, quantile } from '../../src/core/cost/histogram.js';
import { assembleLives, SPOT_STOP_REASON, SPOT_TERMINATION_REASON } from '../../src/core/cost/lives.js';
import { ceTimePeriod, reconcile } from '../../src/core/cost/reconcile.js';
import { buildReport, type ReportInput } from '../../src/core/cost/report.js';
import { parseDate, resolveWindow } from '../../src/core/cost/window.js';
import type { NodeInstance } from '../../src/core/nodes/instances.js';
import type { NodeRecord } from '../../src/core/submit.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-10T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const rates = { gp3PerGbMonth: 0.08, ipv4PerHour: 0.005 };
const wide = { since: T0 - 24 * HOUR, until: T0 + 24 * HOUR };
/** 0.40 in force before the start, 0.50 from 20 min, 0.30 from 40 min. */
const series = [
  { at: T0 - HOUR, price: 0.4 },
  { at: T0 + 20 * MIN, price: 0.5 },
  { at: T0 + 40 * MIN, price: 0.3 },
];

const life = (o: Partial<NodeLife> = {}): NodeLife => ({
  instanceId: 'i-00000000000000001',
  instanceType: 'g5.xlarge',
  az: 'us-east-1a',
  market: 'spot',
  launchId: null,
  start: T0,
  startSource: 'node-record',
  end: T0 + HOUR,
  endSource: 'ec2',
  running: false,
  interruptedByAws: false,
  rootVolumeGiB: 0,
  publicIpv4Addresses: 0,
  counters: null,
  ...o,
});

const instance = (o: Partial<NodeInstance>): NodeInstance => ({
  instanceId: 'i-00000000000000001',
  instanceType: 'g5.xlarge',
  az: 'us-east-1a',
  state: 'terminated',
  launchedAt: T0,
  endedAt: undefined,
  ami: 'ami-1',
  launchId: undefined,
  name: undefined,
  lifecycle: 'spot',
  tags: {},
  ...o,
});

const record = (o: Partial<NodeRecord> = {}): NodeRecord => ({
  instanceId: 'i-00000000000000001',
  state: 'STOPPED',
  instanceType: 'g5.xlarge',
  az: 'us-east-1a',
  lifecycle: 'spot',
  launchTime: iso(T0),
  lastSeenAt: iso(T0 + 50 * MIN),
  jobs: { succeeded: 9, failed: 1, rejected: 0, cancelled: 0, requeued: 1 },
  imagesDone: 12,
  busySeconds: 1200,
  ...o,
});

describe('integrating the price series', () => {
  it('a price that changes twice during the node: each second at the price in force then', () => {
    // 20 min at 0.40, 20 at 0.50, 20 at 0.30
    expect(integrate(series, T0, T0 + HOUR)!.usd).toBeCloseTo(0.4 / 3 + 0.5 / 3 + 0.3 / 3, 10);
    const b = billNode(life(), series, 1.006, rates, wide)!;
    expect(b.compute).toBeCloseTo(0.4, 10);
    expect(b.onDemand).toBeCloseTo(1.006, 10);
    expect(b.billedSeconds).toBe(3600);
  });

  it('no price in force at the start: beyond the history, unpriced (never guessed)', () => {
    expect(integrate(series, T0 - 2 * HOUR, T0)).toBeUndefined();
    const b = billNode(life({ start: T0 - 2 * HOUR }), series, 1.006, rates, wide)!;
    expect(b.unpriced).toBe('beyond-price-history');
    expect(b.compute).toBeNull();
    expect(billNode(life(), undefined, 1.006, rates, wide)!.unpriced).toBe('beyond-price-history');
  });

  it('60 s minimum per start: a 20-second node is billed a minute', () => {
    const b = billNode(life({ end: T0 + 20_000 }), series, null, rates, wide)!;
    expect(b.billedSeconds).toBe(60);
    expect(b.compute).toBeCloseTo(0.4 / 60, 10);
  });

  it('cuts at UTC midnight for --by day', () => {
    const midnight = Date.parse('2026-11-11T00:00:00Z');
    expect(dayPieces(midnight - HOUR, midnight + 2 * HOUR).map((p) => [iso(p.day).slice(0, 10), (p.to - p.from) / HOUR])).toEqual([
      ['2026-11-10', 1],
      ['2026-11-11', 2],
    ]);
  });
});

describe('who ended the node decides the first hour', () => {
  const bill = (l: NodeLife) => billNode(l, series, 1.006, rates, wide)!;

  it('AWS interrupted it at 50 minutes: not charged (the waived amount is reported)', () => {
    const b = bill(life({ end: T0 + 50 * MIN, interruptedByAws: true }));
    expect(b.freeHour).toBe(true);
    expect(b.compute).toBe(0);
    expect(b.waived).toBeCloseTo(0.4 / 3 + (0.5 * 20) / 60 + (0.3 * 10) / 60, 10);
  });

  it('AWS interrupted it at 70 minutes: every second charged', () => {
    const b = bill(life({ end: T0 + 70 * MIN, interruptedByAws: true }));
    expect(b.freeHour).toBe(false);
    expect(b.compute).toBeCloseTo(0.4 / 3 + 0.5 / 3 + (0.3 * 30) / 60, 10);
  });

  it('scaled in (or terminated by fluxer) at 50 minutes: charged', () => {
    const [l] = assembleLives({ records: new Map(), launches: [], instances: [instance({ endedAt: T0 + 50 * MIN, stateReasonCode: 'Client.UserInitiatedShutdown' })], now: T0 + 2 * HOUR, defaultRootVolumeGiB: 100 });
    expect(l!.interruptedByAws).toBe(false);
    // AWS stopping it (interruption behaviour stop) is AWS's interruption too.
    expect(assembleLives({ records: new Map(), launches: [], instances: [instance({ state: 'stopped', endedAt: T0 + 50 * MIN, stateReasonCode: SPOT_STOP_REASON })], now: T0 + 2 * HOUR, defaultRootVolumeGiB: 100 })[0]!.interruptedByAws).toBe(true);
    expect(bill(l!).compute).toBeCloseTo(0.4 / 3 + (0.5 * 20) / 60 + (0.3 * 10) / 60, 10);
  });

  it("a notice, then fluxer's own termination before AWS's: charged; AWS's reason after the notice: free", () => {
    const records = new Map([['i-00000000000000001', { record: record({ interruption: { action: 'terminate', time: iso(T0 + 52 * MIN), noticedAt: iso(T0 + 50 * MIN) } }), lastModifiedMs: T0 + 50 * MIN }]]);
    const ours = assembleLives({ records, launches: [], instances: [instance({ endedAt: T0 + 51 * MIN, stateReasonCode: 'Client.UserInitiatedShutdown' })], now: T0 + 2 * HOUR, defaultRootVolumeGiB: 100 })[0]!;
    expect(ours.interruptedByAws).toBe(false);
    const aws = assembleLives({ records, launches: [], instances: [instance({ endedAt: T0 + 52 * MIN, stateReasonCode: SPOT_TERMINATION_REASON })], now: T0 + 2 * HOUR, defaultRootVolumeGiB: 100 })[0]!;
    expect(aws.interruptedByAws).toBe(true);
    expect(bill(aws).compute).toBe(0);
    // EC2 has forgotten it: the record's notice is the durable word that AWS took it, at the notice's time.
    const forgotten = assembleLives({ records, launches: [], instances: [], now: T0 + 5 * HOUR, defaultRootVolumeGiB: 100 })[0]!;
    expect(forgotten).toMatchObject({ interruptedByAws: true, end: T0 + 52 * MIN, endSource: 'interruption-notice', startSource: 'node-record' });
  });
});

describe('where a life comes from', () => {
  it('a node still running is costed to the end of the window (now)', () => {
    const now = T0 + 90 * MIN;
    const records = new Map([['i-00000000000000001', { record: record({ state: 'BUSY', lastSeenAt: iso(now - 30_000) }), lastModifiedMs: now - 30_000 }]]);
    const [l] = assembleLives({ records, launches: [], instances: [], now, defaultRootVolumeGiB: 100 });
    expect(l).toMatchObject({ running: true, end: undefined });
    const b = billNode(l!, series, 1.006, rates, { since: T0 - HOUR, until: now })!;
    expect(b.billedSeconds).toBe(90 * 60);
    expect(b.compute).toBeCloseTo(0.4 / 3 + 0.5 / 3 + (0.3 * 50) / 60, 10);
    expect(b.rootVolume).toBeCloseTo((100 * 0.08 * 1.5) / 730, 10);
    expect(b.publicIpv4).toBeCloseTo(0.005 * 1.5, 10);
  });

  it('a launch record and no node record (its bootstrap failed): costed from the launch record to EC2\'s end', () => {
    const launches = [{ launchId: 'l-20261110100000-0a1b2c3d', rootVolumeGiB: 80, instances: [{ instanceId: 'i-00000000000000002', instanceType: 'g6.xlarge', az: 'us-east-1b', launchTime: iso(T0) }] }];
    const [known] = assembleLives({ records: new Map(), launches, instances: [instance({ instanceId: 'i-00000000000000002', instanceType: 'g6.xlarge', az: 'us-east-1b', launchedAt: T0 + 5_000, endedAt: T0 + 30 * MIN, publicIp: '3.3.3.3' })], now: T0 + HOUR, defaultRootVolumeGiB: 100 });
    expect(known).toMatchObject({ start: T0, startSource: 'launch-record', end: T0 + 30 * MIN, endSource: 'ec2', rootVolumeGiB: 80, publicIpv4Addresses: 1, counters: null, launchId: 'l-20261110100000-0a1b2c3d' });
    // EC2 forgot it too: when it ended is unknown, so it is unpriced.
    const [forgotten] = assembleLives({ records: new Map(), launches, instances: [], now: T0 + 5 * HOUR, defaultRootVolumeGiB: 100 });
    expect(billNode(forgotten!, series, null, rates, wide)!.unpriced).toBe('end-unknown');
  });

  it("records and launch records of another stack sharing the bucket are not this stack's nodes", () => {
    const records = new Map([['i-00000000000000009', { record: record({ instanceId: 'i-00000000000000009', stack: 'other' }), lastModifiedMs: T0 }]]);
    const launches = [{ launchId: 'l-20261110100000-0a1b2c3d', stack: 'other', instances: [{ instanceId: 'i-00000000000000008', instanceType: 'g5.xlarge', az: 'us-east-1a' }] }];
    expect(assembleLives({ stack: 'mine', records, launches, instances: [], now: T0, defaultRootVolumeGiB: 100 })).toEqual([]);
    expect(assembleLives({ stack: 'other', records, launches, instances: [], now: T0, defaultRootVolumeGiB: 100 })).toHaveLength(2);
  });

  it('a record no longer written, EC2 gone: ended within one record interval of its last write', () => {
    const records = new Map([['i-00000000000000001', { record: record(), lastModifiedMs: T0 + 50 * MIN }]]);
    const [l] = assembleLives({ records, launches: [], instances: [], now: T0 + 5 * HOUR, defaultRootVolumeGiB: 100 });
    expect(l).toMatchObject({ end: T0 + 51 * MIN, endSource: 'node-record', running: false, interruptedByAws: false });
  });
});

describe('paging', () => {
  it('reads every page of the spot price history', async () => {
    const tokens: Array<string | undefined> = [];
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ InstanceType: 'g5.xlarge' as const, AvailabilityZone: 'us-east-1a', SpotPrice: String(0.4 + i / 100), Timestamp: new Date(T0 - i * HOUR) }));
    const ec2 = {
      describeSpotPriceHistory: async (input: { NextToken?: string }) => {
        tokens.push(input.NextToken);
        return input.NextToken ? { SpotPriceHistory: rows(2).slice(1), $metadata: {} } : { SpotPriceHistory: rows(1), NextToken: 'p2', $metadata: {} };
      },
    } as unknown as Ec2Port;
    const s = await priceSeries(ec2, ['g5.xlarge'], T0 - 2 * HOUR, T0);
    expect(tokens).toEqual([undefined, 'p2']);
    expect(s.get('g5.xlarge\tus-east-1a')!.map((p) => p.at)).toEqual([T0 - HOUR, T0]);
  });

  it('lists every page of node records, skipping records last written long before the window', async () => {
    const keys = ['p/nodes/i-00000000000000001.json', 'p/nodes/i-00000000000000002.json', 'p/nodes/i-00000000000000003.json'];
    const gets: string[] = [];
    const s3 = {
      listObjectsV2: async (input: { ContinuationToken?: string }) =>
        input.ContinuationToken
          ? { Contents: [{ Key: keys[2], LastModified: new Date(T0 - 30 * 24 * HOUR) }], IsTruncated: false, $metadata: {} }
          : { Contents: keys.slice(0, 2).map((Key) => ({ Key, LastModified: new Date(T0) })), IsTruncated: true, NextContinuationToken: 'c2', $metadata: {} },
      getObject: async (input: { Key: string }) => {
        gets.push(input.Key);
        const id = input.Key.slice('p/nodes/'.length, -5);
        return { Body: { transformToString: async () => JSON.stringify(record({ instanceId: id })) }, $metadata: {} };
      },
    } as unknown as Pick<S3Port, 'listObjectsV2' | 'getObject'>;
    const got = await readNodeRecords(s3, { bucket: 'b', prefix: 'p/' }, T0 - HOUR);
    expect([...got.keys()].sort()).toEqual(['i-00000000000000001', 'i-00000000000000002']);
    expect(gets).toHaveLength(2);
  });
});

const h = (bounds: number[], counts: number[]) => ({ bounds, counts, sum: 0, count: counts.reduce((a, b) => a + b, 0) });

describe('histograms', () => {
  it('add bucket by bucket; other bounds are refused, not misfiled', () => {
    const a = mergeHistogram(undefined, h([1, 2], [1, 1, 0])).merged;
    const b = mergeHistogram(a, h([1, 2], [0, 2, 0]));
    expect(b.merged!.counts).toEqual([1, 3, 0]);
    expect(mergeHistogram(b.merged, h([1, 5], [1, 0, 0])).ok).toBe(false);
  });

  it('estimate quantiles inside the bucket; the overflow bucket answers its lower bound', () => {
    expect(quantile(h([1, 2, 4], [0, 10, 0, 0]), 0.5)).toBe(1.5);
    expect(quantile(h([1, 2, 4], [10, 0, 0, 0]), 0.95)).toBe(0.95);
    expect(quantile(h([1, 2], [0, 0, 5]), 0.5)).toBe(2);
    expect(quantile(h([1, 2], [0, 0, 0]), 0.5)).toBeNull();
  });
});

function input(o: Partial<ReportInput> = {}): ReportInput {
  return {
    stack: 's',
    region: 'us-east-1',
    window: wide,
    by: 'type',
    lives: [],
    series: new Map([['g5.xlarge\tus-east-1a', series]]),
    priceHistoryFrom: T0 - 90 * 24 * HOUR,
    onDemand: new Map([['g5.xlarge', 1.006]]),
    rates: { ...rates, snapshotPerGbMonth: 0.05 },
    rateSources: { gp3: 'pricing', ipv4: 'published', snapshot: 'published' },
    snapshots: [],
    deadLettered: 2,
    notes: [],
    ...o,
  };
}

describe('the report', () => {
  const counters = { jobs: { succeeded: 18, failed: 1, rejected: 1, cancelled: 3, requeued: 2 }, images: 20, busySeconds: 1800, generationSeconds: h([1, 2, 4], [0, 10, 10, 0]), queueWaitSeconds: h([1, 5], [4, 0, 0]) };
  const lives = [
    life({ instanceId: 'i-a', counters, rootVolumeGiB: 100, publicIpv4Addresses: 1 }),
    life({ instanceId: 'i-b', end: T0 + 50 * MIN, interruptedByAws: true, counters: { ...counters, images: 0, busySeconds: 0 } }),
    life({ instanceId: 'i-c', start: T0 - 2 * HOUR, counters: { ...counters, jobs: { succeeded: 0, failed: 0, rejected: 0, cancelled: 0, requeued: 0 }, images: 5 } }),
  ];
  const r = buildReport(input({ lives, snapshots: [{ snapshotId: 'snap-1', imageId: 'ami-1', gib: 50, startTime: T0 - 48 * HOUR }] }));

  it('totals, lines and per-image figures; unpriced nodes listed, not costed', () => {
    const vol = (100 * 0.08) / 730;
    const ip = 0.005;
    const snap = (50 * 0.05 * 48) / 730;
    expect(r.lines.map((l) => [l.name, l.cost])).toEqual([
      ['spot compute', 0.4],
      ['root volumes (gp3)', Math.round(vol * 1e4) / 1e4],
      ['public IPv4', ip],
      ['AMI snapshots', Math.round(snap * 1e4) / 1e4],
    ]);
    const t = r.totals;
    expect(t.cost).toBeCloseTo(0.4 + vol + ip + snap, 3);
    expect(t.nodes).toBe(3);
    expect(t.unpricedNodes).toBe(1);
    expect(r.unpriced).toEqual([expect.objectContaining({ instanceId: 'i-c', reason: 'beyond-price-history', images: 5 })]);
    // On-demand for the priced nodes' hours (1 h + 50 min) against their spot compute (0.4 + 0 free).
    expect(t.onDemandCost).toBeCloseTo(1.006 * (110 / 60), 3);
    expect(t.savings).toBeCloseTo(1.006 * (110 / 60) - 0.4, 3);
    expect(t.savingsPercent).toBeCloseTo(((1.006 * (110 / 60) - 0.4) / (1.006 * (110 / 60))) * 100, 0);
    expect(t.freeHours).toBe(1);
    expect(t.interruptions).toBe(1);
    // Per image: the priced nodes' 20 images; busy only: × 1800 s busy ÷ 6600 s billed.
    expect(t.costPerImage).toBeCloseTo(t.cost / 20, 4);
    expect(t.costPerImageBusy).toBeCloseTo((t.cost * (1800 / 6600)) / 20, 4);
  });

  it('key metrics from every record: success counts dead letters as failed, percentiles, utilisation', () => {
    const t = r.totals;
    // i-c's record ended no jobs; its histograms still count.
    expect(t.jobs).toEqual({ succeeded: 36, failed: 2, rejected: 2, cancelled: 6, requeued: 4, deadLettered: 2 });
    expect(t.successRate).toBeCloseTo(36 / (36 + 2 + 2 + 2), 4);
    expect(t.generationSeconds).toEqual({ p50: 2, p95: 3.8, count: 60 });
    expect(t.queueWaitSeconds.p95).toBe(0.95);
    expect(t.images).toBe(25);
    expect(t.utilisation).toBeCloseTo((1800 + 1800) / (3600 + 3000 + 3600 * 3), 3);
    expect(t.imagesPerNodeHour).toBeCloseTo(25 / ((3600 + 3000 + 3600 * 3) / 3600), 2);
  });

  it('groups by type, AZ, node or day; the inputs name the price points used', () => {
    expect(r.groups.map((g) => g.key)).toEqual(['g5.xlarge']);
    expect(buildReport(input({ lives, by: 'node' })).groups.map((g) => g.key).sort()).toEqual(['i-a', 'i-b']);
    const midnight = Date.parse('2026-11-11T00:00:00Z');
    const across = buildReport(input({ lives: [life({ start: midnight - 20 * MIN, end: midnight + 40 * MIN, counters })], by: 'day', series: new Map([['g5.xlarge\tus-east-1a', [{ at: T0, price: 0.6 }]]]) }));
    expect(across.groups.map((g) => [g.key, g.cost, g.images])).toEqual([
      ['2026-11-10', 0.2, 0],
      ['2026-11-11', 0.4, 20],
    ]);
    expect(r.inputs.pricePoints).toEqual([{ instanceType: 'g5.xlarge', az: 'us-east-1a', points: series.map((p) => ({ at: iso(p.at), price: p.price })) }]);
    expect(r.label).toBe('estimate from price history');
  });

  it('keeps one entry per node whatever the jobs: 1,000 nodes of a million jobs each are 1,000 entries', () => {
    const many = Array.from({ length: 1000 }, (_, i) => life({ instanceId: `i-${i}`, counters: { ...counters, jobs: { ...counters.jobs, succeeded: 1_000_000 } } }));
    const big = buildReport(input({ lives: many }));
    expect(big.nodes).toHaveLength(1000);
    expect(big.totals.jobs.succeeded).toBe(1_000_000_000);
  });

  it('CSV: a header, a row per group and line, and the totals; fields quoted as RFC 4180 says', () => {
    const rows = formatCsv(r).trimEnd().split('\r\n').map((l) => l.split(','));
    expect(rows[0]!.slice(0, 6)).toEqual(['kind', 'key', 'nodes', 'nodeHours', 'images', 'cost']);
    expect(rows.at(-1)!.slice(0, 2)).toEqual(['total', 'all']);
    expect(rows.filter((x) => x[0] === 'line')).toHaveLength(4);
    expect(csvField('a,"b"')).toBe('"a,""b"""');
  });
});

describe('bar chart and window', () => {
  it('scales bars to the largest value, with eighth blocks, or # without Unicode', () => {
    const chart = barChart([{ label: 'a', value: 2 }, { label: 'bb', value: 1 }, { label: 'c', value: 0 }], { width: 8 });
    expect(chart.split('\n')).toEqual(['a   ████████  2', 'bb  ████      1', 'c             0']);
    expect(barChart([{ label: 'x', value: 1 }], { width: 4, unicode: false })).toBe('x  ####  1');
  });

  it('resolves --since/--until and refuses what cannot be a window', () => {
    const now = T0;
    expect(resolveWindow(now, { kind: 'ago', ms: 7 * 24 * HOUR })).toEqual({ since: now - 7 * 24 * HOUR, until: now });
    expect(() => resolveWindow(now, { kind: 'ago', ms: HOUR }, { kind: 'at', ms: now + HOUR })).toThrow(/--until .* in the future/);
    expect(() => resolveWindow(now, { kind: 'at', ms: now - HOUR }, { kind: 'at', ms: now - 2 * HOUR })).toThrow(/--since .* before --until/);
    expect(() => parseDate('--until', '2026-02-31')).toThrow(/--until/);
    expect(parseDate('--since', '2026-11-01')).toBe(Date.parse('2026-11-01T00:00:00Z'));
  });

  it('Cost Explorer: whole UTC days (End exclusive); no rows is no figure, not $0', async () => {
    expect(ceTimePeriod(Date.parse('2026-11-01T10:00:00Z'), Date.parse('2026-11-03T01:00:00Z'))).toEqual({ Start: '2026-11-01', End: '2026-11-04' });
    const empty = await reconcile({ getCostAndUsage: async () => ({ ResultsByTime: [], $metadata: {} }) }, { stack: 's', since: T0 - HOUR, until: T0, reportCost: 1 });
    expect(empty).toMatchObject({ available: false, costExplorerCost: null, requests: 1, requestCost: 0.01 });
    const seeded = await reconcile(
      { getCostAndUsage: async () => ({ ResultsByTime: [{ TimePeriod: { Start: '2026-11-10', End: '2026-11-11' }, Total: { UnblendedCost: { Amount: '0.75', Unit: 'USD' } }, Estimated: true }], $metadata: {} }) },
      { stack: 's', since: T0 - HOUR, until: T0, reportCost: 1 },
    );
    expect(seeded).toMatchObject({ available: true, costExplorerCost: 0.75, difference: 0.25, days: [{ date: '2026-11-10', cost: 0.75, estimated: true }] });
  });
});
