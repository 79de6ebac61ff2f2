// The fleet's documents and its diff, without a server: what fleet up would write and when it sees drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RUNTIME_IDLE_SECONDS, RUNTIME_SURPLUS_IDLE_SECONDS } from '../../src/core/fleet/names.js';
import { scaleChange } from '../../src/core/fleet/scale.js';
import { backlogPolicy, createGroupInput, mixedInstancesPolicy, nodeFleetPolicy, templateData } from '../../src/core/fleet/spec.js';
import { NOUNS } from '../../src/commands/index.js';
import { activityKind, breakerOf } from '../../src/core/fleet/status.js';
import { pinnedRelease, pinnedSettings, templateChanges } from '../../src/core/fleet/template.js';
import { buildLaunchSpec } from '../../src/core/launch/spec.js';
import { REPO_ROOT } from '../support/moto.js';

const spec = buildLaunchSpec({
  stack: 'prod', launchId: 'fluxer-prod-fleet', ami: { imageId: 'ami-0123456789abcdef0', source: 'test', rootDeviceName: '/dev/sda1' },
  volumeSize: 100, instanceProfile: 'fluxer-prod-node', securityGroupIds: ['sg-1'], userData: Buffer.from('#cloud-config\nFLUXER_ASG_NAME=fluxer-prod-fleet\n'),
});

