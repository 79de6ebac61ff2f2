// `fleet up`'s target tracking policy on the backlog per node: its target kept unless --jobs-per-node
// says otherwise; scale-in stays disabled (nodes leave when idle, by themselves).
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../../aws/autoscaling.js';
import { sameDocument } from '../../node-policy.js';
import type { SetupChange } from '../../setup.js';
import { BACKLOG_POLICY_NAME, DEFAULT_JOBS_PER_NODE } from '../names.js';
import { readBacklogPolicy } from '../read.js';
import { backlogPolicy } from '../spec.js';
import type { FleetUpInput, Step } from './types.js';

export async function planPolicy(asg: AutoScalingPort, input: FleetUpInput, group: Asg.AutoScalingGroup | undefined): Promise<Step> {
  const current = group ? await readBacklogPolicy(asg, input.groupName) : undefined;
  const target = input.jobsPerNode ?? current?.TargetTrackingConfiguration?.TargetValue ?? DEFAULT_JOBS_PER_NODE;
  const desired = backlogPolicy(input.groupName, input.queueName, target);
  const describe = `target ${target} job(s) per node: (visible + in flight) / in service, scale-in disabled`;
  const write = async () => void (await asg.putScalingPolicy(desired));
  if (!current) return { resource: { type: 'scaling-policy', name: BACKLOG_POLICY_NAME, action: 'would-create', changes: [{ setting: 'target tracking', from: null, to: describe }] }, write };
  const changes: SetupChange[] = [];
  const cur = current.TargetTrackingConfiguration;
  const want = desired.TargetTrackingConfiguration!;
  if (cur?.TargetValue !== want.TargetValue) changes.push({ setting: 'target', from: String(cur?.TargetValue ?? null), to: String(want.TargetValue) });
  if (cur?.DisableScaleIn !== true) changes.push({ setting: 'scale-in', from: 'enabled', to: 'disabled' });
  if (!sameDocument(normalizeMetrics(cur?.CustomizedMetricSpecification?.Metrics), normalizeMetrics(want.CustomizedMetricSpecification?.Metrics))) {
    changes.push({ setting: 'metric', from: 'another metric', to: '(visible + in flight) / in service' });
  }
  return {
    resource: { type: 'scaling-policy', name: BACKLOG_POLICY_NAME, arn: current.PolicyARN, action: changes.length ? 'would-update' : 'unchanged', changes },
    ...(changes.length ? { write } : {}),
  };
}

function normalizeMetrics(metrics: Asg.TargetTrackingMetricDataQuery[] | undefined): unknown {
  return (metrics ?? []).map((m) => ({
    id: m.Id,
    expression: m.Expression ?? null,
    metric: m.MetricStat ? `${m.MetricStat.Metric?.Namespace}/${m.MetricStat.Metric?.MetricName}/${(m.MetricStat.Metric?.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(',')}/${m.MetricStat.Stat}` : null,
    returns: m.ReturnData ?? true,
  }));
}
