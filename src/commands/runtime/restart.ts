// `fluxer runtime restart`: drain, let the running job finish, restart the runtime process, and wait
// until the new one is READY, on each selected node over SSM.
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { interrupted, nodesFailure, openSession, TARGET_OPTIONS, uptimeText } from '../../cli/remote.js';
import { restartRuntimes } from '../../core/remote/runtime.js';
import type { TargetFlags } from '../../core/remote/targets.js';

interface RestartOpts extends TargetFlags {
  timeout: number;
}

export default defineCommand<RestartOpts>({
  name: 'restart',
  description:
    'Restarts the runtime on each selected node over SSM without losing work: drains it (no new jobs), waits until\n' +
    'the running job is done (or --timeout: the restart then stops it with SIGTERM, which drains and requeues it),\n' +
    'runs `fluxer-runtime restart` (systemctl restart on a real node), then polls status until a new process (new\n' +
    "pid or start time) is READY. A job submitted meanwhile waits in the queue; the counters survive (the runtime\n" +
    'restores them from its node record). Exit 1 names a node that did not come back READY. See docs/runtime-ops.md.',
  options: [...TARGET_OPTIONS, { flags: '--timeout <duration>', description: 'for the running job to finish and the new runtime to be READY', parse: durationFlag('--timeout', { minMs: 10_000, maxMs: 24 * 3_600_000 }), default: 600_000, defaultLabel: '10m' }],
  examples: ['fluxer runtime restart --node i-0123456789abcdef0', 'fluxer runtime restart --launch-id 0193a1b2 --timeout 20m --json'],
  async handler(ctx, _args, opts) {
    const session = await openSession(ctx, opts, 'restart');
    if (!session) return;
    const spinner = await ctx.out.spinner(`Draining ${session.ids.length} runtime(s)`);
    let results;
    try {
      results = await restartRuntimes(session.ports, ctx.clock, session.ids, { ...session.settings, timeoutMs: opts.timeout, intervalMs: 1000, progress: (m) => (ctx.out.stderrIsTTY ? spinner.update(m) : ctx.out.info(m)) });
    } catch (err) {
      interrupted(ctx, err, 'the restart');
    } finally {
      spinner.stop();
    }
    const nodes = results.map((r) => ({
      instanceId: r.instanceId,
      ok: r.ok,
      error: r.error,
      agent: r.agent,
      state: r.health?.state ?? null,
      previous: r.previous,
      pid: r.health?.pid ?? null,
      startedAt: r.health?.startedAt ?? null,
      counters: r.health?.counters ?? null,
      jobStillRunning: r.jobStillRunning,
    }));
    return ctx.out.resultOrFailure(
      { nodes },
      () => ctx.out.table(['ID', 'STATE', 'PID', 'WAS', 'UPTIME', 'RESULT'], results.map((r) => [r.instanceId, r.health?.state ?? null, r.health?.pid ?? null, r.previous?.pid ?? null, uptimeText(r.health?.uptimeSeconds), r.ok ? (r.jobStillRunning ? 'restarted (job requeued)' : 'restarted') : r.error])),
      nodesFailure(results, 'restart'),
    );
  },
});