describe('fleet documents', () => {
  it('the template: IMDSv2, no key pair, no market options, the first type', () => {
    const data = templateData(spec, 'g6e.xlarge');
    expect(data.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(data).not.toHaveProperty('KeyName');
    expect(data).not.toHaveProperty('InstanceMarketOptions');
    expect(data.InstanceType).toBe('g6e.xlarge');
  });

  it('the group: 100% spot, price-capacity-optimized, the max price, Capacity Rebalancing, tags propagated, min 0', () => {
    const g = createGroupInput({ stack: 'prod', groupName: 'fluxer-prod-fleet', templateName: 'fluxer-prod-fleet', instanceTypes: ['g6e.xlarge', 'g5.xlarge'], subnetIds: ['subnet-a', 'subnet-b'], minSize: 0, maxSize: 4, maxPrice: 1.2 });
    expect(g.MixedInstancesPolicy!.InstancesDistribution).toEqual({ OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 0, SpotAllocationStrategy: 'price-capacity-optimized', SpotMaxPrice: '1.2' });
    expect(g.MixedInstancesPolicy!.LaunchTemplate!.Overrides).toEqual([{ InstanceType: 'g6e.xlarge' }, { InstanceType: 'g5.xlarge' }]);
    expect(g).toMatchObject({ CapacityRebalance: true, MinSize: 0, DesiredCapacity: 0, VPCZoneIdentifier: 'subnet-a,subnet-b' });
    expect(g.Tags!.every((t) => t.PropagateAtLaunch)).toBe(true);
    expect(mixedInstancesPolicy({ templateName: 't', instanceTypes: ['g5.xlarge'], maxPrice: undefined }).InstancesDistribution).not.toHaveProperty('SpotMaxPrice');
  });

  it('the policy: backlog per instance by metric math, scale-in disabled', () => {
    const p = backlogPolicy('fluxer-prod-fleet', 'fluxer-prod-jobs', 3);
    expect(p.TargetTrackingConfiguration).toMatchObject({ TargetValue: 3, DisableScaleIn: true });
    const metrics = p.TargetTrackingConfiguration!.CustomizedMetricSpecification!.Metrics!;
    expect(metrics.filter((m) => m.ReturnData).map((m) => m.Expression)).toEqual(['(visible + inflight) / inservice']);
  });

  it("the node's policy names only its group's ARN; only the Describe calls take \"*\"", () => {
    const arn = 'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/fluxer-prod-fleet';
    const statements = nodeFleetPolicy(arn).Statement as Array<{ Action: string[]; Resource: string }>;
    expect(statements.map((s) => s.Resource)).toEqual([arn, '*']);
    expect(statements[1]!.Action.every((a) => a.startsWith('autoscaling:Describe'))).toBe(true);
    expect(statements[0]!.Action).toEqual(expect.arrayContaining(['autoscaling:SetInstanceProtection', 'autoscaling:CompleteLifecycleAction', 'autoscaling:TerminateInstanceInAutoScalingGroup', 'autoscaling:UpdateAutoScalingGroup']));
  });
});

describe('template drift', () => {
  const desired = templateData(spec, 'g6e.xlarge');
  it('none against the same data as AWS echoes it (the template\'s own tags are not launch data)', () => {
    const echoed = { ...desired, IamInstanceProfile: { Name: 'fluxer-prod-node' }, TagSpecifications: [...desired.TagSpecifications!, { ResourceType: 'launch-template', Tags: [{ Key: 'a', Value: 'b' }] }] };
    expect(templateChanges(echoed as never, desired)).toEqual([]);
  });
  it('names the AMI, a key pair and the user data when they differ', () => {
    const changed = { ...desired, ImageId: 'ami-0fffffffffffffff0', KeyName: 'mine', UserData: Buffer.from('other').toString('base64') };
    expect(templateChanges(changed as never, desired).map((c) => c.setting)).toEqual(['AMI', 'key pair', 'user data']);
  });
  it('reads the pinned release, gzip or not', () => {
    expect(pinnedRelease({ UserData: Buffer.from('A=1\nFLUXER_RELEASE=0.3.1-abc\n').toString('base64') })).toBe('0.3.1-abc');
    expect(pinnedRelease({ UserData: gzipSync('FLUXER_RELEASE=\n').toString('base64') })).toBeUndefined();
  });
  it('reads the pinned idle times; an empty line is the runtime\'s default', () => {
    const text = 'FLUXER_RELEASE=\nFLUXER_IDLE_SECONDS=90\nFLUXER_SURPLUS_IDLE_SECONDS=\n';
    expect(pinnedSettings({ UserData: gzipSync(text).toString('base64') })).toEqual({ idleSeconds: 90 });
    expect(pinnedSettings({ UserData: Buffer.from('FLUXER_IDLE_SECONDS=600\nFLUXER_SURPLUS_IDLE_SECONDS=30\n').toString('base64') })).toEqual({ idleSeconds: 600, surplusIdleSeconds: 30 });
    expect(pinnedSettings(undefined)).toEqual({});
  });
  it('shows the runtime\'s own idle times (gpu-runtime config.py\'s defaults) when none is pinned', () => {
    const config = readFileSync(join(REPO_ROOT, 'gpu-runtime/fluxer_runtime/config.py'), 'utf8');
    expect(config).toContain(`number("FLUXER_IDLE_SECONDS", ${RUNTIME_IDLE_SECONDS},`);
    expect(config).toContain(`number("FLUXER_SURPLUS_IDLE_SECONDS", ${RUNTIME_SURPLUS_IDLE_SECONDS},`);
  });
});

describe('fleet scale and status', () => {
  it('keeps N within the bounds, moving them when asked', () => {
    const g = { MinSize: 0, MaxSize: 4, DesiredCapacity: 1 };
    expect(scaleChange(g, { desired: 2 }).after).toEqual({ min: 0, max: 4, desired: 2 });
    expect(() => scaleChange(g, { desired: 5 })).toThrow(/above the fleet's max 4/);
    expect(scaleChange(g, { desired: 5, max: 5 }).after.max).toBe(5);
    expect(() => scaleChange({ MinSize: 2, MaxSize: 4, DesiredCapacity: 2 }, { desired: 1 })).toThrow(/below the fleet's min 2/);
  });
  it('shows the boot-failure breaker from the group tag a node set, with how to resume', () => {
    expect(breakerOf({ Tags: [] })).toBeNull();
    const b = breakerOf({ Tags: [{ Key: 'fluxer:breaker', Value: '3 failed boots within 1800s' }] })!;
    expect(b.reason).toBe('3 failed boots within 1800s');
    expect(b.resume).toContain('fluxer fleet scale N');
    // Only commands that exist (it once named a `fluxer spot logs` there is none of).
    const named = [...b.resume.matchAll(/`fluxer ([a-z]+) ([a-z]+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(named).toEqual(['spot list', 'fleet scale']);
    for (const c of named) expect(NOUNS.flatMap((n) => n.commands.map((v) => `${n.name} ${v.name}`))).toContain(c);
  });
  it("reads AWS's activity wording", () => {
    expect(activityKind({ Description: 'Terminating EC2 instance: i-1', Cause: 'an instance was taken out of service in response to an EC2 instance rebalance recommendation' })).toBe('rebalance');
    expect(activityKind({ Description: 'Terminating EC2 instance: i-1', Cause: 'in response to a Spot Instance interruption notice' })).toBe('interruption');
    expect(activityKind({ Description: 'Launching a new EC2 instance: i-2', Cause: 'an instance was launched in response to an instance refresh' })).toBe('refresh');
    expect(activityKind({ Description: 'Launching a new EC2 instance: i-3', Cause: 'a user request update of AutoScalingGroup constraints' })).toBe('scaling');
  });
});
