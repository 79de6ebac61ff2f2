// The emulator's termination lifecycle hooks (src/emulator/lifecycle-hooks.ts) through the real AWS CLI:
// what Auto Scaling does with an EC2_INSTANCE_TERMINATING hook where moto does not — a scaled-in instance
// held in Terminating:Wait (still running), its IMDS saying Terminated, released by CompleteLifecycleAction or
// by the hook's heartbeat timeout, which each heartbeat restarts; scale-in passing over an instance protected from
// scale in, and taking it once its protection is lifted.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ec2sdk from '@aws-sdk/client-ec2';
import { describe, expect, inject, it } from 'vitest';
import { registerNode } from '../../src/lib/local-nodes.js';
import { VENV_BIN } from '../support/moto.js';
import { nodeClients, testImage } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const nodesDir = inject('emulatorNodesDir');
const KEY = 'EMUHOOKS';
const run = promisify(execFile);
const { ec2 } = nodeClients(endpoint, { accessKeyId: KEY });
const unique = (p: string) => `${p}-${Math.random().toString(16).slice(2, 10)}`;

async function aws(service: string, ...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', service, ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'testing' },
  });
  return stdout.trim() ? JSON.parse(stdout) : undefined;
}

interface Member { InstanceId: string; LifecycleState: string; ProtectedFromScaleIn: boolean }
const group = async (name: string) => (await aws('autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', name)).AutoScalingGroups[0] as { DesiredCapacity: number; Instances: Member[] };
const ec2State = async (id: string) => (await aws('ec2', 'describe-instances', '--instance-ids', id)).Reservations[0].Instances[0].State.Name as string;

