// The report's window from --since DURATION|DATE and --until DATE (pure, on the caller's clock). The
// duration parser is the CLI kit's; the command turns a duration into {kind: 'ago'}.
import { UsageError } from '../../lib/errors.js';

export type TimeArg = { kind: 'ago'; ms: number } | { kind: 'at'; ms: number };

export const MAX_LOOKBACK_MS = 365 * 86_400_000;
export const DEFAULT_SINCE: TimeArg = { kind: 'ago', ms: 7 * 86_400_000 };
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** 2026-11-01 (UTC midnight) or 2026-11-01T12:00:00Z (an offset instead of Z is fine). */
export function parseDate(flag: string, text: string): number {
  const t = text.trim();
  const ms = DATE.test(t) ? Date.parse(`${t}T00:00:00Z`) : DATE_TIME.test(t) ? Date.parse(t) : NaN;
  // Date.parse rolls 2026-02-31 over to March: a date must read back as written.
  if (!Number.isFinite(ms) || (DATE.test(t) && new Date(ms).toISOString().slice(0, 10) !== t)) {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: not a date; use YYYY-MM-DD or an ISO-8601 time such as 2026-11-01T12:00:00Z`);
  }
  return ms;
}

export function resolveWindow(now: number, since: TimeArg = DEFAULT_SINCE, until?: TimeArg): { since: number; until: number } {
  const u = until?.ms ?? now;
  const s = since.kind === 'ago' ? u - since.ms : since.ms;
  if (u > now) throw new UsageError(`--until ${new Date(u).toISOString()}: in the future (it is ${new Date(now).toISOString()})`, { hint: 'Leave --until out for a report up to now.' });
  if (s >= u) throw new UsageError(`--since ${new Date(s).toISOString()}: must be before --until ${new Date(u).toISOString()}`);
  if (now - s > MAX_LOOKBACK_MS) throw new UsageError(`--since ${new Date(s).toISOString()}: more than 365 days back`, { hint: 'EC2 keeps 90 days of spot price history; older nodes are listed as unpriced.' });
  return { since: s, until: u };
}
