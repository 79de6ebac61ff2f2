// `fluxer cost report`: what the stack's nodes cost over a window, from the node and launch records,
// the spot price history and billed uptime; against on-demand, per image, with the key metrics.
// Only reads. docs/cost.md explains every figure.
import { defineCommand } from '../../cli/command.js';
import { parseDuration } from '../../cli/parse.js';
import { costReport } from '../../core/cost/collect.js';
import { formatCsv } from '../../core/cost/csv.js';
import { formatReport } from '../../core/cost/format.js';
import { GROUPINGS, type Grouping } from '../../core/cost/report.js';
import { MAX_LOOKBACK_MS, parseDate, resolveWindow, type TimeArg } from '../../core/cost/window.js';
import { UsageError } from '../../lib/errors.js';
import { fluxerStateDir } from '../../lib/state-dir.js';

interface Opts {
  since?: TimeArg;
  until?: TimeArg;
  by: Grouping;
  csv?: boolean;
  reconcile?: boolean;
}

export function parseSince(text: string): TimeArg {
  if (/^\d{4}-/.test(text.trim())) return { kind: 'at', ms: parseDate('--since', text) };
  return { kind: 'ago', ms: parseDuration('--since', text, { minMs: 60_000, maxMs: MAX_LOOKBACK_MS }) };
}

function parseBy(text: string): Grouping {
  if (!(GROUPINGS as readonly string[]).includes(text)) throw new UsageError(`--by ${JSON.stringify(text)}: must be one of ${GROUPINGS.join(', ')}`);
  return text as Grouping;
}

export default defineCommand<Opts>({
  name: 'report',
  description:
    "What the stack's GPU nodes cost between --since and --until: each node's billed uptime (launch to termination,\n" +
    'from its node record, launch record or EC2) integrated per second over the spot price history of its pool, 60 s\n' +
    'minimum, the first hour free only when AWS interrupted it; its root volume, public IPv4 address and the AMI\n' +
    "snapshots as lines of their own; against on-demand; per image; and the runtime's key metrics. An estimate from\n" +
    'price history; --reconcile sets it beside Cost Explorer. See docs/cost.md.',
  options: [
    { flags: '--since <duration|date>', description: 'start: a duration back from --until (7d, 36h) or a date (2026-11-01, ISO-8601); default 7d', parse: parseSince },
    { flags: '--until <date>', description: 'end (default: now)', parse: (t: string) => ({ kind: 'at', ms: parseDate('--until', t) }) },
    { flags: '--by <grouping>', description: `group by ${GROUPINGS.join(', ')}`, parse: parseBy, default: 'day' },
    { flags: '--csv', description: 'CSV rows (groups, lines, totals) for spreadsheets' },
    { flags: '--reconcile', description: "compare with Cost Explorer for the fluxer:stack cost-allocation tag (lags about a day; $0.01 per request)" },
  ],
  examples: ['fluxer cost report', 'fluxer cost report --since 30d --by type', 'fluxer cost report --since 2026-11-01 --until 2026-12-01 --csv > november.csv', 'fluxer cost report --json | jq .totals'],
  async handler(ctx, _args, opts) {
    if (opts.csv && ctx.out.json) throw new UsageError('--csv and --json: choose one');
    const window = resolveWindow(ctx.clock.now(), opts.since, opts.until);
    const { settings, stack } = ctx.config();
    if (!settings.bucket) throw new UsageError(`the stack "${stack}" has no bucket: the node and launch records live there`, { hint: 'Set one with `fluxer init`, then `fluxer setup`.' });
    const region = settings.spotRegion ?? settings.region;
    const aws = ctx.aws();
    const [s3, ec2] = await Promise.all([aws.s3(), aws.ec2(region)]);
    const report = await costReport(
      {
        s3,
        ec2,
        pricing: () => aws.pricing(),
        pricingEndpoint: aws.endpointFor('PRICING'),
        cacheDir: fluxerStateDir(ctx.env, 'cache'),
        sqs: settings.queueName ? () => aws.sqs() : undefined,
        ce: () => aws.ce(),
      },
      ctx.clock,
      { stack, region, location: { bucket: settings.bucket, prefix: settings.prefix }, queueName: settings.queueName, ...window, by: opts.by, defaultRootVolumeGiB: settings.volumeSize, reconcile: opts.reconcile ?? false },
    );
    for (const note of report.inputs.notes) ctx.out.info(`Note: ${note}`);
    if (opts.csv) {
      ctx.out.raw(formatCsv(report));
      return;
    }
    ctx.out.result(report, () => formatReport(report, { table: (h, r) => ctx.out.table(h, r), chart: ctx.out.stdoutIsTTY, unicode: ctx.env.TERM !== 'dumb' }));
  },
});
