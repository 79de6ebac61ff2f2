// `fluxer jobs logs ID`: the job's log lines from S3 (every attempt's, oldest first), as the runtime
// wrote them. Readable on a terminal; the JSON lines themselves when piped or with --json.
import { defineCommand } from '../../cli/command.js';
import { FluxerError } from '../../lib/errors.js';
import { checkJobId } from '../../core/ids.js';
import { formatLogEntry, logKey, parseLogLine, readJobLog } from '../../core/job-log.js';
import { requireStatus } from '../../core/jobs.js';
import { jobLocation } from '../../core/stack-resources.js';

export default defineCommand({
  name: 'logs',
  args: [{ name: 'jobId', description: 'the job id printed by `fluxer generate`', required: true }],
  examples: ['fluxer jobs logs 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45', 'fluxer jobs logs ID --json | jq -r .msg'],
  async handler(ctx, [id]) {
    checkJobId(id!);
    const loc = jobLocation(ctx.config());
    const s3 = await ctx.aws().s3();
    const lines = await readJobLog(s3, loc, id!);
    if (lines === undefined) {
      const status = await requireStatus(s3, loc, id!); // JobNotFound when it is no job of this stack
      throw new FluxerError(`Job ${id} has no log in s3://${loc.bucket}/${logKey(loc.prefix, id!)}: it is ${status.state}`, {
        code: 'JobLogNotFound',
        hint: status.state === 'queued' || status.state === 'running' ? `A node writes it when its attempt ends: \`fluxer jobs tail ${id}\`, then try again.` : 'Jobs that ended before a node ran them (rejected, cancelled while queued) have none.',
      });
    }
    if (ctx.out.json || !ctx.out.stdoutIsTTY) {
      ctx.out.raw(lines.map((line) => `${line}\n`).join(''));
      return;
    }
    const c = ctx.out.out;
    const today = new Date(ctx.clock.now()).toISOString().slice(0, 10);
    const levelColor: Record<string, (s: string) => string> = { warning: c.yellow, error: c.red };
    const pretty = lines.map((raw) => {
      const { time, level, text } = formatLogEntry(parseLogLine(raw), today);
      if (!level && !time) return text;
      return `${c.dim(time)}  ${(levelColor[level] ?? ((s: string) => s))(level.padEnd(7))}  ${text}`;
    });
    ctx.out.raw(`${pretty.join('\n')}\n`);
  },
});
