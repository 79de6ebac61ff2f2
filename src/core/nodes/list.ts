// `fluxer spot list`: each of the stack's nodes as EC2 sees it (type, AZ, state, uptime), what it
// costs (the spot price in force × uptime: an estimate), and what its runtime says in its node record
// (<prefix>nodes/<instance-id>.json, schema/node.v1.schema.json). The rows are pure; the reads are
// two EC2 calls and one bounded-concurrent S3 GET per node.
import { isNotFound } from '../../aws/errors.js';
import type { S3Port } from '../../aws/s3.js';
import type { Clock } from '../../lib/clock.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import type { JobLocation } from '../jobs.js';
import { nodesPrefix } from '../jobs.js';
import { currentSpotPrices, type SpotPrice, type SpotPricePort } from '../launch/spot-prices.js';
import type { NodeRecord } from '../submit.js';
import { stackNodes, type InstancesPort, type NodeInstance } from './instances.js';

/** The runtime rewrites its record every FLUXER_NODE_RECORD_SECONDS (default 60 s, docs/runtime.md). */
export const RECORD_INTERVAL_SECONDS = 60;
/** A record S3 has not seen rewritten for two intervals is stale: the node (or its runtime) is not writing. */
export const STALE_AFTER_MS = 2 * RECORD_INTERVAL_SECONDS * 1000;
/** Linux spot is billed per second with a 60-second minimum per start. */
export const MINIMUM_BILLED_SECONDS = 60;
const RECORD_READS_IN_FLIGHT = 16;

export interface RuntimeView {
  state: string | null;
  lastSeenAt: string | null;
  jobsDone: number | null;
  imagesDone: number | null;
  busyShare: number | null;
  stale: boolean;
}

export interface NodeRow {
  instanceId: string;
  instanceType: string;
  az: string;
  state: string;
  launchedAt: string | null;
  uptimeSeconds: number | null;
  /** USD per hour in force now for the node's pool; null for an on-demand node or an unpriced pool. */
  spotPrice: number | null;
  /** Estimate: spotPrice × billed uptime. */
  costSoFar: number | null;
  ami: string;
  launchId: string | null;
  runtime: RuntimeView | null;
}

/** A node record as read: the document, when S3 last saw it written, and S3's clock at the answer. */
export interface ReadRecord {
  record: NodeRecord;
  lastModifiedMs: number | undefined;
  s3NowMs: number | undefined;
}

export function uptimeSeconds(n: NodeInstance, nowMs: number): number | null {
  if (n.launchedAt === undefined) return null;
  const end = TERMINATED_OR_STOPPED.has(n.state) ? n.endedAt : nowMs;
  if (end === undefined) return null;
  return Math.max(0, Math.round((end - n.launchedAt) / 1000));
}
const TERMINATED_OR_STOPPED = new Set(['stopped', 'terminated']);

/** Spot price × uptime, per-second billing with the 60 s minimum; rounded to a hundredth of a cent. */
export function estimateCost(pricePerHour: number | null, uptime: number | null): number | null {
  if (pricePerHour === null || uptime === null) return null;
  const billed = Math.max(MINIMUM_BILLED_SECONDS, uptime);
  return Math.round(((pricePerHour * billed) / 3600) * 10_000) / 10_000;
}

/** Jobs this node ended itself (every outcome but `requeued`, which another node finishes). */
function jobsDone(r: NodeRecord): number | null {
  if (!r.jobs) return null;
  const j = r.jobs;
  return (j.succeeded ?? 0) + (j.failed ?? 0) + (j.rejected ?? 0) + (j.cancelled ?? 0);
}

