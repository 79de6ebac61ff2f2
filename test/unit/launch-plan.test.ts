// The launch's pure parts: GPU fit, pool ranking, the capacity cache's 3 minutes, ClientTokens, and
// running a plan against an EC2 that answers the way AWS does (brief absence from Describe, token reuse).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchFailureKind } from '../../src/aws/errors.js';
import { CapacityCache } from '../../src/core/launch/capacity-cache.js';
import { gpuFit } from '../../src/core/launch/gpu-fit.js';
import type { InstanceTypeInfo } from '../../src/core/launch/instance-types.js';
import { clientToken, LaunchJournal, newLaunchId, type LaunchPlan } from '../../src/core/launch/journal.js';
import { planPools, priceKey, type Zone } from '../../src/core/launch/pools.js';
import { runLaunch, type LaunchEc2 } from '../../src/core/launch/run.js';
import type { Clock } from '../../src/lib/clock.js';

const gpu = (name: string, gib: number, count = 1) => ({ name, count, memoryMiB: gib * 1024 * count });
const INFO = new Map<string, InstanceTypeInfo>([
  ['g6e.xlarge', { instanceType: 'g6e.xlarge', vcpus: 4, memoryMiB: 32768, gpu: gpu('NVIDIA L40S', 44.7) }],
  ['g5.xlarge', { instanceType: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, gpu: gpu('NVIDIA A10G', 22.35) }],
  ['g6.xlarge', { instanceType: 'g6.xlarge', vcpus: 4, memoryMiB: 16384, gpu: gpu('NVIDIA L4', 22.35) }],
  ['g4ad.xlarge', { instanceType: 'g4ad.xlarge', vcpus: 4, memoryMiB: 16384, gpu: gpu('AMD Radeon Pro V520', 8) }],
  ['m5.large', { instanceType: 'm5.large', vcpus: 2, memoryMiB: 8192, gpu: undefined }],
]);
const ZONES: Zone[] = ['a', 'b', 'c', 'd', 'e', 'f'].map((l, i) => ({ az: `us-east-1${l}`, azId: `use1-az${i + 1}`, subnetId: `subnet-${l}` }));
const everywhere = (types: string[]) => new Map(types.map((t) => [t, new Set(ZONES.map((z) => z.az))]));

describe('GPU fit (schema/gpu-fit.json, the runtime\'s table too)', () => {
  it.each([
    ['flux-dev', gpu('L40S', 44.7), 'full'],
    ['flux-dev', gpu('A10G', 22.35), 'fp8'],
    ['flux-schnell', gpu('T4', 15), 'offload'],
    ['sdxl', gpu('A10G', 22.35), 'full'],
    ['sdxl', gpu('V520', 8), 'offload'],
    ['flux-dev', gpu('V520', 8), undefined],
  ])('%s on %j → %s', (model, g, policy) => {
    expect(gpuFit(model, g).policy).toBe(policy);
  });

  it('per GPU: four 24 GB GPUs do not make one 96 GB GPU', () => {
    expect(gpuFit('flux-dev', gpu('A10G', 22.35, 4)).policy).toBe('fp8');
  });
});

