// `fluxer runtime …` on the local stack with two nodes (`local up --workers 2`): the SSM commands go
// through the emulator's executor to each node's root folder, and the node agent does what systemd
// does on a real node (restart). As a user runs it: bin/fluxer, real moto, emulator, agent, runtimes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { tearDownLocalStack } from '../support/local-stack.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-local-ops-'));
const localDir = join(project, '.fluxer', 'local');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 150_000 });
let endpoint = '';
let nodeIds: string[] = [];

interface StatusNode {
  instanceId: string;
  ok: boolean;
  error: string | null;
  state: string | null;
  pid?: number;
  counters?: { jobs: { succeeded: number } };
}
async function runtimeStatus(...sel: string[]): Promise<{ code: number; nodes: StatusNode[]; ms: number }> {
  const t0 = Date.now();
  const r = await fluxer('runtime', 'status', '--stack', 'local', '--json', ...sel);
  return { code: r.code, nodes: (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes, ms: Date.now() - t0 };
}

function aws(args: string[]): Promise<{ code: number; stdout: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout })));
}
async function jobStatus(id: string): Promise<{ state: string; node?: { instanceId: string } } | undefined> {
  const r = await aws(['s3', 'cp', `s3://fluxer-local/fluxer/jobs/${id}/status.json`, '-']);
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}
async function submit(...extra: string[]): Promise<string> {
  const r = await fluxer('generate', 'a lighthouse', '--stack', 'local', '--json', ...extra);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

describe('fluxer runtime … on the local stack (two nodes)', () => {
  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '2', '--json');
    expect(up.code, up.stderr).toBe(0);
    const doc = JSON.parse(up.stdout) as { endpoint: string; workers: Array<{ instanceId: string }> };
    endpoint = doc.endpoint;
    nodeIds = doc.workers.map((w) => w.instanceId);
    expect(nodeIds).toHaveLength(2);
  }, 180_000);

  afterAll(() => tearDownLocalStack(() => fluxer('local', 'down'), localDir, project), 60_000);

  it('status --all shows both nodes READY under their instance ids', async () => {
    const { code, nodes } = await runtimeStatus('--all');
    expect(code).toBe(0);
    expect(nodes.map((n) => n.instanceId).sort()).toEqual([...nodeIds].sort());
    expect(nodes.map((n) => [n.ok, n.state])).toEqual([[true, 'READY'], [true, 'READY']]);
  }, 60_000);

  it('drain one node: every job submitted meanwhile runs on the other; resume takes work again', async () => {
    const [drained, other] = nodeIds as [string, string];
    const d = await fluxer('runtime', 'drain', '--stack', 'local', '--node', drained, '--json');
    expect(d.code, d.stderr).toBe(0);
    expect((await runtimeStatus('--node', drained)).nodes[0]!.state).toBe('DRAINING');
    const jobs = await Promise.all([1, 2, 3, 4].map(() => submit()));
    for (const id of jobs) await expect.poll(async () => (await jobStatus(id))?.state, { timeout: 60_000, interval: 300 }).toBe('succeeded');
    for (const id of jobs) expect((await jobStatus(id))!.node!.instanceId).toBe(other);
    const r = await fluxer('runtime', 'resume', '--stack', 'local', '--node', drained, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((await runtimeStatus('--node', drained)).nodes[0]!.state).toBe('READY');
  }, 120_000);

  it('exec runs in the node: real output and exit code (the CLI exits 1, the code in the JSON)', async () => {
    const node = nodeIds[0]!;
    const r = await fluxer('runtime', 'exec', '--stack', 'local', '--node', node, '--json', '--', 'sh', '-c', 'echo "$FLUXER_ROOT"; cat "$FLUXER_ROOT/run/fluxer/state.json" | head -c 0; echo oops >&2; exit 3');
    expect(r.code).toBe(1);
    const n = (JSON.parse(r.stdout) as { nodes: Array<{ exitCode: number; stdout: string; stderr: string }> }).nodes[0]!;
    expect(n.exitCode).toBe(3);
    expect(n.stdout.trim()).toBe(join(localDir, 'nodes', node, 'root'));
    expect(n.stderr.trim()).toBe('oops');
  }, 60_000);

  it('restart during a job: the job finishes, a job submitted meanwhile is not lost, the new process is READY with its counters', async () => {
    const long = await submit('--size', '512x512', '--steps', '50', '--count', '8');
    await expect.poll(async () => (await jobStatus(long))?.state, { timeout: 60_000, interval: 100 }).toBe('running');
    const node = (await jobStatus(long))!.node!.instanceId;
    const before = (await runtimeStatus('--node', node)).nodes[0]!;
    const restart = fluxer('runtime', 'restart', '--stack', 'local', '--node', node, '--json');
    const meanwhile = await submit();
    const r = await restart;
    expect(r.code, r.stderr).toBe(0);
    for (const id of [long, meanwhile]) await expect.poll(async () => (await jobStatus(id))?.state, { timeout: 90_000, interval: 300 }).toBe('succeeded');
    const after = (await runtimeStatus('--node', node)).nodes[0]!;
    expect(after.state).toBe('READY');
    expect(after.pid).not.toBe(before.pid);
    // The node record carries the counts across the restart: never fewer jobs than before it.
    expect(after.counters!.jobs.succeeded).toBeGreaterThanOrEqual(before.counters!.jobs.succeeded + ((await jobStatus(long))!.node!.instanceId === node ? 1 : 0));
  }, 180_000);

  it('a killed worker is reported (its instance stopped) without a hang, after the other node answered', async () => {
    const victim = nodeIds[1]!;
    const pid = JSON.parse(readFileSync(join(localDir, 'nodes', victim, 'node.json'), 'utf8')).pid as number;
    process.kill(pid, 'SIGKILL');
    const { code, nodes, ms } = await runtimeStatus('--all');
    expect(code).toBe(1);
    const dead = nodes.find((n) => n.instanceId === victim)!;
    expect(dead.ok).toBe(false);
    expect(dead.error).toMatch(/ConnectionLost|instance (stopping|stopped)/);
    expect(nodes.find((n) => n.instanceId === nodeIds[0])!.ok).toBe(true);
    expect(ms).toBeLessThan(15_000);
  }, 60_000);
});
