// `fluxer fleet status`: the fleet's numbers, nodes, queue depth and the last hour's activities.
import { defineCommand } from '../../cli/command.js';
import { fleetContext, NO_FLEET_HINT } from '../../cli/fleet.js';
import type { Output } from '../../cli/output.js';
import { readGroup, readTemplate } from '../../core/fleet/read.js';
import { fleetStatus, type FleetStatus } from '../../core/fleet/status.js';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode } from '../../lib/errors.js';

export default defineCommand({
  name: 'status',
  description:
    'Shows the stack\'s fleet: desired / in service / pending / protected; each node with its type, AZ, market and\n' +
    'spot price, runtime state and job (from its node record); the queue\'s depth (visible, in flight); the scaling\n' +
    'activities of the last hour with AWS\'s reasons, and which were spot interruptions or replacements. Exit 1 when\n' +
    'the stack has no fleet. See docs/fleet.md.',
  examples: ['fluxer fleet status', 'fluxer fleet status --json'],
  async handler(ctx) {
    const f = await fleetContext(ctx);
    const [group, template] = await Promise.all([readGroup(f.autoscaling, f.groupName, f.stack), readTemplate(f.ec2, f.templateName, f.stack)]);
    const [sqs, s3] = await Promise.all([f.aws.sqs(), f.settings.bucket ? f.aws.s3() : Promise.resolve(undefined)]);
    const status = await fleetStatus({ autoscaling: f.autoscaling, ec2: f.ec2, sqs, s3 }, ctx.clock, {
      group, template, groupName: f.groupName, queueName: f.settings.queueName, region: f.region,
      location: f.settings.bucket ? { bucket: f.settings.bucket, prefix: f.settings.prefix } : undefined,
    });
    ctx.out.result(status, () => (status.exists ? formatStatus(ctx.out, status) : ''));
    if (!status.exists) {
      ctx.out.info(`Stack "${f.stack}" has no fleet in ${f.region} (no group ${f.groupName}). ${NO_FLEET_HINT}`);
      return ExitCode.Failed;
    }
    return ExitCode.Ok;
  },
});

export function formatStatus(out: Output, s: FleetStatus): string {
  const lines = [
    `${s.group}: desired ${s.desired} (min ${s.min}, max ${s.max}); in service ${s.inService}, pending ${s.pending}, terminating ${s.terminating}, protected ${s.protected}`,
    `scaling: ${s.jobsPerNode === null ? 'no backlog policy' : `${s.jobsPerNode} job(s) per node`}; capacity rebalancing ${s.capacityRebalance ? 'on' : 'off'}; idle nodes leave after ${formatDuration(s.idle.seconds * 1000)} (surplus ${formatDuration(s.idle.surplusSeconds * 1000)}${s.idle.pinned ? '' : ', the runtime\'s defaults'})`,
    s.queue ? `queue ${s.queue.name}: ${s.queue.visible} waiting, ${s.queue.inFlight} in flight` : 'queue: not readable',
    '',
  ];
  if (s.nodes.length) {
    lines.push(out.table(['ID', 'TYPE', 'AZ', 'STATE', 'PROTECTED', 'VERSION', 'MARKET', 'PRICE', 'RUNTIME', 'JOB'], s.nodes.map((n) => [
      n.instanceId, n.instanceType, n.az, n.lifecycleState, n.protected ? 'yes' : 'no', n.templateVersion, n.market, n.spotPrice === null ? null : `$${n.spotPrice.toFixed(4)}/h`, n.runtimeState, n.job,
    ])));
  } else lines.push('no nodes');
  lines.push('', s.activities.length ? 'activities (last hour):' : 'no scaling activity in the last hour');
  for (const a of s.activities) lines.push(`  ${a.startTime ?? '?'}  ${a.status}  ${a.description}${a.cause ? ` — ${a.cause}` : ''}`);
  if (s.breaker) lines.push(`breaker: the fleet stopped itself: ${s.breaker.reason}; to resume: ${s.breaker.resume}`);
  // Launch or AlarmNotification suspended stops the fleet from growing: say so, whoever suspended it.
  if (s.suspended.length) lines.push(`suspended: ${s.suspended.map((p) => `${p.process}${p.reason ? ` (${p.reason})` : ''}`).join(', ')} — \`aws autoscaling resume-processes --auto-scaling-group-name ${s.group}\` resumes them (\`fluxer fleet scale N\` resumes AlarmNotification)`);
  if (s.replacements.length) lines.push(`interruptions and replacements: ${s.replacements.map((a) => `${a.kind} (${a.startTime ?? '?'})`).join(', ')}`);
  return lines.join('\n');
}
