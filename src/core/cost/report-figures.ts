// The report's figures from summed bills (pure): the accumulator a total or a group adds node bills
// into, its figures (cost, on-demand, savings, per image), one node's line, and the rounding they share.
import type { NodeBill } from './billing.js';
import type { Figures, NodeFigures } from './report-types.js';

export const iso = (ms: number) => new Date(ms).toISOString();
/** Money to a hundredth of a cent; hours to the thousandth. */
export const usd = (n: number) => Math.round(n * 10_000) / 10_000;
export const r3 = (n: number) => Math.round(n * 1000) / 1000;
export const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export interface Acc {
  nodes: number;
  seconds: number;
  images: number;
  busy: number;
  compute: number;
  extras: number;
  onDemand: number;
  /** Compute of the nodes that have an on-demand price, for a like-for-like saving. */
  computeComparable: number;
  comparable: boolean;
}
export const acc = (): Acc => ({ nodes: 0, seconds: 0, images: 0, busy: 0, compute: 0, extras: 0, onDemand: 0, computeComparable: 0, comparable: false });

export function figures(a: Acc): Figures {
  const cost = a.compute + a.extras;
  const onDemandCost = a.comparable ? a.onDemand : null;
  const savings = onDemandCost === null ? null : onDemandCost - a.computeComparable;
  const busyShare = a.seconds > 0 ? Math.min(1, a.busy / a.seconds) : 0;
  return {
    nodes: a.nodes,
    nodeHours: r3(a.seconds / 3600),
    images: a.images,
    cost: usd(cost),
    computeCost: usd(a.compute),
    onDemandCost: onDemandCost === null ? null : usd(onDemandCost),
    savings: savings === null ? null : usd(savings),
    savingsPercent: savings === null || !onDemandCost ? null : Math.round((savings / onDemandCost) * 1000) / 10,
    costPerImage: a.images > 0 ? usd(cost / a.images) : null,
    costPerImageBusy: a.images > 0 ? usd((cost * busyShare) / a.images) : null,
  };
}

export function nodeFigures(b: NodeBill): NodeFigures {
  const l = b.life;
  const cost = b.unpriced ? null : usd((b.compute ?? 0) + b.rootVolume + b.publicIpv4);
  return {
    instanceId: l.instanceId,
    instanceType: l.instanceType,
    az: l.az,
    market: l.market,
    launchId: l.launchId,
    start: l.start === undefined ? null : iso(l.start),
    startSource: l.startSource,
    end: l.running || l.end === undefined ? null : iso(l.end),
    endSource: l.running ? 'running' : l.endSource,
    lifeSeconds: r3(b.lifeSeconds),
    billedSeconds: r3(b.billedSeconds),
    interruptedByAws: l.interruptedByAws,
    freeHour: b.freeHour,
    compute: b.compute === null ? null : usd(b.compute),
    onDemand: b.onDemand === null ? null : usd(b.onDemand),
    rootVolume: usd(b.rootVolume),
    publicIpv4: usd(b.publicIpv4),
    cost,
    images: l.counters?.images ?? null,
    busySeconds: l.counters ? r3(l.counters.busySeconds) : null,
    hasRecord: l.counters !== null,
  };
}
