// The launch specification: one meaning of ami=latest (the stack's ami parameter, then the newest baked
// AMI, then the Deep Learning AMI), the image's root device, and what every node is launched with.
import { describe, expect, it } from 'vitest';
import { DLAMI_PARAMETER, buildLaunchSpec, resolveAmi } from '../../src/core/launch/spec.js';

const notFound = () => Promise.reject(Object.assign(new Error('no'), { name: 'ParameterNotFound', $metadata: { httpStatusCode: 400 } }));

function ports(opts: { defaultAmi?: string; baked?: Array<{ ImageId: string; CreationDate: string }>; dlami?: string }) {
  const asked: string[] = [];
  return {
    asked,
    ssm: {
      getParameter: async ({ Name }: { Name?: string }) => {
        asked.push(Name!);
        const value = Name === '/fluxer/s/ami' ? opts.defaultAmi : Name === DLAMI_PARAMETER ? opts.dlami : undefined;
        return value ? { Parameter: { Value: value }, $metadata: {} } : notFound();
      },
    },
    ec2: {
      describeImages: async (input: { ImageIds?: string[]; Owners?: string[] }) => {
        if (input.Owners) return { Images: (opts.baked ?? []).map((b) => ({ ...b, RootDeviceName: '/dev/xvda', State: 'available' as const })), $metadata: {} };
        return { Images: input.ImageIds!.map((id) => ({ ImageId: id, RootDeviceName: '/dev/sda1', State: 'available' as const })), $metadata: {} };
      },
    },
  };
}

describe('ami "latest"', () => {
  it('is the stack\'s default AMI parameter first', async () => {
    const p = ports({ defaultAmi: 'ami-11111111', baked: [{ ImageId: 'ami-22222222', CreationDate: '2026-12-01' }], dlami: 'ami-33333333' });
    expect(await resolveAmi(p, 's', 'latest')).toMatchObject({ imageId: 'ami-11111111', rootDeviceName: '/dev/sda1', source: 'SSM /fluxer/s/ami' });
  });

  it('then the newest AMI baked for the stack', async () => {
    const p = ports({ baked: [{ ImageId: 'ami-22222222', CreationDate: '2026-12-01' }, { ImageId: 'ami-44444444', CreationDate: '2026-12-02' }], dlami: 'ami-33333333' });
    expect(await resolveAmi(p, 's', 'latest')).toMatchObject({ imageId: 'ami-44444444', rootDeviceName: '/dev/xvda' });
    expect(p.asked).not.toContain(DLAMI_PARAMETER);
  });

  it('then the Deep Learning AMI from its public parameter; nothing → undefined', async () => {
    expect(await resolveAmi(ports({ dlami: 'ami-33333333' }), 's', 'latest')).toMatchObject({ imageId: 'ami-33333333', source: expect.stringContaining('Deep Learning AMI') });
    expect(await resolveAmi(ports({}), 's', 'latest')).toBeUndefined();
  });
});

describe('buildLaunchSpec', () => {
  it('IMDSv2 with one hop, no key pair, terminate on shutdown, encrypted gp3 root on the image\'s root device, tags on instance and volume, no market options', () => {
    const spec = buildLaunchSpec({ stack: 's', launchId: 'l-1', ami: { imageId: 'ami-1', rootDeviceName: '/dev/xvda', source: 'x' }, volumeSize: 120, instanceProfile: 'fluxer-s-node', securityGroupIds: ['sg-1'], userData: Buffer.from('#cloud-config\n') });
    expect(spec.MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' });
    expect(spec).not.toHaveProperty('KeyName');
    expect(spec).not.toHaveProperty('InstanceMarketOptions');
    expect(spec.InstanceInitiatedShutdownBehavior).toBe('terminate');
    expect(spec.BlockDeviceMappings).toEqual([{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 120, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }]);
    expect(spec.TagSpecifications?.map((t) => t.ResourceType)).toEqual(['instance', 'volume']);
    expect(Object.fromEntries(spec.TagSpecifications![1]!.Tags!.map((t) => [t.Key, t.Value]))).toMatchObject({ 'fluxer:role': 'gpu-node', 'fluxer:launch-id': 'l-1' });
    expect(Buffer.from(spec.UserData!, 'base64').toString()).toBe('#cloud-config\n');
  });
});
