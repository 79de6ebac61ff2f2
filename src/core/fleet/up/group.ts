// `fleet up`'s Auto Scaling group: made when missing (with its metrics and termination hook); else its
// bounds, subnets, mixed instances policy, capacity rebalancing, metrics, tags and hook corrected.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../../aws/autoscaling.js';
import { UsageError } from '../../../lib/errors.js';
import { sameDocument } from '../../node-policy.js';
import type { SetupChange } from '../../setup.js';
import { DEFAULT_MAX_SIZE, GROUP_METRICS, TERMINATION_HOOK_NAME, TERMINATION_HOOK_TIMEOUT_SECONDS } from '../names.js';
import { createGroupInput, groupTags, mixedInstancesPolicy } from '../spec.js';
import type { FleetUpInput, Step } from './types.js';

function checkBounds(min: number, max: number): void {
  if (min > max) throw new UsageError(`--min ${min} is above --max ${max}`, { code: 'FleetBounds', hint: 'Give --min ≤ --max.' });
}

export async function planGroup(asg: AutoScalingPort, input: FleetUpInput, group: Asg.AutoScalingGroup | undefined): Promise<Step> {
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

function describeTags(tags: ReadonlyArray<{ Key?: string; Value?: string }>): string {
  return tags.map((t) => `${t.Key}=${t.Value}`).join(', ');
}

const HOOK_TEXT = `${TERMINATION_HOOK_NAME}: EC2_INSTANCE_TERMINATING, ${TERMINATION_HOOK_TIMEOUT_SECONDS}s, then CONTINUE`;

/** The termination hook: a node being removed drains, finishes or releases its job, and completes it itself. */
function terminationHook(group: string): Asg.PutLifecycleHookCommandInput {
  return { AutoScalingGroupName: group, LifecycleHookName: TERMINATION_HOOK_NAME, LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: TERMINATION_HOOK_TIMEOUT_SECONDS, DefaultResult: 'CONTINUE' };
}
