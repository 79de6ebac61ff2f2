// One node's part of a rolling deploy, over SSM: drain → wait until no job runs (bounded; the restart's
// SIGTERM requeues a job still running) → templates/install-release.sh with FLUXER_RELEASE=<candidate>
// as root → `fluxer-runtime restart` → wait until a new process is READY on the candidate. And the way
// back: install-release.sh with the previous release and FLUXER_SWITCH_ONLY (never downloads) →
// restart → READY on what it ran before. No terminal code here.
import type { Clock } from '../../lib/clock.js';
import { formatDuration } from '../../lib/duration.js';
import { runOnNodes, type NodeCommandResult } from '../remote/run.js';
import { jobFinished, runtimeCall, runtimeControl, waitForStatus, type RemotePorts, type RemoteSettings, type RuntimeHealth, type StatusRow } from '../remote/runtime.js';
import { shellQuote } from '../remote/scripts.js';

/** What a node's deploy reports as it goes, and how it ended. */
export interface DeploySteps {
  /** Resolves with the release the node was on (install-release.sh's `previous=`); rejects never: failures are values. */
  deploy(id: string, on: { installing(): void; restarting(from: string | null): void; waiting(): void }): Promise<StepOutcome>;
  /** Back to `from` (switched) or just resume the drained runtime (never switched): null when it is READY again. */
  rollback(id: string, outcome: Extract<StepOutcome, { ok: false }>): Promise<string | null>;
}

export type StepOutcome = { ok: true; from: string | null } | { ok: false; error: string; switched: boolean; from: string | null };

/** The script deploy sends: install-release.sh's text run by bash (AWS-RunShellScript runs sh), with the release chosen. */
export function installCommand(installScript: string, release: string, opts: { switchOnly?: boolean } = {}): string {
  return [`export FLUXER_RELEASE=${shellQuote(release)}`, ...(opts.switchOnly ? ['export FLUXER_SWITCH_ONLY=1'] : []), `exec bash -c ${shellQuote(installScript)} install-release.sh`].join('\n');
}

/** install-release.sh's stdout: `previous=<id>` (empty: no release was current), `current=<id>` once switched. */
export function parseInstallOutput(stdout: string): { previous: string | null | undefined; current: string | undefined } {
  const previous = /^previous=(.*)$/m.exec(stdout)?.[1]?.trim();
  const current = /^current=(.*)$/m.exec(stdout)?.[1]?.trim();
  return { previous: previous === undefined ? undefined : previous || null, current: current || undefined };
}

export interface SsmStepsOptions extends RemoteSettings {
  release: string;
  installScript: string;
  /** Per node: for the running job to finish, and for the new runtime to be READY. */
  timeoutMs: number;
  /** What each node's runtime reported as its release before the deploy (a release folder the runtime cannot name reports null). */
  reportedBefore: Readonly<Record<string, string | null>>;
  intervalMs?: number;
}

const ROUND_MS = 60_000;
/** An install downloads and pip-installs a wheelhouse: well past a status call, bounded all the same. */
const INSTALL_TIMEOUT_MS = 30 * 60_000;

