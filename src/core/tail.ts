// Following jobs by polling their status.json (conditional GET on the ETag), as `generate --wait`
// and `jobs tail` do from any machine. Two parts: a pure per-job state machine that turns a series
// of status documents into ordered events (state changes, progress that never goes back within an
// attempt, new outputs), and the polling loop with its timeout and Ctrl-C handling.
import { isTransient } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import type { Clock } from '../lib/clock.js';
import { mapConcurrent } from '../lib/concurrency.js';
import { isTerminal, readStatus, type JobLocation, type JobProgress, type JobState, type JobStatus } from './jobs.js';

export type TailEvent =
  | { kind: 'state'; state: JobState; status: JobStatus }
  | { kind: 'progress'; progress: JobProgress; status: JobStatus }
  | { kind: 'output'; key: string; index: number };

const STATE_RANK: Record<string, number> = { queued: 0, running: 1, requeued: 2 };
const stateRank = (s: JobState): number => STATE_RANK[s] ?? 3;
const progressUnits = (s: JobStatus): number => (s.progress ? (s.progress.image - 1) * s.progress.steps + s.progress.step : 0);

/** True when `next` precedes `prev` in the job's history (see docs/job-contract.md, reading order). */
export function isBehind(next: JobStatus, prev: JobStatus): boolean {
  if (typeof next.seq === 'number' && typeof prev.seq === 'number') return next.seq < prev.seq;
  if (next.attempt !== prev.attempt) return next.attempt < prev.attempt;
  const rank = stateRank(next.state) - stateRank(prev.state);
  if (rank !== 0) return rank < 0;
  return progressUnits(next) < progressUnits(prev);
}

/** One job's view: what was seen so far and what is new in each document. */
export class JobTracker {
  readonly id: string;
  status: JobStatus | undefined;
  private progress: JobProgress | undefined;
  private outputs = new Set<string>();
  /** Local clock time and work units done at the first progress seen in this attempt (for the ETA). */
  private rateBase: { at: number; units: number } | undefined;
  private latest: { at: number; units: number } | undefined;
  /** Local time the job was first seen running (elapsed is measured on this machine's clock). */
  startedAt: number | undefined;
  firstSeenAt: number | undefined;

  constructor(id: string) {
    this.id = id;
  }

  get state(): JobState | undefined {
    return this.status?.state;
  }

  get done(): boolean {
    return this.status !== undefined && isTerminal(this.status.state);
  }

  observe(next: JobStatus, nowMs: number): TailEvent[] {
    const prev = this.status;
    // A document behind the last one seen is never shown. Ordered by the writer's seq, or by
    // attempt, state and progress: never by timestamps, which come from different machines' clocks.
    if (prev && isTerminal(prev.state)) return [];
    if (prev && isBehind(next, prev)) return [];
    const events: TailEvent[] = [];
    this.firstSeenAt ??= nowMs;
    const newAttempt = prev !== undefined && next.attempt > prev.attempt;
    if (newAttempt) {
      this.progress = undefined;
      this.rateBase = undefined;
    }
    this.status = next;
    if (!prev || prev.state !== next.state || newAttempt) {
      events.push({ kind: 'state', state: next.state, status: next });
      if (next.state === 'running') this.startedAt ??= nowMs;
    }
    const p = next.progress;
    if (next.state === 'running' && p && p.step > 0 && this.advances(p)) {
      this.progress = { ...p };
      const units = (p.image - 1) * p.steps + p.step;
      this.rateBase ??= { at: nowMs, units };
      this.latest = { at: nowMs, units };
      events.push({ kind: 'progress', progress: { ...p }, status: next });
    }
    (next.outputs ?? []).forEach((key, i) => {
      if (!this.outputs.has(key)) {
        this.outputs.add(key);
        events.push({ kind: 'output', key, index: i + 1 });
      }
    });
    return events;
  }

