// `fleet up`'s capacity check, the pure part: how many nodes a spot vCPU quota holds against --max.
import { describe, expect, it } from 'vitest';
import { checkFleetCapacity, crossRegionNote, quotaRoom } from '../../src/core/fleet/capacity.js';
import { quotaNeeds } from '../../src/core/launch/quota.js';
import { ExitCode, FluxerError } from '../../src/lib/errors.js';

const [need] = quotaNeeds(new Map([['g5.xlarge', 4], ['g6e.xlarge', 4], ['g6e.2xlarge', 8]])).needs;

describe('quotaRoom', () => {
  it('sizes by the largest type under the quota', () => {
    expect(need).toMatchObject({ vcpusPerNode: 8, largestType: 'g6e.2xlarge' });
  });

  it('a quota that holds --max nodes says nothing', () => {
    expect(quotaRoom(need!, 32, 4, 'us-east-1')).toEqual({ room: expect.objectContaining({ code: 'L-3819A6DF', value: 32, nodes: 4 }) });
  });

  it('a quota for fewer than --max nodes: a note with how many, and the increase command for --max', () => {
    const { room, note } = quotaRoom(need!, 20, 4, 'us-east-1');
    expect(room.nodes).toBe(2);
    expect(note).toContain('L-3819A6DF (All G and VT Spot Instance Requests) is 20 vCPUs: at most 2 of the fleet\'s --max 4 nodes (g6e.2xlarge, 8 vCPUs)');
    expect(note).toContain('aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-3819A6DF --desired-value 32 --region us-east-1');
  });

  it('a quota that holds no node at all refuses (exit 5): the fleet could never start one', () => {
    let caught: unknown;
    try {
      quotaRoom(need!, 4, 2, 'eu-west-1');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FluxerError);
    expect(caught).toMatchObject({ exitCode: ExitCode.Capacity, code: 'SpotQuotaExceeded' });
    expect((caught as FluxerError).message).toContain('not one g6e.2xlarge (8 vCPUs) fits');
    expect((caught as FluxerError).hint).toContain('--desired-value 16 --region eu-west-1');
  });

  it('an unread quota (undefined) says nothing here: the caller notes it', () => {
    expect(quotaRoom(need!, undefined, 4, 'us-east-1')).toEqual({ room: expect.objectContaining({ value: undefined, nodes: undefined }) });
  });
});

describe('checkFleetCapacity', () => {
  const gpuType = (name: string, gib: number) => ({ InstanceType: name, VCpuInfo: { DefaultVCpus: 4 }, MemoryInfo: { SizeInMiB: 16_384 }, GpuInfo: { Gpus: [{ Name: 'GPU', Manufacturer: 'NVIDIA', Count: 1, MemoryInfo: { SizeInMiB: gib * 1024 } }], TotalGpuMemoryInMiB: gib * 1024 } });
  const ports = (quota: number) => ({
    ec2: { describeInstanceTypes: async () => ({ InstanceTypes: [gpuType('g5.xlarge', 24), gpuType('g3s.xlarge', 8)] }) },
    quotas: { getServiceQuota: async () => ({ Quota: { Value: quota } }), getAwsDefaultServiceQuota: async () => ({ Quota: { Value: quota } }) },
  });

  it('leaves out of the group the types whose GPU cannot hold the model, and says why', async () => {
    const c = await checkFleetCapacity(ports(64) as never, { types: ['g5.xlarge', 'g3s.xlarge'], model: 'flux-dev', max: 4, region: 'us-east-1' });
    expect(c.types).toEqual(['g5.xlarge']);
    expect(c.notes).toEqual([expect.stringMatching(/^g3s\.xlarge is left out of the group: .*8\.0 GiB per GPU; flux-dev needs at least 14 GiB/)]);
    expect(c.quotas).toEqual([expect.objectContaining({ code: 'L-3819A6DF', value: 64, nodes: 16 })]);
  });

  it('no type holds the model: exit 2 naming the setting, before any quota is read', async () => {
    await expect(checkFleetCapacity(ports(64) as never, { types: ['g3s.xlarge'], model: 'flux-dev', max: 4, region: 'us-east-1' })).rejects.toMatchObject({ exitCode: ExitCode.Usage, code: 'GpuTooSmall', message: expect.stringContaining('instanceTypes: no type holds flux-dev') });
  });

  it('is one of the capacity notes fleet up prints (and --json carries) for a fleet away from its queue', async () => {
    const c = await checkFleetCapacity(ports(64) as never, { types: ['g5.xlarge'], model: 'flux-dev', max: 4, region: 'us-west-2', queueRegion: 'us-east-1' });
    expect(c.notes).toEqual([crossRegionNote('us-west-2', 'us-east-1')]);
  });
});

describe('crossRegionNote', () => {
  it('says nothing when the fleet is beside its queue', () => {
    expect(crossRegionNote('us-east-1', 'us-east-1')).toBeUndefined();
  });
  it('names both regions, what never acts and what still works, when spotRegion is another region', () => {
    const note = crossRegionNote('us-west-2', 'us-east-1')!;
    expect(note).toContain('spotRegion us-west-2');
    expect(note).toContain('region us-east-1');
    expect(note).toContain('the backlog policy and the scale-from-zero alarm never act');
    expect(note).toContain('`fluxer generate`');
  });
});
