// The local stack as a region: `fluxer spot launch --stack local` starts workers (the node agent runs
// each new instance), `spot terminate` stops them with their jobs handed on, and `local interrupt`
// gives a node a spot notice whose running job moves to the other node within 5 seconds. All of it
// through bin/fluxer as a user runs it, with the real moto, the emulator, the agent and real runtimes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { tearDownLocalStack } from '../support/local-stack.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-region-'));
const localDir = join(project, '.fluxer', 'local');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 150_000 });
let endpoint = '';

interface Node {
  instanceId: string;
  pid: number;
  state: string;
}

async function nodes(): Promise<Node[]> {
  const r = await fluxer('local', 'status', '--json');
  return (JSON.parse(r.stdout) as { workers: Node[] }).workers;
}

function aws(args: string[]): Promise<{ code: number; stdout: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => {
    execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout }));
  });
}

const instanceState = async (id: string) => (await aws(['ec2', 'describe-instances', '--instance-ids', id, '--query', 'Reservations[0].Instances[0].State.Name', '--output', 'text'])).stdout.trim();

interface JobStatus {
  state: string;
  node?: { instanceId: string };
  attempt?: number;
}
async function jobStatus(id: string): Promise<JobStatus | undefined> {
  const r = await aws(['s3', 'cp', `s3://fluxer-local/fluxer/jobs/${id}/status.json`, '-']);
  return r.code === 0 ? (JSON.parse(r.stdout) as JobStatus) : undefined;
}

/** Launches one node with `spot launch --stack local` and waits until its worker is READY. */
async function launchNode(): Promise<string> {
  const r = await fluxer('spot', 'launch', '--stack', 'local', '--count', '1', '--yes', '--json');
  expect(r.code, r.stderr).toBe(0);
  const id = (JSON.parse(r.stdout) as { instances: Array<{ instanceId: string }> }).instances[0]!.instanceId;
  await expect.poll(async () => (await nodes()).find((n) => n.instanceId === id)?.state, { timeout: 90_000, interval: 300 }).toBe('READY');
  return id;
}

/** A job long enough (8 images × 50 steps) that a drain or a spot notice cannot wait for it. */
async function submitLongJob(): Promise<string> {
  const r = await fluxer('generate', 'a long night of lighthouses', '--stack', 'local', '--size', '512x512', '--steps', '50', '--count', '8', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('the local region: spot launch, terminate and interruptions end to end', () => {
  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '0', '--json');
    expect(up.code, up.stderr).toBe(0);
    const doc = JSON.parse(up.stdout) as { endpoint: string; workers: unknown[] };
    endpoint = doc.endpoint;
    // A region with no nodes yet.
    expect(doc.workers).toEqual([]);
    // The stack has a promoted release, as after `fluxer runtime publish --promote` (spot launch would publish one).
    expect((await aws(['ssm', 'put-parameter', '--name', '/fluxer/local/runtime-release', '--type', 'String', '--value', '0.1.0-local'])).code).toBe(0);
  }, 120_000);

  afterAll(() => tearDownLocalStack(() => fluxer('local', 'down'), localDir, project), 60_000);

  it('spot launch --stack local starts a worker for each instance, reporting its instance id', async () => {
    const id = await launchNode();
    const root = join(localDir, 'nodes', id, 'root');
    const state = JSON.parse(readFileSync(join(root, 'run/fluxer/state.json'), 'utf8')) as { instanceId: string };
    expect(state.instanceId).toBe(id);
    expect(await instanceState(id)).toBe('running');
  }, 150_000);

  it('local interrupt: the running job moves to the other node within 5 seconds; at the notice time the instance is terminated', async () => {
    await launchNode();
    const job = await submitLongJob();
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 60_000, interval: 200 }).toBe('running');
    const first = (await jobStatus(job))!.node!.instanceId;

    const sent = Date.now();
    const r = await fluxer('local', 'interrupt', first, '--in', '8s');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Spot interruption notice sent to ${first}`);
    await expect.poll(async () => { const s = await jobStatus(job); return s?.state === 'running' && s.node?.instanceId !== first; }, { timeout: 5_000, interval: 100 }).toBe(true);
    const handedOverMs = Date.now() - sent;
    console.log(`[local-region] interrupt → running on the other node in ${handedOverMs} ms`);
    expect(handedOverMs).toBeLessThan(5_000);

    await expect.poll(() => instanceState(first), { timeout: 30_000, interval: 500 }).toBe('terminated');
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 120_000, interval: 500 }).toBe('succeeded');
    // Finished elsewhere, on a later attempt (a loaded machine can add one: a receive that lost its lease).
    const done = (await jobStatus(job))!;
    expect(done.node!.instanceId).not.toBe(first);
    expect(done.attempt).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('spot terminate stops the worker (SIGTERM: it drains) and its running job finishes on another node', async () => {
    await launchNode();
    const job = await submitLongJob();
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 60_000, interval: 200 }).toBe('running');
    const victim = (await jobStatus(job))!.node!.instanceId;
    const pid = (await nodes()).find((n) => n.instanceId === victim)!.pid;

    const r = await fluxer('spot', 'terminate', victim, '--stack', 'local', '--yes');
    expect(r.code, r.stderr).toBe(0);
    await expect.poll(() => alive(pid), { timeout: 30_000, interval: 200 }).toBe(false);
    // SIGTERM → the runtime's drain hands the job back (10 s shutdown allowance, under its 15 s margin) →
    // the other node's next receive: seconds, but a loaded machine slows every step.
    await expect.poll(async () => (await jobStatus(job))?.node?.instanceId !== victim, { timeout: 60_000, interval: 200 }).toBe(true);
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 120_000, interval: 500 }).toBe('succeeded');
    expect((await nodes()).map((n) => n.instanceId)).not.toContain(victim);
  }, 240_000);
});
