// `fluxer jobs list`: recent jobs, newest first, from S3 (the durable record; ids are time-ordered).
import { defineCommand } from '../../cli/command.js';
import { durationFlag, integerFlag } from '../../cli/parse.js';
import { uuidv7Floor, uuidv7Time } from '../../core/ids.js';
import { JOB_STATES, listJobIds, readStatus, type JobStatus } from '../../core/jobs.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import { jobLocation } from '../../core/stack-resources.js';
import { describeJobError } from '../../core/tail.js';

interface ListOptions {
  since?: number;
  state?: string;
  limit: number;
}

interface ListedJob {
  id: string;
  state: string;
  model: string | null;
  progress: JobStatus['progress'] | null;
  submittedAt: string | null;
  node: string | null;
  outputs: number;
  error: string | null;
}

export default defineCommand<ListOptions>({
  name: 'list',
  options: [
    { flags: '--since <duration>', description: 'only jobs submitted within this long, e.g. 30m, 24h', parse: durationFlag('--since', { minMs: 1000, maxMs: 366 * 24 * 3_600_000 }) },
    { flags: '--state <state>', description: 'only jobs in this state', choices: JOB_STATES },
    { flags: '--limit <n>', description: 'at most this many jobs', parse: integerFlag('--limit', 1, 10_000), default: 20 },
  ],
  examples: ['fluxer jobs list', 'fluxer jobs list --since 1h --state failed', 'fluxer jobs list --json | jq -r ".[].id"'],
  async handler(ctx, _args, opts) {
    const loc = jobLocation(ctx.config());
    const s3 = await ctx.aws().s3();
    const cutoff = opts.since === undefined ? undefined : ctx.clock.now() - opts.since;
    const ids = (await listJobIds(s3, loc, { startAfterId: cutoff === undefined ? undefined : uuidv7Floor(cutoff) })).reverse();
    // Newest first, read in rounds so `--limit 20` reads about 20 documents, not every job ever.
    const jobs: ListedJob[] = [];
    for (let i = 0; i < ids.length && jobs.length < opts.limit; i += 32) {
      const page = await mapConcurrent(ids.slice(i, i + 32), 16, async (id) => toListed(id, await readStatus(s3, loc, id).catch(() => undefined)));
      jobs.push(...page.filter((j) => opts.state === undefined || j.state === opts.state));
    }
    const shown = jobs.slice(0, opts.limit);
    ctx.out.result(shown, () =>
      shown.length === 0
        ? ''
        : ctx.out.table(
            ['ID', 'STATE', 'MODEL', 'PROGRESS', 'SUBMITTED', 'NODE', 'ERROR'],
            shown.map((j) => [j.id, j.state, j.model, j.progress ? `${j.progress.image}/${j.progress.count} ${j.progress.step}/${j.progress.steps}` : '', j.submittedAt, j.node, j.error]),
          ),
    );
    if (shown.length === 0) ctx.out.info(`No jobs${opts.state ? ` in state ${opts.state}` : ''}${opts.since !== undefined ? ' in that time' : ''} in s3://${loc.bucket}/${loc.prefix}jobs/`);
  },
});

function toListed(id: string, read: Awaited<ReturnType<typeof readStatus>> | undefined): ListedJob {
  const s = read?.kind === 'found' ? read.status : undefined;
  const made = uuidv7Time(id);
  return {
    id,
    state: s?.state ?? (read === undefined ? 'unreadable' : 'unknown'),
    model: s?.model ?? null,
    progress: s?.progress ?? null,
    submittedAt: s?.timings?.submittedAt ?? (made === undefined ? null : new Date(made).toISOString()),
    node: s?.node?.instanceId ?? null,
    outputs: s?.outputs?.length ?? 0,
    error: s ? describeJobError(s) || null : null,
  };
}
