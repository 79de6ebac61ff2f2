// The emulator's SSM executor (src/emulator/ssm.ts) as clients nobody here wrote see it: the real
// @aws-sdk/client-ssm and the AWS CLI send AWS-RunShellScript to instances made in moto and registered as
// local nodes (src/emulator/nodes.ts), and get back what the script really printed and exited with.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as s3sdk from '@aws-sdk/client-s3';
import * as ssmsdk from '@aws-sdk/client-ssm';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { deregisterNode, pidAlive, registerNode } from '../../src/emulator/nodes.js';
import { pendingStep } from '../../src/emulator/ssm-run.js';
import { pluginOutput } from '../../src/emulator/ssm-views.js';
import { VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const nodesDir = inject('emulatorNodesDir');
const accessKeyId = `AKSSMEXEC${randomBytes(4).toString('hex').toUpperCase()}`;
const config = { region: 'us-east-1', endpoint, credentials: { accessKeyId, secretAccessKey: 'testing' }, maxAttempts: 1 };
const ssm = new ssmsdk.SSMClient(config);
const { ec2, s3 } = nodeClients(endpoint, { accessKeyId });
const run = promisify(execFile);
const TERMINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

/** A moto instance registered as a node whose process is `pid` (this test process: Online). */
async function node(opts: { pid?: number; env?: Record<string, string> } = {}): Promise<{ id: string; root: string }> {
  const [id] = await launchTestNodes(ec2, { stack: 'ssmexec' });
  const root = mkdtempSync(join(tmpdir(), 'fluxer-ssm-root-'));
  const now = new Date().toISOString();
  registerNode(nodesDir, { instanceId: id!, root, env: { PATH: process.env.PATH!, ...opts.env }, pid: opts.pid ?? process.pid, instanceType: 'g5.xlarge', az: 'us-east-1a', region: 'us-east-1', lifecycle: 'spot', launchTime: now, registeredAt: now });
  return { id: id!, root };
}

/** A pid that was alive and is gone. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

async function sendScript(instanceIds: string[], commands: string[], extra: Partial<ssmsdk.SendCommandCommandInput> & { executionTimeout?: string } = {}) {
  const { executionTimeout, ...rest } = extra;
  const out = await ssm.send(new ssmsdk.SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: instanceIds, Parameters: { commands, ...(executionTimeout ? { executionTimeout: [executionTimeout] } : {}) }, ...rest }));
  return out.Command!;
}

/** Polls GetCommandInvocation as a client must (InvocationDoesNotExist first, then until terminal). */
async function waitInvocation(commandId: string, instanceId: string, until: (o: ssmsdk.GetCommandInvocationCommandOutput) => boolean = (o) => TERMINAL.has(o.Status!), timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const o = await ssm.send(new ssmsdk.GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
      if (until(o)) return o;
    } catch (err) {
      if ((err as Error).name !== 'InvocationDoesNotExist') throw err;
    }
    if (Date.now() > deadline) throw new Error(`invocation ${commandId}/${instanceId} did not get there in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SSM executor', () => {
  let online: { id: string; root: string };
  beforeAll(async () => {
    online = await node({ env: { FLUXER_STAGE: 'emulated', SECRET_FROM_NODE: 's3cr3t' } });
  });

  it('runs the script on the node: real stdout, stderr and exit code; Success and Failed', async () => {
    const ok = await sendScript([online.id], ['echo hello', 'echo oops >&2'], { Comment: 'smoke' });
    expect(ok).toMatchObject({ DocumentName: 'AWS-RunShellScript', Status: 'Pending', InstanceIds: [online.id], TargetCount: 1, Comment: 'smoke', TimeoutSeconds: 3600 });
    const done = await waitInvocation(ok.CommandId!, online.id);
    expect(done).toMatchObject({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: 'hello\n', StandardErrorContent: 'oops\n', PluginName: 'aws:runShellScript', StandardOutputUrl: '' });
    expect(Date.parse(done.ExecutionEndDateTime!)).toBeGreaterThanOrEqual(Date.parse(done.ExecutionStartDateTime!));
    const bad = await sendScript([online.id], ['echo before', 'exit 7', 'echo never']);
    expect(await waitInvocation(bad.CommandId!, online.id)).toMatchObject({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 7, StandardOutputContent: 'before\n' });
    const listed = await ssm.send(new ssmsdk.ListCommandsCommand({ CommandId: bad.CommandId }));
    expect(listed.Commands![0]).toMatchObject({ Status: 'Failed', CompletedCount: 1, ErrorCount: 1 });
  });

  it('runs in the node root with the registration environment, not the emulator one', async () => {
    process.env.EMULATOR_ONLY_VAR = 'leak';
    const c = await sendScript([online.id], ['pwd', 'echo "$FLUXER_ROOT"', 'echo "$FLUXER_STAGE"', 'echo "[${EMULATOR_ONLY_VAR:-}]"']);
    const o = await waitInvocation(c.CommandId!, online.id);
    expect(o.StandardOutputContent).toBe(`${online.root}\n${online.root}\nemulated\n[]\n`);
  });

  it('answers InvocationDoesNotExist right after SendCommand, then the result', async () => {
    const c = await sendScript([online.id], ['echo later']);
    await expect(ssm.send(new ssmsdk.GetCommandInvocationCommand({ CommandId: c.CommandId, InstanceId: online.id }))).rejects.toMatchObject({ name: 'InvocationDoesNotExist' });
    expect((await waitInvocation(c.CommandId!, online.id)).StandardOutputContent).toBe('later\n');
    await expect(ssm.send(new ssmsdk.GetCommandInvocationCommand({ CommandId: '00000000-0000-0000-0000-000000000000', InstanceId: online.id }))).rejects.toMatchObject({ name: 'InvocationDoesNotExist' });
  });

  it('cuts inline output at 24,000 / 8,000 characters; the whole output is in S3 at the AWS layout', async () => {
    const bucket = `fluxer-ssm-out-${randomBytes(4).toString('hex')}`;
    await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
    const c = await sendScript([online.id], ["head -c 30000 /dev/zero | tr '\\0' o", "head -c 9000 /dev/zero | tr '\\0' e >&2"], { OutputS3BucketName: bucket, OutputS3KeyPrefix: 'runs' });
    const o = await waitInvocation(c.CommandId!, online.id);
    expect(o.StandardOutputContent).toHaveLength(24_000);
    expect(o.StandardErrorContent).toHaveLength(8_000);
    const key = `runs/${c.CommandId}/${online.id}/awsrunShellScript/0.awsrunShellScript`;
    expect(o.StandardOutputUrl).toBe(`https://s3.us-east-1.amazonaws.com/${bucket}/${key}/stdout`);
    expect(o.StandardErrorUrl).toBe(`https://s3.us-east-1.amazonaws.com/${bucket}/${key}/stderr`);
    const stdout = await (await s3.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: `${key}/stdout` }))).Body!.transformToString();
    const stderr = await (await s3.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: `${key}/stderr` }))).Body!.transformToString();
    expect([stdout.length, stderr.length]).toEqual([30_000, 9_000]);
    const listed = await ssm.send(new ssmsdk.ListCommandInvocationsCommand({ CommandId: c.CommandId, Details: true }));
    const output = listed.CommandInvocations![0]!.CommandPlugins![0]!.Output!;
    expect(output.length).toBeLessThanOrEqual(2_500);
    expect(output).toContain('\n---Output truncated---\n----------ERROR-------\n');
  });

  it('an execution timeout kills the whole process group: TimedOut / ExecutionTimedOut', async () => {
    const c = await sendScript([online.id], ['sleep 60 & echo $! > bg.pid', 'echo started', 'wait'], { executionTimeout: '1' });
    const o = await waitInvocation(c.CommandId!, online.id);
    expect(o).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: 137, StandardOutputContent: 'started\n' });
    expect(pidAlive(Number(readFileSync(join(online.root, 'bg.pid'), 'utf8')))).toBe(false);
  });

  it('CancelCommand kills a running sleep 60: Cancelled', async () => {
    const c = await sendScript([online.id], ['echo $$ > cancel.pid', 'sleep 60']);
    await waitInvocation(c.CommandId!, online.id, (o) => o.Status === 'InProgress' && existsSync(join(online.root, 'cancel.pid')) && readFileSync(join(online.root, 'cancel.pid'), 'utf8').endsWith('\n'));
    const pid = Number(readFileSync(join(online.root, 'cancel.pid'), 'utf8'));
    expect(pidAlive(pid)).toBe(true);
    expect(await ssm.send(new ssmsdk.CancelCommandCommand({ CommandId: c.CommandId }))).toMatchObject({ $metadata: { httpStatusCode: 200 } });
    expect(await waitInvocation(c.CommandId!, online.id)).toMatchObject({ Status: 'Cancelled', StatusDetails: 'Cancelled' });
    expect(pidAlive(pid)).toBe(false);
  });

  it('an offline node: ConnectionLost, the invocation stays Pending; deregistered it becomes Undeliverable', async () => {
    const offline = await node({ pid: await deadPid() });
    const info = await ssm.send(new ssmsdk.DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [online.id, offline.id] }] }));
    expect(Object.fromEntries(info.InstanceInformationList!.map((i) => [i.InstanceId, i.PingStatus]))).toEqual({ [online.id]: 'Online', [offline.id]: 'ConnectionLost' });
    expect(info.InstanceInformationList![0]).toMatchObject({ PlatformType: 'Linux', ResourceType: 'EC2Instance' });
    const c = await sendScript([offline.id], ['touch ran'], { TimeoutSeconds: 30 });
    const pending = await waitInvocation(c.CommandId!, offline.id, () => true);
    expect(pending).toMatchObject({ Status: 'Pending', StatusDetails: 'Pending', ResponseCode: -1, ExecutionStartDateTime: '' });
    deregisterNode(nodesDir, offline.id);
    expect(await waitInvocation(c.CommandId!, offline.id)).toMatchObject({ Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1 });
  });

  it('delivery timeout rules (injected clock): Pending until TimeoutSeconds, then DeliveryTimedOut', () => {
    const inv = { requestedAt: 1_000_000 };
    const offline = { registered: true, alive: false, instanceValid: true };
    expect(pendingStep(inv, 30, offline, 1_000_000 + 29_999)).toBe('wait');
    expect(pendingStep(inv, 30, offline, 1_000_000 + 30_000)).toBe('DeliveryTimedOut');
    expect(pendingStep(inv, 30, { ...offline, alive: true }, 1_000_000 + 1)).toBe('run');
    expect(pendingStep(inv, 30, { ...offline, instanceValid: false }, 1_000_000 + 1)).toBe('Undeliverable');
    expect(pluginOutput('out', '')).toBe('out');
    expect(pluginOutput('out', 'err')).toBe('out\n----------ERROR-------\nerr');
  });

  it('an unregistered instance: InvalidInstanceId and nothing runs; 51 ids: ValidationException; TimeoutSeconds under 30 refused', async () => {
    const [bare] = await launchTestNodes(ec2, { stack: 'ssmexec' });
    await expect(sendScript([online.id, bare!], ['touch should-not-exist'])).rejects.toMatchObject({ name: 'InvalidInstanceId', message: `Instances [[${bare}]] not in a valid state for account 123456789012` });
    const ids = Array.from({ length: 51 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    await expect(sendScript(ids, ['true'])).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(sendScript([online.id], ['true'], { TimeoutSeconds: 10 })).rejects.toMatchObject({ name: 'ValidationException' });
    expect(() => readFileSync(join(online.root, 'should-not-exist'))).toThrow();
  });

  it('ListCommandInvocations with Details for a two-node command', async () => {
    const second = await node();
    const c = await sendScript([online.id, second.id], ['echo "on $FLUXER_ROOT"']);
    for (const n of [online, second]) await waitInvocation(c.CommandId!, n.id);
    const listed = await ssm.send(new ssmsdk.ListCommandInvocationsCommand({ CommandId: c.CommandId, Details: true }));
    const byId = Object.fromEntries(listed.CommandInvocations!.map((i) => [i.InstanceId, i]));
    for (const n of [online, second]) {
      expect(byId[n.id]).toMatchObject({ CommandId: c.CommandId, DocumentName: 'AWS-RunShellScript', Status: 'Success', StatusDetails: 'Success' });
      expect(byId[n.id]!.CommandPlugins).toEqual([expect.objectContaining({ Name: 'aws:runShellScript', Status: 'Success', ResponseCode: 0, Output: `on ${n.root}\n` })]);
    }
    const brief = await ssm.send(new ssmsdk.ListCommandInvocationsCommand({ CommandId: c.CommandId, MaxResults: 1 }));
    expect(brief.CommandInvocations).toHaveLength(1);
    expect(brief.CommandInvocations![0]!.CommandPlugins).toEqual([]);
    expect(brief.NextToken).toBeTruthy();
    expect((await ssm.send(new ssmsdk.ListCommandsCommand({ CommandId: c.CommandId }))).Commands![0]).toMatchObject({ Status: 'Success', TargetCount: 2, CompletedCount: 2 });
  });

  it('the AWS CLI drives it too: send-command, then get-command-invocation', async () => {
    const env = { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'testing', AWS_DEFAULT_REGION: 'us-east-1', HOME: '/nonexistent-home' };
    const cli = async (...args: string[]) => JSON.parse((await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--output', 'json', 'ssm', ...args], { env })).stdout);
    const sent = await cli('send-command', '--document-name', 'AWS-RunShellScript', '--instance-ids', online.id, '--parameters', 'commands=["echo from-cli","echo $SECRET_FROM_NODE"]');
    const id = sent.Command.CommandId as string;
    await waitInvocation(id, online.id);
    expect(await cli('get-command-invocation', '--command-id', id, '--instance-id', online.id)).toMatchObject({ Status: 'Success', StandardOutputContent: 'from-cli\ns3cr3t\n' });
  });

  it('GetParameter and PutParameter still go to moto', async () => {
    const name = `/fluxer/ssmexec/${randomBytes(3).toString('hex')}`;
    await ssm.send(new ssmsdk.PutParameterCommand({ Name: name, Value: 'v1', Type: 'String' }));
    expect((await ssm.send(new ssmsdk.GetParameterCommand({ Name: name }))).Parameter).toMatchObject({ Name: name, Value: 'v1' });
  });

  it('another document goes on to moto, and so do later calls about that command', async () => {
    const sent = await ssm.send(new ssmsdk.SendCommandCommand({ DocumentName: 'AWS-RunPowerShellScript', InstanceIds: [online.id], Parameters: { commands: ['Write-Output hi'] } }));
    // moto's record-only answer: Success with empty output, at once (no InvocationDoesNotExist window).
    expect(await ssm.send(new ssmsdk.GetCommandInvocationCommand({ CommandId: sent.Command!.CommandId, InstanceId: online.id }))).toMatchObject({ Status: 'Success', StandardOutputContent: '' });
  });
});
