// The pure parts of `spot list` and `spot terminate`: cost estimate, staleness, uptime, selection,
// refusals, and the bounded wait for EC2's confirmation (a fake EC2 and a fake clock).
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.js';
import { transitionTime, type NodeInstance } from '../../src/core/nodes/instances.js';
import { estimateCost, nodeRows, runtimeView, STALE_AFTER_MS, uptimeSeconds } from '../../src/core/nodes/list.js';
import { checkTargets, confirmTermination, parseSelection } from '../../src/core/nodes/terminate.js';

const T0 = Date.parse('2026-01-02T03:00:00Z');
const node = (over: Partial<NodeInstance> = {}): NodeInstance => ({
  instanceId: 'i-0123456789abcdef0',
  instanceType: 'g5.xlarge',
  az: 'us-east-1a',
  state: 'running',
  launchedAt: T0,
  endedAt: undefined,
  ami: 'ami-12345678',
  launchId: 'l1',
  name: 'fluxer-prod-node',
  lifecycle: 'spot',
  tags: { 'fluxer:managed': 'true', 'fluxer:stack': 'prod', 'fluxer:role': 'gpu-node' },
  ...over,
});

describe('spot list: the figures', () => {
  it('bills per second with a 60-second minimum', () => {
    expect(estimateCost(0.36, 10)).toBe(0.006);
    expect(estimateCost(0.36, 3600)).toBe(0.36);
    expect(estimateCost(null, 3600)).toBeNull();
    expect(estimateCost(0.36, null)).toBeNull();
  });

  it('uptime runs to now, or to the time EC2 stopped or terminated the node', () => {
    expect(uptimeSeconds(node(), T0 + 90_500)).toBe(91);
    expect(transitionTime('User initiated (2026-01-02 03:10:00 GMT)')).toBe(T0 + 600_000);
    expect(uptimeSeconds(node({ state: 'terminated', endedAt: T0 + 600_000 }), T0 + 3_600_000)).toBe(600);
    expect(uptimeSeconds(node({ state: 'terminated' }), T0 + 3_600_000)).toBeNull();
  });

  it('a record is stale when S3 saw no write for two record intervals, by S3\'s clock; a STOPPED record never is', () => {
    const record = { instanceId: 'i-1', state: 'READY', lastSeenAt: '2026-01-02T03:00:00.000Z', seq: 1, busySeconds: 30, imagesDone: 4, jobs: { succeeded: 2, failed: 1, rejected: 0, cancelled: 0, requeued: 5 } };
    // This machine's clock is an hour off: only S3's Date header and LastModified count.
    const fresh = runtimeView({ record, lastModifiedMs: T0, s3NowMs: T0 + STALE_AFTER_MS }, 120, T0 + 3_600_000);
    expect(fresh).toEqual({ state: 'READY', lastSeenAt: record.lastSeenAt, jobsDone: 3, imagesDone: 4, busyShare: 0.25, stale: false });
    expect(runtimeView({ record, lastModifiedMs: T0, s3NowMs: T0 + STALE_AFTER_MS + 1 }, 120, T0)!.stale).toBe(true);
    expect(runtimeView({ record: { ...record, state: 'STOPPED' }, lastModifiedMs: T0, s3NowMs: T0 + 3_600_000 }, 120, T0)!.stale).toBe(false);
    expect(runtimeView(undefined, 120, T0)).toBeNull();
  });

  it('prices only spot nodes, from the pool of their type and AZ', () => {
    const prices = [{ instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.4, since: 0 }, { instanceType: 'g5.xlarge', az: 'us-east-1b', price: 9, since: 0 }];
    const rows = nodeRows([node(), node({ instanceId: 'i-2', lifecycle: undefined }), node({ instanceId: 'i-3', az: 'us-east-1c' })], prices, new Map(), T0 + 3_600_000);
    expect(rows.map((r) => [r.spotPrice, r.costSoFar])).toEqual([[0.4, 0.4], [null, null], [null, null]]);
  });
});

