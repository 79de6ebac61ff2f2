// `fluxer jobs get ID`: download a job's images (those written so far, if it is still running).
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { FluxerError } from '../../lib/errors.js';
import { DEFAULT_OUT_DIR, downloadOutputs } from '../../core/download.js';
import { checkJobId } from '../../core/ids.js';
import { requireStatus } from '../../core/jobs.js';
import { jobLocation } from '../../core/stack-resources.js';
import { describeJobError } from '../../core/tail.js';

export default defineCommand<{ out?: string }>({
  name: 'get',
  args: [{ name: 'jobId', description: 'the job id printed by `fluxer generate`', required: true }],
  options: [{ flags: '--out <dir>', description: `where images go (default ${DEFAULT_OUT_DIR})` }],
  examples: ['fluxer jobs get 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45 --out ./img'],
  async handler(ctx, [id], opts) {
    checkJobId(id!);
    const loc = jobLocation(ctx.config());
    const s3 = await ctx.aws().s3();
    const status = await requireStatus(s3, loc, id!);
    const outputs = status.outputs ?? [];
    if (outputs.length === 0) {
      const why = status.state === 'succeeded' ? 'it lists no outputs' : `it is ${status.state}${describeJobError(status) ? ` (${describeJobError(status)})` : ''}`;
      throw new FluxerError(`Job ${id} has no images to download: ${why}`, { code: 'NoOutputs', hint: status.state === 'running' || status.state === 'queued' ? `Wait for it: \`fluxer jobs tail ${id}\`.` : undefined });
    }
    if (status.state !== 'succeeded') ctx.out.warn(`job ${id} is ${status.state}; downloading the ${outputs.length} image(s) written so far`);
    const dir = resolve(ctx.cwd, opts.out ?? DEFAULT_OUT_DIR);
    await mkdir(dir, { recursive: true });
    const files = await downloadOutputs(s3, loc.bucket, id!, outputs, dir);
    ctx.out.result({ id, state: status.state, outputs, files }, () => files.join('\n'));
  },
});
