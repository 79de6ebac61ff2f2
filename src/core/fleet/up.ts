// `fluxer fleet up` as a library: read → diff → (plan shown, confirmed) → apply, as setup does. Each
// resource is read first and only what differs is written, so a second run sends no mutating call.
// A group or template that exists keeps its AMI, release and desired capacity (those are `fleet roll`'s
// and `fleet scale`'s, and the target tracking's); its bounds change only when --min/--max say so.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type * as Ec2 from '@aws-sdk/client-ec2';
import type * as Cw from '@aws-sdk/client-cloudwatch';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import type { CloudWatchPort } from '../../aws/cloudwatch.js';
import type { Ec2Port } from '../../aws/ec2.js';
import { isNotFound } from '../../aws/errors.js';
import type { IamPort } from '../../aws/iam.js';
import { UsageError } from '../../lib/errors.js';
import { parsePolicyDocument, sameDocument } from '../node-policy.js';
import type { SetupAction, SetupChange } from '../setup.js';
import { fluxerTags } from '../tags.js';
import { BACKLOG_POLICY_NAME, DEFAULT_JOBS_PER_NODE, DEFAULT_MAX_SIZE, GROUP_METRICS, NODE_FLEET_POLICY_NAME, TERMINATION_HOOK_NAME, TERMINATION_HOOK_TIMEOUT_SECONDS, ZERO_POLICY_NAME, zeroAlarmName } from './names.js';
import { readAlarm, readBacklogPolicy, readGroup, readPolicy, tagMap, type FleetTemplate } from './read.js';
import { backlogPolicy, createGroupInput, groupArnPattern, groupTags, mixedInstancesPolicy, nodeFleetPolicy, scaleFromZeroAlarm, scaleFromZeroPolicy, ZERO_ALARM_EXPRESSION, ZERO_POLICY_WARMUP_S } from './spec.js';
import { templateChanges } from './template.js';

export type FleetResourceType = 'launch-template' | 'auto-scaling-group' | 'scaling-policy' | 'alarm' | 'node-role-policy';

export interface FleetResource {
  type: FleetResourceType;
  name: string;
  action: SetupAction;
  changes: SetupChange[];
  id?: string;
  arn?: string;
}

export interface FleetUpPorts {
  ec2: Pick<Ec2Port, 'createLaunchTemplate' | 'createLaunchTemplateVersion' | 'modifyLaunchTemplate'>;
  autoscaling: AutoScalingPort;
  iam: Pick<IamPort, 'getRole' | 'getRolePolicy' | 'putRolePolicy'>;
  /** In the group's region: the backstop alarm watches the queue there and acts on the group. */
  cloudwatch: Pick<CloudWatchPort, 'describeAlarms' | 'listTagsForResource' | 'putMetricAlarm'>;
}

export interface FleetUpInput {
  stack: string;
  region: string;
  account: string;
  partition: string;
  groupName: string;
  templateName: string;
  /** The template as it is (undefined: none yet), read before the desired data was rendered. */
  template: FleetTemplate | undefined;
  desiredTemplate: Ec2.RequestLaunchTemplateData;
  instanceTypes: readonly string[];
  subnetIds: readonly string[];
  maxPrice: number | undefined;
  queueName: string;
  roleName: string;
  min?: number;
  max?: number;
  jobsPerNode?: number;
}

export interface FleetPlan {
  resources: FleetResource[];
  /** Whether anything would change. */
  pending: boolean;
  /** Runs the writes in order and returns the resources as applied. */
  apply(): Promise<FleetResource[]>;
}

type Step = { resource: FleetResource; write?: () => Promise<void> };

export async function planFleetUp(ports: FleetUpPorts, input: FleetUpInput): Promise<FleetPlan> {
  const group = await readGroup(ports.autoscaling, input.groupName, input.stack);
  await requireRole(ports.iam, input.roleName);
  const steps: Step[] = [
    planTemplate(ports.ec2, input),
    await planGroup(ports.autoscaling, input, group),
    await planPolicy(ports.autoscaling, input, group),
  ];
  // The backstop for jobs other clients send: its policy, then the alarm that names the policy's ARN.
  const zero = await planZeroPolicy(ports.autoscaling, input, group);
  steps.push(zero.step, await planZeroAlarm(ports.cloudwatch, input, zero));
  // The node policy names the group's ARN, which AWS gives the group when it is made.
  let groupArn = group?.AutoScalingGroupARN;
  const arnStep = await planNodePolicy(ports.iam, input, () => groupArn);
  steps.push(arnStep);
  const resources = steps.map((s) => s.resource);
  return {
    resources,
    pending: resources.some((r) => r.action !== 'unchanged'),
    async apply() {
      for (const s of steps) {
        if (s.resource.type === 'node-role-policy' && !groupArn) groupArn = (await readGroup(ports.autoscaling, input.groupName, input.stack))?.AutoScalingGroupARN;
        if (!s.write) continue;
        await s.write();
        s.resource.action = s.resource.action === 'would-create' ? 'created' : 'updated';
        if (s.resource.type === 'node-role-policy') s.resource.arn = groupArn;
      }
      return resources;
    },
  };
}

