// The cost report's shape (what `fluxer cost report --json` prints), its input, the groupings and the label.
// src/core/cost/report.ts builds it; docs/cost.md explains each figure.
import type { PricePoint } from '../launch/spot-prices.js';
import type { NodeLife, Rates, UnpricedReason, Window } from './billing.js';
import type { Reconciliation } from './reconcile.js';

export const GROUPINGS = ['day', 'type', 'az', 'node'] as const;
export type Grouping = (typeof GROUPINGS)[number];
export const REPORT_LABEL = 'estimate from price history';

export interface SnapshotInput {
  snapshotId: string;
  imageId: string | null;
  gib: number;
  /** When the snapshot was started (its storage is billed from then), ms. */
  startTime: number;
}

export interface ReportInput {
  stack: string;
  region: string;
  window: Window;
  by: Grouping;
  lives: readonly NodeLife[];
  /** Spot price series per "type\taz", oldest first. */
  series: ReadonlyMap<string, readonly PricePoint[]>;
  /** The oldest time the price history reaches (EC2 keeps 90 days). */
  priceHistoryFrom: number;
  onDemand: ReadonlyMap<string, number | null>;
  rates: Rates & { snapshotPerGbMonth: number };
  rateSources: { gp3: 'pricing' | 'default'; ipv4: 'published'; snapshot: 'published' };
  snapshots: readonly SnapshotInput[] | null;
  /** Jobs in the dead-letter queue now (counted as failed); null when unknown. */
  deadLettered: number | null;
  notes: string[];
}

export interface Figures {
  nodes: number;
  nodeHours: number;
  images: number;
  cost: number;
  computeCost: number;
  onDemandCost: number | null;
  savings: number | null;
  savingsPercent: number | null;
  costPerImage: number | null;
  costPerImageBusy: number | null;
}

export interface Totals extends Figures {
  busySeconds: number;
  utilisation: number | null;
  imagesPerNodeHour: number | null;
  jobs: { succeeded: number; failed: number; rejected: number; cancelled: number; requeued: number; deadLettered: number | null };
  successRate: number | null;
  generationSeconds: { p50: number | null; p95: number | null; count: number };
  queueWaitSeconds: { p50: number | null; p95: number | null; count: number };
  interruptions: number;
  freeHours: number;
  waived: number;
  unpricedNodes: number;
}

export interface Group extends Figures {
  key: string;
}

export interface Line {
  name: 'spot compute' | 'on-demand compute' | 'root volumes (gp3)' | 'public IPv4' | 'AMI snapshots';
  cost: number;
  basis: string;
}

export interface NodeFigures {
  instanceId: string;
  instanceType: string;
  az: string;
  market: 'spot' | 'on-demand';
  launchId: string | null;
  start: string | null;
  startSource: NodeLife['startSource'];
  end: string | null;
  endSource: NodeLife['endSource'] | 'running';
  lifeSeconds: number;
  billedSeconds: number;
  interruptedByAws: boolean;
  freeHour: boolean;
  compute: number | null;
  onDemand: number | null;
  rootVolume: number;
  publicIpv4: number;
  cost: number | null;
  images: number | null;
  busySeconds: number | null;
  hasRecord: boolean;
}

export interface UnpricedNode {
  instanceId: string;
  instanceType: string;
  az: string;
  reason: UnpricedReason;
  start: string | null;
  billedSeconds: number;
  images: number | null;
}

export interface CostReport {
  version: 1;
  label: string;
  stack: string;
  region: string;
  since: string;
  until: string;
  by: Grouping;
  currency: 'USD';
  totals: Totals;
  lines: Line[];
  groups: Group[];
  nodes: NodeFigures[];
  unpriced: UnpricedNode[];
  inputs: {
    pricePoints: Array<{ instanceType: string; az: string; points: Array<{ at: string; price: number }> }>;
    onDemandPrices: Array<{ instanceType: string; price: number | null }>;
    gp3PerGbMonth: { price: number; source: 'pricing' | 'default' };
    publicIpv4PerHour: { price: number; source: 'published' };
    snapshotPerGbMonth: { price: number; source: 'published' };
    snapshots: Array<{ snapshotId: string; imageId: string | null; gib: number; startTime: string }> | null;
    priceHistoryFrom: string;
    deadLettered: number | null;
    histogramsSkipped: number;
    notes: string[];
  };
  /** Only with --reconcile. */
  reconcile?: Reconciliation;
}
