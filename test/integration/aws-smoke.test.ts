// scripts/aws-smoke.sh run for real against the local server (moto + stand-ins, ENDPOINT=…): every
// step is the real bin/fluxer and aws — setup, runtime publish, spot launch --wait, generate --wait,
// runtime status over SSM, spot terminate, the final AWS CLI check. What EC2 would do after RunInstances
// (boot the instance, start its SSM agent, run the bootstrap, start the runtime) is done by the local
// region's own node agent (src/core/local/agent.ts), as `fluxer local up` runs it: it sees the launched
// instance, starts a real `fluxer-runtime serve` (tiny model) as that instance with its own root folder,
// registers it with the emulator's SSM, and stops it when EC2 shows the instance terminated. What this proves: the
// script's steps work together end to end, it leaves nothing tagged for its stack, its exit trap
// terminates what it launched when a later step fails, and it refuses a stack that already has nodes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ec2sdk from '@aws-sdk/client-ec2';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, inject, it } from 'vitest';
import { setStandinQuotas } from '../../src/emulator/server.js';
import { BIN } from '../support/cli.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';
import { createEc2Port } from '../../src/aws/ec2.js';
import { NodeAgent, type RegionSettings } from '../../src/core/local/agent.js';
import { stopGroup } from '../../src/core/local/processes.js';
import { listRegistrations } from '../../src/lib/local-nodes.js';

const endpoint = inject('awsEndpoint');
const nodesDir = inject('emulatorNodesDir');
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
 * Plays EC2 booting the stack's instances with the local region's node agent: once the stack's queue
 * exists (the script's setup), every running instance of the stack gets a real runtime as that
 * instance, registered with the emulator's SSM; a terminated one has its runtime stopped (SIGTERM).
 */
function bootWatcher(stack: string, bucket: string) {
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-smoke-agent-'));
  const settingsFile = join(dir, 'region.json');
  const agent = new NodeAgent({ ec2: createEc2Port(ec2, ec2sdk), nodesDir, settingsFile, baseEnv: process.env, log: () => undefined });
  let stopped = false;
  const settingsWritten = (async () => {
    while (!stopped) {
      const queue = await sqs.send(new GetQueueUrlCommand({ QueueName: `fluxer-${stack}-jobs` })).catch(() => undefined);
      if (queue?.QueueUrl) {
        const settings: RegionSettings = { stack, region: 'us-east-1', endpoint, queueUrl: queue.QueueUrl, bucket, prefix: 'fluxer/', model: 'tiny', modelDir: null, device: 'cpu', visibilitySeconds: 60, runtimeBin: join(VENV_BIN, 'fluxer-runtime') };
        writeFileSync(settingsFile, JSON.stringify(settings));
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  agent.start(250);
  const ours = () => listRegistrations(nodesDir).filter((r) => r.env.FLUXER_STACK === stack);
  return {
    booted: () => ours().map((r) => r.instanceId),
    async stop() {
      stopped = true;
      await settingsWritten;
      await agent.close();
      await Promise.all(ours().map((r) => (r.pid > 0 ? stopGroup(r.pid, 10_000) : undefined)));
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
  const result = run('bash', [SCRIPT], { env, timeout: 360_000 })
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
  it("runs every step, the fleet's too, and leaves nothing tagged for its stack running", async () => {
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: QUOTA, accessKeyId: KEY }]);
    const { stack, result } = smoke({ FLEET: '1', FLEET_IDLE: '5s', FLEET_LEAVE_TIMEOUT: '120' });
    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    const launchId = /launch (l-[0-9a-f-]+)/.exec(r.stderr)?.[1];
    expect(launchId).toBeDefined();
    const steps = ['1/11 setup', '2/11 runtime publish', '3/11 spot launch', '4/11 generate', `5/11 runtime status --launch-id ${launchId}`, `6/11 spot terminate --launch-id ${launchId}`];
    steps.push('7/11 fleet up --min 0 --max 1 --idle 5s', '8/11 generate --wait (the CLI raises the fleet from 0 to 1', '9/11 the idle node leaves by itself', 'the fleet is back at 0 by itself', '10/11 fleet down --drain', '11/11 nothing tagged');
    for (const step of steps) expect(r.stderr).toContain(step);
    // The node answered over SSM: its runtime READY under its instance id.
    expect(r.stderr).toMatch(/runtime on i-[0-9a-f]{17}: READY/);
    expect(r.stderr).toMatch(/fleet image: \S+-0\.png/);
    // The path of the image the real runtime rendered, downloaded by `generate --wait`: a PNG.
    const image = r.stdout.trim();
    expect(image).toMatch(/-0\.png$/);
    expect(readFileSync(image).subarray(1, 4).toString()).toBe('PNG');
    // Two nodes ran, the one `spot launch` started and the one Auto Scaling started for the fleet's job,
    // and both are gone (the script's own last step also found no group, template or alarm left).
    const left = await stackInstances(stack);
    expect(left).toHaveLength(2);
    for (const [, state] of left) expect(['shutting-down', 'terminated']).toContain(state);
  }, 420_000);

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
    expect(r.stderr).not.toContain('/7 setup');
    expect(await stackInstances(stack)).toEqual([[id, 'running']]);
  }, 120_000);
});