describe('pools: offering, fit and --max-price filter; price ranks; near-ties by score, then type order', () => {
  const types = ['g6e.xlarge', 'g5.xlarge', 'g6.xlarge'];
  const prices = new Map<string, number>();
  for (const z of ZONES) {
    prices.set(priceKey('g6e.xlarge', z.az), 0.9);
    prices.set(priceKey('g5.xlarge', z.az), 0.4 + ZONES.indexOf(z) * 0.05);
    prices.set(priceKey('g6.xlarge', z.az), 0.405);
  }

  it('cheapest first; within 5% of the cheapest, the higher score, then the order of instanceTypes', () => {
    const { pools } = planPools({ types, info: INFO, model: 'flux-dev', zones: ZONES, offered: everywhere(types), prices, scores: new Map([['use1-az3', 9]]) });
    const head = pools.slice(0, 8).map((p) => `${p.instanceType}/${p.az}`);
    // g6 at 0.405 everywhere is within 5% of g5's 0.40 in 1a; us-east-1c has the best score.
    expect(head[0]).toBe('g6.xlarge/us-east-1c');
    expect(head[1]).toBe('g5.xlarge/us-east-1a'); // price tie-zone: type order (g5 before g6), then AZ
    expect(head.slice(2, 7)).toEqual(['g6.xlarge/us-east-1a', 'g6.xlarge/us-east-1b', 'g6.xlarge/us-east-1d', 'g6.xlarge/us-east-1e', 'g6.xlarge/us-east-1f']);
    expect(pools.at(-1)?.instanceType).toBe('g6e.xlarge');
  });

  it('drops pools over --max-price, not offered, recently failed, and types whose GPU cannot hold the model, each with its reason', () => {
    const offered = everywhere(types);
    offered.get('g5.xlarge')!.delete('us-east-1e');
    const { pools, dropped } = planPools({
      types: [...types, 'g4ad.xlarge'], info: INFO, model: 'flux-dev', zones: ZONES, offered, prices, scores: new Map(), maxPrice: 0.5,
      recentFailure: (p) => (p.instanceType === 'g6.xlarge' && p.azId === 'use1-az1' ? 'InsufficientInstanceCapacity' : undefined),
    });
    expect(pools.every((p) => (p.spotPrice ?? 0) <= 0.5)).toBe(true);
    const reasons = dropped.map((d) => `${d.instanceType} ${d.az ?? '-'}: ${d.reason}`);
    expect(reasons).toContain('g5.xlarge us-east-1e: not offered in us-east-1e');
    expect(reasons.some((r) => r.startsWith('g6e.xlarge us-east-1a: spot price $0.9000/h is over --max-price'))).toBe(true);
    expect(reasons.some((r) => r.startsWith('g6.xlarge us-east-1a: failed recently (InsufficientInstanceCapacity)'))).toBe(true);
    expect(reasons.some((r) => /^g4ad\.xlarge -: .*flux-dev needs at least 14 GiB/.test(r))).toBe(true);
  });

  it('plans 3 types × 6 AZs in well under 5 ms', () => {
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) planPools({ types, info: INFO, model: 'flux-dev', zones: ZONES, offered: everywhere(types), prices, scores: new Map() });
    expect((performance.now() - t0) / 100).toBeLessThan(5);
  });
});

function fakeClock(start = Date.parse('2026-12-03T08:00:00Z')): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, sleep: async (ms) => void (now += ms), advance: (ms) => void (now += ms) };
}

describe('capacity cache', () => {
  it('remembers a failed pool for 3 minutes, per key', () => {
    const clock = fakeClock();
    const cache = new CapacityCache(mkdtempSync(join(tmpdir(), 'fluxer-cache-')), clock);
    cache.remember('k1', { code: 'InsufficientInstanceCapacity', message: 'none' });
    expect(cache.recent('k1')?.code).toBe('InsufficientInstanceCapacity');
    expect(cache.recent('k2')).toBeUndefined();
    clock.advance(179_000);
    expect(cache.recent('k1')).toBeDefined();
    clock.advance(2_000);
    expect(cache.recent('k1')).toBeUndefined();
  });
});

describe('launch ids, tokens and error shapes', () => {
  it('a ClientToken is at most 64 characters and differs per pool and attempt', () => {
    const id = newLaunchId(Date.parse('2026-12-03T08:00:00Z'));
    expect(id).toMatch(/^l-20261203080000-[0-9a-f]{8}$/);
    expect(clientToken(id, 99, 999).length).toBeLessThanOrEqual(64);
    expect(clientToken(id, 0, 0)).not.toBe(clientToken(id, 1, 0));
  });

  it('capacity and quota errors are classified in both shapes (exception and CreateFleet Errors entry)', () => {
    expect(launchFailureKind(Object.assign(new Error('x'), { name: 'InsufficientInstanceCapacity' }))).toBe('pool-capacity');
    expect(launchFailureKind({ ErrorCode: 'UnfulfillableCapacity', ErrorMessage: 'x' })).toBe('pool-capacity');
    expect(launchFailureKind({ ErrorCode: 'MaxSpotInstanceCountExceeded' })).toBe('quota');
    expect(launchFailureKind(Object.assign(new Error('x'), { name: 'VcpuLimitExceeded' }))).toBe('quota');
    expect(launchFailureKind(Object.assign(new Error('x'), { name: 'IdempotentParameterMismatch' }))).toBe('idempotency-mismatch');
  });
});

