// The emulator's images (src/emulator/images.ts) through the real AWS CLI and SDK: what AWS does with
// CreateImage, DescribeImages and DeregisterImage where moto does not — snapshot tags at creation,
// images that stay pending or fail, snapshots deleted with their image, the reboot a local node sees.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { setStandinImageHolds } from '../../src/emulator/images.js';
import { REBOOT_FILE, registerNode } from '../../src/lib/local-nodes.js';
import { VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const nodesDir = inject('emulatorNodesDir');
const KEY = 'EMUIMAGES';
const run = promisify(execFile);
const { ec2 } = nodeClients(endpoint, { accessKeyId: KEY });
const unique = (p: string) => `${p}-${Math.random().toString(16).slice(2, 10)}`;

async function aws(...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', 'ec2', ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'testing' },
  });
  return stdout.trim() ? JSON.parse(stdout) : undefined;
}

async function instance(): Promise<string> {
  return (await launchTestNodes(ec2, { stack: unique('img') }))[0]!;
}

const image = async (id: string) => (await aws('describe-images', '--image-ids', id)).Images[0] as { State: string; StateReason?: { Message: string }; BlockDeviceMappings: Array<{ Ebs?: { SnapshotId?: string } }> };

describe('emulator: images as AWS makes them', () => {
  it('CreateImage tags the image and its snapshots at creation (moto alone answers HTTP 500)', async () => {
    const id = await instance();
    const made = await aws('create-image', '--instance-id', id, '--name', unique('tagged'), '--no-reboot', '--tag-specifications', 'ResourceType=image,Tags=[{Key=fluxer:role,Value=ami}]', 'ResourceType=snapshot,Tags=[{Key=fluxer:role,Value=ami},{Key=fluxer:stack,Value=s1}]');
    const img = await image(made.ImageId);
    const snapshot = img.BlockDeviceMappings.find((b) => b.Ebs?.SnapshotId)!.Ebs!.SnapshotId!;
    const tags = (await aws('describe-snapshots', '--snapshot-ids', snapshot)).Snapshots[0].Tags as Array<{ Key: string; Value: string }>;
    expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toEqual({ 'fluxer:role': 'ami', 'fluxer:stack': 's1' });
  });

  it('a held image is pending (and not listed under state=available), then available', async () => {
    const prefix = unique('held');
    await setStandinImageHolds(endpoint, [{ namePrefix: prefix, holdMs: 8_000, accessKeyId: KEY }]);
    const made = await aws('create-image', '--instance-id', await instance(), '--name', `${prefix}-1`, '--no-reboot');
    expect((await image(made.ImageId)).State).toBe('pending');
    const available = await aws('describe-images', '--image-ids', made.ImageId, '--filters', 'Name=state,Values=available');
    expect(available.Images).toEqual([]);
    await expect.poll(async () => (await image(made.ImageId)).State, { timeout: 20_000, interval: 300 }).toBe('available');
  });

  it('a failing image ends failed with its state reason', async () => {
    const prefix = unique('fail');
    await setStandinImageHolds(endpoint, [{ namePrefix: prefix, holdMs: 0, outcome: 'failed', reason: 'the snapshot could not be completed', accessKeyId: KEY }]);
    const made = await aws('create-image', '--instance-id', await instance(), '--name', `${prefix}-1`, '--no-reboot');
    const img = await image(made.ImageId);
    expect(img.State).toBe('failed');
    expect(img.StateReason?.Message).toBe('the snapshot could not be completed');
  });

  it('DeregisterImage --delete-associated-snapshots deletes the snapshots too (moto keeps them)', async () => {
    const made = await aws('create-image', '--instance-id', await instance(), '--name', unique('gone'), '--no-reboot');
    const snapshot = (await image(made.ImageId)).BlockDeviceMappings.find((b) => b.Ebs?.SnapshotId)!.Ebs!.SnapshotId!;
    await aws('deregister-image', '--image-id', made.ImageId, '--delete-associated-snapshots');
    const left = await aws('describe-snapshots', '--filters', `Name=snapshot-id,Values=${snapshot}`);
    expect(left.Snapshots).toEqual([]);
  });

  it('CreateImage without --no-reboot reboots a local node (its folder says so); with it, nothing', async () => {
    const [a, b] = [await instance(), await instance()];
    for (const id of [a, b]) registerNode(nodesDir, { instanceId: id, root: mkdtempSync(join(tmpdir(), 'img-node-')), env: {}, pid: process.pid, instanceType: 'g5.xlarge', az: 'us-east-1a', region: 'us-east-1', lifecycle: 'spot', launchTime: new Date().toISOString(), registeredAt: new Date().toISOString() });
    await aws('create-image', '--instance-id', a, '--name', unique('reboot'));
    await aws('create-image', '--instance-id', b, '--name', unique('noreboot'), '--no-reboot');
    expect(existsSync(join(nodesDir, a, REBOOT_FILE))).toBe(true);
    expect(existsSync(join(nodesDir, b, REBOOT_FILE))).toBe(false);
  });
});
