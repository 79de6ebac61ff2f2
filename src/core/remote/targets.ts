// Which nodes a `fluxer runtime …` command acts on: --node ID (repeatable), --launch-id ID or --all,
// exactly one kind, resolved to the stack's live nodes (a stopped or pending one is reported as not
// running, exit 1, never sent to). An ID that is not the stack's own (or terminated) is refused by name
// before anything is sent: a command over SSM runs as root on the node.
import { UsageError } from '../../lib/errors.js';
import { INSTANCE_ID, instancesById, stackNodes, type InstancesPort, type NodeInstance } from '../nodes/instances.js';
import { LAUNCH_ID } from '../nodes/terminate.js';
import { isManagedBy, TAG_MANAGED, TAG_STACK } from '../tags.js';

export type TargetSelection = { kind: 'nodes'; ids: string[] } | { kind: 'launch'; launchId: string } | { kind: 'all' };

export interface TargetFlags {
  node?: string[];
  launchId?: string;
  all?: boolean;
}

/** Exactly one of --node, --launch-id, --all; values in AWS's syntax. Pure: nothing is sent before it passes. */
export function parseTargets(flags: TargetFlags, command: string): TargetSelection {
  const nodes = flags.node ?? [];
  const given = [nodes.length ? '--node' : undefined, flags.launchId !== undefined ? '--launch-id' : undefined, flags.all ? '--all' : undefined].filter(Boolean);
  const example = `e.g. \`fluxer runtime ${command} --node i-0123456789abcdef0\` or \`fluxer runtime ${command} --all\`; \`fluxer spot list\` shows the nodes.`;
  if (given.length === 0) throw new UsageError(`Say which nodes: --node ID (repeatable), --launch-id ID or --all`, { hint: example });
  if (given.length > 1) throw new UsageError(`Give exactly one of --node, --launch-id or --all (got ${given.join(' and ')})`, { hint: example });
  if (flags.launchId !== undefined) {
    if (!LAUNCH_ID.test(flags.launchId)) throw new UsageError(`--launch-id ${JSON.stringify(flags.launchId)}: not a launch id (1-128 letters, digits, . _ : -)`);
    return { kind: 'launch', launchId: flags.launchId };
  }
  if (flags.all) return { kind: 'all' };
  const bad = nodes.find((id) => !INSTANCE_ID.test(id));
  if (bad !== undefined) throw new UsageError(`--node ${JSON.stringify(bad)}: not an instance id (i- and 8 or 17 hex digits, e.g. i-0123456789abcdef0)`);
  return { kind: 'nodes', ids: [...new Set(nodes)] };
}

export interface TargetRefusal {
  instanceId: string;
  reason: string;
}

export interface ResolvedTargets {
  /** The selected nodes that exist: running ones are sent to, the others (pending, stopping, stopped) reported. */
  targets: NodeInstance[];
  /** Named IDs that are not the stack's running nodes (only for --node; the others select by tag). */
  refused: TargetRefusal[];
}

/** The selection as the stack's live nodes (running, and those that are not: reported, not sent to), oldest first. */
export async function resolveTargets(ec2: InstancesPort, stack: string, sel: TargetSelection): Promise<ResolvedTargets> {
  if (sel.kind !== 'nodes') {
    const found = await stackNodes(ec2, { stack, ...(sel.kind === 'launch' ? { launchId: sel.launchId } : {}) });
    return { targets: found, refused: [] };
  }
  const found = new Map((await instancesById(ec2, sel.ids)).map((n) => [n.instanceId, n]));
  const targets: NodeInstance[] = [];
  const refused: TargetRefusal[] = [];
  for (const id of sel.ids) {
    const n = found.get(id);
    if (!n) refused.push({ instanceId: id, reason: 'not found in this region' });
    else if (!isManagedBy(n.tags, stack)) {
      const owner = n.tags[TAG_MANAGED] === 'true' && n.tags[TAG_STACK] ? `a node of stack "${n.tags[TAG_STACK]}"` : 'not tagged fluxer:managed=true';
      refused.push({ instanceId: id, reason: `${owner}, not of stack "${stack}"` });
    } else if (n.state === 'shutting-down' || n.state === 'terminated') refused.push({ instanceId: id, reason: `${n.state}, not running` });
    else targets.push(n);
  }
  return { targets, refused };
}

/** The refusal as the exit-2 error: nothing was sent to any node. */
export function refusedTargetsError(refused: readonly TargetRefusal[]): UsageError {
  return new UsageError(`Refused (nothing was sent): ${refused.map((r) => `${r.instanceId}: ${r.reason}`).join('; ')}`, {
    code: 'TargetRefused',
    hint: "`fluxer spot list` shows the stack's nodes; `--stack NAME` picks another stack.",
  });
}
