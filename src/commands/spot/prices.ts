// `fluxer spot prices`: per (type, AZ) the spot price now, on-demand, savings, GPU, offering and
// placement score, cheapest first; `--history` adds the series. Only reads.
import { defineCommand } from '../../cli/command.js';
import { parseDuration } from '../../cli/parse.js';
import { spotPriceReport } from '../../core/launch/price-report.js';
import { sparkline, type PriceRow } from '../../core/launch/price-table.js';
import { UsageError } from '../../lib/errors.js';
import { fluxerStateDir } from '../../lib/state-dir.js';

const HISTORY_MIN_MS = 3_600_000;
const HISTORY_MAX_MS = 90 * 86_400_000;

/** 1h to 90d: EC2 keeps 90 days of spot price history. */
export function parseHistory(text: string): number {
  const ms = parseDuration('--history', text, { minMs: 0, maxMs: Number.MAX_SAFE_INTEGER });
  if (ms < HISTORY_MIN_MS || ms > HISTORY_MAX_MS) {
    throw new UsageError(`--history ${JSON.stringify(text)}: must be between 1h and 90d (EC2 keeps 90 days of spot price history)`, { hint: 'e.g. --history 7d' });
  }
  return ms;
}

interface Opts {
  type?: string[];
  history?: number;
}

const usd = (n: number | null, digits = 4) => (n === null ? '-' : `$${n.toFixed(digits)}`);
const gpuText = (g: PriceRow['gpu']) => (g ? `${g.count}× ${g.name} ${Math.round(g.memoryMiB / 1024)} GiB` : '-');

export default defineCommand<Opts>({
  name: 'prices',
  description:
    'For each instance type (default: the stack\'s instanceTypes) and AZ of the spot region (spotRegion, else\n' +
    'region): the Linux spot price in force now, the on-demand price (Pricing API, cached a day), what spot saves,\n' +
    'the GPU, vCPUs, whether the type is offered there, and EC2\'s spot placement score (1-10) when the account\n' +
    'may ask. Cheapest first. See docs/spot.md.',
  options: [
    { flags: '--type <type>', description: 'instance type (repeatable; default: the stack\'s instanceTypes)', repeatable: true },
    { flags: '--history <duration>', description: 'add the price series over this long (1h to 90d, e.g. 7d): a sparkline, or the points under --json', parse: parseHistory },
  ],
  examples: ['fluxer spot prices', 'fluxer spot prices --type g5.xlarge --type g6e.xlarge --history 7d', 'fluxer spot prices --json'],
  async handler(ctx, _args, opts) {
    const { settings } = ctx.config();
    const types = [...new Set(opts.type?.length ? opts.type : settings.instanceTypes)];
    if (!types.length) throw new UsageError('--type: no instance types given and the stack has no instanceTypes', { hint: 'fluxer spot prices --type g5.xlarge' });
    const region = settings.spotRegion ?? settings.region;
    const aws = ctx.aws();
    const report = await spotPriceReport({
      ec2: await aws.ec2(region),
      pricing: () => aws.pricing(),
      pricingEndpoint: aws.endpointFor('PRICING'),
      cacheDir: fluxerStateDir(ctx.env, 'cache'),
      clock: ctx.clock,
      region,
      types,
      ...(opts.history !== undefined ? { historyMs: opts.history } : {}),
    });
    for (const note of report.notes) ctx.out.info(`Note: ${note}`);
    const rows = report.rows.map((r) => ({ ...r, ...(r.history ? { history: r.history.map((p) => ({ at: new Date(p.at).toISOString(), price: p.price })) } : {}) }));
    ctx.out.result({ region: report.region, rows }, () => {
      const withLine = report.window !== undefined && ctx.out.stdoutIsTTY;
      const headers = ['TYPE', 'AZ', 'SPOT $/H', 'ON-DEMAND $/H', 'SAVES', 'GPU', 'VCPUS', 'OFFERED', 'SCORE', ...(withLine ? ['HISTORY'] : [])];
      return ctx.out.table(
        headers,
        report.rows.map((r) => [
          r.instanceType,
          r.az,
          usd(r.spotPrice),
          usd(r.onDemandPrice),
          r.savings ? `${Math.round(r.savings.fraction * 100)}% (${usd(r.savings.usdPerHour)})` : '-',
          gpuText(r.gpu),
          r.vcpus,
          r.offered ? 'yes' : 'no',
          r.score ?? '-',
          ...(withLine && report.window ? [sparkline(r.history ?? [], report.window.start, report.window.end)] : []),
        ]),
      );
    });
  },
});
