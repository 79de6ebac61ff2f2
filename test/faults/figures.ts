// The fault suite's figures, read back from what the run left behind: every version of every object
// in the stack's bucket (versioning is on, so an overwrite cannot hide), the foreign bucket, the CLI
// processes' exits and the runtime's logs. All times compared here come from one machine's clock
// (moto and the workers run on it); that is a harness convenience, never a product rule.
import { GetObjectCommand, ListObjectVersionsCommand, type ObjectVersion, type S3Client } from '@aws-sdk/client-s3';

export interface CliRun {
  index: number;
  id?: string;
  code: number;
  exitedAt: number;
  offsetMs: number;
  stdout: string;
  stderr: string;
}

export interface Figures {
  seed: number;
  seconds: number;
  jobsSubmitted: number;
  /** `generate` runs that could not send their job and said so (exit ≠ 0, no id): not lost. */
  sendsRefused: number;
  faults: { proxy: Record<string, number>; process: Record<string, number>; inFlight: number };
  outcomes: Record<string, number>;
  foreign: { sent: number; rejected: number };
  lost: number;
  duplicated: { terminalOverwritten: number; imagesOverwritten: number; pipelineReruns: number };
  misWritten: number;
  hung: number;
  /** `--wait` runs that ended with an error of their own (not the job's outcome). */
  waitErrors: number;
  details: string[];
}

/** A `--wait` that outlives its job's end by more than this is hung: the poll interval (250 ms),
 * the proxy's largest added latency (1.5 s), the images' download and the process's exit. */
export const HUNG_BOUND_MS = 5_000;
const TERMINAL = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);

interface Input {
  s3: S3Client;
  seed: number;
  bucket: string;
  foreignBucket: string;
  prefix: string;
  runs: CliRun[];
  foreignIds: string[];
  proxyFaults: Record<string, number>;
  processFaults: Record<string, number>;
  logs: string;
  seconds: number;
}

async function versions(s3: S3Client, bucket: string, prefix = ''): Promise<ObjectVersion[]> {
  const all: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    all.push(...(page.Versions ?? []));
    if (!page.IsTruncated) return all;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}

async function stateOf(s3: S3Client, bucket: string, v: ObjectVersion): Promise<string | undefined> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId }));
  try {
    return (JSON.parse(await res.Body!.transformToString()) as { state?: string }).state;
  } catch {
    return undefined;
  }
}

/** `image generated` log lines: which run of which image started when (ms, this machine's clock). */
function pipelineRuns(logs: string): { job: string; index: number; startedAt: number }[] {
  const out: { job: string; index: number; startedAt: number }[] = [];
  for (const line of logs.split('\n')) {
    if (!line.includes('"image generated"')) continue;
    try {
      const l = JSON.parse(line) as { ts: string; job_id: string; index: number; seconds: number };
      out.push({ job: l.job_id, index: l.index, startedAt: Date.parse(l.ts) - l.seconds * 1000 });
    } catch {
      /* a torn line from a killed process */
    }
  }
  return out;
}

/** `image stored` log lines: when a run's PUT of an image returned (ms, this machine's clock). */
function storedLines(logs: string): { job: string; index: number; at: number }[] {
  const out: { job: string; index: number; at: number }[] = [];
  for (const line of logs.split('\n')) {
    if (!line.includes('"image stored"')) continue;
    try {
      const l = JSON.parse(line) as { ts: string; job_id: string; index: number };
      out.push({ job: l.job_id, index: l.index, at: Date.parse(l.ts) });
    } catch {
      /* a torn line from a killed process */
    }
  }
  return out;
}

