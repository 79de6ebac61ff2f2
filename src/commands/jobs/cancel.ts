// `fluxer jobs cancel ID`: writes the job's cancel marker. A running job stops at its next step; a
// queued one is cancelled when a node picks it up. No confirmation: cancelling deletes no resource
// and no output, costs at most one job's work, and scripts cancel jobs in bulk (docs/jobs.md).
import { hostname } from 'node:os';
import { defineCommand } from '../../cli/command.js';
import { FluxerError } from '../../lib/errors.js';
import { checkJobId } from '../../core/ids.js';
import { isTerminal, requireStatus, writeCancelMarker } from '../../core/jobs.js';
import { jobLocation } from '../../core/stack-resources.js';

export default defineCommand({
  name: 'cancel',
  args: [{ name: 'jobId', description: 'the job id printed by `fluxer generate`', required: true }],
  examples: ['fluxer jobs cancel 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45', 'fluxer jobs cancel ID && fluxer jobs tail ID'],
  async handler(ctx, [id]) {
    checkJobId(id!);
    const loc = jobLocation(ctx.config());
    const s3 = await ctx.aws().s3();
    const status = await requireStatus(s3, loc, id!);
    if (status.state === 'cancelled') {
      ctx.out.result({ id, state: status.state, cancelRequested: false }, () => '');
      ctx.out.info(`Job ${id} is already cancelled.`);
      return;
    }
    if (isTerminal(status.state)) {
      throw new FluxerError(`Job ${id} already ${status.state}; nothing to cancel`, { code: 'JobFinished', hint: `See \`fluxer jobs status ${id}\`.` });
    }
    await writeCancelMarker(s3, loc, id!, `${ctx.env.USER ?? ctx.env.LOGNAME ?? 'unknown'}@${hostname()}`, new Date(ctx.clock.now()));
    ctx.out.result({ id, state: status.state, cancelRequested: true }, () => id!);
    ctx.out.success(
      status.state === 'queued' || status.state === 'requeued'
        ? `Cancel requested: job ${id} is ${status.state}; it is cancelled when a node picks it up`
        : `Cancel requested: job ${id} stops at its next step`,
    );
  },
});
