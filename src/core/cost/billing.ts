// What one node cost, from its life (launch to termination) and the spot price series of its pool:
// pure, on numbers the caller read (node record, launch record, EC2), so the rules are tested on
// recorded shapes without a server. docs/cost.md gives every formula.
//
// AWS's rules (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-instances-request.html,
// "Billing for interrupted Spot Instances": https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-for-interrupted-spot-instances.html):
// - Linux is billed per second with a 60-second minimum per start, at the spot price in force during
//   each second (the price moves: integrate the series, never today's price × duration).
// - When AWS interrupts a Linux spot instance within its first hour, the partial hour is not charged;
//   after the first hour every second is. A stop or termination by anyone but AWS's spot service (fluxer,
//   Auto Scaling scale-in or rebalancing, the node's own shutdown) is charged in full.
import type { PricePoint } from '../launch/spot-prices.js';

export const MINIMUM_BILLED_SECONDS = 60;
export const FREE_HOUR_SECONDS = 3600;
/** AWS prorates GB-month prices over a 730-hour month (its pricing calculator's month). */
export const HOURS_PER_MONTH = 730;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface NodeCounters {
  jobs: { succeeded: number; failed: number; rejected: number; cancelled: number; requeued: number };
  images: number;
  busySeconds: number;
  generationSeconds?: unknown;
  queueWaitSeconds?: unknown;
}

/** A node as the records tell it. Times are ms since the epoch. */
export interface NodeLife {
  instanceId: string;
  instanceType: string;
  az: string;
  market: 'spot' | 'on-demand';
  launchId: string | null;
  /** The instance's pendingTime (launch), or undefined when no source had it. */
  start: number | undefined;
  startSource: 'node-record' | 'launch-record' | 'ec2' | null;
  /** When it terminated; undefined while it runs (then costed to the window's end) or when no source knows. */
  end: number | undefined;
  endSource: 'ec2' | 'interruption-notice' | 'node-record' | null;
  running: boolean;
  /** AWS's spot service took it (a notice and AWS's termination reason), not fluxer, Auto Scaling or the node. */
  interruptedByAws: boolean;
  rootVolumeGiB: number;
  publicIpv4Addresses: number;
  counters: NodeCounters | null;
}

export interface Rates {
  /** USD per GB-month of gp3 storage. */
  gp3PerGbMonth: number;
  /** USD per public IPv4 address-hour. */
  ipv4PerHour: number;
}

export interface Window {
  since: number;
  until: number;
}

/** One UTC day's share of a node's figures (the --by day groups). */
export interface DaySlice {
  day: number;
  seconds: number;
  compute: number;
  onDemand: number | null;
  rootVolume: number;
  publicIpv4: number;
}

export type UnpricedReason = 'no-launch-time' | 'end-unknown' | 'beyond-price-history' | 'no-on-demand-price';

export interface NodeBill {
  life: NodeLife;
  /** The billed interval inside the window (with the 60 s minimum), ms. */
  from: number;
  to: number;
  /** The node's whole life in seconds (to the window's end while it runs). */
  lifeSeconds: number;
  billedSeconds: number;
  freeHour: boolean;
  /** The compute AWS did not charge (an interruption in the first hour); 0 otherwise. */
  waived: number;
  /** USD; null when unpriced. */
  compute: number | null;
  onDemand: number | null;
  rootVolume: number;
  publicIpv4: number;
  unpriced: UnpricedReason | null;
  /** Price points of the pool that were in force during [from, to]. */
  pricePointsUsed: number;
  days: DaySlice[];
}

