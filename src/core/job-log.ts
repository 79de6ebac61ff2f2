// A job's log (`<prefix>jobs/<id>/log.jsonl`): the runtime's JSON log lines that carry the job's id,
// every attempt's, oldest first (gpu-runtime/fluxer_runtime/joblogs.py writes it when an attempt
// ends). Reading and formatting only: no terminal code here.
import { isNotFound } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import { jobPrefix, type JobLocation } from './jobs.js';

export const logKey = (prefix: string, id: string): string => `${jobPrefix(prefix, id)}log.jsonl`;

/** The log's lines as written (verbatim), or undefined when the job has no log (yet). */
export async function readJobLog(s3: S3Port, loc: JobLocation, id: string): Promise<string[] | undefined> {
  try {
    const out = await s3.getObject({ Bucket: loc.bucket, Key: logKey(loc.prefix, id) });
    const text = (await out.Body?.transformToString('utf8')) ?? '';
    return text.split('\n').filter((line) => line !== '');
  } catch (err) {
    if (isNotFound(err, 's3')) return undefined;
    throw err;
  }
}

export interface LogEntry {
  /** The line's `ts`, `level` and `msg` (logs.py); undefined for a line that is not the runtime's JSON. */
  ts?: string;
  level?: string;
  msg?: string;
  /** Every other field but `job_id` (the same on every line of a job's log). */
  fields: Record<string, unknown>;
  raw: string;
}

export function parseLogLine(raw: string): LogEntry {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return { fields: {}, raw };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { fields: {}, raw };
  const { ts, level, msg, job_id: _jobId, ...fields } = doc as Record<string, unknown>;
  return { ts: typeof ts === 'string' ? ts : undefined, level: typeof level === 'string' ? level : undefined, msg: typeof msg === 'string' ? msg : undefined, fields, raw };
}

const fieldText = (value: unknown): string => (typeof value === 'string' && !/[\s"=]/.test(value) && value !== '' ? value : JSON.stringify(value));

/** One readable line: `08:00:01.234  info   job started  attempt=1 count=2` (the date when not today's). */
export function formatLogEntry(entry: LogEntry, today: string): { time: string; level: string; text: string } {
  if (entry.msg === undefined) return { time: '', level: '', text: entry.raw };
  const ts = entry.ts ?? '';
  const time = ts.startsWith(today) ? ts.slice(11).replace(/Z$/, '') : ts.replace('T', ' ').replace(/Z$/, '');
  const fields = Object.entries(entry.fields).map(([k, v]) => `${k}=${fieldText(v)}`);
  return { time, level: entry.level ?? '', text: [entry.msg, ...fields].join('  ') };
}
