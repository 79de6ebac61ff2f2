// Model weights end to end on the local stack: `fluxer models push` of a saved tiny pipeline plus files
// of random bytes, a node launched afterwards pulls them (PULLING), verifies every sha256, loads the
// model from its own copy and generates; a second push uploads nothing; a restarted node reuses its
// verified copy; a corrupted object in S3 is refused by the next node with the reason. Real parts only:
// bin/fluxer, moto behind the emulator, the node agent, real runtimes, the AWS CLI.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { tearDownLocalStack } from '../support/local-stack.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-local-models-'));
const localDir = join(project, '.fluxer', 'local');
const model = join(project, 'tiny-model');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 150_000 });
let endpoint = '';

function aws(args: string[]): Promise<{ code: number; stdout: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout })));
}

interface NodeState {
  state: string;
  stateReason?: string | null;
  pid?: number;
  pull?: { bytesDone: number; bytesTotal: number; files: number; reusedFiles?: number } | null;
}
const nodeState = (id: string): NodeState | undefined => {
  try {
    return JSON.parse(readFileSync(join(localDir, 'nodes', id, 'root/run/fluxer/state.json'), 'utf8')) as NodeState;
  } catch {
    return undefined;
  }
};

async function launch(): Promise<string> {
  const r = await fluxer('spot', 'launch', '--stack', 'local', '--count', '1', '--yes', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { instances: Array<{ instanceId: string }> }).instances[0]!.instanceId;
}

describe('model weights on the local stack: push, pull, verify, load, reuse, refuse', () => {
  beforeAll(async () => {
    execFileSync(join(VENV_BIN, 'fluxer-runtime'), ['save-tiny', model], { stdio: 'ignore' });
    mkdirSync(join(model, 'extra'), { recursive: true });
    writeFileSync(join(model, 'extra', 'noise-a.bin'), randomBytes(3 * 1024 * 1024));
    writeFileSync(join(model, 'extra', 'noise-b.bin'), randomBytes(1024 * 1024));
    const up = await fluxer('local', 'up', '--workers', '0', '--json');
    expect(up.code, up.stderr).toBe(0);
    endpoint = (JSON.parse(up.stdout) as { endpoint: string }).endpoint;
    expect((await aws(['ssm', 'put-parameter', '--name', '/fluxer/local/runtime-release', '--type', 'String', '--value', '0.1.0-local'])).code).toBe(0);
  }, 180_000);

  afterAll(() => tearDownLocalStack(() => fluxer('local', 'down'), localDir, project), 60_000);

  let node = '';

  it('models push uploads the folder with its manifest; a second push uploads nothing', async () => {
    const first = await fluxer('models', 'push', model, '--model', 'tiny', '--stack', 'local', '--json');
    expect(first.code, first.stderr).toBe(0);
    const pushed = JSON.parse(first.stdout) as { files: number; uploaded: number; skipped: number };
    expect(pushed.files).toBe(16);
    expect(pushed.uploaded).toBe(16);
    const again = JSON.parse((await fluxer('models', 'push', model, '--model', 'tiny', '--stack', 'local', '--json')).stdout) as { uploaded: number; skipped: number };
    expect([again.uploaded, again.skipped]).toEqual([0, 16]);
  }, 120_000);

  it('a node launched afterwards pulls and verifies the weights into its own root, loads them and generates', async () => {
    node = await launch();
    await expect.poll(() => nodeState(node)?.state, { timeout: 90_000, interval: 300 }).toBe('READY');
    const pull = nodeState(node)!.pull!;
    expect(pull.bytesTotal).toBeGreaterThan(4 * 1024 * 1024);
    expect(pull.bytesDone).toBe(pull.bytesTotal);
    const copy = join(localDir, 'nodes', node, 'root/var/cache/fluxer/models/tiny');
    expect(existsSync(join(copy, '.verified'))).toBe(true);
    expect(readFileSync(join(copy, 'extra/noise-a.bin')).equals(readFileSync(join(model, 'extra/noise-a.bin')))).toBe(true);
    expect(readFileSync(join(localDir, 'nodes', node, 'root/var/log/fluxer/runtime.log'), 'utf8')).toContain('PULLING');
    // `runtime status` (over SSM) carries the pull too.
    const status = await fluxer('runtime', 'status', '--stack', 'local', '--node', node, '--json');
    expect(status.code, status.stderr).toBe(0);
    const remote = (JSON.parse(status.stdout) as { nodes: Array<{ pull: { bytesDone: number; bytesTotal: number } | null }> }).nodes[0]!.pull!;
    expect(remote).toMatchObject({ bytesDone: pull.bytesTotal, bytesTotal: pull.bytesTotal });
    const gen = await fluxer('generate', 'a lighthouse from pulled weights', '--stack', 'local', '--wait', '--json');
    expect(gen.code, gen.stderr).toBe(0);
    expect((JSON.parse(gen.stdout) as { state: string }).state).toBe('succeeded');
  }, 180_000);

  it('a restarted node reuses its verified copy: nothing downloaded', async () => {
    const before = nodeState(node)!.pid;
    const r = await fluxer('runtime', 'restart', '--stack', 'local', '--node', node, '--json');
    expect(r.code, r.stderr).toBe(0);
    await expect.poll(() => { const s = nodeState(node); return s?.state === 'READY' && s.pid !== before; }, { timeout: 60_000, interval: 300 }).toBe(true);
    const pull = nodeState(node)!.pull!;
    expect(pull.bytesTotal).toBe(0);
    expect(pull.reusedFiles).toBe(16);
  }, 120_000);

  it('a corrupted object in S3: the next node refuses it with the reason and never loads it', async () => {
    const bad = join(project, 'bad.bin');
    writeFileSync(bad, randomBytes(3 * 1024 * 1024));
    expect((await aws(['s3', 'cp', bad, 's3://fluxer-local/fluxer/models/tiny/files/extra/noise-a.bin'])).code).toBe(0);
    const second = await launch();
    await expect.poll(() => nodeState(second)?.state, { timeout: 90_000, interval: 300 }).toBe('FAILED');
    expect(nodeState(second)!.stateReason).toMatch(/weights extra\/noise-a\.bin: sha256 mismatch/);
    const copy = join(localDir, 'nodes', second, 'root/var/cache/fluxer/models/tiny');
    expect(existsSync(join(copy, '.verified'))).toBe(false);
  }, 180_000);
});
