// Following jobs to the end — the `--wait` of `fluxer generate` and `fluxer jobs tail`: polls their
// status documents (src/core/tail.ts), reports progress to a display (a bar redrawn in place on a
// terminal, one line per change when piped), downloads each image as soon as the status document
// lists it, and turns the outcome into a result document, or an error for the exit code.
import { mkdir } from 'node:fs/promises';
import type { S3Port } from '../aws/s3.js';
import type { Clock } from '../lib/clock.js';
import { createLimiter } from '../lib/concurrency.js';
import { formatDuration } from '../lib/duration.js';
import { FluxerError, InterruptedError, PendingError, UsageError } from '../lib/errors.js';
import { DOWNLOAD_CONCURRENCY, downloadImage, imageFileName } from './download.js';
import type { JobLocation, JobStatus } from './jobs.js';
import { batchCounts, batchLine, describeJobError, progressBar, progressLine, tailJobs, type JobTracker, type TailOutcome } from './tail.js';

/** Where progress goes (stderr); the terminal side is Output.liveLine(). */
export interface FollowDisplay {
  /** Progress can be redrawn in place (a colour terminal): a bar instead of a line per step. */
  readonly live: boolean;
  /** A line that stays (a state change; every change when not live). */
  line(text: string): void;
  /** The line redrawn in place (the bar, the batch counts); the next line() or clear() removes it. */
  draw(text: string): void;
  clear(): void;
}

export interface FollowDeps {
  s3: S3Port;
  loc: JobLocation;
  clock: Clock;
  signal: AbortSignal;
  display: FollowDisplay;
}

/** After this long with every unfinished job still `queued`, say once that no node has taken it. */
export const PICKUP_HINT_MS = 60_000;

export interface FollowOptions {
  timeoutMs?: number;
  /** When to say that no node picked the job up (default PICKUP_HINT_MS). */
  pickupHintMs?: number;
  /** Where images go (an absolute path, made if missing); undefined: no download. */
  outDir?: string;
  /** The statuses the caller wrote (generate: queued), shown before the first poll (see TailOptions.initial). */
  initial?: ReadonlyMap<string, JobStatus>;
}

export interface JobResult {
  id: string;
  state: string;
  outputs: string[];
  files: string[];
  timings: JobStatus['timings'] | null;
  error: JobStatus['error'] | null;
  /** The node that last wrote the status (instanceId, and instanceType/az when it knows them), as `jobs status` shows it. */
  node: NonNullable<JobStatus['node']> | null;
}

export interface FollowResult {
  /** The result document: the job's, or one per job for a batch. */
  document: JobResult | JobResult[];
  /** Every image downloaded, job by job. */
  files: string[];
  /** Set when a job did not succeed (exit 1): the result is still printed. */
  failure?: FluxerError;
}

/**
 * Follows the jobs to the end, the timeout or Ctrl-C. Throws InterruptedError (Ctrl-C) or
 * PendingError (timeout) while a job still runs; otherwise returns the results.
 */
