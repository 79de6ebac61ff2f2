// `fleet up`'s backstop for jobs other clients send: the step scaling policy that adds a node, and the
// alarm (the group at 0 with jobs waiting) that names the policy's ARN.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type * as Cw from '@aws-sdk/client-cloudwatch';
import type { AutoScalingPort } from '../../../aws/autoscaling.js';
import { sameDocument } from '../../node-policy.js';
import type { SetupChange } from '../../setup.js';
import { ZERO_POLICY_NAME, zeroAlarmName } from '../names.js';
import { readAlarm, readPolicy } from '../read.js';
import { scaleFromZeroAlarm, scaleFromZeroPolicy, ZERO_ALARM_EXPRESSION, ZERO_POLICY_WARMUP_S } from '../spec.js';
import type { FleetResource, FleetUpInput, FleetUpPorts, Step } from './types.js';

export interface ZeroPolicyPlan {
  step: Step;
  /** The policy's ARN: known when it exists, else once its write ran. */
  arn(): string | undefined;
}

export async function planZeroPolicy(asg: AutoScalingPort, input: FleetUpInput, group: Asg.AutoScalingGroup | undefined): Promise<ZeroPolicyPlan> {
  const current = group ? await readPolicy(asg, input.groupName, ZERO_POLICY_NAME) : undefined;
  const desired = scaleFromZeroPolicy(input.groupName);
  let arn = current?.PolicyARN;
  const describe = `step scaling: +1 node when the alarm fires (the group at 0 with jobs waiting), warmup ${ZERO_POLICY_WARMUP_S} s`;
  const write = async () => {
    const out = await asg.putScalingPolicy(desired);
    // moto answers without the ARN; AWS with it.
    arn = out.PolicyARN ?? (await readPolicy(asg, input.groupName, ZERO_POLICY_NAME))?.PolicyARN;
  };
  const plan = (resource: FleetResource, changing: boolean): ZeroPolicyPlan => ({ step: { resource, ...(changing ? { write } : {}) }, arn: () => arn });
  if (!current) return plan({ type: 'scaling-policy', name: ZERO_POLICY_NAME, action: 'would-create', changes: [{ setting: 'step scaling', from: null, to: describe }] }, true);
  const changes: SetupChange[] = [];
  const steps = (p: { StepAdjustments?: Asg.StepAdjustment[] }) => (p.StepAdjustments ?? []).map((a) => `${a.MetricIntervalLowerBound ?? '-∞'}..${a.MetricIntervalUpperBound ?? '∞'}: ${a.ScalingAdjustment}`).join(', ');
  if (current.PolicyType !== desired.PolicyType) changes.push({ setting: 'type', from: current.PolicyType ?? null, to: desired.PolicyType! });
  if (current.AdjustmentType !== desired.AdjustmentType) changes.push({ setting: 'adjustment', from: current.AdjustmentType ?? null, to: desired.AdjustmentType! });
  if (steps(current) !== steps(desired)) changes.push({ setting: 'steps', from: steps(current) || null, to: steps(desired) });
  if (current.EstimatedInstanceWarmup !== desired.EstimatedInstanceWarmup) changes.push({ setting: 'warmup', from: current.EstimatedInstanceWarmup === undefined ? null : `${current.EstimatedInstanceWarmup} s`, to: `${desired.EstimatedInstanceWarmup} s` });
  return plan({ type: 'scaling-policy', name: ZERO_POLICY_NAME, arn: current.PolicyARN, action: changes.length ? 'would-update' : 'unchanged', changes }, changes.length > 0);
}

export async function planZeroAlarm(cw: FleetUpPorts['cloudwatch'], input: FleetUpInput, policy: ZeroPolicyPlan): Promise<Step> {
  const name = zeroAlarmName(input.groupName);
  const current = await readAlarm(cw, name, input.stack);
  const desired = (arn: string) => scaleFromZeroAlarm({ stack: input.stack, groupName: input.groupName, queueName: input.queueName, policyArn: arn });
  const write = async () => {
    const arn = policy.arn();
    if (!arn) throw new Error(`scaling policy ${ZERO_POLICY_NAME} has no ARN`);
    await cw.putMetricAlarm(desired(arn));
  };
  const describe = `${ZERO_ALARM_EXPRESSION} > 0 over 60 s (1 datapoint) → ${ZERO_POLICY_NAME}`;
  if (!current) return { resource: { type: 'alarm', name, action: 'would-create', changes: [{ setting: 'alarm', from: null, to: describe }] }, write };
  const want = desired(policy.arn() ?? '');
  const changes: SetupChange[] = [];
  if (!sameDocument(normalizeAlarm(current), normalizeAlarm(want))) changes.push({ setting: 'condition', from: 'another condition', to: describe });
  // No ARN yet: the policy is made anew (a new ARN), and the alarm must name it.
  const arn = policy.arn();
  if (!arn || !(current.AlarmActions ?? []).includes(arn) || current.ActionsEnabled !== true) {
    changes.push({ setting: 'action', from: (current.AlarmActions ?? []).join(', ') || null, to: `${ZERO_POLICY_NAME}${current.ActionsEnabled === true ? '' : ' (actions enabled)'}` });
  }
  return { resource: { type: 'alarm', name, arn: current.AlarmArn, action: changes.length ? 'would-update' : 'unchanged', changes }, ...(changes.length ? { write } : {}) };
}

/** What decides when the alarm fires (not its description, state or tags). */
function normalizeAlarm(a: Pick<Cw.MetricAlarm, 'Metrics' | 'ComparisonOperator' | 'Threshold' | 'EvaluationPeriods' | 'DatapointsToAlarm' | 'TreatMissingData'>): unknown {
  return {
    metrics: (a.Metrics ?? []).map((m) => ({
      id: m.Id,
      expression: m.Expression ?? null,
      metric: m.MetricStat ? `${m.MetricStat.Metric?.Namespace}/${m.MetricStat.Metric?.MetricName}/${(m.MetricStat.Metric?.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(',')}/${m.MetricStat.Stat}/${m.MetricStat.Period}` : null,
      returns: m.ReturnData ?? true,
    })),
    comparison: a.ComparisonOperator,
    threshold: a.Threshold,
    periods: a.EvaluationPeriods,
    datapoints: a.DatapointsToAlarm ?? a.EvaluationPeriods,
    missing: a.TreatMissingData ?? 'missing',
  };
}
