// The cost report's reads: every node record and launch record under the stack's prefix (listed, then
// one small GET each, bounded-concurrent), what EC2 still lists for the stack, the spot price series of
// the pools those nodes ran in (paged), on-demand and gp3 prices (Pricing), the stack's AMI snapshots,
// and the dead-letter queue's depth. Then the pure figures (report.ts). Never one read per job.
import type { CePort } from '../../aws/ce.js';
import type { Ec2Port } from '../../aws/ec2.js';
import { isNotFound } from '../../aws/errors.js';
import type { PricingPort } from '../../aws/pricing.js';
import type { S3Port } from '../../aws/s3.js';
import type { SqsPort } from '../../aws/sqs.js';
import type { Clock } from '../../lib/clock.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import { nodesPrefix, type JobLocation } from '../jobs.js';
import { onDemandPrices } from '../launch/on-demand.js';
import type { PricePoint } from '../launch/spot-prices.js';
import { stackNodes, type NodeInstance } from '../nodes/instances.js';
import { queueStats } from '../queue.js';
import type { NodeRecord } from '../submit.js';
import { stackFilters } from '../tags.js';
import { assembleLives, FRESH_RECORD_MS, type LaunchRecord, type ReadNodeRecord } from './lives.js';
import { reconcile } from './reconcile.js';
import { buildReport, type CostReport, type Grouping, type SnapshotInput } from './report.js';

const READS_IN_FLIGHT = 16;
/** EC2 keeps 90 days of spot price history. */
export const PRICE_HISTORY_MS = 90 * 86_400_000;
/** Public IPv4: $0.005 per address-hour since 2024-02-01 (https://aws.amazon.com/vpc/pricing/, "Public IPv4 addresses"). */
export const IPV4_PER_HOUR = 0.005;
/** EBS snapshot storage, standard tier: $0.05 per GB-month (https://aws.amazon.com/ebs/pricing/, "Snapshots"). */
export const SNAPSHOT_PER_GB_MONTH = 0.05;
/** gp3 storage when Pricing does not answer: $0.08 per GB-month, us-east-1 (https://aws.amazon.com/ebs/pricing/). */
export const GP3_DEFAULT_PER_GB_MONTH = 0.08;

export interface CostPorts {
  s3: Pick<S3Port, 'listObjectsV2' | 'getObject'>;
  ec2: Pick<Ec2Port, 'describeInstances' | 'describeSpotPriceHistory' | 'describeSnapshots'>;
  pricing: () => Promise<PricingPort>;
  pricingEndpoint: string | undefined;
  cacheDir: string;
  /** Undefined when the stack has no queue. */
  sqs: (() => Promise<SqsPort>) | undefined;
  ce: () => Promise<CePort>;
}

export interface CostRequest {
  stack: string;
  region: string;
  location: JobLocation;
  queueName: string | undefined;
  since: number;
  until: number;
  by: Grouping;
  defaultRootVolumeGiB: number;
  reconcile: boolean;
}

type Listed = { key: string; lastModifiedMs: number | undefined };

