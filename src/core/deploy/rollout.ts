// The rolling deploy as a plan and its state, apart from SSM: which nodes start next (in order, at
// most N at a time), what each ended as, when the rollout stops (the first failure: nodes not yet
// started stay untouched) and whether the candidate may be promoted (only when every node took it).
// Pure, on the time it is handed, so every rule is tested without nodes.

export type NodePhase =
  /** Not started; after a stop, never will be. */
  | 'pending'
  | 'draining'
  | 'installing'
  | 'restarting'
  | 'waiting'
  /** A step failed: switching it back to its previous release. */
  | 'rolling-back'
  /** On the candidate, READY. */
  | 'deployed'
  /** Failed, and back on its previous release, READY. */
  | 'rolled-back'
  /** Failed, and the switch back failed too: the operator must look. */
  | 'rollback-failed';

export const DONE_PHASES: ReadonlySet<NodePhase> = new Set(['deployed', 'rolled-back', 'rollback-failed']);

export interface NodeRollout {
  instanceId: string;
  phase: NodePhase;
  /** The release the node ran before (its `current`), once known. */
  from: string | null;
  /** The release it is on now, as far as the rollout knows. */
  on: string | null;
  error: string | null;
  startedAtMs: number | null;
  finishedAtMs: number | null;
}

export interface RolloutState {
  release: string;
  maxConcurrency: number;
  nodes: NodeRollout[];
  /** The first failure stops the rollout: set then, with the node and why. */
  stoppedBy: { instanceId: string; error: string } | null;
}

export function newRollout(release: string, instanceIds: readonly string[], maxConcurrency: number, currentReleases: Readonly<Record<string, string | null>> = {}): RolloutState {
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new Error(`maxConcurrency ${maxConcurrency}: must be a positive integer`);
  return {
    release,
    maxConcurrency,
    stoppedBy: null,
    nodes: instanceIds.map((instanceId) => ({ instanceId, phase: 'pending', from: currentReleases[instanceId] ?? null, on: currentReleases[instanceId] ?? null, error: null, startedAtMs: null, finishedAtMs: null })),
  };
}

const inFlight = (n: NodeRollout) => n.phase !== 'pending' && !DONE_PHASES.has(n.phase);

/** The nodes to start now (marked draining): the next pending ones in order, up to the free slots; none after a stop. */
export function startNext(state: RolloutState, nowMs: number): string[] {
  if (state.stoppedBy) return [];
  const free = state.maxConcurrency - state.nodes.filter(inFlight).length;
  const next = state.nodes.filter((n) => n.phase === 'pending').slice(0, Math.max(0, free));
  for (const n of next) Object.assign(n, { phase: 'draining', startedAtMs: nowMs });
  return next.map((n) => n.instanceId);
}

function node(state: RolloutState, id: string): NodeRollout {
  const n = state.nodes.find((x) => x.instanceId === id);
  if (!n) throw new Error(`${id} is not part of this rollout`);
  return n;
}

/** A step of a started node: draining → installing → restarting → waiting (the install says what it was on). */
export function advance(state: RolloutState, id: string, phase: 'installing' | 'restarting' | 'waiting', facts: { from?: string | null; on?: string | null } = {}): void {
  const n = node(state, id);
  if (!inFlight(n) || n.phase === 'rolling-back') throw new Error(`${id}: cannot go ${phase} from ${n.phase}`);
  n.phase = phase;
  if (facts.from !== undefined) n.from = facts.from;
  if (facts.on !== undefined) n.on = facts.on;
}

export function succeeded(state: RolloutState, id: string, nowMs: number): void {
  const n = node(state, id);
  if (n.phase !== 'waiting') throw new Error(`${id}: cannot succeed from ${n.phase}`);
  Object.assign(n, { phase: 'deployed', on: state.release, error: null, finishedAtMs: nowMs });
}

/** A step failed: the rollout stops (the first failure is the one named) and the node is switched back. */
export function failed(state: RolloutState, id: string, error: string): void {
  const n = node(state, id);
  if (!inFlight(n) || n.phase === 'rolling-back') throw new Error(`${id}: cannot fail from ${n.phase}`);
  Object.assign(n, { phase: 'rolling-back', error });
  state.stoppedBy ??= { instanceId: id, error };
}

export function rolledBack(state: RolloutState, id: string, nowMs: number, rollbackError: string | null): void {
  const n = node(state, id);
  if (n.phase !== 'rolling-back') throw new Error(`${id}: cannot be rolled back from ${n.phase}`);
  n.finishedAtMs = nowMs;
  if (rollbackError === null) Object.assign(n, { phase: 'rolled-back', on: n.from });
  else Object.assign(n, { phase: 'rollback-failed', on: null, error: `${n.error}; the switch back failed: ${rollbackError}` });
}

/** Every started node is done (and, without a stop, none is pending). */
export function isFinished(state: RolloutState): boolean {
  if (state.nodes.some(inFlight)) return false;
  return state.stoppedBy !== null || state.nodes.every((n) => n.phase === 'deployed');
}

/** The candidate becomes the stack's release only when every node took it. */
export function mayPromote(state: RolloutState): boolean {
  return state.stoppedBy === null && state.nodes.length > 0 && state.nodes.every((n) => n.phase === 'deployed');
}

export function nodeSeconds(n: NodeRollout): number | null {
  return n.startedAtMs === null || n.finishedAtMs === null ? null : Math.round((n.finishedAtMs - n.startedAtMs) / 100) / 10;
}
