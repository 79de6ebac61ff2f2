// scripts/aws-smoke.sh run for real against the local server (moto + stand-ins, ENDPOINT=…): every
// step is the real bin/fluxer and aws — setup, runtime publish, spot launch --wait, generate --wait,
// spot terminate, the final AWS CLI check. What EC2 would do after RunInstances (boot the instance,
// run the bootstrap, start the runtime) is done here by the test: a watcher sees the launched instance
// in DescribeInstances and starts a real `fluxer-runtime serve` (tiny model) as that instance on the
// stack's queue and bucket; it stops the runtime when EC2 shows the instance shutting down. (The
// emulated region that makes local nodes of instances comes with issue 12.) What this proves: the
// script's steps work together end to end, it leaves nothing tagged for its stack, its exit trap
// terminates what it launched when a later step fails, and it refuses a stack that already has nodes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, inject, it } from 'vitest';
import { setStandinQuotas } from '../../src/emulator/server.js';
import { BIN } from '../support/cli.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';
import { startRuntime, type RuntimeWorker } from '../support/runtime.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
const KEY = 'AWSSMOKE';
const SCRIPT = join(REPO_ROOT, 'scripts', 'aws-smoke.sh');
/**
 * moto has one account for every access key, so the spot instances other test files run at the same
 * time count against this quota too (the launch counts the region's running spot vCPUs, as AWS does):
 * a quota no parallel test can fill.
 */
const QUOTA = 100_000;
const { ec2 } = nodeClients(endpoint, { accessKeyId: KEY });
const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: KEY, secretAccessKey: 'testing' }, maxAttempts: 1 });

/**
 * Plays EC2 booting the stack's instances: each new running instance gets a real runtime as that
 * instance id; an instance EC2 shows shutting down or terminated has its runtime stopped (SIGTERM).
 */
function bootWatcher(stack: string, bucket: string) {
  const nodes = new Map<string, Promise<RuntimeWorker>>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:fluxer:stack', Values: [stack] }] })).catch(() => undefined);
      for (const i of (out?.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
        const id = i.InstanceId!;
        const state = i.State?.Name ?? '';
        if (state === 'running' && !nodes.has(id)) {
          const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: `fluxer-${stack}-jobs` }));
          nodes.set(id, startRuntime({ endpoint, queueUrl: QueueUrl!, bucket, prefix: 'fluxer/', instanceId: id }));
        }
        if ((state === 'shutting-down' || state === 'terminated') && nodes.has(id)) void nodes.get(id)!.then((w) => w.stop(), () => undefined);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    booted: () => [...nodes.keys()],
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...nodes.values()].map((n) => n.then((w) => w.stop(), () => undefined)));
    },
  };
}

function smoke(extra: NodeJS.ProcessEnv = {}, opts: { boot?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-smoke-test-'));
  const stack = extra.STACK ?? unique('smk');
  const bucket = unique('smk-bkt');
  const req = join(dir, 'requirements.txt');
  writeFileSync(req, ''); // an empty wheelhouse keeps `runtime publish` quick
  const env = {
    PATH: `${VENV_BIN}:${process.env.PATH}`,
    HOME: dir,
    XDG_STATE_HOME: join(dir, 'state'),
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    FLUXER_MAX_ATTEMPTS: '1',
    FLUXER_RELEASE_REQUIREMENTS: req,
    TMPDIR: dir,
    STACK: stack,
    REGION: 'us-east-1',
    BUCKET: bucket,
    MODEL: 'tiny',
    MINUTES: '20',
    LAUNCH_TIMEOUT: '90s',
    JOB_TIMEOUT: '60s',
    ENDPOINT: endpoint,
    AWS_CLI: join(VENV_BIN, 'aws'),
    FLUXER: BIN,
    ...extra,
  };
  const watcher = opts.boot === false ? undefined : bootWatcher(stack, bucket);
  const result = run('bash', [SCRIPT], { env, timeout: 240_000 })
    .then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    )
    .finally(() => watcher?.stop());
  return { stack, result, watcher };
}

/** What is left of the stack, by its tags, as the AWS CLI sees it (any state). */
async function stackInstances(stack: string): Promise<Array<[string, string]>> {
  const { stdout } = await run(
    join(VENV_BIN, 'aws'),
    ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', 'ec2', 'describe-instances', '--filters', 'Name=tag:fluxer:managed,Values=true', `Name=tag:fluxer:stack,Values=${stack}`, '--query', 'Reservations[].Instances[].[InstanceId,State.Name]'],
    { env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' } },
  );
  return JSON.parse(stdout);
}

describe('scripts/aws-smoke.sh against the local server', () => {
  it('runs every step and leaves nothing tagged for its stack running', async () => {
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: QUOTA, accessKeyId: KEY }]);
    const { stack, result, watcher } = smoke();
    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    const launchId = /launch (l-[0-9a-f-]+)/.exec(r.stderr)?.[1];
    expect(launchId).toBeDefined();
    for (const step of ['1/6 setup', '2/6 runtime publish', '3/6 spot launch', '4/6 generate', `5/6 spot terminate --launch-id ${launchId}`, '6/6 nothing tagged']) expect(r.stderr).toContain(step);
    expect(watcher!.booted()).toHaveLength(1);
    // The path of the image the real runtime rendered, downloaded by `generate --wait`: a PNG.
    const image = r.stdout.trim();
    expect(image).toMatch(/-0\.png$/);
    expect(readFileSync(image).subarray(1, 4).toString()).toBe('PNG');
    const left = await stackInstances(stack);
    expect(left).toHaveLength(1);
    expect(['shutting-down', 'terminated']).toContain(left[0]![1]);
  }, 300_000);

  it('when a later step fails, the exit trap terminates what it launched', async () => {
    // No node ever boots: `spot launch --wait` times out (exit 8) with the instance launched.
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: QUOTA, accessKeyId: KEY }]);
    const { stack, result } = smoke({ LAUNCH_TIMEOUT: '3s' }, { boot: false });
    const r = await result;
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain('FAILED: fluxer spot launch failed (exit 8)');
    expect(r.stderr).toMatch(/clean-up: terminating launch l-[0-9a-f-]+/);
    expect(r.stderr).not.toContain('STILL RUNNING');
    const left = await stackInstances(stack);
    expect(left.map(([, state]) => ['shutting-down', 'terminated'].includes(state))).toEqual([true]);
  }, 300_000);

  it('refuses a stack that already has nodes (exit 2) and touches nothing', async () => {
    const stack = unique('smk-busy');
    const [id] = await launchTestNodes(nodeClients(endpoint, { accessKeyId: KEY }).ec2, { stack });
    const r = await smoke({ STACK: stack }, { boot: false }).result;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`stack ${stack} already has nodes (${id})`);
    expect(r.stderr).not.toContain('1/6 setup');
    expect(await stackInstances(stack)).toEqual([[id, 'running']]);
  }, 120_000);
});