async function imds(id: string, path: string): Promise<{ status: number; body: string }> {
  const base = `${endpoint}/_imds/${id}/latest`;
  const token = await (await fetch(`${base}/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
  const r = await fetch(`${base}/meta-data/${path}`, { headers: { 'X-aws-ec2-metadata-token': token } });
  return { status: r.status, body: await r.text() };
}

/** A group of `size` instances with a terminating hook, each registered as a local node of the group. */
async function groupWithHook(size: number, heartbeatTimeout: number): Promise<{ name: string; ids: string[] }> {
  const name = unique('hooks');
  const image = await testImage(ec2);
  await ec2.send(new ec2sdk.CreateLaunchTemplateCommand({ LaunchTemplateName: name, LaunchTemplateData: { ImageId: image, InstanceType: 't3.micro' } }));
  await aws('autoscaling', 'create-auto-scaling-group', '--auto-scaling-group-name', name, '--launch-template', `LaunchTemplateName=${name}`, '--min-size', '0', '--max-size', '4', '--desired-capacity', String(size), '--availability-zones', 'us-east-1a');
  // AWS's minimum HeartbeatTimeout is 30 s; the emulator takes the hook as stored, so a test can be short.
  await aws('autoscaling', 'put-lifecycle-hook', '--auto-scaling-group-name', name, '--lifecycle-hook-name', 'drain', '--lifecycle-transition', 'autoscaling:EC2_INSTANCE_TERMINATING', '--heartbeat-timeout', String(heartbeatTimeout), '--default-result', 'CONTINUE');
  const ids = (await group(name)).Instances.map((i) => i.InstanceId);
  const now = new Date().toISOString();
  for (const id of ids) registerNode(nodesDir, { instanceId: id, root: join(nodesDir, id, 'root'), env: { FLUXER_ASG_NAME: name }, pid: process.pid, instanceType: 't3.micro', az: 'us-east-1a', region: 'us-east-1', lifecycle: 'on-demand', launchTime: now, registeredAt: now });
  return { name, ids };
}

describe('emulator: termination lifecycle hooks as Auto Scaling runs them', () => {
  it('a scale-in holds the unprotected instance in Terminating:Wait, running, IMDS Terminated, until CompleteLifecycleAction', async () => {
    const { name, ids } = await groupWithHook(2, 600);
    const [kept, removed] = ids as [string, string];
    await aws('autoscaling', 'set-instance-protection', '--auto-scaling-group-name', name, '--instance-ids', kept, '--protected-from-scale-in');
    expect(await imds(removed, 'autoscaling/target-lifecycle-state')).toEqual({ status: 200, body: 'InService' });

    await aws('autoscaling', 'set-desired-capacity', '--auto-scaling-group-name', name, '--desired-capacity', '1');
    const g = await group(name);
    expect(g.DesiredCapacity).toBe(1);
    expect(Object.fromEntries(g.Instances.map((i) => [i.InstanceId, i.LifecycleState]))).toEqual({ [kept]: 'InService', [removed]: 'Terminating:Wait' });
    expect(g.Instances.find((i) => i.InstanceId === removed)!.ProtectedFromScaleIn).toBe(false);
    const one = (await aws('autoscaling', 'describe-auto-scaling-instances', '--instance-ids', removed)).AutoScalingInstances[0];
    expect(one.LifecycleState).toBe('Terminating:Wait');
    expect(await ec2State(removed)).toBe('running');
    expect(await imds(removed, 'autoscaling/target-lifecycle-state')).toEqual({ status: 200, body: 'Terminated' });
    expect((await imds(kept, 'autoscaling/target-lifecycle-state')).body).toBe('InService');

    await aws('autoscaling', 'record-lifecycle-action-heartbeat', '--auto-scaling-group-name', name, '--lifecycle-hook-name', 'drain', '--instance-id', removed);
    await aws('autoscaling', 'complete-lifecycle-action', '--auto-scaling-group-name', name, '--lifecycle-hook-name', 'drain', '--instance-id', removed, '--lifecycle-action-result', 'CONTINUE');
    expect((await group(name)).Instances.map((i) => i.InstanceId)).toEqual([kept]);
    expect(await ec2State(removed)).not.toBe('running');
    expect((await group(name)).DesiredCapacity).toBe(1);
    // Nothing left to complete: AWS's ValidationError.
    await expect(aws('autoscaling', 'complete-lifecycle-action', '--auto-scaling-group-name', name, '--lifecycle-hook-name', 'drain', '--instance-id', removed, '--lifecycle-action-result', 'CONTINUE')).rejects.toThrow(/No active Lifecycle Action/);
  }, 60_000);

  it('TerminateInstanceInAutoScalingGroup waits in the hook too, and the heartbeat timeout releases it', async () => {
    const { name, ids } = await groupWithHook(1, 6);
    const [id] = ids as [string];
    const answer = await aws('autoscaling', 'terminate-instance-in-auto-scaling-group', '--instance-id', id, '--should-decrement-desired-capacity');
    expect(answer.Activity.Description).toContain(id);
    const g = await group(name);
    expect(g.DesiredCapacity).toBe(0);
    expect(g.Instances.map((i) => i.LifecycleState)).toEqual(['Terminating:Wait']);
    expect(await ec2State(id)).toBe('running');
    // No CompleteLifecycleAction: the hook's six-second timeout ends the wait.
    await expect.poll(async () => (await group(name)).Instances.length, { timeout: 20_000, interval: 200 }).toBe(0);
    expect(await ec2State(id)).not.toBe('running');
  }, 60_000);

  it('a scale-in that passed over a protected instance takes it once its protection is lifted, into the hook', async () => {
    const { name, ids } = await groupWithHook(1, 600);
    const [id] = ids as [string];
    await aws('autoscaling', 'set-instance-protection', '--auto-scaling-group-name', name, '--instance-ids', id, '--protected-from-scale-in');
    await aws('autoscaling', 'set-desired-capacity', '--auto-scaling-group-name', name, '--desired-capacity', '0');
    expect((await group(name)).Instances.map((i) => i.LifecycleState)).toEqual(['InService']);
    await aws('autoscaling', 'set-instance-protection', '--auto-scaling-group-name', name, '--instance-ids', id, '--no-protected-from-scale-in');
    const g = await group(name);
    expect(g.DesiredCapacity).toBe(0);
    expect(g.Instances.map((i) => [i.LifecycleState, i.ProtectedFromScaleIn])).toEqual([['Terminating:Wait', false]]);
    expect(await imds(id, 'autoscaling/target-lifecycle-state')).toEqual({ status: 200, body: 'Terminated' });
    await aws('autoscaling', 'complete-lifecycle-action', '--auto-scaling-group-name', name, '--lifecycle-hook-name', 'drain', '--instance-id', id, '--lifecycle-action-result', 'CONTINUE');
    expect((await group(name)).Instances).toEqual([]);
  }, 60_000);

  it('each RecordLifecycleActionHeartbeat restarts the timeout: held past HeartbeatTimeout while they come, released once they stop', async () => {
    const { name, ids } = await groupWithHook(1, 5);
    const [id] = ids as [string];
    // AWS's bound on the whole wait, answered as AWS computes it (moto says 172800 for every hook).
    expect((await aws('autoscaling', 'describe-lifecycle-hooks', '--auto-scaling-group-name', name)).LifecycleHooks[0]).toMatchObject({ HeartbeatTimeout: 5, GlobalTimeout: 500 });
    await aws('autoscaling', 'terminate-instance-in-auto-scaling-group', '--instance-id', id, '--should-decrement-desired-capacity');
    const held = Date.now();
    let last = held;
    // Back to back (one AWS CLI call takes a second or two here): well within each 5 s timeout, for 12 s.
    while (last - held < 12_000) {
      await aws('autoscaling', 'record-lifecycle-action-heartbeat', '--auto-scaling-group-name', name, '--lifecycle-hook-name', 'drain', '--instance-id', id);
      last = Date.now();
    }
    expect((await group(name)).Instances.map((i) => i.LifecycleState)).toEqual(['Terminating:Wait']);
    expect(await ec2State(id)).toBe('running');
    await expect.poll(async () => (await group(name)).Instances.length, { timeout: 30_000, interval: 200 }).toBe(0);
    expect(Date.now() - last).toBeGreaterThanOrEqual(4_000); // a timeout from the last heartbeat
    expect(await ec2State(id)).not.toBe('running');
  }, 60_000);
});
