// scripts/aws-smoke.sh run for real against the local server (moto + stand-ins, ENDPOINT=…): setup,
// runtime publish, terminate and the final AWS CLI check are the real bin/fluxer and aws. Two steps
// are stood in for by a wrapper (FLUXER=…) until they can run here: `spot launch` (RunInstances with
// the tags launch puts on nodes, printing launch's JSON) and `generate --wait` (no GPU node answers
// jobs in moto). What this proves: the script's order, that it leaves nothing tagged for its stack,
// that its exit trap terminates what it launched when a later step fails, and that it refuses a
// stack that already has nodes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { BIN } from '../support/cli.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
const KEY = 'AWSSMOKE';
const SCRIPT = join(REPO_ROOT, 'scripts', 'aws-smoke.sh');

/** bin/fluxer, except `spot launch` and `generate` (see above). */
function wrapper(dir: string): string {
  const path = join(dir, 'fluxer');
  writeFileSync(
    path,
    `#!/usr/bin/env bash
set -euo pipefail
args=" $* "
aws() { "${VENV_BIN}/aws" --region "$REGION" --endpoint-url "$ENDPOINT" --output text "$@"; }
if [[ "$args" == *" spot launch "* ]]; then
  ami="$(aws ec2 register-image --name "smoke-$RANDOM$RANDOM" --root-device-name /dev/sda1 --query ImageId)"
  tags="{Key=fluxer:managed,Value=true},{Key=fluxer:stack,Value=$STACK},{Key=fluxer:role,Value=gpu-node},{Key=Name,Value=fluxer-$STACK-node},{Key=fluxer:launch-id,Value=smoke-launch-1}"
  id="$(aws ec2 run-instances --image-id "$ami" --instance-type g6.xlarge --count 1 --instance-market-options MarketType=spot \\
    --tag-specifications "ResourceType=instance,Tags=[$tags]" "ResourceType=volume,Tags=[$tags]" --query 'Instances[0].InstanceId')"
  echo "{\\"launchId\\":\\"smoke-launch-1\\",\\"instances\\":[{\\"instanceId\\":\\"$id\\",\\"instanceType\\":\\"g6.xlarge\\",\\"az\\":\\"us-east-1a\\",\\"spotPrice\\":0.4,\\"state\\":\\"running\\"}],\\"attempts\\":[]}"
  exit 0
fi
if [[ "$args" == *" generate "* ]]; then
  [ "\${FAKE_GENERATE:-}" != fail ] || { echo '{"error":{"code":"JobFailed"}}'; exit 1; }
  printf 'PNG' > "${dir}/image-0.png"
  echo '{"state":"succeeded","files":["${dir}/image-0.png"]}'
  exit 0
fi
exec node "${BIN}" "$@"
`,
    { mode: 0o755 },
  );
  return path;
}

function smoke(extra: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-smoke-test-'));
  const stack = unique('smk');
  const req = join(dir, 'requirements.txt');
  writeFileSync(req, ''); // an empty wheelhouse keeps `runtime publish` quick
  const env = {
    PATH: `${VENV_BIN}:${process.env.PATH}`,
    HOME: '/nonexistent-home',
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_EC2_METADATA_DISABLED: 'true',
    FLUXER_MAX_ATTEMPTS: '1',
    FLUXER_RELEASE_REQUIREMENTS: req,
    TMPDIR: dir,
    STACK: stack,
    REGION: 'us-east-1',
    BUCKET: unique('smk-bkt'),
    MINUTES: '20',
    ENDPOINT: endpoint,
    AWS_CLI: join(VENV_BIN, 'aws'),
    FLUXER: wrapper(dir),
    ...extra,
  };
  const result = run('bash', [SCRIPT], { env, timeout: 240_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  return { stack, result };
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
    const { stack, result } = smoke();
    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    for (const step of ['1/6 setup', '2/6 runtime publish', '3/6 spot launch', '4/6 generate', '5/6 spot terminate --launch-id smoke-launch-1', '6/6 nothing tagged']) expect(r.stderr).toContain(step);
    expect(r.stdout.trim()).toMatch(/image-0\.png$/);
    const left = await stackInstances(stack);
    expect(left).toHaveLength(1);
    expect(['shutting-down', 'terminated']).toContain(left[0]![1]);
  }, 300_000);

  it('when a later step fails, the exit trap terminates what it launched', async () => {
    const { stack, result } = smoke({ FAKE_GENERATE: 'fail' });
    const r = await result;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED: fluxer generate failed');
    expect(r.stderr).toContain('clean-up: terminating launch smoke-launch-1');
    expect(r.stderr).not.toContain('STILL RUNNING');
    const left = await stackInstances(stack);
    expect(left.map(([, state]) => ['shutting-down', 'terminated'].includes(state))).toEqual([true]);
  }, 300_000);

  it('refuses a stack that already has nodes (exit 2) and touches nothing', async () => {
    const stack = unique('smk-busy');
    const [id] = await launchTestNodes(nodeClients(endpoint, { accessKeyId: KEY }).ec2, { stack });
    const r = await smoke({ STACK: stack }).result;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`stack ${stack} already has nodes (${id})`);
    expect(r.stderr).not.toContain('1/6 setup');
    expect(await stackInstances(stack)).toEqual([[id, 'running']]);
  }, 120_000);
});
