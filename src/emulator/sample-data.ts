// Sample answers the local region starts with, where AWS's would be your account's or the market's:
// the spot vCPU quotas, spot prices, on-demand prices and placement scores of the G instance types
// fluxer launches by default, in us-east-1's six zones. SAMPLE DATA, not AWS's: the prices are of the
// order AWS listed in 2026 (on-demand: the public price list; spot: a typical discount), fixed in time,
// so `fluxer spot prices|launch --stack local` behave like a real region with a plausible market.
// docs/local.md lists them. The tests set their own through the control API and never rely on these.
import type { AwsStandin, QuotaEntry } from './server.js';
import { setStandinOnDemandPrices, setStandinPlacementScores, setStandinSpotPrices, type SpotPriceEntry } from './prices.js';

export const SAMPLE_REGION = 'us-east-1';
const ZONES = ['a', 'b', 'c', 'd', 'e', 'f'];

/** USD per hour: [on-demand, spot in zone a, and each next zone a little dearer]. */
export const SAMPLE_PRICES: Record<string, { onDemand: number; spot: number }> = {
  'g6e.xlarge': { onDemand: 1.861, spot: 0.744 },
  'g5.xlarge': { onDemand: 1.006, spot: 0.452 },
  'g6.xlarge': { onDemand: 0.805, spot: 0.387 },
  'g5.2xlarge': { onDemand: 1.212, spot: 0.545 },
  'g6.2xlarge': { onDemand: 0.978, spot: 0.47 },
};

export const SAMPLE_GP3_PER_GB_MONTH = 0.08;

/** The spot vCPU quotas of a new account (AWS's defaults are this order, and often lower). */
export const SAMPLE_QUOTAS: QuotaEntry[] = [
  // All G and VT Spot Instance Requests
  { serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 64 },
  { serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 64, kind: 'default' },
  // All P4, P3 and P2 / P5 Spot Instance Requests: none until asked for
  { serviceCode: 'ec2', quotaCode: 'L-7212CCBC', value: 0 },
  { serviceCode: 'ec2', quotaCode: 'L-C4BD4855', value: 0 },
  // All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests
  { serviceCode: 'ec2', quotaCode: 'L-34B43A08', value: 32 },
];

export async function loadSampleData(emulator: Pick<AwsStandin, 'endpoint' | 'setQuotas'>, at = '2026-01-01T00:00:00Z'): Promise<void> {
  emulator.setQuotas(SAMPLE_QUOTAS);
  const spot: SpotPriceEntry[] = [];
  for (const [instanceType, p] of Object.entries(SAMPLE_PRICES)) {
    ZONES.forEach((z, i) => spot.push({ instanceType, az: `${SAMPLE_REGION}${z}`, price: Number((p.spot * (1 + i * 0.03)).toFixed(4)), at }));
  }
  await setStandinSpotPrices(emulator.endpoint, spot);
  await setStandinOnDemandPrices(
    emulator.endpoint,
    [
      ...Object.entries(SAMPLE_PRICES).map(([instanceType, p]) => ({ region: SAMPLE_REGION, instanceType, price: p.onDemand })),
      // gp3 storage per GB-month (the cost report's root volumes): us-east-1's published price.
      { region: SAMPLE_REGION, volumeApiName: 'gp3', price: SAMPLE_GP3_PER_GB_MONTH },
    ],
  );
  await setStandinPlacementScores(
    emulator.endpoint,
    ZONES.map((_, i) => ({ region: SAMPLE_REGION, azId: `use1-az${i + 1}`, score: 9 - (i % 3) })),
  );
}
