// `fluxer spot prices` as a library: reads types, offerings, spot prices (now, and the series when
// asked), on-demand prices and placement scores, and builds the ranked rows. Only reads.
import type { Ec2Port } from '../../aws/ec2.js';
import { isPermissionDenied, isUnsupportedOperation } from '../../aws/errors.js';
import type { PricingPort } from '../../aws/pricing.js';
import type { Clock } from '../../lib/clock.js';
import { describeTypes, offeredAzs } from './instance-types.js';
import { onDemandPrices } from './on-demand.js';
import { placementScores } from './placement.js';
import { buildPriceRows, type PriceRow } from './price-table.js';
import { currentSpotPrices, spotPriceHistory } from './spot-prices.js';

export type PriceReportEc2 = Pick<Ec2Port, 'describeInstanceTypes' | 'describeInstanceTypeOfferings' | 'describeSpotPriceHistory' | 'getSpotPlacementScores' | 'describeAvailabilityZones'>;

export interface PriceReportOptions {
  ec2: PriceReportEc2;
  pricing: () => Promise<PricingPort>;
  pricingEndpoint: string | undefined;
  cacheDir: string;
  clock: Clock;
  region: string;
  types: readonly string[];
  historyMs?: number;
}

export interface PriceReport {
  region: string;
  rows: PriceRow[];
  /** Why some figures are missing (no placement scores, no on-demand price), for stderr. */
  notes: string[];
  /** The series' window, when history was asked for. */
  window?: { start: number; end: number };
}

/** AZ name → AZ id in the client's region (placement scores speak ids: use1-az1, …). */
async function azIdsByName(ec2: Pick<Ec2Port, 'describeAvailabilityZones'>): Promise<Map<string, string>> {
  const page = await ec2.describeAvailabilityZones({});
  return new Map((page.AvailabilityZones ?? []).flatMap((z) => (z.ZoneName && z.ZoneId ? [[z.ZoneName, z.ZoneId] as [string, string]] : [])));
}

export async function spotPriceReport(o: PriceReportOptions): Promise<PriceReport> {
  // First, and alone: an unknown type is exit 2 with nothing but this read sent.
  const info = await describeTypes(o.ec2, o.types);
  const notes: string[] = [];
  const [offered, spot, azIds, scores, history] = await Promise.all([
    offeredAzs(o.ec2, o.types),
    currentSpotPrices(o.ec2, o.clock, o.types),
    azIdsByName(o.ec2),
    placementScores(o.ec2, o.region, o.types, 1),
    o.historyMs !== undefined ? spotPriceHistory(o.ec2, o.clock, o.types, o.historyMs) : Promise.resolve(undefined),
  ]);
  if (scores.unavailable) notes.push(`placement scores unavailable (score is null): ${scores.unavailable}`);
  else if (scores.byAzId.size === 0) notes.push('placement scores: EC2 returned none for these types (score is null)');
  let onDemand = new Map<string, number | null>();
  try {
    onDemand = await onDemandPrices({ pricing: o.pricing, clock: o.clock, region: o.region, endpoint: o.pricingEndpoint, cacheDir: o.cacheDir }, o.types);
  } catch (err) {
    // On-demand prices only add the savings column; without pricing:GetProducts the rest still stands.
    if (!isPermissionDenied(err) && !isUnsupportedOperation(err)) throw err;
    notes.push(`on-demand prices unavailable (onDemandPrice and savings are null): ${(err as Error).message.split('\n')[0]}`);
  }
  for (const [t, p] of onDemand) if (p === null) notes.push(`on-demand: the Price List has no Linux on-demand price for ${t} in ${o.region}`);
  const rows = buildPriceRows({ types: o.types, info, spot, onDemand, offered, azIds, scoresByAzId: scores.byAzId, ...(history ? { history } : {}) });
  const now = o.clock.now();
  return { region: o.region, rows, notes, ...(o.historyMs !== undefined ? { window: { start: now - o.historyMs, end: now } } : {}) };
}
