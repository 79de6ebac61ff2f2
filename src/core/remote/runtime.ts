// The runtime's own commands over the Run Command engine: `fluxer-runtime status|drain|resume|logs|
// restart` on each node, their JSON answers read into typed rows, and the waits built from them
// (drain --wait: until no job runs; restart: until a new process is READY). No terminal code here.
import type { S3Port } from '../../aws/s3.js';
import type { Clock } from '../../lib/clock.js';
import { formatDuration } from '../../lib/duration.js';
import { runOnNodes, type NodeCommandResult, type SsmRunPort } from './run.js';
import { runtimeScript } from './scripts.js';

export interface RemotePorts {
  ssm: SsmRunPort;
  s3?: Pick<S3Port, 'getObject'>;
}

export interface RemoteSettings {
  /** The stack's bucket and `<prefix>ssm-output/`, where SSM writes the whole output. */
  output?: { bucket: string; keyPrefix: string };
  /** Selected nodes whose instance is not running (stopped, pending …), by id: reported, never sent to. */
  notRunning?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/** `fluxer-runtime status`'s health document (docs/runtime.md, "Health endpoint"). */
export interface RuntimeHealth {
  state: string | null;
  stateReason?: string | null;
  model?: string | null;
  memoryPolicy?: string | null;
  release?: string | null;
  version?: string | null;
  instanceId?: string | null;
  pid?: number | null;
  startedAt?: string | null;
  uptimeSeconds?: number | null;
  currentJob?: string | null;
  job?: { id: string; step?: number; steps?: number; image?: number; count?: number; startedAt?: string } | null;
  counters?: { jobs?: Record<string, number>; imagesDone?: number; busySeconds?: number } | null;
  gpu?: { name?: string | null; memoryBytes?: number | null; memoryUsedBytes?: number | null } | null;
  /** The weights pull (docs/runtime.md, "Weights"): null when the stack has pushed none for the model. */
  pull?: { bytesDone?: number; bytesTotal?: number; files?: number; filesDone?: number; reusedFiles?: number; seconds?: number } | null;
  device?: string | null;
  lastError?: unknown;
  error?: string;
}

/** The runtime's exit code for "not reachable" (status, drain, resume). */
export const RUNTIME_UNREACHABLE = 3;
/** States in which the runtime answers but is not serving and will not by itself. */
const DOWN_STATES = new Set(['FAILED', 'STOPPED']);

export function parseHealth(stdout: string): RuntimeHealth | undefined {
  const text = stdout.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const doc = JSON.parse(text) as RuntimeHealth;
    return doc && typeof doc === 'object' && 'state' in doc ? doc : undefined;
  } catch {
    return undefined;
  }
}

export interface StatusRow {
  instanceId: string;
  ok: boolean;
  error: string | null;
  /** The node's SSM agent (PingStatus). */
  agent: string | null;
  health: RuntimeHealth | null;
}

/** A node's status: ok when the runtime answered in a state that serves or is on its way to it. */
export function statusRow(r: NodeCommandResult): StatusRow {
  const health = r.status === 'Offline' || r.status === 'TimedOut' ? undefined : parseHealth(r.stdout);
  const row = { instanceId: r.instanceId, agent: r.agent, health: health ?? null };
  if (!health) return { ...row, ok: false, error: r.error ?? `no health JSON from fluxer-runtime status: ${firstLine(r.stderr || r.stdout) || 'empty output'}` };
  if (health.state === null || r.exitCode === RUNTIME_UNREACHABLE) return { ...row, ok: false, error: `runtime not reachable: ${health.error ?? 'no answer'}` };
  if (DOWN_STATES.has(health.state)) return { ...row, ok: false, error: `runtime ${health.state}${health.stateReason ? `: ${health.stateReason}` : ''}` };
  return { ...row, ok: true, error: null };
}