  private advances(p: JobProgress): boolean {
    const q = this.progress;
    if (!q) return true;
    return p.image > q.image || (p.image === q.image && p.step > q.step);
  }

  /** The last progress shown (never behind an earlier one of the same attempt). */
  get shownProgress(): JobProgress | undefined {
    return this.progress;
  }

  /** Milliseconds left at the rate seen so far in this attempt, or undefined before two samples. */
  etaMs(nowMs: number): number | undefined {
    const p = this.progress;
    if (!p || !this.rateBase || !this.latest || this.latest.units <= this.rateBase.units) return undefined;
    const rate = (this.latest.units - this.rateBase.units) / Math.max(1, this.latest.at - this.rateBase.at);
    const left = p.count * p.steps - this.latest.units;
    return Math.max(0, left / rate - (nowMs - this.latest.at));
  }
}

/** A piped progress line for one change, e.g. `running  image 1/2 step 3/4  node local-1`. */
export function progressLine(event: TailEvent, tracker: JobTracker, nowMs: number): string | undefined {
  if (event.kind === 'output') return undefined;
  const s = event.status;
  const node = s?.node?.instanceId ? `  node ${s.node.instanceId}` : '';
  if (event.kind === 'progress') {
    const p = event.progress;
    return `running  image ${p.image}/${p.count} step ${p.step}/${p.steps}${node}`;
  }
  switch (event.state) {
    case 'queued':
      return 'queued';
    case 'running':
      return `running  attempt ${s.attempt}${node}`;
    case 'requeued':
      return `requeued  attempt ${s.attempt} released${node ? ` by${node.replace('  node', ' node')}` : ''}; waiting for another node`;
    case 'succeeded': {
      const n = s.outputs?.length ?? 0;
      const took = tracker.startedAt !== undefined ? `  in ${formatSeconds(nowMs - tracker.startedAt)}` : '';
      return `succeeded  ${n} image${n === 1 ? '' : 's'}${took}${node}`;
    }
    default:
      return `${event.state}${describeJobError(s) ? `  ${describeJobError(s)}` : ''}`;
  }
}

export function describeJobError(status: JobStatus): string {
  const e = status.error;
  if (!e) return '';
  return [e.type, e.message].filter(Boolean).join(': ');
}