async function listKeys(s3: CostPorts['s3'], bucket: string, prefix: string): Promise<Listed[]> {
  const out: Listed[] = [];
  let token: string | undefined;
  do {
    const page = await s3.listObjectsV2({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000, ...(token ? { ContinuationToken: token } : {}) });
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) out.push({ key: o.Key, lastModifiedMs: o.LastModified?.getTime() });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function getJson<T>(s3: CostPorts['s3'], bucket: string, key: string): Promise<T | undefined> {
  try {
    const out = await s3.getObject({ Bucket: bucket, Key: key });
    const doc = JSON.parse((await out.Body?.transformToString('utf8')) ?? '') as T;
    return doc && typeof doc === 'object' ? doc : undefined;
  } catch (err) {
    // Deleted between the listing and the read, or a damaged document: not a node of the report.
    if (isNotFound(err, 's3') || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Node records that can reach into the window: a record last written before `since` (less a margin) belongs to a node gone by then. */
export async function readNodeRecords(s3: CostPorts['s3'], loc: JobLocation, since: number): Promise<Map<string, ReadNodeRecord>> {
  const listed = (await listKeys(s3, loc.bucket, nodesPrefix(loc.prefix))).filter((o) => o.lastModifiedMs === undefined || o.lastModifiedMs >= since - 5 * FRESH_RECORD_MS);
  const reads = await mapConcurrent(listed, READS_IN_FLIGHT, async (o) => {
    const record = await getJson<NodeRecord>(s3, loc.bucket, o.key);
    const id = record?.instanceId ?? o.key.slice(nodesPrefix(loc.prefix).length, -'.json'.length);
    return record ? ([id, { record, lastModifiedMs: o.lastModifiedMs }] as const) : undefined;
  });
  return new Map(reads.filter((r) => r !== undefined));
}

/** Launch ids start with their UTC time (l-yyyymmddhhmmss-…): a launch after the window is not read. */
function launchTimeOf(key: string): number | undefined {
  const m = /l-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})-[0-9a-f]+\.json$/.exec(key);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : undefined;
}

export async function readLaunchRecords(s3: CostPorts['s3'], loc: JobLocation, until: number): Promise<LaunchRecord[]> {
  const listed = (await listKeys(s3, loc.bucket, `${loc.prefix}launches/`)).filter((o) => (launchTimeOf(o.key) ?? 0) <= until);
  const reads = await mapConcurrent(listed, READS_IN_FLIGHT, (o) => getJson<LaunchRecord>(s3, loc.bucket, o.key));
  return reads.filter((r): r is LaunchRecord => r !== undefined && typeof r.launchId === 'string' && Array.isArray(r.instances));
}

/** The price series of every pool of `types` over [start, end], each beginning with the change in force at `start`. */
export async function priceSeries(ec2: CostPorts['ec2'], types: readonly string[], start: number, end: number): Promise<Map<string, PricePoint[]>> {
  const series = new Map<string, PricePoint[]>();
  if (!types.length) return series;
  let token: string | undefined;
  do {
    const page = await ec2.describeSpotPriceHistory({
      InstanceTypes: [...types] as never,
      ProductDescriptions: ['Linux/UNIX'],
      StartTime: new Date(start),
      EndTime: new Date(end),
      MaxResults: 1000,
      ...(token ? { NextToken: token } : {}),
    });
    for (const row of page.SpotPriceHistory ?? []) {
      const price = Number(row.SpotPrice);
      if (!row.InstanceType || !row.AvailabilityZone || !row.Timestamp || !Number.isFinite(price)) continue;
      const key = `${row.InstanceType}\t${row.AvailabilityZone}`;
      let list = series.get(key);
      if (!list) series.set(key, (list = []));
      list.push({ at: new Date(row.Timestamp).getTime(), price });
    }
    token = page.NextToken || undefined;
  } while (token);
  for (const points of series.values()) points.sort((a, b) => a.at - b.at);
  return series;
}

/** gp3 storage, USD per GB-month, from Pricing (productFamily Storage, volumeApiName gp3); undefined when unlisted. */
export async function gp3Price(pricing: PricingPort, region: string): Promise<number | undefined> {
  const filters = [
    ['productFamily', 'Storage'],
    ['volumeApiName', 'gp3'],
    ['regionCode', region],
  ].map(([Field, Value]) => ({ Type: 'TERM_MATCH' as const, Field: Field!, Value: Value! }));
  const page = await pricing.getProducts({ ServiceCode: 'AmazonEC2', FormatVersion: 'aws_v1', Filters: filters, MaxResults: 10 });
  for (const text of page.PriceList ?? []) {
    try {
      const doc = JSON.parse(String(text)) as { terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: { USD?: string } }> }> } };
      for (const term of Object.values(doc.terms?.OnDemand ?? {})) {
        for (const d of Object.values(term.priceDimensions ?? {})) {
          const v = Number(d.pricePerUnit?.USD);
          if (d.unit === 'GB-Mo' && Number.isFinite(v) && v > 0) return v;
        }
      }
    } catch {
      // not a document: the next one
    }
  }
  return undefined;
}

