// `fleet up --idle/--surplus-idle` and `fleet roll --release` pin settings in the fleet template's user data:
// rendered through the template's variables, and refused (exit 2, before the AMI or network is read) when
// the stack's own template does not write the line, since the nodes would never get it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import { fleetLaunch, pinnedSettings, userDataText } from '../../src/core/fleet/template.js';
import { UsageError } from '../../src/lib/errors.js';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/fluxer-prod-jobs';

function project(template?: string) {
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-pins-'));
  if (template) writeFileSync(join(cwd, 'mine.yaml'), template);
  const configFile = join(cwd, 'fluxer.config.json');
  writeFileSync(configFile, JSON.stringify({ defaultStack: 'prod', stacks: { prod: { region: 'us-east-1', bucket: 'acme-images', queueName: 'fluxer-prod-jobs', model: 'tiny', ...(template ? { template: './mine.yaml' } : {}) } } }));
  return { cwd, config: loadConfig({ cwd, env: {}, configFile, stack: 'prod', flags: {} }) };
}

/** EC2 answers just enough for the launch specification; every call is counted. */
function ports() {
  const calls: string[] = [];
  const ec2 = {
    describeImages: async () => (calls.push('DescribeImages'), { Images: [{ ImageId: 'ami-0123456789abcdef0', State: 'available', RootDeviceName: '/dev/sda1', Tags: [] }] }),
    describeSubnets: async () => (calls.push('DescribeSubnets'), { Subnets: [{ SubnetId: 'subnet-1', VpcId: 'vpc-1', AvailabilityZone: 'us-east-1a', AvailabilityZoneId: 'use1-az1' }] }),
    describeVpcs: async () => (calls.push('DescribeVpcs'), { Vpcs: [{ VpcId: 'vpc-1', IsDefault: true }] }),
    describeSecurityGroups: async () => (calls.push('DescribeSecurityGroups'), { SecurityGroups: [{ GroupId: 'sg-1', VpcId: 'vpc-1' }] }),
  };
  return { calls, ports: { ec2, ssm: { getParameter: async () => ({}) }, sqs: async () => ({ getQueueUrl: async () => (calls.push('GetQueueUrl'), { QueueUrl: QUEUE_URL }) }) } as never };
}

describe('the fleet template\'s pins', () => {
  it('are written as the bootstrap\'s env-file lines and read back; none pinned leaves the lines empty', async () => {
    const { cwd, config } = project();
    const p = ports();
    const opts = { cwd, groupName: 'fluxer-prod-fleet', ami: 'ami-0123456789abcdef0', region: 'us-east-1' };
    const pinned = await fleetLaunch(p.ports, config, { ...opts, pins: { idleSeconds: 90, surplusIdleSeconds: 30, release: '0.3.1-abc' } });
    const text = userDataText(pinned.data.UserData);
    expect(text).toMatch(/^\s*FLUXER_IDLE_SECONDS=90$/m);
    expect(text).toMatch(/^\s*FLUXER_SURPLUS_IDLE_SECONDS=30$/m);
    expect(pinnedSettings(pinned.data)).toEqual({ release: '0.3.1-abc', idleSeconds: 90, surplusIdleSeconds: 30 });
    const plain = await fleetLaunch(ports().ports, config, { ...opts, pins: {} });
    expect(userDataText(plain.data.UserData)).toMatch(/^\s*FLUXER_IDLE_SECONDS=$/m);
    expect(pinnedSettings(plain.data)).toEqual({});
  });

  it('a template that does not write FLUXER_IDLE_SECONDS is refused for --idle (exit 2), before EC2 is asked anything', async () => {
    const { cwd, config } = project('#cloud-config\nwrite_files:\n  - path: /etc/fluxer/runtime.env\n    content: |\n      FLUXER_QUEUE_URL={{ queue_url }}\n      FLUXER_ASG_NAME={{ asg_name }}\n');
    const p = ports();
    const err = await fleetLaunch(p.ports, config, { cwd, groupName: 'fluxer-prod-fleet', ami: 'ami-0123456789abcdef0', region: 'us-east-1', pins: { idleSeconds: 90 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain('does not use {{ idle_seconds }}');
    expect((err as UsageError).message).toContain('FLUXER_IDLE_SECONDS');
    expect(p.calls.filter((c) => c !== 'GetQueueUrl')).toEqual([]);
    // Without a pin the same template is fine as far as the pins go.
    const ok = await fleetLaunch(ports().ports, config, { cwd, groupName: 'fluxer-prod-fleet', ami: 'ami-0123456789abcdef0', region: 'us-east-1', pins: {} });
    expect(pinnedSettings(ok.data)).toEqual({});
  });
});
