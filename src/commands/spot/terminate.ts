// `fluxer spot terminate`: terminates the stack's nodes (by id, --launch-id or --all) and waits until
// EC2 confirms each; refuses anything that is not the stack's own, and fleet members always.
import { defineCommand } from '../../cli/command.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { isDryRunOperation } from '../../aws/errors.js';
import { instancesById, stackNodes, type NodeInstance } from '../../core/nodes/instances.js';
import { checkTargets, confirmTermination, parseSelection, terminateAll, type Refusal } from '../../core/nodes/terminate.js';
import { ExitCode, FluxerError, InterruptedError, UsageError } from '../../lib/errors.js';

interface TerminateOpts {
  all?: boolean;
  launchId?: string;
  dryRun?: boolean;
  force?: boolean;
}

const CONFIRM_TIMEOUT_MS = 2 * 60_000;
const POLL_MS = 2000;
const RELEASE_NOTE =
  'Running jobs are released by the node: on shutdown the runtime drains, and a job it cannot finish in time is requeued for another node (docs/runtime.md, "Spot interruptions and shutdown").';

export default defineCommand<TerminateOpts>({
  name: 'terminate',
  description:
    "Terminates GPU nodes of the stack: the IDs given, every node of one launch (--launch-id), or all of the stack's\n" +
    'nodes (--all). Only instances tagged fluxer:managed=true for the stack; any other ID is refused by name (exit 2,\n' +
    'nothing terminated) unless --force. Members of an Auto Scaling group are always refused: `fluxer fleet scale`\n' +
    'changes a fleet. Shows what it will terminate and asks on a terminal (--yes otherwise), then waits (up to 2\n' +
    'minutes) until EC2 shows each shutting-down or terminated; exit 1 names any it could not confirm.',
  args: [{ name: 'ID', description: 'instance ids (i-…) to terminate', variadic: true }],
  options: [
    { flags: '--all', description: "every node of the stack (pending, running, stopping, stopped)" },
    { flags: '--launch-id <id>', description: 'the nodes of one `fluxer spot launch` (tag fluxer:launch-id)' },
    { flags: '--dry-run', description: "ask EC2 whether the termination would be allowed (EC2's DryRun); terminate nothing" },
    { flags: '--force', description: 'also terminate instances not tagged for this stack (never Auto Scaling members)' },
  ],
  examples: ['fluxer spot terminate i-0123456789abcdef0', 'fluxer spot terminate --launch-id 0193a1b2 --yes --json', 'fluxer spot terminate --all --dry-run'],
  async handler(ctx, args, opts) {
    const selection = parseSelection(args, opts);
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    // A script without --yes is refused before the first AWS call; --dry-run terminates nothing and needs none.
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Terminating nodes');
    const { settings, stack } = ctx.config();
    const region = settings.spotRegion ?? settings.region;
    const ec2 = await ctx.aws().ec2(region);

    const found =
      selection.kind === 'ids' ? await instancesById(ec2, selection.ids) : await stackNodes(ec2, { stack, ...(selection.kind === 'launch' ? { launchId: selection.launchId } : {}) });
    const { targets, refused } = checkTargets(found, { stack, force: opts.force ?? false, ...(selection.kind === 'ids' ? { requested: selection.ids } : {}) });
    const empty = { terminated: [], unconfirmed: [], refused };
    if (selection.kind === 'ids' && refused.length) {
      return ctx.out.resultOrFailure(empty, () => '', refusedError(refused));
    }
    for (const r of refused) ctx.out.warn(`skipped ${r.instanceId}: ${r.reason}`);
    if (targets.length === 0) {
      const what = selection.kind === 'launch' ? `of launch ${selection.launchId}` : `of stack "${stack}"`;
      ctx.out.result(empty, () => '');
      ctx.out.info(`Nothing to terminate: no pending, running or stopped nodes ${what} in ${region}.`);
      return ExitCode.Ok;
    }
    ctx.out.info(`${opts.dryRun ? 'Would terminate' : 'To terminate'} (${region}):\n${planTable(targets)}`);
    const ids = targets.map((t) => t.instanceId);

    if (opts.dryRun) {
      try {
        await terminateAll(ec2, ids, true);
      } catch (err) {
        if (!isDryRunOperation(err)) throw err;
      }
      ctx.out.result({ dryRun: true, wouldTerminate: ids, ...empty }, () => '');
      ctx.out.info(`EC2 would allow terminating ${ids.length} node(s) (DryRun). Nothing was terminated.`);
      return ExitCode.Ok;
    }
    if (!(await confirmAction(confirmCtx, `Terminate ${ids.length} node(s) of stack "${stack}"?`, 'Terminating nodes'))) {
      ctx.out.info('Nothing terminated.');
      return ExitCode.Failed;
    }

    const before = await terminateAll(ec2, ids);
    const spinner = await ctx.out.spinner(`Waiting for EC2 to confirm ${ids.length} termination(s)`);
    let confirmation;
    try {
      confirmation = await confirmTermination(ec2, ctx.clock, ids, { timeoutMs: CONFIRM_TIMEOUT_MS, intervalMs: POLL_MS, signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) throw new InterruptedError('Stopped waiting; the terminations were sent', { hint: 'Check with `fluxer spot list --all`.' });
      throw err;
    } finally {
      spinner.stop();
    }
    const unconfirmed = new Set(confirmation.unconfirmed);
    const terminated = ids
      .filter((id) => !unconfirmed.has(id))
      .map((id) => ({ instanceId: id, previousState: before.get(id)?.previousState ?? targets.find((t) => t.instanceId === id)!.state, state: confirmation.states.get(id)! }));
    const notConfirmed = confirmation.unconfirmed.map((id) => ({ instanceId: id, state: confirmation.states.get(id) ?? before.get(id)?.state ?? 'unknown' }));
    const result = { terminated, unconfirmed: notConfirmed, refused };
    const failure = notConfirmed.length
      ? new FluxerError(`EC2 did not confirm ${notConfirmed.length} termination(s) within ${CONFIRM_TIMEOUT_MS / 60_000} minutes: ${notConfirmed.map((u) => `${u.instanceId} (${u.state})`).join(', ')}`, {
          code: 'TerminationUnconfirmed',
          hint: 'Check with `fluxer spot list --all`; run the same `fluxer spot terminate` again to retry.',
        })
      : undefined;
    ctx.out.info(RELEASE_NOTE);
    return ctx.out.resultOrFailure(result, () => ctx.out.table(['ID', 'WAS', 'NOW'], terminated.map((t) => [t.instanceId, t.previousState, t.state])), failure);
  },
});

function planTable(targets: readonly NodeInstance[]): string {
  return targets.map((t) => `  ${t.instanceId}  ${t.instanceType}  ${t.az}  ${t.state}  ${t.launchId ? `launch ${t.launchId}` : '(no launch id)'}${t.name ? `  ${t.name}` : ''}`).join('\n');
}

function refusedError(refused: readonly Refusal[]): UsageError {
  return new UsageError(`Refused (nothing was terminated): ${refused.map((r) => `${r.instanceId}: ${r.reason}`).join('; ')}`, {
    code: 'TerminationRefused',
    hint: '`fluxer spot list` shows the stack\'s nodes; --force terminates untagged instances (never Auto Scaling members).',
  });
}
