// `fluxer runtime resume`: the selected (drained) runtimes take jobs again.
import { defineCommand } from '../../cli/command.js';
import { interrupted, nodesFailure, openSession, TARGET_OPTIONS } from '../../cli/remote.js';
import { runtimeControl } from '../../core/remote/runtime.js';
import type { TargetFlags } from '../../core/remote/targets.js';

export default defineCommand<TargetFlags>({
  name: 'resume',
  description:
    'Runs `fluxer-runtime resume` on each selected node over SSM: a drained runtime takes jobs again (READY). The\n' +
    'runtime refuses (exit 1, with its reason) while it is stopping or after a spot interruption notice.\n' +
    'See docs/runtime-ops.md.',
  options: TARGET_OPTIONS,
  examples: ['fluxer runtime resume --node i-0123456789abcdef0', 'fluxer runtime resume --all --json'],
  async handler(ctx, _args, opts) {
    const session = await openSession(ctx, opts, 'resume');
    if (!session) return;
    const rows = await runtimeControl(session.ports, ctx.clock, session.ids, 'resume', { ...session.settings, waitMs: 60_000 }).catch((err) => interrupted(ctx, err, 'the resume'));
    const nodes = rows.map((r) => ({ instanceId: r.instanceId, ok: r.ok, error: r.error, agent: r.agent, state: r.health?.state ?? null }));
    return ctx.out.resultOrFailure({ nodes }, () => ctx.out.table(['ID', 'STATE', 'RESULT'], rows.map((r) => [r.instanceId, r.health?.state ?? null, r.ok ? 'resumed' : r.error])), nodesFailure(rows, 'resume'));
  },
});