export async function computeFigures(i: Input): Promise<Figures> {
  const details: string[] = [];
  const all = await versions(i.s3, i.bucket);
  const byKey = new Map<string, ObjectVersion[]>();
  for (const v of all) byKey.set(v.Key!, [...(byKey.get(v.Key!) ?? []), v]);
  // Oldest first: by LastModified, then (same millisecond) by moto's newest-first listing reversed.
  for (const list of byKey.values()) list.reverse().sort((a, b) => a.LastModified!.getTime() - b.LastModified!.getTime());

  const outcomes: Record<string, number> = {};
  const terminalAt = new Map<string, number>();
  let lost = 0;
  let terminalOverwritten = 0;
  const submitted = i.runs.filter((r) => r.id).map((r) => r.id!);
  for (const id of [...submitted, ...i.foreignIds]) {
    const list = byKey.get(`${i.prefix}jobs/${id}/status.json`) ?? [];
    const states = await Promise.all(list.map((v) => stateOf(i.s3, i.bucket, v)));
    const first = states.findIndex((s) => s !== undefined && TERMINAL.has(s));
    if (first === -1) {
      lost += 1;
      details.push(`lost: ${id} (states ${states.join(' → ') || 'none'})`);
      continue;
    }
    outcomes[states[first]!] = (outcomes[states[first]!] ?? 0) + 1;
    terminalAt.set(id, list[first]!.LastModified!.getTime());
    const after = list.length - 1 - first;
    if (after > 0) {
      terminalOverwritten += after;
      details.push(`terminal overwritten: ${id} (${states.slice(first).join(' → ')})`);
    }
  }

  let imagesOverwritten = 0;
  // When each image was stored, as an upper bound: S3's LastModified has whole seconds (so + 1 s),
  // and the runtime's `image stored` line is written just after the PUT returned; the earlier wins.
  // A run that started after an upper bound surely re-ran a stored image.
  const storedAt = new Map<string, number>();
  for (const line of storedLines(i.logs)) {
    const key = `${i.prefix}jobs/${line.job}/image-${line.index}.png`;
    storedAt.set(key, Math.min(storedAt.get(key) ?? Infinity, line.at));
  }
  for (const [key, list] of byKey) {
    if (!/\/image-\d+\.png$/.test(key)) continue;
    storedAt.set(key, Math.min(storedAt.get(key) ?? Infinity, list[0]!.LastModified!.getTime() + 1000));
    if (list.length > 1) {
      imagesOverwritten += list.length - 1;
      details.push(`image written ${list.length} times: ${key}`);
    }
  }
  // A pipeline run of an image that was already in S3 when the run started is a duplicate; a
  // preempted attempt redoing its unfinished image (not yet stored) is the documented redo.
  let pipelineReruns = 0;
  const runsSeen = pipelineRuns(i.logs);
  for (const run of runsSeen) {
    const stored = storedAt.get(`${i.prefix}jobs/${run.job}/image-${run.index}.png`);
    if (stored !== undefined && stored < run.startedAt) {
      pipelineReruns += 1;
      details.push(`pipeline re-ran stored image ${run.index} of ${run.job}`);
    }
  }
  if (runsSeen.length === 0) details.push('no `image generated` log lines: pipeline reruns not measured');

  const misplaced = all.filter((v) => !v.Key!.startsWith(`${i.prefix}jobs/`) && !v.Key!.startsWith(`${i.prefix}nodes/`));
  const foreign = await versions(i.s3, i.foreignBucket);
  for (const v of [...misplaced, ...foreign]) details.push(`mis-written: ${v.Key}`);

  let hung = 0;
  let waitErrors = 0;
  for (const r of i.runs) {
    if (!r.id) continue;
    const end = terminalAt.get(r.id);
    if (end !== undefined && (r.code === 8 || r.exitedAt - end > HUNG_BOUND_MS)) {
      hung += 1;
      details.push(`hung: ${r.id} exited ${r.exitedAt - end} ms after its job ended (exit ${r.code}, clock offset ${r.offsetMs} ms)`);
    } else if (r.code !== 0 && end !== undefined && !/^Error: Job \S+ (failed|rejected|cancelled)/m.test(r.stderr)) {
      waitErrors += 1;
      details.push(`wait error: ${r.id} exit ${r.code}: ${r.stderr.trim().split('\n').at(-1)}`);
    }
  }
  const inFlight = Object.entries(i.proxyFaults).filter(([k]) => !k.includes(':')).reduce((n, [, v]) => n + v, 0) + Object.values(i.processFaults).reduce((n, v) => n + v, 0);
  return {
    seed: i.seed,
    seconds: Math.round(i.seconds),
    jobsSubmitted: submitted.length,
    sendsRefused: i.runs.filter((r) => !r.id).length,
    faults: { proxy: i.proxyFaults, process: i.processFaults, inFlight },
    outcomes,
    foreign: { sent: i.foreignIds.length, rejected: i.foreignIds.filter((id) => terminalAt.has(id)).length },
    lost,
    duplicated: { terminalOverwritten, imagesOverwritten, pipelineReruns },
    misWritten: misplaced.length + foreign.length,
    hung,
    waitErrors,
    details,
  };
}