/** The TTY bar's text (no colors): `[████░░░░░░] image 1/2 step 3/4  12s  ETA 4s  node i-…`. */
export function progressBar(tracker: JobTracker, nowMs: number, width = 20): string {
  const s = tracker.status;
  if (!s) return 'waiting for status…';
  const elapsed = `${formatSeconds(nowMs - (tracker.firstSeenAt ?? nowMs))}`;
  const node = s.node?.instanceId ? `  node ${s.node.instanceId}` : '';
  const p = tracker.shownProgress ?? s.progress;
  if (s.state !== 'running' || !p) return `${s.state}  ${elapsed}${node}`;
  const total = p.count * p.steps;
  const done = Math.min(total, (p.image - 1) * p.steps + p.step);
  const filled = Math.round((done / Math.max(1, total)) * width);
  const eta = tracker.etaMs(nowMs);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] image ${p.image}/${p.count} step ${p.step}/${p.steps}  ${elapsed}${eta === undefined ? '' : `  ETA ${formatSeconds(eta)}`}${node}`;
}

export interface BatchCounts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
}

export function batchCounts(trackers: Iterable<JobTracker>): BatchCounts {
  const c: BatchCounts = { total: 0, queued: 0, running: 0, succeeded: 0, failed: 0 };
  for (const t of trackers) {
    c.total += 1;
    const state = t.state;
    if (state === 'succeeded') c.succeeded += 1;
    else if (state && isTerminal(state)) c.failed += 1;
    else if (state === 'running') c.running += 1;
    else c.queued += 1;
  }
  return c;
}

/** The aggregate line for a batch: `12/25 done  3 running  10 queued  0 failed`. */
export function batchLine(c: BatchCounts): string {
  return `${c.succeeded + c.failed}/${c.total} done  ${c.running} running  ${c.queued} queued  ${c.failed} failed`;
}

export function formatSeconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export interface TailOptions {
  s3: S3Port;
  loc: JobLocation;
  clock: Clock;
  signal: AbortSignal;
  /** Stop waiting after this long (the jobs keep running): outcome `timeout`. */
  timeoutMs?: number;
  /** Time between polls of one job; ~250 ms keeps the "succeeded → file on disk" latency low. */
  intervalMs?: number;
  /** Status GETs in flight at once (batches). */
  concurrency?: number;
  onEvent(tracker: JobTracker, event: TailEvent): void;
  /** Status reads failing in a row, for other than transient reasons, before the wait gives up (default 5). */
  maxConsecutiveFailures?: number;
  /** How long transient failures (throttling, 5xx, dropped connections) may last without a success (default 2 min). */
  transientGraceMs?: number;
  /** Called after every poll round (the TTY view redraws its bar here). */
  onRound?(trackers: JobTracker[]): void;
  /**
   * What the caller itself wrote for a job (`generate`: its queued status), seen before the first poll: the job's
   * history starts there even when a node takes it before the first GET.
   */
  initial?: ReadonlyMap<string, JobStatus>;
}

export type TailOutcome = 'done' | 'timeout' | 'interrupted';

/** Polls until every job is terminal, the timeout passes, or the signal aborts. */
export async function tailJobs(ids: readonly string[], opts: TailOptions): Promise<{ outcome: TailOutcome; trackers: JobTracker[] }> {
  const trackers = ids.map((id) => new JobTracker(id));
  for (const t of trackers) {
    const known = opts.initial?.get(t.id);
    if (known) for (const event of t.observe(known, opts.clock.now())) opts.onEvent(t, event);
  }
  const etags = new Map<string, string>();
  let failures = 0;
  let failingSince: number | undefined;
  const interval = opts.intervalMs ?? (ids.length > 8 ? 500 : 250);
  const deadline = opts.timeoutMs === undefined ? Infinity : opts.clock.now() + opts.timeoutMs;
  for (;;) {
    if (opts.signal.aborted) return { outcome: 'interrupted', trackers };
    const roundStart = opts.clock.now();
    const pending = trackers.filter((t) => !t.done);
    await mapConcurrent(pending, opts.concurrency ?? 8, async (t) => {
      let read: Awaited<ReturnType<typeof readStatus>>;
      try {
        read = await readStatus(opts.s3, opts.loc, t.id, etags.get(t.id));
        failures = 0;
        failingSince = undefined;
      } catch (err) {
        // A long wait should not die of network blips or throttling (the SDK has retried already):
        // they are tried again next round for as long as the grace lasts. Other failures that
        // persist for several rounds in a row are real.
        const now = opts.clock.now();
        failingSince ??= now;
        if (isTransient(err) && now - failingSince < (opts.transientGraceMs ?? 120_000)) return;
        failures += 1;
        if (failures >= (opts.maxConsecutiveFailures ?? 5)) throw err;
        return;
      }
      if (read.kind !== 'found') return;
      if (read.etag) etags.set(t.id, read.etag);
      for (const event of t.observe(read.status, opts.clock.now())) opts.onEvent(t, event);
    });
    opts.onRound?.(trackers);
    if (trackers.every((t) => t.done)) return { outcome: 'done', trackers };
    const now = opts.clock.now();
    if (now >= deadline) return { outcome: 'timeout', trackers };
    try {
      await opts.clock.sleep(Math.max(0, Math.min(interval - (now - roundStart), deadline - now)), opts.signal);
    } catch {
      if (opts.signal.aborted) return { outcome: 'interrupted', trackers };
      throw new Error('sleep failed');
    }
  }
}
