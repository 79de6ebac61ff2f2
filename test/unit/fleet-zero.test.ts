// Scale from zero without a server: the rule (which the simulator mirrors), the one read and the one
// write `generate` makes, the "no fleet" cache, the notes, the --json field, and the backstop's policy and alarm.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scaleFromZeroAlarm, scaleFromZeroPolicy, ZERO_ALARM_EXPRESSION } from '../../src/core/fleet/spec.js';
import { describeZeroOutcome, fleetField, forgetNoFleet, lookAtFleet, NO_FLEET_TTL_MS, raiseFromZero, scaleFromZeroDecision, zeroCachePath, type ZeroInput } from '../../src/core/fleet/zero.js';
import { tempDirs } from '../support/temp.js';

// The cases are one table for this rule and the simulator's mirror (sim/fleet_sim.py reads it too).
const ZERO_CASES = JSON.parse(readFileSync(new URL('../contracts/scale-from-zero.json', import.meta.url), 'utf8')) as {
  cases: Array<{ what: string; input: ZeroInput; raiseTo: number | null }>;
};

describe('scaleFromZeroDecision', () => {
  it.each(ZERO_CASES.cases.map((c) => [c.what, c.input, c.raiseTo ?? undefined] as const))('%s', (_what, input, expected) => {
    expect(scaleFromZeroDecision(input)).toBe(expected);
  });
});

