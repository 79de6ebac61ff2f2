// The Run Command engine: one shell script on many nodes over SSM, collected as per-node results.
//   1. DescribeInstanceInformation: a node whose agent is not Online (ConnectionLost, or never
//      registered) is reported with that reason and not sent to (SendCommand would fail for all).
//   2. One SendCommand (AWS-RunShellScript) per 50 nodes, output also written to the stack's bucket
//      under <prefix>ssm-output/ (the node role may write there: src/core/node-policy.ts).
//   3. ListCommandInvocations (Details: true), one paged call per command per poll, on the schedule of
//      poll.ts, until every node is terminal or the deadline passes (then the rest are cancelled and
//      reported timed out: nothing waits forever).
//   4. Output: the list's inline output is at most 2,500 characters and mixes stdout and stderr, so a
//      node whose output may be longer, or has stderr, is read with GetCommandInvocation (24,000 / 8,000
//      characters), and output at those limits is read whole from S3. Output is never cut silently
//      (output.ts).
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html
import { isInvalidInstanceId, isInvocationDoesNotExist } from '../../aws/errors.js';
import type { S3Port } from '../../aws/s3.js';
import type { SsmPort } from '../../aws/ssm.js';
import type { Clock } from '../../lib/clock.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import { formatDuration } from '../../lib/duration.js';
import { collect } from './output.js';
import { DEFAULT_BACKOFF, InvocationTracker, PollSchedule, type BackoffOptions, type InvocationView } from './poll.js';

export const DOCUMENT = 'AWS-RunShellScript';
/** SendCommand's InstanceIds limit. */
export const MAX_TARGETS_PER_SEND = 50;
/** SendCommand's TimeoutSeconds (delivery to a node) may not be below 30. */
export const MIN_DELIVERY_TIMEOUT_S = 30;

export type SsmRunPort = Pick<SsmPort, 'describeInstanceInformation' | 'sendCommand' | 'listCommandInvocations' | 'getCommandInvocation' | 'cancelCommand'>;

export interface RunCommandOptions {
  instanceIds: readonly string[];
  script: string;
  /** Names the fluxer command (SendCommand's Comment, ≤ 100 characters). */
  comment: string;
  /** The document's executionTimeout: how long the script may run on the node. */
  executionTimeoutSeconds: number;
  /** How long to wait for the results in all (from now); nodes not done then are cancelled. */
  waitMs: number;
  /** Where SSM writes the whole output: the stack's bucket and `<prefix>ssm-output/`. */
  output?: { bucket: string; keyPrefix: string };
  /** Nodes whose instance is not running, by id with its EC2 state: reported offline, never sent to. */
  notRunning?: Readonly<Record<string, string>>;
  /**
   * The caller reads only stdout (status, drain: a JSON document): a short inline output with no stderr
   * marker is then taken as stdout without a GetCommandInvocation per node.
   */
  stdoutOnly?: boolean;
  signal?: AbortSignal;
  backoff?: BackoffOptions;
}

export interface NodeCommandResult {
  instanceId: string;
  ok: boolean;
  /** Why it is not ok: the agent offline, the command failed to send, timed out, exited non-zero. */
  error: string | null;
  /** SSM's invocation status (Success, Failed, TimedOut …), or Offline / NotSent when never sent. */
  status: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** The node's SSM agent: Online, ConnectionLost, or null when not registered. */
  agent: string | null;
  commandId: string | null;
  /** Where the whole output was read from when the inline limits cut it: "s3://…". */
  outputSource?: string;
}

