// The fleet's node protocol on the local stack (docs/fleet.md, "The node protocol"): real runtime workers in
// moto's Auto Scaling group protect themselves while busy, answer the termination lifecycle hook the emulator
// holds them in (finishing their job first), and leave the fleet when idle. The idle times come from
// `fleet up --idle/--surplus-idle` (pinned in the template's user data, which the agent gives each member as
// a real node's env file would), a short hysteresis from `local up --node-env`; the group's name from its tag.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-fleet-node-'));
const localDir = join(project, '.fluxer', 'local');
// A checkout's own gpu-runtime first (PYTHONPATH, as test/support/runtime.ts runs it): the nodes run the runtime under test.
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1', ...(process.env.PYTHONPATH ? { PYTHONPATH: process.env.PYTHONPATH } : {}) };
const fluxer = (...argv: string[]) => runBin([...argv, '--stack', 'local'], { cwd: project, env, timeoutMs: 240_000 });
const GROUP = 'fluxer-local-fleet';
let endpoint = '';

function aws(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })));
}
async function awsJson<T>(args: string[]): Promise<T> {
  const r = await aws([...args, '--output', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

interface Group {
  AutoScalingGroupARN: string;
  MinSize: number;
  MaxSize: number;
  DesiredCapacity: number;
  CapacityRebalance: boolean;
  EnabledMetrics: Array<{ Metric: string }>;
  MixedInstancesPolicy: { LaunchTemplate: { LaunchTemplateSpecification: { LaunchTemplateName: string; Version: string }; Overrides: Array<{ InstanceType: string }> }; InstancesDistribution: Record<string, unknown> };
  Tags: Array<{ Key: string; Value: string; PropagateAtLaunch: boolean }>;
  Instances: Array<{ InstanceId: string; LifecycleState: string; ProtectedFromScaleIn: boolean }>;
}
const group = async (): Promise<Group | undefined> => (await awsJson<{ AutoScalingGroups: Group[] }>(['autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', GROUP])).AutoScalingGroups[0];

async function jobStatus(id: string): Promise<{ state: string; attempt?: number; node?: { instanceId: string } } | undefined> {
  const r = await aws(['s3', 'cp', `s3://fluxer-local/fluxer/jobs/${id}/status.json`, '-']);
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}
async function submit(...extra: string[]): Promise<string> {
  const r = await fluxer('generate', 'a lighthouse', '--json', ...extra);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}
/** The fleet's nodes whose worker is READY or BUSY (`fluxer runtime status` over SSM). */
async function readyNodes(ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const r = await fluxer('runtime', 'status', '--json', ...ids.flatMap((id) => ['--node', id]));
  const nodes = (JSON.parse(r.stdout || '{}') as { nodes?: Array<{ instanceId: string; state: string | null }> }).nodes ?? [];
  return nodes.filter((n) => n.state === 'READY' || n.state === 'BUSY').map((n) => n.instanceId).sort();
}
const members = async () => ((await group())?.Instances ?? []).filter((i) => i.LifecycleState === 'InService').map((i) => i.InstanceId).sort();

const member = async (id: string) => ((await group())?.Instances ?? []).find((i) => i.InstanceId === id);
const ec2State = async (id: string) => (await awsJson<{ Reservations: Array<{ Instances: Array<{ State: { Name: string } }> }> }>(['ec2', 'describe-instances', '--instance-ids', id])).Reservations[0]!.Instances[0]!.State.Name;
// The longest job the tiny model takes (8 images × 50 steps at 512²): seconds of work, so a node is busy for a while.
const LONG = ['--size', '512x512', '--steps', '50', '--count', '8'];
// The nodes' idle time (`fleet up --idle`: FLUXER_IDLE_SECONDS); a surplus node's is 2 s (`--surplus-idle`).
const IDLE = 30;

describe('the fleet node protocol on the local stack', () => {
  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '0', '--json', '--node-env', 'FLUXER_PROTECT_HYSTERESIS_SECONDS=1');
    expect(up.code, up.stderr).toBe(0);
    endpoint = (JSON.parse(up.stdout) as { endpoint: string }).endpoint;
    expect((await aws(['ssm', 'put-parameter', '--name', '/fluxer/local/runtime-release', '--type', 'String', '--value', '0.1.0-local'])).code).toBe(0);
    const fleet = await fluxer('fleet', 'up', '--yes', '--json', '--max', '2', '--idle', `${IDLE}s`, '--surplus-idle', '2s');
    expect(fleet.code, fleet.stderr).toBe(0);
    expect((JSON.parse(fleet.stdout) as { idle: unknown }).idle).toEqual({ seconds: IDLE, surplusSeconds: 2 });
    // min 1: the idle rule keeps this node until the last test lowers it.
    const r = await fluxer('fleet', 'scale', '1', '--min', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await runBin(['local', 'down'], { cwd: project, env, timeoutMs: 60_000 });
    for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        if (readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').includes(`FLUXER_LOCAL_DIR=${localDir}`)) process.kill(Number(e), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(project, { recursive: true, force: true });
  }, 90_000);

  it('a busy worker is protected from scale in, and unprotected once idle', async () => {
    const [id] = (await group())!.Instances.map((i) => i.InstanceId) as [string];
    await expect.poll(() => readyNodes([id]), { timeout: 120_000, interval: 500 }).toEqual([id]);
    expect((await member(id))!.ProtectedFromScaleIn).toBe(false);
    const job = await submit(...LONG);
    await expect.poll(async () => (await member(id))?.ProtectedFromScaleIn, { timeout: 60_000, interval: 200 }).toBe(true);
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 90_000, interval: 300 }).toBe('succeeded');
    await expect.poll(async () => (await member(id))?.ProtectedFromScaleIn, { timeout: 30_000, interval: 300 }).toBe(false);
  }, 300_000);

  it('a busy worker being terminated waits in the lifecycle hook until its job is done; nothing is lost', async () => {
    const [busy] = (await group())!.Instances.map((i) => i.InstanceId) as [string];
    const job = await submit(...LONG);
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 60_000, interval: 100 }).toBe('running');
    // Protection keeps a node from scale-in only; an explicit termination (here keeping the capacity: a replacement) goes through the hook.
    expect((await aws(['autoscaling', 'terminate-instance-in-auto-scaling-group', '--instance-id', busy, '--no-should-decrement-desired-capacity'])).code).toBe(0);
    expect((await member(busy))?.LifecycleState).toBe('Terminating:Wait');
    // Held in the hook: the instance is not terminated before its job is done. EC2's state is read
    // before the job's, so an instance seen gone must belong to a job already seen succeeded.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const ec2 = await ec2State(busy);
      const state = (await jobStatus(job))?.state;
      if (ec2 !== 'running') expect(state, `instance ${ec2} while the job was ${state}`).toBe('succeeded');
      if (state === 'succeeded') break;
      expect(Date.now(), 'the job did not finish within 120 s').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(await jobStatus(job)).toMatchObject({ node: { instanceId: busy }, attempt: 1 });
    // The node completed the action itself: the instance goes, long before the hook's 300 s.
    await expect.poll(async () => (await member(busy)) === undefined, { timeout: 30_000, interval: 300 }).toBe(true);
    expect(await ec2State(busy)).not.toBe('running');
    const q = JSON.parse((await fluxer('fleet', 'status', '--json')).stdout) as { desired: number; queue: { visible: number; inFlight: number } };
    expect(q).toMatchObject({ desired: 1, queue: { visible: 0, inFlight: 0 }, idle: { seconds: IDLE, surplusSeconds: 2, pinned: true } });
  }, 300_000);

  it("a burst's extra node leaves once idle for the surplus time; the keeper stays its full idle time", async () => {
    const [first] = (await members()) as [string];
    const job = await submit(...LONG); // the first node busy: its idle clock starts again when it is done
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 60_000, interval: 200 }).toBe('running');
    expect((await fluxer('fleet', 'scale', '2', '--min', '1', '--json')).code).toBe(0);
    await expect.poll(async () => (await members()).length, { timeout: 60_000, interval: 300 }).toBe(2);
    const both = await members();
    // Each seen serving at least once: the first node may be a surplus one the moment its job ends and the new node
    // serves (it leaves 2 s later), so the two are not always READY in the same status answer.
    const seen = new Set<string>();
    await expect.poll(async () => {
      for (const id of await readyNodes(both)) seen.add(id);
      return [...seen].sort();
    }, { timeout: 120_000, interval: 300 }).toEqual(both);
    const readyAt = Date.now();
    const keeper = both[0]!; // the lowest id among the nodes that serve, whichever booted last
    const extra = both[1]!;
    // One node leaves (desired 2 -> 1; min 1), the extra one, soon after it is idle: the first node
    // when its job is done, else the new one at once (it is idle from READY on).
    let doneAt: number | undefined;
    let desired = 2;
    for (const deadline = Date.now() + 150_000; desired !== 1; ) {
      expect(Date.now(), 'desired capacity still 2 after 150 s').toBeLessThan(deadline);
      if (doneAt === undefined && (await jobStatus(job))?.state === 'succeeded') doneAt = Date.now();
      desired = (await group())!.DesiredCapacity;
      if (desired !== 1) await new Promise((r) => setTimeout(r, 300));
    }
    const idleFrom = extra === first ? (doneAt ?? Date.now()) : readyAt;
    // The surplus time (2 s) plus a poll, not the full idle time (IDLE s).
    expect(Date.now() - idleFrom).toBeLessThan((IDLE / 2) * 1000);
    await expect.poll(async () => (await members()).includes(extra), { timeout: 30_000, interval: 300 }).toBe(false);
    await expect.poll(async () => (await jobStatus(job))?.state, { timeout: 90_000, interval: 300 }).toBe('succeeded');
    expect(await jobStatus(job)).toMatchObject({ attempt: 1, node: { instanceId: first } });
    expect(await members()).toEqual([keeper]);
  }, 300_000);

  it('an idle worker with an empty queue terminates itself and the fleet returns to 0', async () => {
    const [id] = (await members()) as [string];
    await expect.poll(() => readyNodes([id]), { timeout: 120_000, interval: 500 }).toEqual([id]);
    const r = await fluxer('fleet', 'scale', '1', '--min', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    // Within the pinned idle time and a poll or two (the runtime's own 600 s would run out this wait).
    await expect.poll(async () => (await group())?.DesiredCapacity, { timeout: (IDLE + 30) * 1000, interval: 500 }).toBe(0);
    await expect.poll(async () => (await group())?.Instances.length, { timeout: 30_000, interval: 300 }).toBe(0);
    expect(await ec2State(id)).not.toBe('running');
  }, 240_000);
});
