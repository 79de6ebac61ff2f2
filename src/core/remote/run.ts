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
//      characters), and output at those limits is read whole from S3. Output is never cut silently.
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html
import { isInvalidInstanceId, isInvocationDoesNotExist } from '../../aws/errors.js';
import type { S3Port } from '../../aws/s3.js';
import type { SsmPort } from '../../aws/ssm.js';
import type { Clock } from '../../lib/clock.js';
import { mapConcurrent } from '../../lib/concurrency.js';
import { formatDuration } from '../../lib/duration.js';
import { DEFAULT_BACKOFF, InvocationTracker, PollSchedule, type BackoffOptions, type InvocationView } from './poll.js';

export const DOCUMENT = 'AWS-RunShellScript';
/** SendCommand's InstanceIds limit. */
export const MAX_TARGETS_PER_SEND = 50;
/** ListCommandInvocations' inline plugin output; GetCommandInvocation's stdout and stderr. */
export const LIST_OUTPUT_LIMIT = 2500;
export const STDOUT_LIMIT = 24_000;
export const STDERR_LIMIT = 8000;
/** SendCommand's TimeoutSeconds (delivery to a node) may not be below 30. */
export const MIN_DELIVERY_TIMEOUT_S = 30;
/** AWS-RunShellScript's inline output puts stderr after this line. */
const STDERR_MARKER = /-{5,}ERROR-{5,}/;
/** What the agent appends where it cut the output (seen in inline output at the limits). */
const TRUNCATED_MARKER = /-{2,}\s*(?:Output|Error) truncated\s*-{2,}/i;

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

type Collected = Pick<NodeCommandResult, 'ok' | 'error' | 'status' | 'exitCode' | 'stdout' | 'stderr'> & { outputSource?: string };

/** A terminal invocation's exit code and whole output. */
async function collect(ports: { ssm: SsmRunPort; s3?: Pick<S3Port, 'getObject'> }, clock: Clock, deadline: number, commandId: string, inv: InvocationView, opts: RunCommandOptions): Promise<Collected> {
  const exitCode = inv.responseCode === undefined || inv.responseCode < 0 ? null : inv.responseCode;
  let stdout = inv.output ?? '';
  let stderr = '';
  let outputSource: string | undefined;
  let truncated: string | undefined;
  const inlineIsWhole = stdout.length < LIST_OUTPUT_LIMIT - 100 && !STDERR_MARKER.test(stdout) && !TRUNCATED_MARKER.test(stdout);
  if (!(opts.stdoutOnly && inlineIsWhole) && inv.status !== 'Cancelled') {
    const got = await getInvocation(ports.ssm, clock, deadline, commandId, inv.instanceId, opts);
    if (got) {
      stdout = got.StandardOutputContent ?? '';
      stderr = got.StandardErrorContent ?? '';
    } else {
      // Never answered before the deadline: the inline output, split where the agent put stderr.
      const at = stdout.search(STDERR_MARKER);
      if (at >= 0) [stdout, stderr] = [stdout.slice(0, at).replace(/\n$/, ''), stdout.slice(at).replace(STDERR_MARKER, '').replace(/^\n/, '')];
      if (!inlineIsWhole) truncated = `GetCommandInvocation never answered; only SSM's inline output (${LIST_OUTPUT_LIMIT} characters, cut) is shown`;
    }
    const cut = (text: string, limit: number) => text.length >= limit - 100 || TRUNCATED_MARKER.test(text);
    const stdoutCut = cut(stdout, STDOUT_LIMIT);
    const stderrCut = cut(stderr, STDERR_LIMIT);
    if (stdoutCut || stderrCut) {
      const urls = { stdout: got?.StandardOutputUrl || inv.stdoutUrl, stderr: got?.StandardErrorUrl || inv.stderrUrl };
      const whole = await readWholeOutput(ports.s3, opts.output, commandId, inv.instanceId, urls, { stdout: stdoutCut, stderr: stderrCut });
      if (whole.stdout !== undefined) stdout = whole.stdout;
      if (whole.stderr !== undefined) stderr = whole.stderr;
      outputSource = whole.source;
      truncated = whole.problem;
    }
  }
  const statusText = inv.statusDetails && inv.statusDetails !== inv.status ? `${inv.status} (${inv.statusDetails})` : inv.status;
  let error: string | null = null;
  if (truncated) error = truncated;
  else if (inv.status === 'Success' && exitCode === 0) error = null;
  else if (inv.status === 'TimedOut') error = `timed out on the node (${statusText}) after its execution timeout of ${formatDuration(opts.executionTimeoutSeconds * 1000)}`;
  else if (inv.status === 'Cancelled') error = 'cancelled';
  else error = exitCode !== null ? `exited with ${exitCode}` : `SSM: ${statusText}`;
  return { ok: error === null, error, status: inv.status, exitCode, stdout, stderr, ...(outputSource ? { outputSource } : {}) };
}

