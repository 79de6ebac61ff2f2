// The human rendering of the local stack's status, shared by `local status` and `local up`. Pure: the
// table drawing (aligned on a terminal, tab-separated when piped) is passed in by the command.
import type { LocalStatus } from './stack-status.js';

export interface TableWriter {
  table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string;
  readonly stdoutIsTTY: boolean;
}

export function formatLocalStatus(out: TableWriter, s: LocalStatus): string {
  const head = [
    `endpoint  ${s.endpoint} (region pid ${s.regionProcess?.pid ?? '-'}, ${s.regionProcess?.state ?? 'dead'}; moto pid ${s.server.pid}, ${s.server.state})`,
    `queue     ${s.queueUrl}`,
    `dlq       ${s.dlqUrl}`,
    `bucket    s3://${s.bucket}/${s.prefix}`,
    '',
  ].join('\n');
  const table = out.table(
    ['NODE', 'PID', 'STATE', 'TYPE', 'AZ', 'LOG'],
    s.workers.map((w) => [w.instanceId, w.pid || '-', w.interruptionAt ? `${w.state} (interruption at ${w.interruptionAt})` : w.state, w.instanceType, w.az, w.log]),
  );
  return out.stdoutIsTTY ? `${head}\n${table}` : table;
}