describe('running a plan', () => {
  const pool = (az: string, i: number) => ({ az, azId: `use1-az${i}`, subnetId: `subnet-${i}`, instanceType: 'g5.xlarge', vcpus: 4, spotPrice: 0.4, score: undefined, policy: 'fp8' });
  const plan = (): LaunchPlan => ({ version: 1, launchId: 'l-20261203080000-00000000', stack: 's', region: 'us-east-1', count: 1, imageId: 'ami-1', rootDeviceName: '/dev/sda1', createdAt: '', pools: [pool('us-east-1a', 1), pool('us-east-1b', 2)], attempts: [] });
  const journal = () => new LaunchJournal(mkdtempSync(join(tmpdir(), 'fluxer-journal-')));

  it('waits out a new instance\'s brief absence from DescribeInstances (on the clock, not a sleep)', async () => {
    let describes = 0;
    const ec2: LaunchEc2 = {
      runInstances: async () => ({ Instances: [{ InstanceId: 'i-1' }], $metadata: {} }),
      describeInstances: async () => {
        describes++;
        // Invisible to the first two lists after the launch (the one before it, and one after).
        const visible = describes > 3;
        return { Reservations: visible ? [{ Instances: [{ InstanceId: 'i-1', InstanceType: 'g5.xlarge', Placement: { AvailabilityZone: 'us-east-1a' }, State: { Name: 'pending' } }] }] : [], $metadata: {} };
      },
    };
    const clock = fakeClock();
    const r = await runLaunch(ec2, plan(), { spec: {}, clock, journal: journal() });
    expect(r.instances).toEqual([{ instanceId: 'i-1', instanceType: 'g5.xlarge', az: 'us-east-1a', spotPrice: 0.4, state: 'pending' }]);
    expect(describes).toBe(4);
  });

  it('IdempotentParameterMismatch is a clear error naming the token and what to do', async () => {
    const ec2: LaunchEc2 = {
      runInstances: async () => Promise.reject(Object.assign(new Error('different parameters'), { name: 'IdempotentParameterMismatch', $metadata: { httpStatusCode: 400 } })),
      describeInstances: async () => ({ Reservations: [], $metadata: {} }),
    };
    await expect(runLaunch(ec2, plan(), { spec: {}, clock: fakeClock(), journal: journal() })).rejects.toMatchObject({
      code: 'IdempotentParameterMismatch',
      message: expect.stringContaining('l-20261203080000-00000000-p0-a0'),
      hint: expect.stringContaining('--launch-id'),
    });
  });

  it('a replayed attempt (killed in flight) is re-sent with its own token, and the launch stops at count', async () => {
    const sent: string[] = [];
    const ec2: LaunchEc2 = {
      runInstances: async (input) => {
        sent.push(input.ClientToken!);
        return { Instances: [{ InstanceId: 'i-9' }], $metadata: {} };
      },
      describeInstances: async () => ({ Reservations: sent.length ? [{ Instances: [{ InstanceId: 'i-9', InstanceType: 'g5.xlarge', Placement: { AvailabilityZone: 'us-east-1a' }, State: { Name: 'running' } }] }] : [], $metadata: {} }),
    };
    const p = plan();
    p.attempts.push({ poolIndex: 0, instanceType: 'g5.xlarge', az: 'us-east-1a', clientToken: 'l-20261203080000-00000000-p0-a0', count: 1, outcome: 'sent' });
    const r = await runLaunch(ec2, p, { spec: {}, clock: fakeClock(), journal: journal() });
    expect(sent).toEqual(['l-20261203080000-00000000-p0-a0']);
    expect(r.instances.map((i) => i.instanceId)).toEqual(['i-9']);
  });
});