/**
 * GetCommandInvocation, retried while it answers InvocationDoesNotExist: SSM is eventually consistent,
 * and a list that already shows the invocation terminal does not mean Get sees it yet.
 */
async function getInvocation(ssm: SsmRunPort, clock: Clock, deadline: number, commandId: string, instanceId: string, opts: RunCommandOptions) {
  const schedule = new PollSchedule(Math.max(deadline, clock.now() + 5000), opts.backoff ?? DEFAULT_BACKOFF);
  for (;;) {
    try {
      return await ssm.getCommandInvocation({ CommandId: commandId, InstanceId: instanceId });
    } catch (err) {
      if (!isInvocationDoesNotExist(err)) throw err;
    }
    const step = schedule.next(clock.now());
    if (step.kind === 'deadline') return undefined;
    await clock.sleep(step.ms, opts.signal);
  }
}

/**
 * The whole stdout/stderr from S3: the key from the invocation's URL (AWS's forms: path-style
 * https://s3.<region>.amazonaws.com/<bucket>/<key>, virtual-hosted https://<bucket>.s3…/<key>, or an
 * endpoint's path), else where SSM puts it: <keyPrefix><commandId>/<instanceId>/awsrunShellScript/0.awsrunShellScript/<stream>.
 */
async function readWholeOutput(
  s3: Pick<S3Port, 'getObject'> | undefined,
  output: RunCommandOptions['output'],
  commandId: string,
  instanceId: string,
  urls: { stdout: string | undefined; stderr: string | undefined },
  want: { stdout: boolean; stderr: boolean },
): Promise<{ stdout?: string; stderr?: string; source?: string; problem?: string }> {
  if (!output || !s3) return { problem: 'output cut at the inline limit and no output bucket to read the rest from' };
  const got: { stdout?: string; stderr?: string; source?: string; problem?: string } = {};
  for (const stream of ['stdout', 'stderr'] as const) {
    if (!want[stream]) continue;
    const key = s3KeyFromUrl(urls[stream], output.bucket) ?? `${output.keyPrefix}${commandId}/${instanceId}/awsrunShellScript/0.awsrunShellScript/${stream}`;
    try {
      const obj = await s3.getObject({ Bucket: output.bucket, Key: key });
      got[stream] = (await obj.Body?.transformToString('utf8')) ?? '';
      got.source = `s3://${output.bucket}/${key.replace(/[^/]+$/, '')}`;
    } catch (err) {
      got.problem = `${stream} cut at the inline limit, and s3://${output.bucket}/${key} could not be read: ${(err as Error).message}`;
    }
  }
  return got;
}

export function s3KeyFromUrl(url: string | undefined, bucket: string): string | undefined {
  if (!url) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const path = decodeURIComponent(u.pathname);
  if (u.hostname.startsWith(`${bucket}.`)) return path.replace(/^\//, '') || undefined;
  const marker = `/${bucket}/`;
  const at = path.indexOf(marker);
  return at >= 0 ? path.slice(at + marker.length) || undefined : undefined;
}
