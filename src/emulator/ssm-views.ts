// The SSM executor's answers, shaped as the API reference's Command, CommandInvocation, CommandPlugin and
// GetCommandInvocation result (AWS JSON 1.1: DateTime members are epoch seconds, GetCommandInvocation's
// Execution*DateTime are ISO 8601 strings, "" until they happen).
//   https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Command.html
//   https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandInvocation.html
//   https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandPlugin.html
import { TERMINAL, type CommandRecord, type Invocation } from './ssm-run.js';

/** GetCommandInvocation's inline limits (StandardOutputContent max 24000, StandardErrorContent max 8000). */
export const STDOUT_LIMIT = 24_000;
export const STDERR_LIMIT = 8_000;
/** CommandPlugin.Output's limit in ListCommandInvocations (botocore: CommandPluginOutput max 2500). */
export const PLUGIN_OUTPUT_LIMIT = 2_500;
const ERROR_TITLE = '\n----------ERROR-------\n';
const OUT_CUT = '\n---Output truncated---';
const ERR_CUT = '\n---Error truncated----';

/**
 * CommandPlugin.Output as SSM Agent builds it: stdout, then the error title and stderr when there is
 * stderr; when that does not fit in `capacity`, the longer part (or both, halved) is cut with a marker.
 */
export function pluginOutput(stdout: string, stderr: string, capacity = PLUGIN_OUTPUT_LIMIT): string {
  const title = stderr ? ERROR_TITLE : '';
  const room = capacity - title.length;
  if (stdout.length + stderr.length < room) return stdout + title + stderr;
  if (stdout.length > room / 2 && stderr.length > room / 2) {
    const half = Math.floor((room - OUT_CUT.length - ERR_CUT.length) / 2);
    return stdout.slice(0, half) + OUT_CUT + title + stderr.slice(0, half) + ERR_CUT;
  }
  if (stdout.length < room / 2) return stdout + title + stderr.slice(0, room - ERR_CUT.length - stdout.length) + ERR_CUT;
  return stdout.slice(0, room - OUT_CUT.length - stderr.length) + OUT_CUT + title + stderr;
}

const secs = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());