/** Index of the last point at or before `t` in a series sorted by time; -1 when none. */
export function lastAtOrBefore(points: readonly PricePoint[], t: number): number {
  let lo = 0;
  let hi = points.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.at <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * USD for [from, to] at the hourly price in force each second (a step function), and the points used;
 * undefined when the series has no price in force at `from` (the node is beyond the history's reach).
 */
export function integrate(points: readonly PricePoint[], from: number, to: number): { usd: number; used: number } | undefined {
  let i = lastAtOrBefore(points, from);
  if (i < 0) return undefined;
  let usd = 0;
  let used = 0;
  let t = from;
  while (t < to) {
    while (i + 1 < points.length && points[i + 1]!.at <= t) i++;
    const next = points[i + 1]?.at;
    const segmentEnd = next !== undefined && next < to ? next : to;
    usd += (points[i]!.price * (segmentEnd - t)) / HOUR_MS;
    used++;
    t = segmentEnd;
  }
  return { usd, used: Math.max(used, 1) };
}

/** The UTC day boundaries that cut [from, to] into one piece per day. */
export function dayPieces(from: number, to: number): Array<{ day: number; from: number; to: number }> {
  const out: Array<{ day: number; from: number; to: number }> = [];
  for (let day = Math.floor(from / DAY_MS) * DAY_MS; day < to; day += DAY_MS) {
    const a = Math.max(from, day);
    const b = Math.min(to, day + DAY_MS);
    if (b > a) out.push({ day, from: a, to: b });
  }
  return out;
}

export const storageUsd = (gib: number, perGbMonth: number, ms: number) => (gib * perGbMonth * ms) / (HOURS_PER_MONTH * HOUR_MS);

/**
 * The node's bill inside the window, or undefined when its billed life does not reach into it.
 * `series` is its pool's spot price series (oldest first); `onDemandPrice` its type's hourly price.
 */
export function billNode(life: NodeLife, series: readonly PricePoint[] | undefined, onDemandPrice: number | null, rates: Rates, window: Window): NodeBill | undefined {
  const base = { life, waived: 0, pricePointsUsed: 0, freeHour: false };
  if (life.start === undefined) {
    return { ...base, from: window.since, to: window.since, lifeSeconds: 0, billedSeconds: 0, compute: null, onDemand: null, rootVolume: 0, publicIpv4: 0, unpriced: 'no-launch-time', days: [] };
  }
  const end = life.running ? window.until : life.end;
  if (end === undefined) {
    if (life.start > window.until) return undefined;
    return { ...base, from: life.start, to: life.start, lifeSeconds: 0, billedSeconds: 0, compute: null, onDemand: null, rootVolume: 0, publicIpv4: 0, unpriced: 'end-unknown', days: [] };
  }
  const lifeMs = Math.max(0, end - life.start);
  // 60 s minimum per start: a shorter life is billed as if it ran a minute.
  const billedEnd = Math.max(end, life.start + MINIMUM_BILLED_SECONDS * 1000);
  const from = Math.max(life.start, window.since);
  const to = Math.min(billedEnd, window.until);
  if (to <= from) return undefined;
  const freeHour = life.market === 'spot' && life.interruptedByAws && lifeMs < FREE_HOUR_SECONDS * 1000;

  const pieces = dayPieces(from, to);
  let unpriced: UnpricedReason | null = null;
  let used = 0;
  const days: DaySlice[] = [];
  for (const p of pieces) {
    const ms = p.to - p.from;
    const od = onDemandPrice === null ? null : (onDemandPrice * ms) / HOUR_MS;
    let compute: number;
    if (life.market === 'spot') {
      const got = series ? integrate(series, p.from, p.to) : undefined;
      if (!got) unpriced = 'beyond-price-history';
      compute = got?.usd ?? 0;
      used += got?.used ?? 0;
    } else {
      if (od === null) unpriced = 'no-on-demand-price';
      compute = od ?? 0;
    }
    days.push({ day: p.day, seconds: ms / 1000, compute, onDemand: od, rootVolume: storageUsd(life.rootVolumeGiB, rates.gp3PerGbMonth, ms), publicIpv4: (life.publicIpv4Addresses * rates.ipv4PerHour * ms) / HOUR_MS });
  }
  const sum = (f: (d: DaySlice) => number) => days.reduce((a, d) => a + f(d), 0);
  let waived = 0;
  if (freeHour && !unpriced) {
    waived = sum((d) => d.compute);
    for (const d of days) d.compute = 0;
  }
  return {
    life,
    from,
    to,
    lifeSeconds: lifeMs / 1000,
    billedSeconds: (to - from) / 1000,
    freeHour,
    waived,
    compute: unpriced ? null : sum((d) => d.compute),
    onDemand: onDemandPrice === null ? null : sum((d) => d.onDemand ?? 0),
    rootVolume: sum((d) => d.rootVolume),
    publicIpv4: sum((d) => d.publicIpv4),
    unpriced,
    pricePointsUsed: used,
    days,
  };
}
