// `fluxer queue redrive`: move parked jobs from the dead-letter queue back to the job queue.
import { defineCommand } from '../../cli/command.js';
import { ExitCode } from '../../lib/errors.js';
import { integerFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { memoryJournal, planRedrive, redrive, type QueueRef, type RedriveJournal } from '../../core/queue.js';
import { fileJournal, redriveJournalPath } from '../../core/redrive-journal.js';
import { dlqNameFor } from '../../core/stack-resources.js';

interface RedriveOpts {
  max?: number;
  dryRun?: boolean;
}

export default defineCommand<RedriveOpts>({
  name: 'redrive',
  description:
    'Uses SQS StartMessageMoveTask where the API has it (and --max is not given); otherwise receives from the\n' +
    'dead-letter queue, sends to the job queue and deletes from the dead-letter queue, 10 at a time. A message\n' +
    'is deleted only after the job queue accepted it, and a re-run after an interruption does not send it\n' +
    'again (see docs/setup.md for the exact guarantee). Needs confirmation (--yes when not interactive).',
  options: [
    { flags: '--max <n>', description: 'move at most N messages', parse: integerFlag('--max', 1, 1_000_000) },
    { flags: '--dry-run', description: 'say how many messages would move, and move none' },
  ],
  examples: ['fluxer queue redrive', 'fluxer queue redrive --max 10 --yes', 'fluxer queue redrive --dry-run --json'],
  async handler(ctx, _args, opts) {
    const { settings, stack } = ctx.config();
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    // A script without --yes is refused before the first AWS call; --dry-run moves nothing and needs none.
    if (!opts.dryRun) requireConfirmable(confirmCtx, `Redriving ${dlqNameFor(settings.queueName)}`);
    const sqs = await ctx.aws().sqs();
    const plan = await planRedrive(sqs, settings.queueName);
    const base = { stack, region: settings.region, source: plan.source, destination: plan.destination, before: plan.before };
    const limit = opts.max === undefined ? '' : ` (at most ${opts.max})`;
    if (plan.before === 0 && !opts.dryRun) {
      const busy = plan.inFlight ? ` (${plan.inFlight} in flight: being read by someone else, visible again later)` : '';
      ctx.out.result({ ...base, dryRun: false, method: null, moved: 0 }, () => `Nothing to redrive: ${plan.source.name} has no visible messages${busy}.`);
      return ExitCode.Ok;
    }
    if (opts.dryRun) {
      ctx.out.result({ ...base, dryRun: true }, () => `Would move about ${plan.before} message(s)${limit} from ${plan.source.name} to ${plan.destination.name}. Nothing was moved.`);
      return ExitCode.Ok;
    }
    // Only reads so far; a person is asked here, with the count in front of them.
    if (!(await confirmAction(confirmCtx, `Move about ${plan.before} message(s)${limit} from ${plan.source.name} back to ${plan.destination.name}?`, `Redriving ${plan.source.name}`))) {
      ctx.out.info('Nothing moved.');
      return ExitCode.Failed;
    }

    const spinner = await ctx.out.spinner(`Moving messages from ${plan.source.name}`);
    let result;
    try {
      result = await redrive(sqs, plan, {
        max: opts.max,
        signal: ctx.signal,
        sleep: (ms, signal) => ctx.clock.sleep(ms, signal),
        journal: (source) => openJournal(ctx.env, source, (m) => ctx.out.warn(m)),
        onProgress: (moved) => spinner.update(`Moved ${moved} message(s) from ${plan.source.name}`),
      });
    } finally {
      spinner.stop();
    }
    ctx.out.result({ ...base, dryRun: false, ...result }, () => {
      const via = result.method === 'message-move-task' ? `SQS message move task ${result.taskHandle ?? ''}`.trim() : 'receive/send/delete';
      const resumed = result.alreadyMoved ? `; finished ${result.alreadyMoved} left half-moved by an earlier run` : '';
      return `Moved ${result.moved} message(s) from ${plan.source.name} to ${plan.destination.name} (${via})${resumed}.`;
    });
    for (const f of result.failed) ctx.out.warn(`not moved (still in ${plan.source.name}): ${f.messageId}: ${f.reason}`);
    if (result.undeleted) ctx.out.warn(`${result.undeleted} message(s) were sent but not yet deleted from ${plan.source.name}; run \`fluxer queue redrive\` again to finish (they will not be sent twice).`);
    return result.failed.length || result.undeleted ? ExitCode.Failed : ExitCode.Ok;
  },
});

/** The on-disk journal, or (when the state folder is not writable) one in memory, with a warning. */
function openJournal(env: NodeJS.ProcessEnv, source: QueueRef, warn: (m: string) => void): RedriveJournal {
  const path = redriveJournalPath(env, source.url, source.name);
  try {
    return fileJournal(path);
  } catch (err) {
    warn(`cannot keep the redrive journal at ${path} (${(err as Error).message}); a re-run after an interruption could send a message twice`);
    return memoryJournal();
  }
}
