// The spot price in force per (instance type, AZ): DescribeSpotPriceHistory for Linux/UNIX with
// StartTime = now returns, per pool, the last price change at or before now (paged with NextToken).
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSpotPriceHistory.html
import type { Ec2Port } from '../../aws/ec2.js';
import type { Clock } from '../../lib/clock.js';

export interface SpotPrice {
  instanceType: string;
  az: string;
  /** USD per instance-hour. */
  price: number;
  /** When this price came into force (ms since the epoch, AWS's clock). */
  since: number;
}

export type SpotPricePort = Pick<Ec2Port, 'describeSpotPriceHistory'>;

type TypeNames = NonNullable<Parameters<Ec2Port['describeSpotPriceHistory']>[0]['InstanceTypes']>;

/** The current price of every pool of `types` (in `azs` when given), one row per (type, AZ). */
export async function currentSpotPrices(ec2: SpotPricePort, clock: Clock, types: readonly string[], azs?: readonly string[]): Promise<SpotPrice[]> {
  const now = new Date(clock.now());
  const latest = new Map<string, SpotPrice>();
  let token: string | undefined;
  do {
    const page = await ec2.describeSpotPriceHistory({
      InstanceTypes: [...types] as TypeNames,
      ProductDescriptions: ['Linux/UNIX'],
      StartTime: now,
      EndTime: now,
      ...(token ? { NextToken: token } : {}),
    });
    for (const row of page.SpotPriceHistory ?? []) {
      if (!row.InstanceType || !row.AvailabilityZone || row.SpotPrice === undefined) continue;
      if (azs && !azs.includes(row.AvailabilityZone)) continue;
      const price = Number(row.SpotPrice);
      const since = row.Timestamp ? new Date(row.Timestamp).getTime() : 0;
      if (!Number.isFinite(price)) continue;
      const key = `${row.InstanceType}\t${row.AvailabilityZone}`;
      const seen = latest.get(key);
      if (!seen || since > seen.since) latest.set(key, { instanceType: row.InstanceType, az: row.AvailabilityZone, price, since });
    }
    token = page.NextToken || undefined;
  } while (token);
  return [...latest.values()].sort((a, b) => a.price - b.price || a.instanceType.localeCompare(b.instanceType) || a.az.localeCompare(b.az));
}

export interface PricePoint {
  /** When the price came into force, ms since the epoch. */
  at: number;
  price: number;
}

/**
 * The price series of every pool of `types` over the last `durationMs`, oldest first, keyed
 * "type\taz". AWS includes the change in force at the start, so each series begins at or before it.
 */
export async function spotPriceHistory(ec2: SpotPricePort, clock: Clock, types: readonly string[], durationMs: number): Promise<Map<string, PricePoint[]>> {
  const end = new Date(clock.now());
  const start = new Date(clock.now() - durationMs);
  const series = new Map<string, PricePoint[]>();
  let token: string | undefined;
  do {
    const page = await ec2.describeSpotPriceHistory({
      InstanceTypes: [...types] as TypeNames,
      ProductDescriptions: ['Linux/UNIX'],
      StartTime: start,
      EndTime: end,
      ...(token ? { NextToken: token } : {}),
    });
    for (const row of page.SpotPriceHistory ?? []) {
      const price = Number(row.SpotPrice);
      if (!row.InstanceType || !row.AvailabilityZone || !row.Timestamp || !Number.isFinite(price)) continue;
      const key = `${row.InstanceType}\t${row.AvailabilityZone}`;
      series.set(key, [...(series.get(key) ?? []), { at: new Date(row.Timestamp).getTime(), price }]);
    }
    token = page.NextToken || undefined;
  } while (token);
  for (const points of series.values()) points.sort((a, b) => a.at - b.at);
  return series;
}