export function runtimeCall(ports: RemotePorts, clock: Clock, ids: readonly string[], args: string[], opts: RemoteSettings & { waitMs: number; executionTimeoutSeconds?: number; stdoutOnly?: boolean }) {
  return runOnNodes(ports, clock, {
    instanceIds: ids,
    script: runtimeScript(args),
    comment: `fluxer runtime ${args[0]}`,
    executionTimeoutSeconds: opts.executionTimeoutSeconds ?? Math.max(30, Math.ceil(opts.waitMs / 1000)),
    waitMs: opts.waitMs,
    stdoutOnly: opts.stdoutOnly ?? false,
    ...(opts.output ? { output: opts.output } : {}),
    ...(opts.notRunning ? { notRunning: opts.notRunning } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

export async function runtimeStatus(ports: RemotePorts, clock: Clock, ids: readonly string[], opts: RemoteSettings & { waitMs: number }): Promise<StatusRow[]> {
  return (await runtimeCall(ports, clock, ids, ['status'], { ...opts, stdoutOnly: true })).map(statusRow);
}

/** drain or resume: ok when the runtime accepted (exit 0); 1 is a refusal (409), 3 not reachable. */
export async function runtimeControl(ports: RemotePorts, clock: Clock, ids: readonly string[], action: 'drain' | 'resume', opts: RemoteSettings & { waitMs: number }): Promise<StatusRow[]> {
  return (await runtimeCall(ports, clock, ids, [action], { ...opts, stdoutOnly: true })).map((r) => {
    const row = statusRow(r);
    if (r.status !== 'Success' && r.status !== 'Failed') return row;
    if (r.exitCode === 0 && row.health) return { ...row, ok: true, error: null };
    if (r.exitCode === 1) return { ...row, ok: false, error: `${action} refused by the runtime${row.health?.stateReason ? `: ${row.health.stateReason}` : row.health?.error ? `: ${row.health.error}` : ''}${row.health?.state ? ` (state ${row.health.state})` : ''}` };
    return row;
  });
}

export interface WaitOptions extends RemoteSettings {
  /** When to give up (the clock's time). */
  deadlineMs: number;
  intervalMs: number;
  /** Per status round. */
  roundWaitMs: number;
  onRound?: (rows: StatusRow[]) => void;
}

/**
 * Polls `fluxer-runtime status` on the nodes until `done(row)` holds for each, or the deadline:
 * returns the last row of each and which are still not done.
 */
export async function waitForStatus(ports: RemotePorts, clock: Clock, ids: readonly string[], done: (row: StatusRow) => boolean, opts: WaitOptions): Promise<{ rows: Map<string, StatusRow>; waiting: string[] }> {
  const rows = new Map<string, StatusRow>();
  let waiting = [...ids];
  for (;;) {
    const round = await runtimeStatus(ports, clock, waiting, { ...opts, waitMs: Math.max(1000, Math.min(opts.roundWaitMs, opts.deadlineMs - clock.now())) });
    for (const row of round) rows.set(row.instanceId, row);
    opts.onRound?.(round);
    waiting = waiting.filter((id) => !done(rows.get(id)!));
    if (waiting.length === 0 || clock.now() + opts.intervalMs > opts.deadlineMs) return { rows, waiting };
    await clock.sleep(opts.intervalMs, opts.signal);
  }
}

/** A drained runtime with no job: restarting it now loses nothing. */
export const jobFinished = (row: StatusRow): boolean => row.health !== null && !row.health.job && !row.health.currentJob;

export interface RestartResult {
  instanceId: string;
  ok: boolean;
  error: string | null;
  previous: { pid: number | null; startedAt: string | null } | null;
  /** The new process's health once READY (or the last seen). */
  health: RuntimeHealth | null;
  /** Whether it had to be restarted with a job still running (the drain wait ran out). */
  jobStillRunning: boolean;
  agent: string | null;
}

/**
 * drain → wait until the job is done (or the time is up: SIGTERM still drains and requeues it) →
 * `fluxer-runtime restart` → wait until a new process (new pid or startedAt) is READY.
 */
export async function restartRuntimes(ports: RemotePorts, clock: Clock, ids: readonly string[], opts: RemoteSettings & { timeoutMs: number; intervalMs: number; progress?: (m: string) => void }): Promise<RestartResult[]> {
  const deadline = clock.now() + opts.timeoutMs;
  const results = new Map<string, RestartResult>(ids.map((id) => [id, { instanceId: id, ok: false, error: null, previous: null, health: null, jobStillRunning: false, agent: null }]));
  const fail = (id: string, error: string | null) => Object.assign(results.get(id)!, { error });
  const round = 60_000;

  const drained = await runtimeControl(ports, clock, ids, 'drain', { ...opts, waitMs: round });
  let live: string[] = [];
  for (const row of drained) {
    Object.assign(results.get(row.instanceId)!, { agent: row.agent, health: row.health });
    if (row.ok) live.push(row.instanceId);
    else fail(row.instanceId, `drain: ${row.error}`);
  }
  opts.progress?.(`Drained ${live.length} node(s); waiting for running jobs to finish`);
  const idle = await waitForStatus(ports, clock, live, jobFinished, { ...opts, deadlineMs: deadline, roundWaitMs: round });
  for (const id of idle.waiting) results.get(id)!.jobStillRunning = true;

  opts.progress?.(`Restarting ${live.length} runtime(s)`);
  const restarted = await runtimeCall(ports, clock, live, ['restart'], { ...opts, waitMs: round, stdoutOnly: true });
  const previous = new Map<string, { pid: number | null; startedAt: string | null }>();
  for (const r of restarted) {
    const doc = parseJson(r.stdout) as { restarting?: boolean; previousPid?: number; previousStartedAt?: string } | undefined;
    if (r.ok && doc?.restarting) {
      const prev = { pid: doc.previousPid ?? null, startedAt: doc.previousStartedAt ?? null };
      previous.set(r.instanceId, prev);
      results.get(r.instanceId)!.previous = prev;
    } else fail(r.instanceId, `fluxer-runtime restart: ${r.error ?? firstLine(r.stderr || r.stdout)}`);
  }
  live = live.filter((id) => previous.has(id));
  const isNewAndReady = (row: StatusRow) => {
    const prev = previous.get(row.instanceId)!;
    const h = row.health;
    return h !== null && h.state === 'READY' && ((h.pid ?? null) !== prev.pid || (h.startedAt ?? null) !== prev.startedAt);
  };
  const ready = await waitForStatus(ports, clock, live, isNewAndReady, { ...opts, deadlineMs: Math.max(deadline, clock.now() + 5000), roundWaitMs: round });
  for (const id of live) {
    const row = ready.rows.get(id);
    const r = results.get(id)!;
    r.health = row?.health ?? null;
    if (ready.waiting.includes(id)) {
      r.error = `the new runtime was not READY within ${formatDuration(opts.timeoutMs)} (last: ${row?.health?.state ?? row?.error ?? 'no answer'})`;
    } else {
      r.ok = true;
      r.error = null;
    }
  }
  return ids.map((id) => results.get(id)!);
}

export interface LogsAnswer {
  instanceId: string;
  ok: boolean;
  error: string | null;
  /** The runtime's log lines, oldest first: parsed JSON, or the raw text of a line that is not JSON. */
  lines: Array<Record<string, unknown> | string>;
  /** Where to continue from (--follow): the runtime's `fluxer-cursor:` line. */
  cursor: string | null;
  agent: string | null;
}

export function logsArgs(opts: { sinceSeconds?: number; lines?: number; cursor?: string | null }): string[] {
  return ['logs', ...(opts.cursor ? ['--cursor', opts.cursor] : opts.sinceSeconds !== undefined ? ['--since', String(opts.sinceSeconds)] : []), ...(opts.lines !== undefined && !opts.cursor ? ['--lines', String(opts.lines)] : [])];
}

export function parseLogs(r: NodeCommandResult): LogsAnswer {
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (parseJson(l) as Record<string, unknown> | undefined) ?? l);
  const cursor = [...r.stderr.matchAll(/^fluxer-cursor: (.*)$/gm)].pop()?.[1]?.trim() ?? null;
  return { instanceId: r.instanceId, ok: r.ok, error: r.error && r.stderr && !r.ok ? `${r.error}: ${firstLine(r.stderr.replace(/^fluxer-cursor:.*$/gm, '').trim())}`.replace(/: $/, '') : r.error, lines, cursor, agent: r.agent };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 200) ?? '';
}