/** The command's overall status from its invocations (API_Command.html, StatusDetails). */
export function commandStatus(cmd: CommandRecord): { Status: string; StatusDetails: string; CompletedCount: number; ErrorCount: number; DeliveryTimedOutCount: number } {
  const invs = [...cmd.invocations.values()];
  const done = invs.filter((i) => TERMINAL.has(i.status));
  const errors = invs.filter((i) => i.statusDetails === 'Failed' || i.statusDetails === 'ExecutionTimedOut').length;
  const delivery = invs.filter((i) => i.statusDetails === 'DeliveryTimedOut').length;
  const counts = { CompletedCount: done.length, ErrorCount: errors, DeliveryTimedOutCount: delivery };
  if (done.length < invs.length) {
    if (cmd.cancelled) return { Status: 'Cancelling', StatusDetails: 'Cancelling', ...counts };
    const started = invs.some((i) => i.status !== 'Pending');
    return { Status: started ? 'InProgress' : 'Pending', StatusDetails: started ? 'InProgress' : 'Pending', ...counts };
  }
  if (invs.every((i) => i.status === 'Success')) return { Status: 'Success', StatusDetails: 'Success', ...counts };
  if (cmd.cancelled || invs.some((i) => i.status === 'Cancelled')) return { Status: 'Cancelled', StatusDetails: 'Cancelled', ...counts };
  const maxErrors = /%$/.test(cmd.maxErrors) ? (Number.parseFloat(cmd.maxErrors) / 100) * invs.length : Number(cmd.maxErrors);
  if (errors > maxErrors) {
    const timedOut = invs.filter((i) => i.statusDetails === 'ExecutionTimedOut').length;
    return timedOut > maxErrors && timedOut === errors ? { Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ...counts } : { Status: 'Failed', StatusDetails: 'Failed', ...counts };
  }
  if (delivery > maxErrors) return { Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut', ...counts };
  return { Status: 'Failed', StatusDetails: 'Incomplete', ...counts };
}

export function commandView(cmd: CommandRecord): Record<string, unknown> {
  return {
    CommandId: cmd.commandId,
    DocumentName: cmd.documentName,
    DocumentVersion: '$DEFAULT',
    Comment: cmd.comment,
    // The whole command's timeout: delivery plus execution (as AWS computes it).
    ExpiresAfter: secs(cmd.requestedAt + (cmd.timeoutS + cmd.executionTimeoutS) * 1000),
    Parameters: cmd.parameters,
    InstanceIds: cmd.instanceIds,
    Targets: [],
    RequestedDateTime: secs(cmd.requestedAt),
    ...(({ Status, StatusDetails }) => ({ Status, StatusDetails }))(commandStatus(cmd)),
    OutputS3Region: cmd.region,
    OutputS3BucketName: cmd.bucket,
    OutputS3KeyPrefix: cmd.prefix,
    MaxConcurrency: cmd.maxConcurrency,
    MaxErrors: cmd.maxErrors,
    TargetCount: cmd.instanceIds.length,
    ...(({ CompletedCount, ErrorCount, DeliveryTimedOutCount }) => ({ CompletedCount, ErrorCount, DeliveryTimedOutCount }))(commandStatus(cmd)),
    ServiceRole: '',
    NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    TimeoutSeconds: cmd.timeoutS,
  };
}

/** Output is only reported once the invocation is terminal (API_GetCommandInvocation.html). */
const finished = (inv: Invocation) => TERMINAL.has(inv.status);

export function invocationView(cmd: CommandRecord, inv: Invocation, details: boolean): Record<string, unknown> {
  return {
    CommandId: cmd.commandId,
    InstanceId: inv.instanceId,
    InstanceName: '',
    Comment: cmd.comment,
    DocumentName: cmd.documentName,
    DocumentVersion: '$DEFAULT',
    RequestedDateTime: secs(inv.requestedAt),
    Status: inv.status,
    StatusDetails: inv.statusDetails,
    TraceOutput: '',
    StandardOutputUrl: inv.stdoutUrl,
    StandardErrorUrl: inv.stderrUrl,
    CommandPlugins: details
      ? [
          {
            Name: 'aws:runShellScript',
            Status: inv.status === 'Cancelling' ? 'InProgress' : inv.status,
            StatusDetails: inv.statusDetails,
            ResponseCode: inv.responseCode,
            ...(inv.startedAt !== undefined ? { ResponseStartDateTime: secs(inv.startedAt) } : {}),
            ...(inv.endedAt !== undefined && finished(inv) ? { ResponseFinishDateTime: secs(inv.endedAt) } : {}),
            Output: finished(inv) ? pluginOutput(inv.stdout, inv.stderr) : '',
            StandardOutputUrl: inv.stdoutUrl,
            StandardErrorUrl: inv.stderrUrl,
            OutputS3Region: cmd.region,
            OutputS3BucketName: cmd.bucket,
            OutputS3KeyPrefix: cmd.prefix,
          },
        ]
      : [],
    ServiceRole: '',
    NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

export function resultView(cmd: CommandRecord, inv: Invocation, now: number): Record<string, unknown> {
  const end = finished(inv) ? inv.endedAt : undefined;
  const elapsedMs = inv.startedAt === undefined ? undefined : (end ?? now) - inv.startedAt;
  return {
    CommandId: cmd.commandId,
    InstanceId: inv.instanceId,
    Comment: cmd.comment,
    DocumentName: cmd.documentName,
    DocumentVersion: '$DEFAULT',
    PluginName: 'aws:runShellScript',
    ResponseCode: inv.responseCode,
    ExecutionStartDateTime: iso(inv.startedAt),
    ExecutionElapsedTime: elapsedMs === undefined ? '' : `PT${(elapsedMs / 1000).toFixed(3)}S`,
    ExecutionEndDateTime: iso(end),
    Status: inv.status,
    StatusDetails: inv.statusDetails,
    StandardOutputContent: finished(inv) ? inv.stdout.slice(0, STDOUT_LIMIT) : '',
    StandardOutputUrl: inv.stdoutUrl,
    StandardErrorContent: finished(inv) ? inv.stderr.slice(0, STDERR_LIMIT) : '',
    StandardErrorUrl: inv.stderrUrl,
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}
