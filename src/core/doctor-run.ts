// Doctor's runner (doctor.ts): the row types, combining outcomes into rows, and running the checks
// together, each under its own timeout. Nothing here knows what a check looks at.
import { toFluxerError } from '../aws/errors.js';
import type { Clock } from '../lib/clock.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckRow {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  hint: string | null;
}

export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
  hint?: string;
}

export interface Check {
  id: string;
  title: string;
  run(): Promise<CheckOutcome>;
}

// ---------------------------------------------------------------------------------------------
// Combining rows

const SEVERITY: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

export function worstStatus(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((worst, s) => (SEVERITY[s] > SEVERITY[worst] ? s : worst), 'ok');
}

/** Several outcomes in one row (one per quota code): the worst status, every detail, the hints that matter. */
export function combineOutcomes(outcomes: CheckOutcome[]): CheckOutcome {
  const status = worstStatus(outcomes.map((o) => o.status));
  const hints = outcomes.filter((o) => o.status !== 'ok' && o.hint).map((o) => o.hint!);
  return { status, detail: outcomes.map((o) => o.detail).join('; '), ...(hints.length ? { hint: hints.join(' ') } : {}) };
}

/** A thrown error as a failed row: AWS error names carry the hint that says what to do. */
export function outcomeFromError(err: unknown, context?: string, nowMs?: number): CheckOutcome {
  const e = toFluxerError(err, { nowMs });
  return { status: 'fail', detail: context ? `${context}: ${e.message}` : e.message, ...(e.hint ? { hint: e.hint } : {}) };
}

export function toRow(check: Pick<Check, 'id' | 'title'>, outcome: CheckOutcome): CheckRow {
  return { id: check.id, title: check.title, status: outcome.status, detail: outcome.detail, hint: outcome.hint ?? null };
}

export function summarize(rows: CheckRow[]): { ok: number; warn: number; fail: number } {
  return {
    ok: rows.filter((r) => r.status === 'ok').length,
    warn: rows.filter((r) => r.status === 'warn').length,
    fail: rows.filter((r) => r.status === 'fail').length,
  };
}

/** Runs every check at once, each under its own timeout; rows come back in the checks' order. */
export async function runChecks(checks: Check[], opts: { timeoutMs: number; clock: Clock; signal?: AbortSignal }): Promise<CheckRow[]> {
  const timers = checks.map(() => new AbortController());
  // Ctrl-C ends the whole run (exit 130), not just one row; one listener for all checks.
  let onAbort: () => void = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    onAbort = () => {
      for (const t of timers) t.abort();
      reject(opts.signal?.reason);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const rows = checks.map(async (check, i): Promise<CheckRow> => {
    const timer = timers[i]!;
    const timeout = opts.clock.sleep(opts.timeoutMs, timer.signal).then(
      (): CheckOutcome => ({
        status: 'fail',
        detail: `no answer within ${opts.timeoutMs / 1000}s`,
        hint: 'Check the network path to the AWS endpoint, or raise --timeout.',
      }),
      // The timer was cancelled because the check finished: this side of the race must never win.
      () => never(),
    );
    try {
      return toRow(check, await Promise.race([check.run().catch((err: unknown) => outcomeFromError(err, undefined, opts.clock.now())), timeout]));
    } finally {
      timer.abort();
    }
  });
  try {
    return await Promise.race([Promise.all(rows), interrupted]);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** A promise that never settles: the losing side of a race whose timer was cancelled. */
function never(): Promise<CheckOutcome> {
  return new Promise<CheckOutcome>(() => {});
}
