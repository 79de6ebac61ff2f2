// Step 4 of the Run Command engine (run.ts): a terminal invocation's exit code and whole output. The
// list's inline output is cut at 2,500 characters with stdout and stderr mixed, GetCommandInvocation's at
// 24,000 / 8,000, so output at those limits is read whole from the stack's bucket; what cannot be read is
// reported as the node's error, never cut silently. Apart from run.ts, which sends and polls.
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
import { isInvocationDoesNotExist } from '../../aws/errors.js';
import type { S3Port } from '../../aws/s3.js';
import type { Clock } from '../../lib/clock.js';
import { formatDuration } from '../../lib/duration.js';
import { DEFAULT_BACKOFF, PollSchedule, type InvocationView } from './poll.js';
import type { NodeCommandResult, RunCommandOptions, SsmRunPort } from './run.js';

/** ListCommandInvocations' inline plugin output; GetCommandInvocation's stdout and stderr. */
export const LIST_OUTPUT_LIMIT = 2500;
export const STDOUT_LIMIT = 24_000;
export const STDERR_LIMIT = 8000;
/** AWS-RunShellScript's inline output puts stderr after this line. */
const STDERR_MARKER = /-{5,}ERROR-{5,}/;
/** What the agent appends where it cut the output (seen in inline output at the limits). */
const TRUNCATED_MARKER = /-{2,}\s*(?:Output|Error) truncated\s*-{2,}/i;

type Collected = Pick<NodeCommandResult, 'ok' | 'error' | 'status' | 'exitCode' | 'stdout' | 'stderr'> & { outputSource?: string };

/** A terminal invocation's exit code and whole output. */
export async function collect(ports: { ssm: SsmRunPort; s3?: Pick<S3Port, 'getObject'> }, clock: Clock, deadline: number, commandId: string, inv: InvocationView, opts: RunCommandOptions): Promise<Collected> {
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
