// The cost report's figures (pure): node bills summed into totals, lines and groups, against on-demand,
// per image, with the service's key metrics from the same node records. One entry per node, never one
// per job: memory is flat in the number of jobs. docs/cost.md explains each figure and its formula.
// The report's types are in report-types.ts (re-exported here); the accumulator and a node's line in report-figures.ts.
import { billNode, dayPieces, lastAtOrBefore, storageUsd, type NodeBill } from './billing.js';
import { mergeHistogram, quantile, type Histogram } from './histogram.js';
import { acc, figures, iso, nodeFigures, r3, ratio, usd, type Acc } from './report-figures.js';
import { REPORT_LABEL, type CostReport, type Grouping, type Line, type ReportInput, type Totals } from './report-types.js';

export { GROUPINGS, REPORT_LABEL } from './report-types.js';
export type { CostReport, Figures, Group, Grouping, Line, NodeFigures, ReportInput, SnapshotInput, Totals, UnpricedNode } from './report-types.js';

const dayKey = (day: number) => iso(day).slice(0, 10);

function groupKey(by: Exclude<Grouping, 'day'>, b: NodeBill): string {
  if (by === 'type') return b.life.instanceType;
  if (by === 'az') return b.life.az;
  return b.life.instanceId;
}

export function buildReport(input: ReportInput): CostReport {
  const { window } = input;
  const rates = input.rates;
  const bills: NodeBill[] = [];
  for (const life of input.lives) {
    const series = input.series.get(`${life.instanceType}\t${life.az}`);
    const bill = billNode(life, series, input.onDemand.get(life.instanceType) ?? null, rates, window);
    if (bill) bills.push(bill);
  }
  bills.sort((a, b) => a.from - b.from || a.life.instanceId.localeCompare(b.life.instanceId));

  const total = acc();
  const groups = new Map<string, Acc>();
  const group = (k: string) => {
    let g = groups.get(k);
    if (!g) groups.set(k, (g = acc()));
    return g;
  };
  const jobs = { succeeded: 0, failed: 0, rejected: 0, cancelled: 0, requeued: 0 };
  let generation: Histogram | undefined;
  let queueWait: Histogram | undefined;
  let histogramsSkipped = 0;
  let allSeconds = 0;
  let allBusy = 0;
  let allImages = 0;
  let interruptions = 0;
  let freeHours = 0;
  let waived = 0;
  let spotCompute = 0;
  let onDemandMarket = 0;
  let rootVolume = 0;
  let ipv4 = 0;
  const used = new Map<string, { from: number; to: number }>();

  for (const b of bills) {
    const c = b.life.counters;
    // Metrics count every node with a record, priced or not.
    if (c) {
      for (const k of Object.keys(jobs) as Array<keyof typeof jobs>) jobs[k] += c.jobs[k] ?? 0;
      allImages += c.images;
      allBusy += c.busySeconds;
      if (c.generationSeconds !== undefined) {
        const m = mergeHistogram(generation, c.generationSeconds);
        if (m.ok) generation = m.merged;
        else histogramsSkipped++;
      }
      if (c.queueWaitSeconds !== undefined) {
        const m = mergeHistogram(queueWait, c.queueWaitSeconds);
        if (m.ok) queueWait = m.merged;
        else histogramsSkipped++;
      }
    }
    allSeconds += b.billedSeconds;
    if (b.life.interruptedByAws) interruptions++;
    if (b.unpriced) continue;
    if (b.freeHour) freeHours++;
    waived += b.waived;
    if (b.life.market === 'spot') spotCompute += b.compute ?? 0;
    else onDemandMarket += b.compute ?? 0;
    rootVolume += b.rootVolume;
    ipv4 += b.publicIpv4;
    if (b.life.market === 'spot') {
      const k = `${b.life.instanceType}\t${b.life.az}`;
      const u = used.get(k);
      used.set(k, { from: Math.min(u?.from ?? b.from, b.from), to: Math.max(u?.to ?? b.to, b.to) });
    }
    const add = (a: Acc, slice: { seconds: number; compute: number; onDemand: number | null; rootVolume: number; publicIpv4: number }, counts: boolean) => {
      a.seconds += slice.seconds;
      a.compute += slice.compute;
      a.extras += slice.rootVolume + slice.publicIpv4;
      if (slice.onDemand !== null) {
        a.onDemand += slice.onDemand;
        a.computeComparable += slice.compute;
        a.comparable = true;
      }
      if (counts) {
        a.nodes++;
        a.images += c?.images ?? 0;
        a.busy += c?.busySeconds ?? 0;
      }
    };
    add(total, { seconds: b.billedSeconds, compute: b.compute ?? 0, onDemand: b.onDemand, rootVolume: b.rootVolume, publicIpv4: b.publicIpv4 }, true);
    if (input.by === 'day') {
      // Cost is split by the clock; a record's counts have no times, so they go to the node's last day.
      b.days.forEach((d, i) => add(group(dayKey(d.day)), d, i === b.days.length - 1));
    } else {
      add(group(groupKey(input.by, b)), { seconds: b.billedSeconds, compute: b.compute ?? 0, onDemand: b.onDemand, rootVolume: b.rootVolume, publicIpv4: b.publicIpv4 }, true);
    }
  }

  // Snapshot storage of the stack's AMIs: billed from each snapshot's start, through the window.
  let snapshotCost = 0;
  for (const s of input.snapshots ?? []) {
    const from = Math.max(s.startTime, window.since);
    if (window.until <= from) continue;
    for (const p of dayPieces(from, window.until)) {
      const c = storageUsd(s.gib, rates.snapshotPerGbMonth, p.to - p.from);
      snapshotCost += c;
      if (input.by === 'day') group(dayKey(p.day)).extras += c;
    }
  }
  total.extras += snapshotCost;

  const lines: Line[] = [
    { name: 'spot compute', cost: usd(spotCompute), basis: 'spot price in force each second × billed seconds; 60 s minimum per start; first hour free when AWS interrupted' },
    ...(onDemandMarket > 0 ? [{ name: 'on-demand compute' as const, cost: usd(onDemandMarket), basis: 'on-demand price × billed seconds (nodes launched on-demand)' }] : []),
    { name: 'root volumes (gp3)', cost: usd(rootVolume), basis: `GiB × $${rates.gp3PerGbMonth}/GB-month × seconds ÷ (730 h × 3600 s)` },
    { name: 'public IPv4', cost: usd(ipv4), basis: `addresses × $${rates.ipv4PerHour}/h × hours` },
    { name: 'AMI snapshots', cost: usd(snapshotCost), basis: input.snapshots === null ? 'not read (no permission or no answer): 0' : `GiB × $${rates.snapshotPerGbMonth}/GB-month × seconds in the window ÷ (730 h × 3600 s)` },
  ];

  const f = figures(total);
  const failed = jobs.failed + jobs.rejected + (input.deadLettered ?? 0);
  const ended = jobs.succeeded + failed;
  const totals: Totals = {
    ...f,
    busySeconds: r3(allBusy),
    utilisation: ratio(allBusy, allSeconds) === null ? null : r3(Math.min(1, allBusy / allSeconds)),
    imagesPerNodeHour: allSeconds > 0 ? r3(allImages / (allSeconds / 3600)) : null,
    jobs: { ...jobs, deadLettered: input.deadLettered },
    successRate: ended > 0 ? Math.round((jobs.succeeded / ended) * 10_000) / 10_000 : null,
    generationSeconds: { p50: quantile(generation, 0.5), p95: quantile(generation, 0.95), count: generation?.count ?? 0 },
    queueWaitSeconds: { p50: quantile(queueWait, 0.5), p95: quantile(queueWait, 0.95), count: queueWait?.count ?? 0 },
    interruptions,
    freeHours,
    waived: usd(waived),
    unpricedNodes: bills.filter((b) => b.unpriced).length,
  };
  // Figures of the whole report cover every node in it (images of unpriced nodes too, for the metrics).
  totals.images = allImages;
  totals.nodes = bills.length;
  totals.nodeHours = r3(allSeconds / 3600);
  // Per image uses the images of the priced nodes only: their cost is known.
  totals.costPerImage = f.costPerImage;
  totals.costPerImageBusy = f.costPerImageBusy;

  const groupList = [...groups].map(([key, a]) => ({ key, ...figures(a) }));
  groupList.sort((a, b) => (input.by === 'day' ? a.key.localeCompare(b.key) : b.cost - a.cost || a.key.localeCompare(b.key)));

  const pricePoints = [...used].sort(([a], [b]) => a.localeCompare(b)).map(([k, u]) => {
    const [instanceType, az] = k.split('\t') as [string, string];
    const series = input.series.get(k) ?? [];
    const first = Math.max(0, lastAtOrBefore(series, u.from));
    const points = series.slice(first).filter((p, i) => i === 0 || p.at < u.to);
    return { instanceType, az, points: points.map((p) => ({ at: iso(p.at), price: p.price })) };
  });

  return {
    version: 1,
    label: REPORT_LABEL,
    stack: input.stack,
    region: input.region,
    since: iso(window.since),
    until: iso(window.until),
    by: input.by,
    currency: 'USD',
    totals,
    lines,
    groups: groupList,
    nodes: bills.map(nodeFigures),
    unpriced: bills.filter((b) => b.unpriced).map((b) => ({
      instanceId: b.life.instanceId,
      instanceType: b.life.instanceType,
      az: b.life.az,
      reason: b.unpriced!,
      start: b.life.start === undefined ? null : iso(b.life.start),
      billedSeconds: b.billedSeconds,
      images: b.life.counters?.images ?? null,
    })),
    inputs: {
      pricePoints,
      onDemandPrices: [...input.onDemand].sort(([a], [b]) => a.localeCompare(b)).map(([instanceType, price]) => ({ instanceType, price })),
      gp3PerGbMonth: { price: rates.gp3PerGbMonth, source: input.rateSources.gp3 },
      publicIpv4PerHour: { price: rates.ipv4PerHour, source: 'published' },
      snapshotPerGbMonth: { price: rates.snapshotPerGbMonth, source: 'published' },
      snapshots: input.snapshots === null ? null : input.snapshots.map((s) => ({ snapshotId: s.snapshotId, imageId: s.imageId, gib: s.gib, startTime: iso(s.startTime) })),
      priceHistoryFrom: iso(input.priceHistoryFrom),
      deadLettered: input.deadLettered,
      histogramsSkipped,
      notes: input.notes,
    },
  };
}