export function ssmDeploySteps(ports: RemotePorts, clock: Clock, opts: SsmStepsOptions): DeploySteps {
  const interval = opts.intervalMs ?? 1000;
  const settings: RemoteSettings = { ...(opts.output ? { output: opts.output } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };

  const install = async (id: string, release: string, switchOnly: boolean): Promise<NodeCommandResult> =>
    (
      await runOnNodes(ports, clock, {
        instanceIds: [id],
        script: installCommand(opts.installScript, release, { switchOnly }),
        comment: `fluxer runtime deploy: install ${release}`,
        executionTimeoutSeconds: INSTALL_TIMEOUT_MS / 1000,
        waitMs: INSTALL_TIMEOUT_MS + ROUND_MS,
        ...settings,
      })
    )[0]!;

  /** restart, then wait until a new process settles (READY, FAILED or STOPPED) or the time is up. */
  const restartAndSettle = async (id: string, expected: string | null, label: string, restarted?: () => void): Promise<string | null> => {
    const [r] = await runtimeCall(ports, clock, [id], ['restart'], { ...settings, waitMs: ROUND_MS, stdoutOnly: true });
    const doc = parseJson(r!.stdout) as { restarting?: boolean; previousPid?: number | null; previousStartedAt?: string | null } | undefined;
    if (!r!.ok || !doc?.restarting) return `restart: ${r!.error ?? 'refused'}${firstLine(r!.stderr || r!.stdout) ? `: ${firstLine(r!.stderr || r!.stdout)}` : ''}`;
    restarted?.();
    const prev = { pid: doc.previousPid ?? null, startedAt: doc.previousStartedAt ?? null };
    const isNew = (h: RuntimeHealth) => (h.pid ?? null) !== prev.pid || (h.startedAt ?? null) !== prev.startedAt;
    const settled = (row: StatusRow) => row.health !== null && row.health.state !== null && isNew(row.health) && ['READY', 'FAILED', 'STOPPED'].includes(row.health.state);
    const waited = await waitForStatus(ports, clock, [id], settled, { ...settings, deadlineMs: clock.now() + opts.timeoutMs, intervalMs: interval, roundWaitMs: ROUND_MS });
    const h = waited.rows.get(id)?.health ?? null;
    if (waited.waiting.length) return `${label} was not READY within ${formatDuration(opts.timeoutMs)} (last: ${h && isNew(h) ? h.state : (waited.rows.get(id)?.error ?? 'the old process')})`;
    if (h!.state !== 'READY') return `${label} went ${h!.state}${h!.stateReason ? `: ${h!.stateReason}` : ''}`;
    if ((h!.release ?? null) !== expected) return `${label} is READY on release ${h!.release ?? 'unknown'}, not ${expected ?? 'the one it had'}`;
    return null;
  };

  return {
    async deploy(id, on) {
      const [drained] = await runtimeControl(ports, clock, [id], 'drain', { ...settings, waitMs: ROUND_MS });
      if (!drained!.ok) return { ok: false, error: `drain: ${drained!.error}`, switched: false, from: null };
      // Bounded: past the timeout the restart's SIGTERM drains the job and requeues it, as `runtime restart` does.
      await waitForStatus(ports, clock, [id], jobFinished, { ...settings, deadlineMs: clock.now() + opts.timeoutMs, intervalMs: interval, roundWaitMs: ROUND_MS });
      on.installing();
      const r = await install(id, opts.release, false);
      const out = parseInstallOutput(r.stdout);
      const from = out.previous ?? null;
      if (!r.ok || out.current !== opts.release) {
        return { ok: false, error: `install: ${r.error ?? 'no current= line'}${lastLine(r.stderr) ? `: ${lastLine(r.stderr)}` : ''}`, switched: out.current !== undefined, from };
      }
      on.restarting(from);
      const failure = await restartAndSettle(id, opts.release, 'the new runtime', on.waiting);
      if (failure) return { ok: false, error: failure, switched: true, from };
      return { ok: true, from };
    },

    async rollback(id, outcome) {
      if (!outcome.switched) {
        const [resumed] = await runtimeControl(ports, clock, [id], 'resume', { ...settings, waitMs: ROUND_MS });
        return resumed!.ok ? null : `resume: ${resumed!.error}`;
      }
      if (!outcome.from) return 'no previous release is known for this node (none was current before)';
      const r = await install(id, outcome.from, true);
      if (!r.ok || parseInstallOutput(r.stdout).current !== outcome.from) return `switch to ${outcome.from}: ${r.error ?? 'no current= line'}${lastLine(r.stderr) ? `: ${lastLine(r.stderr)}` : ''}`;
      return restartAndSettle(id, opts.reportedBefore[id] ?? null, 'the previous runtime');
    },
  };
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

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.slice(0, 300) ?? '';
}
