// `fluxer jobs tail ID`: the `generate --wait` view for a job submitted earlier, from any machine.
import { resolve } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { DEFAULT_OUT_DIR } from '../../core/download.js';
import { followJobs, pickupHintMs } from '../../core/follow.js';
import { checkJobId } from '../../core/ids.js';
import { requireStatus } from '../../core/jobs.js';
import { jobLocation } from '../../core/stack-resources.js';

export default defineCommand<{ timeout?: number; out?: string; download: boolean }>({
  name: 'tail',
  args: [{ name: 'jobId', description: 'the job id printed by `fluxer generate`', required: true }],
  options: [
    { flags: '--timeout <duration>', description: 'stop waiting after this long (exit 8; the job keeps running)', parse: durationFlag('--timeout', { minMs: 1000 }) },
    { flags: '--out <dir>', description: `where images go (default ${DEFAULT_OUT_DIR})` },
    { flags: '--no-download', description: 'only follow; do not download the images' },
  ],
  examples: ['fluxer jobs tail 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45', 'fluxer jobs tail ID --timeout 10m --out ./img'],
  async handler(ctx, [id], opts) {
    checkJobId(id!);
    const loc = jobLocation(ctx.config());
    const s3 = await ctx.aws().s3();
    // A mistyped id fails at once instead of waiting for a status that never comes.
    await requireStatus(s3, loc, id!);
    const followed = await followJobs({ s3, loc, clock: ctx.clock, signal: ctx.signal, display: ctx.out.liveLine() }, [id!], {
      timeoutMs: opts.timeout,
      pickupHintMs: pickupHintMs(ctx.env),
      outDir: opts.download ? resolve(ctx.cwd, opts.out ?? DEFAULT_OUT_DIR) : undefined,
    });
    return ctx.out.resultOrFailure(followed.document, () => followed.files.join('\n'), followed.failure);
  },
});
