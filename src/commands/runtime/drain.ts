// `fluxer runtime drain`: the selected runtimes stop taking jobs (the running one finishes); with
// --wait, until no job runs on them.
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { interrupted, nodesFailure, openSession, TARGET_OPTIONS } from '../../cli/remote.js';
import { jobFinished, runtimeControl, waitForStatus, type StatusRow } from '../../core/remote/runtime.js';
import type { TargetFlags } from '../../core/remote/targets.js';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode, PendingError } from '../../lib/errors.js';

interface DrainOpts extends TargetFlags {
  wait?: boolean;
  timeout: number;
}

export default defineCommand<DrainOpts>({
  name: 'drain',
  description:
    'Runs `fluxer-runtime drain` on each selected node over SSM: the runtime takes no new jobs (state DRAINING) and\n' +
    'the running job finishes. With --wait, polls status until no job runs on any of them (exit 8 when --timeout\n' +
    'passes first). `fluxer runtime resume` takes jobs again. See docs/runtime-ops.md.',
  options: [
    ...TARGET_OPTIONS,
    { flags: '--wait', description: 'wait until the running jobs are done' },
    { flags: '--timeout <duration>', description: 'with --wait: how long to wait', parse: durationFlag('--timeout', { minMs: 5000, maxMs: 24 * 3_600_000 }), default: 600_000, defaultLabel: '10m' },
  ],
  examples: ['fluxer runtime drain --node i-0123456789abcdef0', 'fluxer runtime drain --all --wait --timeout 15m --json'],
  async handler(ctx, _args, opts) {
    const session = await openSession(ctx, opts, 'drain');
    if (!session) return;
    const deadline = ctx.clock.now() + opts.timeout;
    let rows = await runtimeControl(session.ports, ctx.clock, session.ids, 'drain', { ...session.settings, waitMs: 60_000 }).catch((err) => interrupted(ctx, err, 'the drain'));
    let busy: string[] = [];
    if (opts.wait) {
      const drained = rows.filter((r) => r.ok).map((r) => r.instanceId);
      const spinner = await ctx.out.spinner(`Waiting for the running jobs on ${drained.length} node(s)`);
      try {
        const waited = await waitForStatus(session.ports, ctx.clock, drained, jobFinished, { ...session.settings, deadlineMs: deadline, intervalMs: 2000, roundWaitMs: 60_000 });
        busy = waited.waiting;
        rows = rows.map((r) => waited.rows.get(r.instanceId) ?? r);
      } catch (err) {
        interrupted(ctx, err, 'the running jobs');
      } finally {
        spinner.stop();
      }
    }
    const nodes = rows.map((r) => ({ instanceId: r.instanceId, ok: r.ok, error: r.error, agent: r.agent, state: r.health?.state ?? null, job: r.health?.job ?? null, ...(opts.wait ? { jobRunning: busy.includes(r.instanceId) } : {}) }));
    const failure =
      nodesFailure(rows, 'drain') ??
      (busy.length ? new PendingError(`Jobs still running after ${formatDuration(opts.timeout)} on: ${busy.join(', ')}`, { hint: 'The nodes stay drained; wait again with `fluxer runtime drain --wait`.' }) : undefined);
    const code = ctx.out.resultOrFailure({ nodes }, () => ctx.out.table(['ID', 'STATE', 'JOB', 'RESULT'], rows.map((r) => [r.instanceId, r.health?.state ?? null, jobText(r), r.ok ? 'drained' : r.error])), failure);
    if (code === ExitCode.Ok) ctx.out.info(`Drained ${rows.length} node(s)${opts.wait ? '; no job runs on them' : ''}. \`fluxer runtime resume\` takes jobs again.`);
    return code;
  },
});

const jobText = (r: StatusRow) => (r.health?.job ? `${r.health.job.id} step ${r.health.job.step ?? 0}/${r.health.job.steps ?? '?'}` : null);