async function requireRole(iam: Pick<IamPort, 'getRole'>, roleName: string): Promise<void> {
  try {
    await iam.getRole({ RoleName: roleName });
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
    throw new UsageError(`The node role ${roleName} does not exist`, { code: 'NodeRoleMissing', hint: 'Run `fluxer setup` first: it makes the role, instance profile and security group the fleet\'s nodes use.' });
  }
}

function planTemplate(ec2: FleetUpPorts['ec2'], input: FleetUpInput): Step {
  const name = input.templateName;
  const tpl = input.template;
  if (!tpl) {
    const changes: SetupChange[] = [
      { setting: 'launch template', from: null, to: `${name}: AMI ${input.desiredTemplate.ImageId}, IMDSv2 only, no key pair, no market options` },
      { setting: 'user data', from: null, to: `the bootstrap, FLUXER_ASG_NAME=${input.groupName}` },
    ];
    return {
      resource: { type: 'launch-template', name, action: 'would-create', changes },
      write: async () => {
        await ec2.createLaunchTemplate({
          LaunchTemplateName: name,
          VersionDescription: 'fluxer fleet up',
          LaunchTemplateData: input.desiredTemplate,
          TagSpecifications: [{ ResourceType: 'launch-template', Tags: fluxerTags(input.stack, 'launch-template', name) }],
        });
      },
    };
  }
  const changes = templateChanges(tpl.data, input.desiredTemplate);
  const resource: FleetResource = { type: 'launch-template', name, id: tpl.id, action: changes.length ? 'would-update' : 'unchanged', changes };
  if (!changes.length) return { resource };
  return {
    resource,
    // A new default version: new nodes launch with it; the running ones keep theirs until `fleet roll`.
    write: async () => void (await newDefaultVersion(ec2, tpl.id, input.desiredTemplate, 'fluxer fleet up')),
  };
}

/** Makes a version from the data and makes it the default (the one the group launches); returns its number. */
export async function newDefaultVersion(ec2: FleetUpPorts['ec2'], templateId: string, data: Ec2.RequestLaunchTemplateData, description: string): Promise<number> {
  const made = await ec2.createLaunchTemplateVersion({ LaunchTemplateId: templateId, VersionDescription: description, LaunchTemplateData: data });
  const version = made.LaunchTemplateVersion?.VersionNumber;
  if (version === undefined) throw new Error('CreateLaunchTemplateVersion returned no version number');
  await ec2.modifyLaunchTemplate({ LaunchTemplateId: templateId, DefaultVersion: String(version) });
  return version;
}

function checkBounds(min: number, max: number): void {
  if (min > max) throw new UsageError(`--min ${min} is above --max ${max}`, { code: 'FleetBounds', hint: 'Give --min ≤ --max.' });
}