const temp = tempDirs('fluxer-zero-');
function cacheAt(nowMs: number, dir = temp()) {
  return { dir, endpoint: 'http://127.0.0.1:1', region: 'us-east-1', nowMs };
}
const ours = [{ Key: 'fluxer:managed', Value: 'true' }, { Key: 'fluxer:stack', Value: 'prod' }];
const denied = Object.assign(new Error('User is not authorized to perform: autoscaling:SetDesiredCapacity'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

function fakeAsg(groups: unknown[] | Error) {
  const calls: string[] = [];
  const port = {
    describeAutoScalingGroups: async () => {
      calls.push('DescribeAutoScalingGroups');
      if (groups instanceof Error) throw groups;
      return { AutoScalingGroups: groups, $metadata: {} } as never;
    },
    setDesiredCapacity: async (input: { DesiredCapacity?: number }) => {
      calls.push(`SetDesiredCapacity ${input.DesiredCapacity}`);
      return { $metadata: {} } as never;
    },
  };
  return { calls, asg: async () => port };
}

describe('lookAtFleet + raiseFromZero', () => {
  const group = (over: Record<string, unknown> = {}) => ({ AutoScalingGroupName: 'fluxer-prod-fleet', DesiredCapacity: 0, MinSize: 0, MaxSize: 4, Tags: ours, ...over });

  it('a fleet at 0: one read, one SetDesiredCapacity to 1', async () => {
    const f = fakeAsg([group()]);
    const look = await lookAtFleet(f.asg, cacheAt(0), 'fluxer-prod-fleet', 'prod');
    expect(await raiseFromZero(f.asg, look, 1)).toEqual({ kind: 'raised', raisedTo: 1 });
    expect(f.calls).toEqual(['DescribeAutoScalingGroups', 'SetDesiredCapacity 1']);
  });

  it('a fleet already up: the read only', async () => {
    const f = fakeAsg([group({ DesiredCapacity: 2 })]);
    expect(await raiseFromZero(f.asg, await lookAtFleet(f.asg, cacheAt(0), 'fluxer-prod-fleet', 'prod'), 3)).toEqual({ kind: 'not-at-zero', desired: 2 });
    expect(f.calls).toEqual(['DescribeAutoScalingGroups']);
  });

  it('launches suspended or max 0: held, with a note that says how to resume', async () => {
    const f = fakeAsg([group({ SuspendedProcesses: [{ ProcessName: 'Launch' }] })]);
    const held = await raiseFromZero(f.asg, await lookAtFleet(f.asg, cacheAt(0), 'fluxer-prod-fleet', 'prod'), 1);
    expect(held).toEqual({ kind: 'held', reason: 'launch-suspended', max: 4 });
    expect(describeZeroOutcome(held, 'fluxer-prod-fleet')).toMatch(/launches suspended.*fleet status/);
    const g = fakeAsg([group({ MaxSize: 0 })]);
    expect(await raiseFromZero(g.asg, await lookAtFleet(g.asg, cacheAt(0), 'fluxer-prod-fleet', 'prod'), 1)).toMatchObject({ kind: 'held', reason: 'max-zero' });
    expect([...f.calls, ...g.calls].filter((c) => c.startsWith('Set'))).toEqual([]);
  });

  it('no fleet: remembered for the TTL (no call), asked again after it, forgotten by fleet up', async () => {
    const f = fakeAsg([]);
    const first = cacheAt(1_000_000);
    expect(await lookAtFleet(f.asg, first, 'fluxer-prod-fleet', 'prod')).toEqual({ outcome: { kind: 'no-fleet', cached: false } });
    expect(readdirSync(first.dir)).toHaveLength(1);
    expect(await lookAtFleet(f.asg, { ...first, nowMs: first.nowMs + NO_FLEET_TTL_MS - 1 }, 'fluxer-prod-fleet', 'prod')).toEqual({ outcome: { kind: 'no-fleet', cached: true } });
    expect(f.calls).toEqual(['DescribeAutoScalingGroups']);
    await lookAtFleet(f.asg, { ...first, nowMs: first.nowMs + NO_FLEET_TTL_MS }, 'fluxer-prod-fleet', 'prod');
    expect(f.calls).toHaveLength(2);
    // Another stack, region or endpoint has its own entry.
    await lookAtFleet(f.asg, { ...first, region: 'eu-west-1' }, 'fluxer-prod-fleet', 'prod');
    expect(f.calls).toHaveLength(3);
    await forgetNoFleet(first, 'fluxer-prod-fleet');
    await lookAtFleet(f.asg, { ...first, nowMs: first.nowMs + 1 }, 'fluxer-prod-fleet', 'prod');
    expect(f.calls).toHaveLength(4);
  });

  it('a file an earlier fluxer wrote (one compact line) still reads; a damaged one asks again', async () => {
    const f = fakeAsg([]);
    const c = cacheAt(2_000_000);
    const path = zeroCachePath(c, 'fluxer-prod-fleet');
    writeFileSync(path, `${JSON.stringify({ group: 'fluxer-prod-fleet', region: c.region, endpoint: c.endpoint, state: 'absent', checkedAt: c.nowMs - 1 })}\n`);
    expect(await lookAtFleet(f.asg, c, 'fluxer-prod-fleet', 'prod')).toEqual({ outcome: { kind: 'no-fleet', cached: true } });
    writeFileSync(path, '{"group": "fluxer-prod');
    expect(await lookAtFleet(f.asg, c, 'fluxer-prod-fleet', 'prod')).toEqual({ outcome: { kind: 'no-fleet', cached: false } });
    expect(f.calls).toEqual(['DescribeAutoScalingGroups']);
  });

  it('a group of that name not tagged for the stack is not ours: no fleet, never raised', async () => {
    const f = fakeAsg([group({ Tags: [{ Key: 'fluxer:managed', Value: 'true' }, { Key: 'fluxer:stack', Value: 'other' }] })]);
    expect(await raiseFromZero(f.asg, await lookAtFleet(f.asg, cacheAt(0), 'fluxer-prod-fleet', 'prod'), 1)).toEqual({ kind: 'no-fleet', cached: false });
    expect(f.calls).toEqual(['DescribeAutoScalingGroups']);
  });

  it('AccessDenied: on the read, a note once and remembered; on the write, a note naming the action', async () => {
    const f = fakeAsg(denied);
    const c = cacheAt(0);
    const first = await raiseFromZero(f.asg, await lookAtFleet(f.asg, c, 'fluxer-prod-fleet', 'prod'), 1);
    expect(first).toMatchObject({ kind: 'denied', action: 'autoscaling:DescribeAutoScalingGroups', cached: false });
    expect(describeZeroOutcome(first, 'fluxer-prod-fleet')).toMatch(/may not call autoscaling:DescribeAutoScalingGroups.*queue alarm/);
    const again = await raiseFromZero(f.asg, await lookAtFleet(f.asg, { ...c, nowMs: 1 }, 'fluxer-prod-fleet', 'prod'), 1);
    expect(again).toMatchObject({ kind: 'denied', cached: true });
    expect(describeZeroOutcome(again, 'fluxer-prod-fleet')).toBeUndefined();
    expect(f.calls).toEqual(['DescribeAutoScalingGroups']);

    const g = fakeAsg([group()]);
    const port = await g.asg();
    const refusing = async () => ({ ...port, setDesiredCapacity: async () => Promise.reject(denied) });
    const out = await raiseFromZero(refusing, await lookAtFleet(g.asg, cacheAt(0), 'fluxer-prod-fleet', 'prod'), 1);
    expect(out).toMatchObject({ kind: 'denied', action: 'autoscaling:SetDesiredCapacity' });
    expect(describeZeroOutcome(out, 'fluxer-prod-fleet')).toMatch(/^Note: fleet fluxer-prod-fleet was not raised from 0: your identity may not call autoscaling:SetDesiredCapacity/);
  });

  it('any other failure (throttled, network) is a note, not an error, and is not remembered', async () => {
    const f = fakeAsg(Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));
    const c = cacheAt(0);
    const out = await raiseFromZero(f.asg, await lookAtFleet(f.asg, c, 'fluxer-prod-fleet', 'prod'), 1);
    expect(out).toEqual({ kind: 'failed', message: 'Throttling: Rate exceeded' });
    expect(readdirSync(c.dir)).toEqual([]);
  });
});

describe('fleetField: the fleet field of generate --json', () => {
  const G = 'fluxer-prod-fleet';
  it('null only without a fleet; every other outcome names the group and what happened', () => {
    expect(fleetField({ kind: 'no-fleet', cached: false }, G)).toBeNull();
    expect(fleetField({ kind: 'no-fleet', cached: true }, G)).toBeNull();
    expect(fleetField({ kind: 'raised', raisedTo: 1 }, G)).toEqual({ group: G, outcome: 'raised', raisedTo: 1 });
    expect(fleetField({ kind: 'not-at-zero', desired: 2 }, G)).toEqual({ group: G, outcome: 'running', desired: 2 });
    expect(fleetField({ kind: 'held', reason: 'breaker', max: 4 }, G)).toEqual({ group: G, outcome: 'held', reason: 'breaker', max: 4 });
    expect(fleetField({ kind: 'held', reason: 'max-zero', max: 0 }, G)).toEqual({ group: G, outcome: 'held', reason: 'max-zero', max: 0 });
    // A remembered refusal prints no note, but the field still says it was refused.
    expect(fleetField({ kind: 'denied', action: 'autoscaling:DescribeAutoScalingGroups', message: 'refused earlier', cached: true }, G)).toEqual({ group: G, outcome: 'denied', action: 'autoscaling:DescribeAutoScalingGroups', message: 'refused earlier' });
    expect(fleetField({ kind: 'failed', message: 'Throttling: Rate exceeded' }, G)).toEqual({ group: G, outcome: 'failed', message: 'Throttling: Rate exceeded' });
  });
});

describe('the backstop', () => {
  it('policy: step scaling, +1 for any breach (never ExactCapacity, which could lower a grown fleet), a warmup', () => {
    expect(scaleFromZeroPolicy('fluxer-prod-fleet')).toEqual({
      AutoScalingGroupName: 'fluxer-prod-fleet', PolicyName: 'fluxer-scale-from-zero', PolicyType: 'StepScaling', AdjustmentType: 'ChangeInCapacity',
      MetricAggregationType: 'Maximum', EstimatedInstanceWarmup: 600, StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    });
  });

  it('alarm: visible messages while desired is 0, 60 s, one datapoint, missing data not breaching, named after the group, tagged', () => {
    const a = scaleFromZeroAlarm({ stack: 'prod', groupName: 'fluxer-prod-fleet', queueName: 'fluxer-prod-jobs', policyArn: 'arn:policy' });
    expect(a).toMatchObject({ AlarmName: 'fluxer-prod-fleet-scale-from-zero', AlarmActions: ['arn:policy'], ComparisonOperator: 'GreaterThanThreshold', Threshold: 0, EvaluationPeriods: 1, DatapointsToAlarm: 1, TreatMissingData: 'notBreaching' });
    expect(a.Metrics!.map((m) => m.MetricStat?.Metric?.MetricName ?? m.Expression)).toEqual(['ApproximateNumberOfMessagesVisible', 'GroupDesiredCapacity', ZERO_ALARM_EXPRESSION]);
    expect(a.Metrics!.filter((m) => m.MetricStat).every((m) => m.MetricStat!.Period === 60)).toBe(true);
    expect(a.Metrics!.filter((m) => m.ReturnData).map((m) => m.Id)).toEqual(['waiting']);
    expect(a.Tags).toEqual(expect.arrayContaining([{ Key: 'fluxer:managed', Value: 'true' }, { Key: 'fluxer:stack', Value: 'prod' }, { Key: 'fluxer:role', Value: 'fleet-alarm' }]));
  });
});
