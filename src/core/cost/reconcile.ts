// `--reconcile`: the report beside Cost Explorer's billed cost for the stack's cost-allocation tag.
// GetCostAndUsage, DAILY, UnblendedCost, filtered on the tag fluxer:stack = <stack>; paged.
// https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html
// Cost Explorer lags 12-24 h, sees a tag only once it is activated as a cost-allocation tag
// (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/activating-tags.html), works in whole
// UTC days, and charges $0.01 per request.
import type { CePort } from '../../aws/ce.js';
import { TAG_STACK } from '../tags.js';

export const CE_REQUEST_USD = 0.01;
export const LAG_NOTE = 'Cost Explorer lags about a day (12-24 h), counts a tag only once it is activated as a cost-allocation tag, and works in whole UTC days; today and yesterday are usually incomplete there.';
const DAY_MS = 86_400_000;

export interface Reconciliation {
  source: 'Cost Explorer';
  tag: string;
  /** Whole UTC days asked for, End exclusive (Cost Explorer's TimePeriod). */
  start: string;
  end: string;
  available: boolean;
  costExplorerCost: number | null;
  reportCost: number;
  /** report − Cost Explorer. */
  difference: number | null;
  days: Array<{ date: string; cost: number; estimated: boolean }>;
  requests: number;
  requestCost: number;
  note: string;
  error?: string;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function ceTimePeriod(since: number, until: number): { Start: string; End: string } {
  const start = Math.floor(since / DAY_MS) * DAY_MS;
  const end = Math.max(start + DAY_MS, Math.ceil(until / DAY_MS) * DAY_MS);
  return { Start: day(start), End: day(end) };
}

export async function reconcile(ce: CePort, opts: { stack: string; since: number; until: number; reportCost: number }): Promise<Reconciliation> {
  const period = ceTimePeriod(opts.since, opts.until);
  const base = { source: 'Cost Explorer' as const, tag: `${TAG_STACK}=${opts.stack}`, start: period.Start, end: period.End, reportCost: opts.reportCost, note: LAG_NOTE };
  const days: Reconciliation['days'] = [];
  let requests = 0;
  try {
    let token: string | undefined;
    do {
      requests++;
      const page = await ce.getCostAndUsage({
        TimePeriod: period,
        Granularity: 'DAILY',
        Metrics: ['UnblendedCost'],
        Filter: { Tags: { Key: TAG_STACK, Values: [opts.stack], MatchOptions: ['EQUALS'] } },
        ...(token ? { NextPageToken: token } : {}),
      });
      for (const r of page.ResultsByTime ?? []) {
        const metric = r.Total?.UnblendedCost ?? r.Total?.BlendedCost;
        const amount = Number(metric?.Amount ?? 0);
        days.push({ date: r.TimePeriod?.Start ?? '', cost: Number.isFinite(amount) ? Math.round(amount * 10_000) / 10_000 : 0, estimated: Boolean(r.Estimated) });
      }
      token = page.NextPageToken || undefined;
    } while (token);
  } catch (err) {
    return { ...base, available: false, costExplorerCost: null, difference: null, days, requests, requestCost: requests * CE_REQUEST_USD, error: err instanceof Error ? err.message : String(err) };
  }
  // No rows at all: the tag is not activated, or nothing is billed yet; never read as $0.
  const cost = days.length ? Math.round(days.reduce((a, d) => a + d.cost, 0) * 10_000) / 10_000 : null;
  return {
    ...base,
    available: cost !== null,
    costExplorerCost: cost,
    difference: cost === null ? null : Math.round((opts.reportCost - cost) * 10_000) / 10_000,
    days,
    requests,
    requestCost: requests * CE_REQUEST_USD,
  };
}