async function planGroup(asg: AutoScalingPort, input: FleetUpInput, group: Asg.AutoScalingGroup | undefined): Promise<Step> {
  const name = input.groupName;
  const desiredPolicy = mixedInstancesPolicy({ templateName: input.templateName, instanceTypes: input.instanceTypes, maxPrice: input.maxPrice });
  if (!group) {
    const min = input.min ?? 0;
    const max = input.max ?? Math.max(DEFAULT_MAX_SIZE, min);
    checkBounds(min, max);
    const create = createGroupInput({ stack: input.stack, groupName: name, templateName: input.templateName, instanceTypes: input.instanceTypes, subnetIds: input.subnetIds, minSize: min, maxSize: max, maxPrice: input.maxPrice });
    const changes: SetupChange[] = [
      { setting: 'size', from: null, to: `min ${min}, max ${max}, desired ${min}` },
      { setting: 'mixed instances', from: null, to: describePolicy(desiredPolicy) },
      { setting: 'subnets', from: null, to: input.subnetIds.join(', ') },
      { setting: 'capacity rebalancing', from: null, to: 'on' },
      { setting: 'group metrics', from: null, to: `${GROUP_METRICS.length} metrics, 1 minute` },
      { setting: 'tags (propagated)', from: null, to: describeTags(create.Tags ?? []) },
      { setting: 'termination hook', from: null, to: HOOK_TEXT },
    ];
    return {
      resource: { type: 'auto-scaling-group', name, action: 'would-create', changes },
      write: async () => {
        await asg.createAutoScalingGroup(create);
        await asg.enableMetricsCollection({ AutoScalingGroupName: name, Granularity: '1Minute', Metrics: [...GROUP_METRICS] });
        await asg.putLifecycleHook(terminationHook(name));
      },
    };
  }
  const changes: SetupChange[] = [];
  const update: Asg.UpdateAutoScalingGroupCommandInput = { AutoScalingGroupName: name };
  const min = input.min ?? group.MinSize ?? 0;
  const max = input.max ?? group.MaxSize ?? DEFAULT_MAX_SIZE;
  checkBounds(min, max);
  if (min !== group.MinSize) (changes.push({ setting: 'min', from: String(group.MinSize), to: String(min) }), (update.MinSize = min));
  if (max !== group.MaxSize) (changes.push({ setting: 'max', from: String(group.MaxSize), to: String(max) }), (update.MaxSize = max));
  const subnets = (group.VPCZoneIdentifier ?? '').split(',').filter(Boolean).sort();
  if (!sameDocument(subnets, [...input.subnetIds].sort())) {
    changes.push({ setting: 'subnets', from: subnets.join(', ') || null, to: input.subnetIds.join(', ') });
    update.VPCZoneIdentifier = input.subnetIds.join(',');
  }
  if (!sameDocument(normalizePolicy(group.MixedInstancesPolicy), normalizePolicy(desiredPolicy))) {
    changes.push({ setting: 'mixed instances', from: group.MixedInstancesPolicy ? describePolicy(group.MixedInstancesPolicy) : null, to: describePolicy(desiredPolicy) });
    update.MixedInstancesPolicy = desiredPolicy;
  }
  if (group.CapacityRebalance !== true) (changes.push({ setting: 'capacity rebalancing', from: 'off', to: 'on' }), (update.CapacityRebalance = true));
  const writes: Array<() => Promise<unknown>> = [];
  if (Object.keys(update).length > 1) writes.push(() => asg.updateAutoScalingGroup(update));
  const enabled = new Set((group.EnabledMetrics ?? []).map((m) => m.Metric));
  const missingMetrics = GROUP_METRICS.filter((m) => !enabled.has(m));
  if (missingMetrics.length) {
    changes.push({ setting: 'group metrics', from: enabled.size ? `${enabled.size} metrics` : null, to: `+ ${missingMetrics.join(', ')}` });
    writes.push(() => asg.enableMetricsCollection({ AutoScalingGroupName: name, Granularity: '1Minute', Metrics: missingMetrics }));
  }
  const current = new Map((group.Tags ?? []).map((t) => [t.Key, t]));
  const missingTags = groupTags(input.stack, name).filter((t) => current.get(t.Key)?.Value !== t.Value || current.get(t.Key)?.PropagateAtLaunch !== true);
  if (missingTags.length) {
    changes.push({ setting: 'tags (propagated)', from: null, to: describeTags(missingTags) });
    writes.push(() => asg.createOrUpdateTags({ Tags: missingTags }));
  }
  const hooks = (await asg.describeLifecycleHooks({ AutoScalingGroupName: name })).LifecycleHooks ?? [];
  const hook = hooks.find((h) => h.LifecycleHookName === TERMINATION_HOOK_NAME);
  if (!hook || hook.LifecycleTransition !== 'autoscaling:EC2_INSTANCE_TERMINATING' || hook.HeartbeatTimeout !== TERMINATION_HOOK_TIMEOUT_SECONDS || hook.DefaultResult !== 'CONTINUE') {
    changes.push({ setting: 'termination hook', from: hook ? `${hook.LifecycleTransition}, ${hook.HeartbeatTimeout}s, ${hook.DefaultResult}` : null, to: HOOK_TEXT });
    writes.push(() => asg.putLifecycleHook(terminationHook(name)));
  }
  return {
    resource: { type: 'auto-scaling-group', name, arn: group.AutoScalingGroupARN, action: changes.length ? 'would-update' : 'unchanged', changes },
    ...(writes.length ? { write: async () => void (await Promise.all(writes.map((w) => w()))) } : {}),
  };
}