export function runtimeView(read: ReadRecord | undefined, uptime: number | null, fallbackNowMs: number): RuntimeView | null {
  if (!read) return null;
  const r = read.record;
  const s3Now = read.s3NowMs ?? fallbackNowMs;
  const busy = typeof r.busySeconds === 'number' && uptime !== null && uptime > 0 ? Math.min(1, r.busySeconds / uptime) : null;
  return {
    state: r.state ?? null,
    lastSeenAt: r.lastSeenAt ?? (read.lastModifiedMs !== undefined ? new Date(read.lastModifiedMs).toISOString() : null),
    jobsDone: jobsDone(r),
    imagesDone: typeof r.imagesDone === 'number' ? r.imagesDone : null,
    busyShare: busy === null ? null : Math.round(busy * 1000) / 1000,
    // A stopped runtime writes no more: its record is final, not stale.
    stale: r.state !== 'STOPPED' && read.lastModifiedMs !== undefined && s3Now - read.lastModifiedMs > STALE_AFTER_MS,
  };
}

export function nodeRows(nodes: readonly NodeInstance[], prices: readonly SpotPrice[], records: ReadonlyMap<string, ReadRecord>, nowMs: number): NodeRow[] {
  const priceOf = new Map(prices.map((p) => [`${p.instanceType}\t${p.az}`, p.price]));
  return nodes.map((n) => {
    const uptime = uptimeSeconds(n, nowMs);
    const spotPrice = n.lifecycle === 'spot' ? (priceOf.get(`${n.instanceType}\t${n.az}`) ?? null) : null;
    return {
      instanceId: n.instanceId,
      instanceType: n.instanceType,
      az: n.az,
      state: n.state,
      launchedAt: n.launchedAt === undefined ? null : new Date(n.launchedAt).toISOString(),
      uptimeSeconds: uptime,
      spotPrice,
      costSoFar: estimateCost(spotPrice, uptime),
      ami: n.ami,
      launchId: n.launchId ?? null,
      runtime: runtimeView(records.get(n.instanceId), uptime, nowMs),
    };
  });
}

export function nodeRecordKey(prefix: string, instanceId: string): string {
  return `${nodesPrefix(prefix)}${instanceId}.json`;
}

/** The node records of `ids` that exist (a node that never booted has none), read concurrently. */
export async function readNodeRecords(s3: Pick<S3Port, 'getObjectDated'>, loc: JobLocation, ids: readonly string[]): Promise<Map<string, ReadRecord>> {
  const reads = await mapConcurrent(ids, RECORD_READS_IN_FLIGHT, async (id): Promise<[string, ReadRecord] | undefined> => {
    try {
      const out = await s3.getObjectDated({ Bucket: loc.bucket, Key: nodeRecordKey(loc.prefix, id) });
      const text = (await out.Body?.transformToString('utf8')) ?? '';
      const record = JSON.parse(text) as NodeRecord;
      if (!record || typeof record !== 'object') return undefined;
      return [id, { record, lastModifiedMs: out.LastModified?.getTime(), s3NowMs: out.serverDate?.getTime() }];
    } catch (err) {
      if (isNotFound(err, 's3') || err instanceof SyntaxError) return undefined;
      throw err;
    }
  });
  return new Map(reads.filter((r): r is [string, ReadRecord] => r !== undefined));
}

export interface ListPorts {
  ec2: InstancesPort & SpotPricePort;
  /** Undefined when the stack has no bucket: rows then have no runtime view. */
  s3: Pick<S3Port, 'getObjectDated'> | undefined;
}

/** The stack's nodes with prices and records: one DescribeInstances (paged), one price call, N GETs. */
export async function listNodes(ports: ListPorts, clock: Clock, opts: { stack: string; all: boolean; location: JobLocation | undefined }): Promise<NodeRow[]> {
  const nodes = await stackNodes(ports.ec2, { stack: opts.stack, all: opts.all });
  if (nodes.length === 0) return [];
  const spotTypes = [...new Set(nodes.filter((n) => n.lifecycle === 'spot').map((n) => n.instanceType))];
  const [prices, records] = await Promise.all([
    spotTypes.length ? currentSpotPrices(ports.ec2, clock, spotTypes) : Promise.resolve([]),
    ports.s3 && opts.location ? readNodeRecords(ports.s3, opts.location, nodes.map((n) => n.instanceId)) : Promise.resolve(new Map<string, ReadRecord>()),
  ]);
  return nodeRows(nodes, prices, records, clock.now());
}
