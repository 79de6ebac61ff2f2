// `generate --batch FILE`: one prompt per line, or one JSON object per line with per-job fields.
// Every line is validated before anything is sent; an error names the line.
import { UsageError } from '../lib/errors.js';
import { buildJob, type BuildContext, type Job, type JobRequest } from './job.js';

const JSON_FIELDS = ['prompt', 'negativePrompt', 'model', 'size', 'width', 'height', 'steps', 'guidance', 'seed', 'count'] as const;

export interface BatchLine {
  line: number;
  request: JobRequest;
}

/**
 * The file's bytes as text; bytes that are not UTF-8 are refused naming the line (and the byte),
 * instead of becoming U+FFFD in a prompt that then renders something else than was written.
 */
export function decodeBatch(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Find the first bad line: decode line by line (a UTF-8 sequence never contains 0x0A).
    const strict = new TextDecoder('utf-8', { fatal: true });
    let start = 0;
    for (let line = 1; start <= bytes.length; line++) {
      let end = bytes.indexOf(0x0a, start);
      if (end === -1) end = bytes.length;
      const chunk = bytes.subarray(start, end);
      try {
        strict.decode(chunk);
      } catch {
        const column = firstBadByte(chunk);
        throw new UsageError(`${source} line ${line}: not valid UTF-8 (byte 0x${chunk[column]!.toString(16).padStart(2, '0')} at column ${column + 1})`, {
          code: 'InvalidUtf8',
          hint: 'Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`). Nothing was sent.',
        });
      }
      start = end + 1;
    }
    throw new UsageError(`${source}: not valid UTF-8`, { code: 'InvalidUtf8' });
  }
}

/** Index of the first byte where decoding fails: the longest valid prefix ends there. */
function firstBadByte(chunk: Uint8Array): number {
  const strict = new TextDecoder('utf-8', { fatal: true });
  for (let i = 1; i <= chunk.length; i++) {
    try {
      strict.decode(chunk.subarray(0, i));
    } catch {
      // A truncated multi-byte sequence fails only at its end: step back to where it starts.
      let at = i - 1;
      while (at > 0 && (chunk[at]! & 0xc0) === 0x80) at--;
      return at;
    }
  }
  return Math.max(0, chunk.length - 1);
}

/** Blank lines and lines starting with `#` are skipped. */
export function parseBatch(text: string, source: string): BatchLine[] {
  const lines: BatchLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (!trimmed.startsWith('{')) {
      lines.push({ line, request: { prompt: trimmed } });
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch (err) {
      throw new UsageError(`${source} line ${line}: not valid JSON (${(err as Error).message})`, { hint: 'Each line is a prompt, or a JSON object such as {"prompt": "a fox", "steps": 8}.' });
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`${source} line ${line}: expected a JSON object`);
    const fields = doc as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((k) => !(JSON_FIELDS as readonly string[]).includes(k));
    if (unknown.length) throw new UsageError(`${source} line ${line}: unknown field "${unknown[0]}"; known fields: ${JSON_FIELDS.join(', ')}`);
    const { size, ...rest } = fields;
    const request: JobRequest = { ...rest };
    if (size !== undefined) {
      const m = typeof size === 'string' ? /^(\d+)[xX×](\d+)$/.exec(size.trim()) : null;
      if (!m) throw new UsageError(`${source} line ${line}: size ${JSON.stringify(size)} must be WIDTHxHEIGHT, e.g. "1024x1024"`);
      request.width ??= Number(m[1]);
      request.height ??= Number(m[2]);
    }
    lines.push({ line, request });
  });
  return lines;
}

/**
 * Builds every line's job (flags give the defaults, a line's own fields win). All lines are
 * checked; the error names the first bad line and how many others are bad.
 */
export async function buildBatch(lines: BatchLine[], flags: JobRequest, source: string, context: () => BuildContext): Promise<Job[]> {
  if (lines.length === 0) throw new UsageError(`${source}: no prompts found (one per line, or JSON lines)`);
  const jobs: Job[] = [];
  const errors: Array<{ line: number; message: string }> = [];
  for (const { line, request } of lines) {
    const merged: JobRequest = { ...flags };
    for (const [k, v] of Object.entries(request)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    try {
      jobs.push(await buildJob(merged, context(), { kind: 'line', source, line }));
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      errors.push({ line, message: err.message });
    }
  }
  if (errors.length > 0) {
    const others = errors.slice(1).map((e) => e.line);
    const more = others.length ? ` (${others.length} more bad line${others.length === 1 ? '' : 's'}: ${others.slice(0, 10).join(', ')}${others.length > 10 ? ', …' : ''})` : '';
    throw new UsageError(`${errors[0]!.message}${more}`, { hint: 'Nothing was sent. Fix the lines and run again.' });
  }
  return jobs;
}