async function planPolicy(asg: AutoScalingPort, input: FleetUpInput, group: Asg.AutoScalingGroup | undefined): Promise<Step> {
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

async function planNodePolicy(iam: FleetUpPorts['iam'], input: FleetUpInput, arn: () => string | undefined): Promise<Step> {
  const name = `${input.roleName}/${NODE_FLEET_POLICY_NAME}`;
  const known = arn();
  const desired = nodeFleetPolicy(known ?? groupArnPattern(input.partition, input.region, input.account, input.groupName));
  let current: unknown;
  try {
    current = parsePolicyDocument((await iam.getRolePolicy({ RoleName: input.roleName, PolicyName: NODE_FLEET_POLICY_NAME })).PolicyDocument);
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
  }
  const to = `SetInstanceProtection, lifecycle actions, TerminateInstanceInAutoScalingGroup on ${known ?? `group ${input.groupName}`} only`;
  const write = async () => {
    const groupArn = arn();
    if (!groupArn) throw new Error(`group ${input.groupName} has no ARN`);
    await iam.putRolePolicy({ RoleName: input.roleName, PolicyName: NODE_FLEET_POLICY_NAME, PolicyDocument: JSON.stringify(nodeFleetPolicy(groupArn)) });
  };
  if (current === undefined) return { resource: { type: 'node-role-policy', name, action: 'would-create', changes: [{ setting: 'autoscaling', from: null, to }] }, write };
  if (known && sameDocument(current, desired)) return { resource: { type: 'node-role-policy', name, arn: known, action: 'unchanged', changes: [] } };
  return { resource: { type: 'node-role-policy', name, action: 'would-update', changes: [{ setting: 'autoscaling', from: JSON.stringify(current), to }] }, write };
}

interface ZeroPolicyPlan {
  step: Step;
  /** The policy's ARN: known when it exists, else once its write ran. */
  arn(): string | undefined;
}

async function planZeroPolicy(asg: AutoScalingPort, input: FleetUpInput, group: Asg.AutoScalingGroup | undefined): Promise<ZeroPolicyPlan> {
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

async function planZeroAlarm(cw: FleetUpPorts['cloudwatch'], input: FleetUpInput, policy: ZeroPolicyPlan): Promise<Step> {
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

function normalizePolicy(p: Asg.MixedInstancesPolicy | undefined): unknown {
  if (!p) return null;
  const d = p.InstancesDistribution ?? {};
  const spec = p.LaunchTemplate?.LaunchTemplateSpecification ?? {};
  return {
    template: spec.LaunchTemplateName ?? null,
    version: spec.Version ?? null,
    types: (p.LaunchTemplate?.Overrides ?? []).map((o) => o.InstanceType),
    base: d.OnDemandBaseCapacity ?? 0,
    above: d.OnDemandPercentageAboveBaseCapacity ?? 100,
    strategy: d.SpotAllocationStrategy ?? null,
    maxPrice: d.SpotMaxPrice ? Number(d.SpotMaxPrice) : null,
  };
}

function describePolicy(p: Asg.MixedInstancesPolicy): string {
  const d = p.InstancesDistribution ?? {};
  const types = (p.LaunchTemplate?.Overrides ?? []).map((o) => o.InstanceType).join(', ');
  const spot = 100 - (d.OnDemandPercentageAboveBaseCapacity ?? 100);
  return `${types}; ${spot}% spot (on-demand base ${d.OnDemandBaseCapacity ?? 0}), ${d.SpotAllocationStrategy ?? 'default strategy'}, max price ${d.SpotMaxPrice ? `$${d.SpotMaxPrice}/h` : 'on-demand'}`;
}

function normalizeMetrics(metrics: Asg.TargetTrackingMetricDataQuery[] | undefined): unknown {
  return (metrics ?? []).map((m) => ({
    id: m.Id,
    expression: m.Expression ?? null,
    metric: m.MetricStat ? `${m.MetricStat.Metric?.Namespace}/${m.MetricStat.Metric?.MetricName}/${(m.MetricStat.Metric?.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(',')}/${m.MetricStat.Stat}` : null,
    returns: m.ReturnData ?? true,
  }));
}

function describeTags(tags: ReadonlyArray<{ Key?: string; Value?: string }>): string {
  return tags.map((t) => `${t.Key}=${t.Value}`).join(', ');
}

export { tagMap };

const HOOK_TEXT = `${TERMINATION_HOOK_NAME}: EC2_INSTANCE_TERMINATING, ${TERMINATION_HOOK_TIMEOUT_SECONDS}s, then CONTINUE`;

/** The termination hook: a node being removed drains, finishes or releases its job, and completes it itself. */
function terminationHook(group: string): Asg.PutLifecycleHookCommandInput {
  return { AutoScalingGroupName: group, LifecycleHookName: TERMINATION_HOOK_NAME, LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: TERMINATION_HOOK_TIMEOUT_SECONDS, DefaultResult: 'CONTINUE' };
}
