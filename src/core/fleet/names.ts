// The names of what `fluxer fleet` creates for a stack: one source, so `fleet down` deletes exactly these.
export const fleetGroupName = (stack: string): string => `fluxer-${stack}-fleet`;
/** The launch template shares the group's name. */
export const fleetTemplateName = fleetGroupName;
/** The target-tracking policy on backlog per instance. */
export const BACKLOG_POLICY_NAME = 'fluxer-backlog-per-instance';
/** The step-scaling policy the backstop alarm invokes: one node when work waits and the group is at 0. */
export const ZERO_POLICY_NAME = 'fluxer-scale-from-zero';
/** Its alarm; named after the group (and tagged for the stack) so `fleet down` finds and deletes it. */
export const zeroAlarmName = (groupName: string): string => `${groupName}-scale-from-zero`;
/** The node role's inline policy that lets a node act on its own group (added by `fleet up`, removed by `fleet down`). */
export const NODE_FLEET_POLICY_NAME = 'fluxer-node-fleet';
/** The group's termination lifecycle hook: a node being removed finishes or releases its job, then completes it. */
export const TERMINATION_HOOK_NAME = 'fluxer-node-drain';
/** How long a node may take before Auto Scaling goes on without it; the node heartbeats while it finishes. */
export const TERMINATION_HOOK_TIMEOUT_SECONDS = 300;
/** The group tag a node's boot-failure breaker sets (its reason); `fleet scale` clears it. */
export const BREAKER_TAG = 'fluxer:breaker';
/** What `fleet up` makes when the stack has no group yet and no --max is given. */
export const DEFAULT_MAX_SIZE = 4;
export const DEFAULT_JOBS_PER_NODE = 2;
/** Group metrics fluxer enables (GroupInServiceInstances is the backlog's divisor), one-minute granularity. */
export const GROUP_METRICS = [
  'GroupMinSize', 'GroupMaxSize', 'GroupDesiredCapacity', 'GroupInServiceInstances', 'GroupPendingInstances',
  'GroupTerminatingInstances', 'GroupTotalInstances',
] as const;
/**
 * The runtime's own idle times (gpu-runtime/fluxer_runtime/config.py: FLUXER_IDLE_SECONDS, FLUXER_SURPLUS_IDLE_SECONDS),
 * what a node does when its template pins none; shown by `fleet status`, checked against config.py by a unit test.
 */
export const RUNTIME_IDLE_SECONDS = 600;
export const RUNTIME_SURPLUS_IDLE_SECONDS = 120;
/** `fleet up --idle/--surplus-idle`: a second (the runtime's least; AWS bills a minute at least) to a day. */
export const IDLE_RANGE_MS = { minMs: 1000, maxMs: 24 * 3_600_000 } as const;