export async function followJobs(deps: FollowDeps, ids: string[], opts: FollowOptions): Promise<FollowResult> {
  const { s3, loc, display } = deps;
  const single = ids.length === 1;
  const files = new Map<string, string[]>(ids.map((id) => [id, []]));
  const download = createLimiter(DOWNLOAD_CONCURRENCY);
  const downloads: Promise<void>[] = [];
  if (opts.outDir) await mkdir(opts.outDir, { recursive: true });
  let lastBatchLine = '';
  const startedAt = deps.clock.now();
  let hinted = false;

  const { outcome, trackers } = await tailJobs(ids, {
    s3,
    loc,
    clock: deps.clock,
    signal: deps.signal,
    timeoutMs: opts.timeoutMs,
    ...(opts.initial ? { initial: opts.initial } : {}),
    onEvent(tracker, event) {
      if (event.kind === 'output') {
        if (opts.outDir) {
          const path = `${opts.outDir}/${imageFileName(tracker.id, event.index - 1)}`;
          const done = download(async () => {
            await downloadImage(s3, loc.bucket, event.key, path);
            files.get(tracker.id)!.push(path);
          });
          // Observed here so a failure is not "unhandled" before the wait below gets to it.
          done.catch(() => {});
          downloads.push(done);
        }
        return;
      }
      if (single) {
        // Live, the bar shows progress; state changes stay on screen as lines.
        if (display.live && event.kind === 'progress') return;
        const line = progressLine(event, tracker, deps.clock.now());
        if (line) display.line(line);
      } else if (event.kind === 'state' && ['failed', 'rejected', 'cancelled'].includes(event.state)) {
        display.line(`${tracker.id}  ${event.state}  ${describeJobError(event.status)}`);
      }
    },
    onRound(all) {
      const now = deps.clock.now();
      if (!hinted && now - startedAt >= (opts.pickupHintMs ?? PICKUP_HINT_MS)) {
        const open = all.filter((t) => !t.done);
        if (open.length > 0 && open.every((t) => (t.state ?? 'queued') === 'queued')) {
          hinted = true;
          display.line(noPickupHint(open.map((t) => t.id), now - startedAt, loc));
        }
      }
      if (!single) {
        const line = batchLine(batchCounts(all));
        if (!display.live && line !== lastBatchLine) display.line(line);
        lastBatchLine = line;
      }
      if (display.live && all.some((t) => !t.done)) display.draw(single ? progressBar(all[0]!, now) : lastBatchLine);
    },
  });
  display.clear();
  if (!single && display.live) display.line(lastBatchLine);
  // In the order they started: the first failure is the one reported.
  for (const done of downloads) await done;
  return settle(trackers, files, outcome, opts.timeoutMs);
}

/** FLUXER_PICKUP_HINT_SECONDS overrides PICKUP_HINT_MS (scripts that expect slow starts; tests). */
export function pickupHintMs(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.FLUXER_PICKUP_HINT_SECONDS;
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(`FLUXER_PICKUP_HINT_SECONDS=${JSON.stringify(raw)}: expected a number of seconds >= 0`);
  }
  return seconds * 1000;
}

/** Nothing took the job: no node runs, or the nodes serve another model, queue or location. */
export function noPickupHint(ids: string[], waitedMs: number, loc: JobLocation): string {
  const what = ids.length === 1 ? `job ${ids[0]}` : `${ids.length} jobs`;
  return (
    `No node has picked up ${what} after ${formatDuration(waitedMs)}. Is a node running for this stack, ` +
    `and does it write to s3://${loc.bucket}/${loc.prefix}? \`fluxer doctor\` compares the stack with its live nodes.`
  );
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
    node: s?.node ?? null,
  };
}

function settle(trackers: JobTracker[], files: Map<string, string[]>, outcome: TailOutcome, timeoutMs: number | undefined): FollowResult {
  const results = trackers.map((t) => resultOf(t, files));
  const unfinished = trackers.find((t) => !t.done);
  if (outcome === 'interrupted' && unfinished) {
    throw new InterruptedError(`Stopped waiting; job ${unfinished.id} keeps running`, { hint: `Resume with \`fluxer jobs tail ${unfinished.id}\`.` });
  }
  if (outcome === 'timeout' && unfinished) {
    throw new PendingError(`Job ${unfinished.id} is still ${unfinished.state ?? 'queued'} after ${formatDuration(timeoutMs ?? 0)}; it keeps running`, {
      hint: `Follow it with \`fluxer jobs tail ${unfinished.id}\`${trackers.length > 1 ? ' (or `fluxer jobs list`)' : ''}.`,
    });
  }
  const document = trackers.length === 1 ? results[0]! : results;
  const all = results.flatMap((r) => r.files);
  const bad = results.filter((r) => r.state !== 'succeeded');
  if (bad.length === 0) return { document, files: all };
  const first = bad[0]!;
  const reason = [first.error?.type, first.error?.message].filter(Boolean).join(': ');
  const message =
    trackers.length === 1 ? `Job ${first.id} ${first.state}${reason ? `: ${reason}` : ''}` : `${bad.length} of ${trackers.length} jobs did not succeed; first: ${first.id} ${first.state}${reason ? `: ${reason}` : ''}`;
  const failure = new FluxerError(message, { code: `Job${first.state.charAt(0).toUpperCase()}${first.state.slice(1)}`, hint: `Details: \`fluxer jobs status ${first.id}\`.` });
  return { document, files: all, failure };
}
