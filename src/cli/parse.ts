// Flag value parsers. Each error names the flag, the value and the valid range (exit 2).
import { formatDuration } from '../lib/duration.js';
import { UsageError } from '../lib/errors.js';

export function integerFlag(flag: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`${flag} ${JSON.stringify(text)}: must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function numberFlag(flag: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new UsageError(`${flag} ${JSON.stringify(text)}: must be a number from ${min} to ${max}`);
    }
    return n;
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90", "90s", "5m", "1h30m", "250ms", "7d" → milliseconds. A bare number means seconds. */
export function parseDuration(flag: string, text: string, opts: { minMs?: number; maxMs?: number } = {}): number {
  const trimmed = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else {
    const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
      throw new UsageError(`${flag} ${JSON.stringify(text)}: not a duration; use e.g. 90s, 5m, 1h30m`);
    }
    ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
  }
  const min = opts.minMs ?? 0;
  const max = opts.maxMs ?? 7 * 24 * 3_600_000;
  if (ms < min || ms > max) {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: must be between ${formatDuration(min)} and ${formatDuration(max)}`);
  }
  return ms;
}

export function durationFlag(flag: string, opts: { minMs?: number; maxMs?: number } = {}) {
  return (text: string): number => parseDuration(flag, text, opts);
}

/** "--var KEY=VALUE" (repeatable): KEY must be an identifier; VALUE may contain "=". */
export function keyValueFlag(flag: string) {
  return (text: string, previous: unknown): Record<string, string> => {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected KEY=VALUE`, { hint: `e.g. ${flag} region=us-east-1` });
    const key = text.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new UsageError(`${flag} ${JSON.stringify(text)}: "${key}" is not a valid name (letters, digits and _, not starting with a digit)`);
    }
    return { ...((previous as Record<string, string> | undefined) ?? {}), [key]: text.slice(eq + 1) };
  };
}

/** "1024x768" → {width, height}. Range checks belong to the job schema. */
export function parseSize(flag: string, text: string): { width: number; height: number } {
  const m = /^(\d+)[xX×](\d+)$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected WIDTHxHEIGHT, e.g. 1024x1024`);
  return { width: Number(m[1]), height: Number(m[2]) };
}
