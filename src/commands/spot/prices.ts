// `fluxer spot prices`: what each pool of the stack's instance types costs now, against on-demand, with
// what the type is and how likely EC2 thinks a spot request is to be filled there.
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { ON_DEMAND_CACHE_MS } from '../../core/launch/on-demand.js';
import { priceTable, sparkline, type PriceRow } from '../../core/launch/price-table.js';
import { fileTtlCache } from '../../core/launch/ttl-cache.js';
import { UsageError } from '../../lib/errors.js';
import { fluxerStateDir } from '../../lib/state-dir.js';

interface PricesOpts {
  type?: string[];
  history?: number;
}

const TYPE_NAME = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

export default defineCommand<PricesOpts>({
  name: 'prices',
  description:
    'Per instance type and AZ of the stack\'s spotRegion (else its region): the spot price in force now\n' +
    '(DescribeSpotPriceHistory, Linux/UNIX), the on-demand price (Pricing GetProducts, cached a day under the state\n' +
    'folder), the savings, GPU name, count and memory, vCPUs, whether the AZ offers the type, and EC2\'s spot\n' +
    'placement score of the AZ when the account may ask. Cheapest first. See docs/spot.md.',
  options: [
    { flags: '--type <type>', description: 'an instance type (repeatable; default: the stack\'s instanceTypes)', repeatable: true },
    { flags: '--history <duration>', description: 'add each pool\'s price changes over this period (1h to 90d): a sparkline, and the series in JSON', parse: durationFlag('--history', { minMs: 3_600_000, maxMs: 90 * 86_400_000 }) },
  ],
  examples: ['fluxer spot prices', 'fluxer spot prices --type g6e.xlarge --type g5.2xlarge --history 7d', 'fluxer spot prices --json | jq ".rows[0]"'],
  async handler(ctx, _args, opts) {
    const { settings } = ctx.config();
    const types = [...new Set(opts.type?.length ? opts.type : settings.instanceTypes)];
    const bad = types.find((t) => !TYPE_NAME.test(t));
    if (bad !== undefined) throw new UsageError(`--type ${JSON.stringify(bad)}: not an instance type name (family.size, e.g. g6e.xlarge)`);
    const region = settings.spotRegion ?? settings.region;
    const aws = ctx.aws();
    const [ec2, pricing] = await Promise.all([aws.ec2(region), aws.pricing()]);
    const cache = fileTtlCache<number | null>(fluxerStateDir(ctx.env, 'cache', 'on-demand-prices.json'), ON_DEMAND_CACHE_MS, ctx.clock);
    const { rows, scoresUnavailable } = await priceTable({ ec2, pricing }, ctx.clock, {
      region,
      types,
      onDemandCache: cache,
      cacheScope: aws.endpointFor('PRICING') ?? 'aws',
      ...(opts.history ? { historyMs: opts.history } : {}),
    });
    if (scoresUnavailable) ctx.out.info(`Placement scores unavailable (${scoresUnavailable}); the score column is empty.`);
    const withHistory = opts.history !== undefined;
    ctx.out.result({ region, rows }, () =>
      rows.length ? ctx.out.table(headers(withHistory, ctx.out.stdoutIsTTY), rows.map((r) => cells(r, withHistory, ctx.out.stdoutIsTTY))) : '',
    );
    if (!rows.length) ctx.out.info(`No spot price listed in ${region} for ${types.join(', ')}.`);
  },
});

function headers(history: boolean, tty: boolean): string[] {
  return ['TYPE', 'AZ', 'SPOT $/H', 'ON-DEMAND $/H', 'SAVINGS', 'GPU', 'VCPUS', 'OFFERED', 'SCORE', ...(history ? [tty ? 'HISTORY' : 'CHANGES'] : [])];
}

function cells(r: PriceRow, history: boolean, tty: boolean): Array<string | number | null> {
  const gpu = r.gpu ? `${r.gpu.count}× ${r.gpu.name} ${Math.round(r.gpu.memoryMiB / 1024)} GiB` : 'none';
  const savings = r.savings ? `${Math.round(r.savings.fraction * 100)}% ($${r.savings.perHour.toFixed(4)})` : null;
  const trend = history ? [tty ? sparkline(r.history ?? []) : (r.history?.length ?? 0)] : [];
  return [r.instanceType, r.az, r.spotPrice?.toFixed(4) ?? null, r.onDemandPrice?.toFixed(4) ?? null, savings, gpu, r.vcpus, r.offered ? 'yes' : 'no', r.score, ...trend];
}