describe('spot terminate: what may be terminated', () => {
  it('takes exactly one of IDs, --all, --launch-id, and only well-formed ids', () => {
    expect(parseSelection(['i-0123456789abcdef0', 'i-0123456789abcdef0'], {})).toEqual({ kind: 'ids', ids: ['i-0123456789abcdef0'] });
    expect(parseSelection([], { all: true })).toEqual({ kind: 'all' });
    expect(parseSelection([], { launchId: '0193a1b2-x' })).toEqual({ kind: 'launch', launchId: '0193a1b2-x' });
    expect(() => parseSelection([], {})).toThrow(/--all or --launch-id/);
    expect(() => parseSelection(['i-0123456789abcdef0'], { all: true })).toThrow(/ID\.\.\. and --all/);
    expect(() => parseSelection([], { all: true, launchId: 'x' })).toThrow(/--all and --launch-id/);
    expect(() => parseSelection(['i-bad'], {})).toThrow(/"i-bad": not an instance id/);
    expect(() => parseSelection([], { launchId: '../x' })).toThrow(/--launch-id/);
  });

  it('refuses by name: unknown ids, other stacks\' and untagged instances (unless force), Auto Scaling members always', () => {
    const ours = node();
    const theirs = node({ instanceId: 'i-00000000000000001', tags: { 'fluxer:managed': 'true', 'fluxer:stack': 'dev' } });
    const untagged = node({ instanceId: 'i-00000000000000002', tags: {} });
    const member = node({ instanceId: 'i-00000000000000003', tags: { ...ours.tags, 'aws:autoscaling:groupName': 'fluxer-prod-fleet' } });
    const requested = [ours, theirs, untagged, member].map((n) => n.instanceId).concat('i-00000000000000009');
    const strict = checkTargets([ours, theirs, untagged, member], { stack: 'prod', force: false, requested });
    expect(strict.targets.map((t) => t.instanceId)).toEqual([ours.instanceId]);
    expect(strict.refused.map((r) => [r.instanceId, r.reason.split(/[,:]/)[0]])).toEqual([
      ['i-00000000000000009', 'not found in this region'],
      [theirs.instanceId, 'a node of stack "dev"'],
      [untagged.instanceId, 'not tagged fluxer'],
      [member.instanceId, 'a member of the Auto Scaling group fluxer-prod-fleet'],
    ]);
    const forced = checkTargets([ours, theirs, untagged, member], { stack: 'prod', force: true });
    expect(forced.targets.map((t) => t.instanceId)).toEqual([ours.instanceId, theirs.instanceId, untagged.instanceId]);
    expect(forced.refused.map((r) => r.instanceId)).toEqual([member.instanceId]);
  });
});

describe('spot terminate: waiting for EC2', () => {
  function fakeClock(): Clock & { slept: number[] } {
    let now = T0;
    const slept: number[] = [];
    return { now: () => now, sleep: async (ms) => void (slept.push(ms), (now += ms)), slept };
  }
  /** A DescribeInstances that shows each instance in the states given, one per poll (the last repeats). */
  function ec2(sequences: Record<string, Array<string | undefined>>) {
    let poll = 0;
    return {
      polls: () => poll,
      describeInstances: async () => {
        const i = poll++;
        const instances = Object.entries(sequences)
          .map(([id, seq]) => [id, seq[Math.min(i, seq.length - 1)]] as const)
          .filter(([, state]) => state !== undefined)
          .map(([id, state]) => ({ InstanceId: id, State: { Name: state } }));
        return { Reservations: [{ Instances: instances }], $metadata: {} } as never;
      },
    };
  }

  it('polls until each is shutting-down or terminated; a brief absence from Describe is not a confirmation', async () => {
    const clock = fakeClock();
    const port = ec2({ 'i-a': [undefined, 'running', 'shutting-down'], 'i-b': ['shutting-down'] });
    const c = await confirmTermination(port, clock, ['i-a', 'i-b'], { timeoutMs: 120_000, intervalMs: 2000 });
    expect(c.unconfirmed).toEqual([]);
    expect(Object.fromEntries(c.states)).toEqual({ 'i-a': 'shutting-down', 'i-b': 'shutting-down' });
    expect(clock.slept).toEqual([2000, 2000]);
  });

  it('gives up after the bound and names what it could not confirm', async () => {
    const clock = fakeClock();
    const port = ec2({ 'i-a': ['running'], 'i-b': ['terminated'] });
    const c = await confirmTermination(port, clock, ['i-a', 'i-b'], { timeoutMs: 120_000, intervalMs: 2000 });
    expect(c.unconfirmed).toEqual(['i-a']);
    expect(c.states.get('i-a')).toBe('running');
    expect(clock.now() - T0).toBeLessThanOrEqual(120_000);
    expect(port.polls()).toBe(61);
  });
});
