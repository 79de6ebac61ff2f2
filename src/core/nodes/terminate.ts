// `fluxer spot terminate`: which instances may be terminated (only the stack's own nodes, never a
// fleet's Auto Scaling group members), the TerminateInstances calls, and the wait until EC2 confirms
// each as shutting-down or terminated.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TerminateInstances.html
import type { Ec2Port } from '../../aws/ec2.js';
import type { Clock } from '../../lib/clock.js';
import { UsageError } from '../../lib/errors.js';
import { isManagedBy, TAG_MANAGED, TAG_STACK } from '../tags.js';
import { INSTANCE_ID, instancesById, TAG_ASG, TERMINATING_STATES, type InstancesPort, type NodeInstance } from './instances.js';

export type Selection = { kind: 'ids'; ids: string[] } | { kind: 'all' } | { kind: 'launch'; launchId: string };

export const LAUNCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Exactly one of IDs, --all, --launch-id; ids in AWS's syntax. Nothing is sent before this passes. */
export function parseSelection(ids: readonly string[], opts: { all?: boolean; launchId?: string }): Selection {
  const given = [ids.length > 0 ? 'ID...' : undefined, opts.all ? '--all' : undefined, opts.launchId !== undefined ? '--launch-id' : undefined].filter(Boolean);
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0
        ? 'Say which nodes to terminate: instance IDs, --all or --launch-id ID'
        : `Give exactly one of instance IDs, --all or --launch-id (got ${given.join(' and ')})`,
      { hint: 'e.g. `fluxer spot terminate i-0123456789abcdef0`, `fluxer spot terminate --launch-id <id>`; `fluxer spot list` shows both.' },
    );
  }
  if (opts.launchId !== undefined) {
    if (!LAUNCH_ID.test(opts.launchId)) throw new UsageError(`--launch-id ${JSON.stringify(opts.launchId)}: not a launch id (1-128 letters, digits, . _ : -)`);
    return { kind: 'launch', launchId: opts.launchId };
  }
  if (opts.all) return { kind: 'all' };
  const bad = ids.find((id) => !INSTANCE_ID.test(id));
  if (bad !== undefined) throw new UsageError(`ID ${JSON.stringify(bad)}: not an instance id (i- and 8 or 17 hex digits, e.g. i-0123456789abcdef0)`);
  return { kind: 'ids', ids: [...new Set(ids)] };
}

export interface Refusal {
  instanceId: string;
  reason: string;
}

/**
 * Splits the instances into those that may be terminated and those refused, by name: an id EC2 does
 * not know, an instance that is not the stack's (allowed with `force`), a member of an Auto Scaling
 * group (never: the group would replace it; `fluxer fleet scale` changes its size).
 */
export function checkTargets(found: readonly NodeInstance[], opts: { stack: string; force: boolean; requested?: readonly string[] }): { targets: NodeInstance[]; refused: Refusal[] } {
  const refused: Refusal[] = [];
  const known = new Set(found.map((n) => n.instanceId));
  for (const id of opts.requested ?? []) if (!known.has(id)) refused.push({ instanceId: id, reason: 'not found in this region' });
  const targets: NodeInstance[] = [];
  for (const n of found) {
    const group = n.tags[TAG_ASG];
    if (group !== undefined) {
      refused.push({ instanceId: n.instanceId, reason: `a member of the Auto Scaling group ${group}: change its size with \`fluxer fleet scale\`` });
    } else if (!isManagedBy(n.tags, opts.stack) && !opts.force) {
      const owner = n.tags[TAG_MANAGED] === 'true' && n.tags[TAG_STACK] ? `a node of stack "${n.tags[TAG_STACK]}"` : 'not tagged fluxer:managed=true';
      refused.push({ instanceId: n.instanceId, reason: `${owner}, not of stack "${opts.stack}" (--force to terminate it anyway)` });
    } else {
      targets.push(n);
    }
  }
  return { targets, refused };
}

/** TerminateInstances takes at most 1000 ids a call. Returns each instance's state before and after. */
export async function terminateAll(ec2: Pick<Ec2Port, 'terminateInstances'>, ids: readonly string[], dryRun = false): Promise<Map<string, { previousState: string; state: string }>> {
  const states = new Map<string, { previousState: string; state: string }>();
  for (let i = 0; i < ids.length; i += 1000) {
    const out = await ec2.terminateInstances({ InstanceIds: ids.slice(i, i + 1000), DryRun: dryRun });
    for (const t of out.TerminatingInstances ?? []) {
      if (t.InstanceId) states.set(t.InstanceId, { previousState: t.PreviousState?.Name ?? 'unknown', state: t.CurrentState?.Name ?? 'unknown' });
    }
  }
  return states;
}

export interface Confirmation {
  /** Instance id → the state EC2 last showed it in. */
  states: Map<string, string>;
  /** Those EC2 did not show shutting-down or terminated within the time allowed. */
  unconfirmed: string[];
}

/**
 * Polls DescribeInstances until EC2 shows each instance shutting-down or terminated, or `timeoutMs`
 * passes. A just-terminated instance may briefly be missing from Describe: it counts as not yet seen.
 */
export async function confirmTermination(
  ec2: InstancesPort,
  clock: Clock,
  ids: readonly string[],
  opts: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
): Promise<Confirmation> {
  const states = new Map<string, string>();
  const deadline = clock.now() + opts.timeoutMs;
  let waiting = [...ids];
  for (;;) {
    for (const n of await instancesById(ec2, waiting)) states.set(n.instanceId, n.state);
    waiting = waiting.filter((id) => !TERMINATING_STATES.has(states.get(id) ?? ''));
    if (waiting.length === 0 || clock.now() + opts.intervalMs > deadline) return { states, unconfirmed: waiting };
    await clock.sleep(opts.intervalMs, opts.signal);
  }
}
