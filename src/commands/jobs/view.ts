// The `--wait` view shared by `fluxer generate --wait` and `fluxer jobs tail`: follows jobs through
// src/core/tail.ts, draws a bar on a terminal or writes one line per change when piped (stderr),
// downloads each image as soon as it appears in the status document, and turns the outcome into
// stdout (paths or one JSON document) and an exit code.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { S3Port } from '../../aws/s3.js';
import type { Context } from '../../cli/context.js';
import { ExitCode, FluxerError, InterruptedError, PendingError, UsageError } from '../../lib/errors.js';
import { createLimiter } from '../../lib/concurrency.js';
import { formatDuration } from '../../lib/duration.js';
import { isUuidV7 } from '../../core/ids.js';
import { downloadImage, type JobLocation, type JobStatus } from '../../core/jobs.js';
import { requireBucket } from '../../core/stack-resources.js';
import { batchCounts, batchLine, describeJobError, progressBar, progressLine, tailJobs, type JobTracker } from '../../core/tail.js';

export const DEFAULT_OUT_DIR = './fluxer-output/';

/** Local file for output i (0-based, the position in `outputs`, as the runtime numbers its keys). */
export const imageFileName = (id: string, index: number): string => `${id}-${index}.png`;

export function jobLocation(ctx: Context): JobLocation {
  const { settings, stack } = ctx.config();
  return { bucket: requireBucket(settings, stack), prefix: settings.prefix };
}

export function checkJobId(id: string): string {
  if (!isUuidV7(id)) throw new UsageError(`JOB_ID ${JSON.stringify(id)}: not a job id (a UUIDv7 such as 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45)`, { hint: 'List recent jobs with `fluxer jobs list`.' });
  return id;
}

export interface JobResult {
  id: string;
  state: string;
  outputs: string[];
  files: string[];
  timings: JobStatus['timings'] | null;
  error: JobStatus['error'] | null;
}

export interface FollowOptions {
  timeoutMs?: number;
  /** Where images go; undefined: no download. */
  outDir?: string;
}

/** Follows the jobs to the end (or the timeout, or Ctrl-C) and reports: returns the exit code. */
export async function followJobs(ctx: Context, s3: S3Port, loc: JobLocation, ids: string[], opts: FollowOptions): Promise<number> {
  const single = ids.length === 1;
  const bar = ctx.out.stderrIsTTY && ctx.out.opts.color;
  const files = new Map<string, string[]>(ids.map((id) => [id, []]));
  const download = createLimiter(8);
  const downloads: Promise<void>[] = [];
  const outDir = opts.outDir === undefined ? undefined : resolve(ctx.cwd, opts.outDir);
  if (outDir) await mkdir(outDir, { recursive: true });
  let lastBatchLine = '';
  let barShown = false;
  const clearBar = () => {
    if (barShown) ctx.io.stderr.write('\r\u001b[2K');
    barShown = false;
  };
  const say = (line: string) => {
    clearBar();
    ctx.out.info(line);
  };

  const { outcome, trackers } = await tailJobs(ids, {
    s3,
    loc,
    clock: ctx.clock,
    signal: ctx.signal,
    timeoutMs: opts.timeoutMs,
    onEvent(tracker, event) {
      if (event.kind === 'output') {
        if (outDir) {
          const path = `${outDir}/${imageFileName(tracker.id, event.index - 1)}`;
          const done = download(async () => {
            await downloadImage(s3, loc.bucket, event.key, path);
            files.get(tracker.id)!.push(path);
          });
          // Observed here so a failure is not "unhandled" before the drain below gets to it.
          done.catch(() => {});
          downloads.push(done);
        }
        return;
      }
      if (single) {
        // On a terminal the bar shows progress; state changes stay on screen as lines.
        if (bar && event.kind === 'progress') return;
        const line = progressLine(event, tracker, ctx.clock.now());
        if (line) say(line);
      } else if (event.kind === 'state' && ['failed', 'rejected', 'cancelled'].includes(event.state)) {
        say(`${tracker.id}  ${event.state}  ${describeJobError(event.status)}`);
      }
    },
    onRound(all) {
      const now = ctx.clock.now();
      if (!single) {
        const line = batchLine(batchCounts(all));
        if (!bar && line !== lastBatchLine) say(line);
        lastBatchLine = line;
      }
      if (bar && all.some((t) => !t.done)) {
        ctx.io.stderr.write(`\r\u001b[2K${single ? progressBar(all[0]!, now) : lastBatchLine}`);
        barShown = true;
      }
    },
  });
  clearBar();
  if (!single && bar) ctx.out.info(lastBatchLine);
  // In the order they started: the first failure is the one reported.
  for (const done of downloads) await done;
  return report(ctx, trackers, files, outcome, opts);
}

function resultOf(t: JobTracker, files: Map<string, string[]>): JobResult {
  const s = t.status;
  return {
    id: t.id,
    state: s?.state ?? 'unknown',
    outputs: s?.outputs ?? [],
    files: [...(files.get(t.id) ?? [])].sort(),
    timings: s?.timings ?? null,
    error: s?.error ?? null,
  };
}

function report(ctx: Context, trackers: JobTracker[], files: Map<string, string[]>, outcome: 'done' | 'timeout' | 'interrupted', opts: FollowOptions): number {
  const results = trackers.map((t) => resultOf(t, files));
  const unfinished = trackers.find((t) => !t.done);
  if (outcome === 'interrupted' && unfinished) {
    throw new InterruptedError(`Stopped waiting; job ${unfinished.id} keeps running`, { hint: `Resume with \`fluxer jobs tail ${unfinished.id}\`.` });
  }
  if (outcome === 'timeout' && unfinished) {
    throw new PendingError(`Job ${unfinished.id} is still ${unfinished.state ?? 'queued'} after ${formatDuration(opts.timeoutMs ?? 0)}; it keeps running`, {
      hint: `Follow it with \`fluxer jobs tail ${unfinished.id}\`${trackers.length > 1 ? ' (or `fluxer jobs list`)' : ''}.`,
    });
  }
  const bad = results.filter((r) => r.state !== 'succeeded');
  ctx.out.result(trackers.length === 1 ? results[0] : results, () => results.flatMap((r) => r.files).join('\n'));
  if (bad.length === 0) return ExitCode.Ok;
  const first = bad[0]!;
  const reason = [first.error?.type, first.error?.message].filter(Boolean).join(': ');
  const message =
    trackers.length === 1 ? `Job ${first.id} ${first.state}${reason ? `: ${reason}` : ''}` : `${bad.length} of ${trackers.length} jobs did not succeed; first: ${first.id} ${first.state}${reason ? `: ${reason}` : ''}`;
  const error = new FluxerError(message, { code: `Job${first.state.charAt(0).toUpperCase()}${first.state.slice(1)}`, hint: `Details: \`fluxer jobs status ${first.id}\`.` });
  // Under --json the result document above is the one document on stdout; the error goes to stderr only.
  if (ctx.out.json) {
    ctx.out.info(`Error: ${error.message}`);
    return ExitCode.Failed;
  }
  throw error;
}