/** Runs the script on every node and returns one result per node, in the order given. */
export async function runOnNodes(ports: { ssm: SsmRunPort; s3?: Pick<S3Port, 'getObject'> }, clock: Clock, opts: RunCommandOptions): Promise<NodeCommandResult[]> {
  const results = new Map<string, NodeCommandResult>();
  const base = (id: string, agent: string | null): NodeCommandResult => ({ instanceId: id, ok: false, error: null, status: 'Pending', exitCode: null, stdout: '', stderr: '', agent, commandId: null });
  const deadline = clock.now() + opts.waitMs;

  const agents = await agentStatus(ports.ssm, opts.instanceIds);
  const online: string[] = [];
  for (const id of opts.instanceIds) {
    const agent = agents.get(id) ?? null;
    const state = opts.notRunning?.[id];
    if (state) results.set(id, { ...base(id, agent), status: 'Offline', error: `instance ${state}: not sent` });
    else if (agent === 'Online') online.push(id);
    else results.set(id, { ...base(id, agent), status: 'Offline', error: agent ? `SSM agent ${agent}: not sent` : 'not registered with SSM (no agent has reported): not sent' });
  }

  const trackers: InvocationTracker[] = [];
  for (let i = 0; i < online.length; i += MAX_TARGETS_PER_SEND) {
    const batch = online.slice(i, i + MAX_TARGETS_PER_SEND);
    try {
      const sent = await ports.ssm.sendCommand({
        DocumentName: DOCUMENT,
        InstanceIds: batch,
        Comment: opts.comment.slice(0, 100),
        Parameters: { commands: [opts.script], executionTimeout: [String(opts.executionTimeoutSeconds)] },
        TimeoutSeconds: Math.max(MIN_DELIVERY_TIMEOUT_S, Math.min(opts.executionTimeoutSeconds, 2_592_000)),
        ...(opts.output ? { OutputS3BucketName: opts.output.bucket, OutputS3KeyPrefix: opts.output.keyPrefix } : {}),
      });
      const commandId = sent.Command?.CommandId;
      if (!commandId) throw new Error('SendCommand returned no CommandId');
      trackers.push(new InvocationTracker(commandId, batch));
      for (const id of batch) results.set(id, { ...base(id, 'Online'), commandId });
    } catch (err) {
      // A node that went offline between the check and the send fails the whole batch by name.
      if (!isInvalidInstanceId(err)) throw err;
      for (const id of batch) results.set(id, { ...base(id, agents.get(id) ?? null), status: 'NotSent', error: `SendCommand refused the batch: ${(err as Error).message}` });
    }
  }

  const schedule = new PollSchedule(deadline, opts.backoff ?? DEFAULT_BACKOFF);
  const finished: Array<{ tracker: InvocationTracker; inv: InvocationView }> = [];
  try {
    while (trackers.some((t) => !t.done)) {
      const step = schedule.next(clock.now());
      if (step.kind === 'deadline') break;
      await clock.sleep(step.ms, opts.signal);
      for (const t of trackers.filter((x) => !x.done)) for (const inv of t.observe(await listInvocations(ports.ssm, t.commandId))) finished.push({ tracker: t, inv });
    }
  } catch (err) {
    if (opts.signal?.aborted) await cancelPending(ports.ssm, trackers);
    throw err;
  }

  await mapConcurrent(finished, 8, async ({ tracker, inv }) => {
    const r = results.get(inv.instanceId)!;
    Object.assign(r, await collect(ports, clock, deadline, tracker.commandId, inv, opts));
  });

  const timedOut = await cancelPending(ports.ssm, trackers);
  for (const [id, status] of timedOut) {
    Object.assign(results.get(id)!, { status: 'TimedOut', error: `no result within ${formatDuration(opts.waitMs)} (last status ${status}); the command was cancelled on it` });
  }
  return opts.instanceIds.map((id) => results.get(id)!);
}

/** PingStatus per node that SSM knows; a node absent from the answer is not registered. */
async function agentStatus(ssm: SsmRunPort, ids: readonly string[]): Promise<Map<string, string>> {
  const agents = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 50) {
    let token: string | undefined;
    do {
      const page = await ssm.describeInstanceInformation({ Filters: [{ Key: 'InstanceIds', Values: ids.slice(i, i + 50) }], MaxResults: 50, ...(token ? { NextToken: token } : {}) });
      for (const info of page.InstanceInformationList ?? []) if (info.InstanceId) agents.set(info.InstanceId, info.PingStatus ?? 'Unknown');
      token = page.NextToken || undefined;
    } while (token);
  }
  return agents;
}

/** Every invocation of the command, over all pages; none yet (InvocationDoesNotExist, empty) is "not yet". */
async function listInvocations(ssm: SsmRunPort, commandId: string): Promise<InvocationView[]> {
  const views: InvocationView[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await ssm.listCommandInvocations({ CommandId: commandId, Details: true, MaxResults: 50, ...(token ? { NextToken: token } : {}) });
    } catch (err) {
      if (isInvocationDoesNotExist(err)) return views;
      throw err;
    }
    for (const inv of page.CommandInvocations ?? []) {
      if (!inv.InstanceId) continue;
      const plugin = inv.CommandPlugins?.[0];
      views.push({
        instanceId: inv.InstanceId,
        status: inv.Status ?? 'Pending',
        ...(inv.StatusDetails ? { statusDetails: inv.StatusDetails } : {}),
        ...(plugin?.ResponseCode !== undefined ? { responseCode: plugin.ResponseCode } : {}),
        ...(plugin?.Output !== undefined ? { output: plugin.Output } : {}),
        ...((plugin?.StandardOutputUrl ?? inv.StandardOutputUrl) ? { stdoutUrl: plugin?.StandardOutputUrl ?? inv.StandardOutputUrl } : {}),
        ...((plugin?.StandardErrorUrl ?? inv.StandardErrorUrl) ? { stderrUrl: plugin?.StandardErrorUrl ?? inv.StandardErrorUrl } : {}),
      });
    }
    token = page.NextToken || undefined;
  } while (token);
  return views;
}

/** Cancels the command on the nodes still not terminal; returns them with their last status. */
async function cancelPending(ssm: SsmRunPort, trackers: readonly InvocationTracker[]): Promise<Map<string, string>> {
  const pending = new Map<string, string>();
  for (const t of trackers) {
    const ids = t.pending;
    if (ids.length === 0) continue;
    for (const id of ids) pending.set(id, t.statusOf(id));
    try {
      await ssm.cancelCommand({ CommandId: t.commandId, InstanceIds: ids });
    } catch {
      // Best effort: the node is reported timed out either way, and its executionTimeout still ends it.
    }
  }
  return pending;
}
