// `generate --batch FILE`: one prompt per line, or one JSON object per line with per-job fields.
// Every line is validated before anything is sent; an error names the line.
import { UsageError } from '../lib/errors.js';
import { buildJob, type BuildContext, type Job, type JobRequest } from './job.js';

const JSON_FIELDS = ['prompt', 'negativePrompt', 'model', 'size', 'width', 'height', 'steps', 'guidance', 'seed', 'count'] as const;

export interface BatchLine {
  line: number;
  request: JobRequest;
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