export async function stackSnapshots(ec2: CostPorts['ec2'], stack: string): Promise<SnapshotInput[]> {
  const out: SnapshotInput[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.describeSnapshots({ OwnerIds: ['self'], Filters: stackFilters(stack, 'ami'), MaxResults: 1000, ...(token ? { NextToken: token } : {}) });
    for (const s of page.Snapshots ?? []) {
      if (!s.SnapshotId || s.StartTime === undefined) continue;
      out.push({ snapshotId: s.SnapshotId, imageId: /ami-[0-9a-f]+/.exec(s.Description ?? '')?.[0] ?? null, gib: s.VolumeSize ?? 0, startTime: new Date(s.StartTime).getTime() });
    }
    token = page.NextToken || undefined;
  } while (token);
  return out;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function costReport(ports: CostPorts, clock: Clock, req: CostRequest): Promise<CostReport> {
  const now = clock.now();
  const notes: string[] = [];
  const [records, launches, instances, snapshots, deadLettered] = await Promise.all([
    readNodeRecords(ports.s3, req.location, req.since),
    readLaunchRecords(ports.s3, req.location, req.until),
    stackNodes(ports.ec2, { stack: req.stack, all: true }),
    stackSnapshots(ports.ec2, req.stack).catch((err) => {
      notes.push(`AMI snapshots not read (${message(err)}): their storage is not in the cost`);
      return null;
    }),
    ports.sqs && req.queueName
      ? ports
          .sqs()
          .then((sqs) => queueStats(sqs, req.queueName!, req.region))
          .then((s) => (s.deadLetter ? s.deadLetter.visible + s.deadLetter.inFlight : 0))
          .catch((err) => {
            notes.push(`dead-letter queue not read (${message(err)}): dead-lettered jobs are not counted as failed`);
            return null;
          })
      : Promise.resolve(null),
  ]);
  const lives = assembleLives({ stack: req.stack, records, launches, instances: instances as NodeInstance[], now, defaultRootVolumeGiB: req.defaultRootVolumeGiB });
  const inWindow = lives.filter((l) => l.start === undefined || l.start < req.until);
  const spotTypes = [...new Set(inWindow.filter((l) => l.market === 'spot').map((l) => l.instanceType))].sort();
  const allTypes = [...new Set(inWindow.map((l) => l.instanceType))].sort();
  const priceHistoryFrom = now - PRICE_HISTORY_MS;
  const [series, onDemand, gp3] = await Promise.all([
    priceSeries(ports.ec2, spotTypes, Math.max(req.since, priceHistoryFrom), req.until),
    onDemandPrices({ pricing: ports.pricing, clock, region: req.region, endpoint: ports.pricingEndpoint, cacheDir: ports.cacheDir }, allTypes).catch((err) => {
      notes.push(`on-demand prices unavailable (${message(err)}): no savings figures`);
      return new Map<string, number | null>(allTypes.map((t) => [t, null]));
    }),
    ports
      .pricing()
      .then((p) => gp3Price(p, req.region))
      .catch(() => undefined),
  ]);
  if (gp3 === undefined) notes.push(`gp3 price not listed by Pricing: $${GP3_DEFAULT_PER_GB_MONTH}/GB-month (us-east-1's published price) assumed`);
  const report = buildReport({
    stack: req.stack,
    region: req.region,
    window: { since: req.since, until: req.until },
    by: req.by,
    lives: inWindow,
    series,
    priceHistoryFrom,
    onDemand,
    rates: { gp3PerGbMonth: gp3 ?? GP3_DEFAULT_PER_GB_MONTH, ipv4PerHour: IPV4_PER_HOUR, snapshotPerGbMonth: SNAPSHOT_PER_GB_MONTH },
    rateSources: { gp3: gp3 === undefined ? 'default' : 'pricing', ipv4: 'published', snapshot: 'published' },
    snapshots,
    deadLettered,
    notes,
  });
  if (!req.reconcile) return report;
  return { ...report, reconcile: await reconcile(await ports.ce(), { stack: req.stack, since: req.since, until: req.until, reportCost: report.totals.cost }) };
}
