// `fluxer runtime deploy` without the terminal: check every target serves, roll the candidate out
// (journal on every change), and promote it only when every node took it. The build and publish
// come before (the command, with releases.ts); nothing here prompts or prints.
import type { SsmPort } from '../../aws/ssm.js';
import type { Clock } from '../../lib/clock.js';
import { FluxerError, InterruptedError } from '../../lib/errors.js';
import { runtimeStatus, type RemotePorts, type RemoteSettings, type StatusRow } from '../remote/runtime.js';
import { DeployJournal, newDeployId, whereNodesAre, type DeployRecord } from './journal.js';
import { mayPromote, newRollout, nodeSeconds, type NodePhase } from './rollout.js';
import { runRollout } from './run.js';
import { ssmDeploySteps } from './steps.js';

/** Every target's status before anything changes: a node that does not serve now is not deployed to. */
export async function preflight(ports: RemotePorts, clock: Clock, ids: readonly string[], settings: RemoteSettings): Promise<StatusRow[]> {
  return runtimeStatus(ports, clock, ids, { ...settings, waitMs: 60_000 });
}

export interface DeployNodeResult {
  instanceId: string;
  ok: boolean;
  /** deployed, rolled-back, rollback-failed, or untouched (the rollout stopped before it; interrupted: the step it was in). */
  status: NodePhase | 'untouched';
  error: string | null;
  from: string | null;
  to: string | null;
  seconds: number | null;
}

export interface DeployResult {
  deployId: string;
  release: string;
  promoted: boolean;
  parameter: string;
  /** The release the parameter named before (still names, unless promoted). */
  previous: string | null;
  journal: string;
  nodes: DeployNodeResult[];
  /** The first failure, which stopped the rollout. */
  stoppedBy: { instanceId: string; error: string } | null;
}

export interface DeployOptions extends RemoteSettings {
  stack: string;
  region: string;
  release: string;
  parameter: string;
  parameterBefore: string | null;
  installScript: string;
  maxConcurrency: number;
  timeoutMs: number;
  /** From the preflight: what each runtime reported as its release. */
  before: StatusRow[];
  journalDir: string;
  intervalMs?: number;
  progress?: (message: string) => void;
}

export async function deployRelease(ports: RemotePorts & { paramSsm: Pick<SsmPort, 'putParameter'> }, clock: Clock, opts: DeployOptions): Promise<DeployResult> {
  const reported = Object.fromEntries(opts.before.map((r) => [r.instanceId, r.health?.release ?? null]));
  const rollout = newRollout(opts.release, opts.before.map((r) => r.instanceId), opts.maxConcurrency, reported);
  const journal = new DeployJournal(opts.journalDir);
  const now = () => new Date(clock.now()).toISOString();
  const record: DeployRecord = {
    version: 1,
    deployId: newDeployId(clock.now()),
    stack: opts.stack,
    region: opts.region,
    release: opts.release,
    parameter: opts.parameter,
    parameterBefore: opts.parameterBefore,
    createdAt: now(),
    updatedAt: now(),
    outcome: 'running',
    promoted: false,
    rollout,
  };
  const save = () => journal.save({ ...record, updatedAt: now() });
  save();
  const steps = ssmDeploySteps(ports, clock, {
    release: opts.release,
    installScript: opts.installScript,
    timeoutMs: opts.timeoutMs,
    reportedBefore: reported,
    ...(opts.intervalMs ? { intervalMs: opts.intervalMs } : {}),
    ...(opts.output ? { output: opts.output } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  try {
    await runRollout(rollout, steps, clock, (_state, message) => {
      save();
      opts.progress?.(message);
    });
  } catch (err) {
    record.outcome = 'interrupted';
    save();
    // Nodes mid-step may be drained or on either release: say where each is as far as known, and where the journal is.
    const where = `Nodes: ${whereNodesAre(rollout)}. Candidate ${opts.release} not promoted; journal ${journal.path(record.deployId)}`;
    const hint = '`fluxer runtime status --all` shows each node\'s state and release; `fluxer runtime deploy` again rolls the rest (a node already on the candidate is reinstalled from its folder, without a download).';
    if (opts.signal?.aborted) throw new InterruptedError(`Deploy interrupted. ${where}`, { hint });
    throw new FluxerError(`Deploy stopped by an error: ${(err as Error).message}. ${where}`, { code: 'DeployFailed', hint, cause: err });
  }
  if (mayPromote(rollout)) {
    await ports.paramSsm.putParameter({ Name: opts.parameter, Value: opts.release, Type: 'String', Overwrite: true });
    record.promoted = true;
  }
  record.outcome = 'finished';
  save();
  return {
    deployId: record.deployId,
    release: opts.release,
    promoted: record.promoted,
    parameter: opts.parameter,
    previous: opts.parameterBefore,
    journal: journal.path(record.deployId),
    stoppedBy: rollout.stoppedBy,
    nodes: rollout.nodes.map((n) => ({
      instanceId: n.instanceId,
      ok: n.phase === 'deployed',
      status: n.phase === 'pending' ? 'untouched' : n.phase,
      error: n.phase === 'pending' ? `not deployed: the rollout stopped at ${rollout.stoppedBy?.instanceId ?? 'an earlier node'}` : n.error,
      from: n.from,
      to: n.on,
      seconds: nodeSeconds(n),
    })),
  };
}
