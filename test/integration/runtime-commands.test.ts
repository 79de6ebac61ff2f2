// `fluxer runtime status|drain|resume|exec|logs` over SSM against the emulator: instances made in moto as
// `spot launch` tags them, each registered as a local node (src/emulator/nodes.ts) whose root holds
// opt/fluxer/venv (the repo's .venv), with a REAL runtime (tiny model, CPU) serving as that node, so the
// emulator's SSM executor runs the very scripts the CLI sends, and their real output comes back.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as s3sdk from '@aws-sdk/client-s3';
import * as sqssdk from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerNode } from '../../src/emulator/nodes.js';
import { runCli, testEnv } from '../support/cli.js';
import { REPO_ROOT } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';
import { startRuntime, type RuntimeWorker } from '../support/runtime.js';

const endpoint = inject('awsEndpoint');
const nodesDir = inject('emulatorNodesDir');
const KEY = `AKRTCMD${randomBytes(4).toString('hex').toUpperCase()}`;
const env = testEnv({ AWS_ACCESS_KEY_ID: KEY, AWS_ENDPOINT_URL: endpoint });
const { ec2, s3 } = nodeClients(endpoint, { accessKeyId: KEY });
const sqs = new sqssdk.SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: KEY, secretAccessKey: 'testing' }, maxAttempts: 1 });
const suffix = randomBytes(4).toString('hex');
const stack = `rtc-${suffix}`;
const bucket = `rtc-bkt-${suffix}`;
const prefix = 'p/';

let cwd: string;
let ids: string[] = [];
const workers: RuntimeWorker[] = [];
const roots: string[] = [];
let queueUrl: string;

/** A node's root as the local region makes it: opt/fluxer/venv is the runtime's environment. */
function nodeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'fluxer-rtc-root-'));
  mkdirSync(join(root, 'opt', 'fluxer'), { recursive: true });
  symlinkSync(join(REPO_ROOT, '.venv'), join(root, 'opt', 'fluxer', 'venv'));
  return root;
}

function register(instanceId: string, root: string, pid: number, extraEnv: Record<string, string> = {}): void {
  const now = new Date().toISOString();
  registerNode(nodesDir, {
    instanceId,
    root,
    // As startRuntime runs the runtime: a checkout's own gpu-runtime first (PYTHONPATH), when set.
    env: { PATH: process.env.PATH!, HOME: root, ...(process.env.PYTHONPATH ? { PYTHONPATH: process.env.PYTHONPATH } : {}), ...extraEnv },
    pid,
    instanceType: 'g5.xlarge',
    az: 'us-east-1a',
    region: 'us-east-1',
    lifecycle: 'spot',
    launchTime: now,
    registeredAt: now,
  });
}

const cli = (...argv: string[]) => runCli(['runtime', ...argv], { cwd, env });
const json = (r: { code: number; stdout: string; stderr: string }) => JSON.parse(r.stdout) as { nodes: Array<Record<string, any>> };

beforeAll(async () => {
  await s3.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
  queueUrl = (await sqs.send(new sqssdk.CreateQueueCommand({ QueueName: `rtc-${suffix}` }))).QueueUrl!;
  cwd = mkdtempSync(join(tmpdir(), 'fluxer-rtc-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { region: 'us-east-1', bucket, prefix, queueName: `rtc-${suffix}` } } }));
  ids = await launchTestNodes(ec2, { stack, launchId: 'rtc-launch', count: 2 });
  const started = await Promise.all(
    ids.map(async (id, i) => {
      const root = nodeRoot();
      roots[i] = root;
      const worker = await startRuntime({ endpoint, queueUrl, bucket, prefix, instanceId: id, root, readyTimeoutMs: 110_000, env: { AWS_ACCESS_KEY_ID: KEY } });
      register(id, root, worker.process.pid!);
      return worker;
    }),
  );
  workers.push(...started);
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

describe('fluxer runtime over SSM (emulated nodes, real runtimes)', () => {
  it('status --all: both nodes READY with their instance ids, model, counters, agent Online; a table on a terminal', async () => {
    const r = await cli('status', '--all', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = json(r);
    expect(doc.nodes.map((n) => n.instanceId).sort()).toEqual([...ids].sort());
    for (const n of doc.nodes) {
      expect(n).toMatchObject({ ok: true, error: null, state: 'READY', model: 'tiny', agent: 'Online' });
      expect(n.counters).toMatchObject({ jobs: expect.objectContaining({ succeeded: 0 }) });
      expect(typeof n.pid).toBe('number');
      expect(n.uptimeSeconds).toBeGreaterThanOrEqual(0);
    }
    const human = await runCli(['runtime', 'status', '--launch-id', 'rtc-launch', '--no-color'], { cwd, env, tty: true });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/ID\s+STATE\s+RELEASE/);
    for (const id of ids) expect(human.stdout).toMatch(new RegExp(`${id}\\s+READY`));
  });

  it('drain one → DRAINING (the other stays READY); resume → READY', async () => {
    const [a, b] = ids as [string, string];
    const d = await cli('drain', '--node', a, '--json');
    expect(d.code, d.stderr).toBe(0);
    expect(json(d).nodes).toEqual([expect.objectContaining({ instanceId: a, ok: true, state: 'DRAINING' })]);
    const s = json(await cli('status', '--all', '--json'));
    expect(Object.fromEntries(s.nodes.map((n) => [n.instanceId, n.state]))).toEqual({ [a]: 'DRAINING', [b]: 'READY' });
    const w = await cli('drain', '--node', a, '--wait', '--json');
    expect(w.code, w.stderr).toBe(0);
    expect(json(w).nodes[0]).toMatchObject({ state: 'DRAINING', job: null, jobRunning: false });
    const res = await cli('resume', '--node', a, '--json');
    expect(res.code, res.stderr).toBe(0);
    expect(json(res).nodes[0]).toMatchObject({ instanceId: a, ok: true, state: 'READY' });
  });

  it('exec: real stdout, stderr and exit code; a failing command exits 1 with its exitCode', async () => {
    const [a] = ids as [string];
    const r = await cli('exec', '--node', a, '--json', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    expect(r.code).toBe(1);
    expect(json(r).nodes[0]).toMatchObject({ instanceId: a, ok: false, exitCode: 3, stdout: 'out\n', stderr: 'err\n', error: 'exited with 3' });
    const human = await cli('exec', '--node', a, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    expect(human.code).toBe(1);
    expect(human.stdout).toBe('out\n');
    expect(human.stderr).toMatch(/^err\n/);
    expect(human.stderr).toMatch(/Error: exec failed on 1 of 1 node\(s\): .*exited with 3/);
    // Arguments arrive exactly as given: spaces, quotes, $, ;, backticks.
    const tricky = ['two words', "it's", '"dq"', '$HOME', 'a;b', '`id`', ''];
    const q = await cli('exec', '--node', a, '--json', '--', 'python3', '-c', 'import json,sys; print(json.dumps(sys.argv[1:]))', ...tricky);
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(json(q).nodes[0]!.stdout)).toEqual(tricky);
    // The node's root is where the runtime lives, as on a real node at /.
    const w = await cli('exec', '--node', a, '--json', '--', 'sh', '-c', 'test -x "$FLUXER_ROOT/opt/fluxer/venv/bin/fluxer-runtime" && echo yes');
    expect(json(w).nodes[0]!.stdout).toBe('yes\n');
  });

  it('output past the 24,000-character inline limit arrives whole (from S3)', async () => {
    const [a, b] = ids as [string, string];
    const r = await cli('exec', '--node', a, '--node', b, '--json', '--', 'python3', '-c', 'import sys; print("x"*30000); print("y"*9000, file=sys.stderr)');
    expect(r.code, r.stderr).toBe(0);
    for (const n of json(r).nodes) {
      expect(n.stdout).toBe(`${'x'.repeat(30000)}\n`);
      expect(n.stderr).toBe(`${'y'.repeat(9000)}\n`);
      expect(n.outputSource).toMatch(new RegExp(`^s3://${bucket}/${prefix}ssm-output/`));
    }
    const piped = await cli('exec', '--node', a, '--', 'python3', '-c', 'print("x"*30000)');
    expect(piped.stdout.length).toBe(30001);
  });

  it('logs: the runtime\'s JSON lines, prefixed by node when several; --follow prints and stops cleanly on Ctrl-C', async () => {
    const [a, b] = ids as [string, string];
    const one = await cli('logs', '--node', a, '--lines', '5', '--json');
    expect(one.code, one.stderr).toBe(0);
    const node = json(one).nodes[0]!;
    expect(node.lines.length).toBeGreaterThan(0);
    expect(node.lines.length).toBeLessThanOrEqual(5);
    expect(node.lines[0]).toHaveProperty('msg');
    expect(typeof node.cursor).toBe('string');
    const piped = await cli('logs', '--all', '--lines', '3');
    expect(piped.code, piped.stderr).toBe(0);
    const lines = piped.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(new Set(lines.map((l) => l.instanceId))).toEqual(new Set([a, b]));
    const tty = await runCli(['runtime', 'logs', '--all', '--lines', '2', '--no-color'], { cwd, env, tty: true });
    expect(tty.stdout.split('\n')[0]).toMatch(new RegExp(`^(${a}|${b}) \\d{2}:\\d{2}:\\d{2}`));

    const controller = new AbortController();
    let firstSeen!: () => void;
    const seen = new Promise<void>((r) => (firstSeen = r));
    const follow = runCli(['runtime', 'logs', '--node', a, '--lines', '1', '--follow'], { cwd, env, signal: controller.signal, onStdout: (t) => t.includes('\n') && firstSeen() });
    await seen;
    // A new line after the cursor: drain writes one.
    await cli('drain', '--node', a);
    await cli('resume', '--node', a);
    controller.abort(new Error('interrupted'));
    const f = await follow;
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(1);
  });

  it('a node whose process is gone is reported offline (ConnectionLost) with exit 1, promptly, beside the other\'s answer', async () => {
    const [a] = ids as [string];
    const [dead] = await launchTestNodes(ec2, { stack, launchId: 'rtc-dead' });
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    register(dead!, nodeRoot(), child.pid!);
    const t0 = Date.now();
    const r = await cli('status', '--node', a, '--node', dead!, '--json');
    const took = Date.now() - t0;
    expect(r.code).toBe(1);
    const byId = Object.fromEntries(json(r).nodes.map((n) => [n.instanceId, n]));
    expect(byId[a]).toMatchObject({ ok: true, state: 'READY' });
    expect(byId[dead!]).toMatchObject({ ok: false, agent: 'ConnectionLost', state: null });
    expect(byId[dead!]!.error).toMatch(/SSM agent ConnectionLost: not sent/);
    // The status deadline is 60 s; an offline node is never waited for.
    expect(took).toBeLessThan(10_000);
    const human = await cli('status', '--node', a, '--node', dead!);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(new RegExp(`Error: runtime status failed on 1 of 2 node\\(s\\): ${dead}: SSM agent ConnectionLost`));
  });

  it('restart: drains, runs the node\'s restart hook, waits for a new READY process', async () => {
    const [a] = ids as [string];
    const root = roots[0]!;
    const old = workers[0]!;
    // The local node's restart hook (systemctl restart on a real node): the test is the node's supervisor.
    const marker = join(root, 'restart-requested');
    register(a, root, old.process.pid!, { FLUXER_RESTART_COMMAND: `touch ${marker}` });
    const requested = new Promise<void>((resolve) => {
      const w = watch(root, () => existsSync(marker) && (w.close(), resolve()));
    });
    const restart = cli('restart', '--node', a, '--json', '--timeout', '2m');
    await requested;
    await old.stop();
    const fresh = await startRuntime({ endpoint, queueUrl, bucket, prefix, instanceId: a, root, readyTimeoutMs: 100_000, env: { AWS_ACCESS_KEY_ID: KEY } });
    workers[0] = fresh;
    register(a, root, fresh.process.pid!);
    const r = await restart;
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).nodes[0]).toMatchObject({ instanceId: a, ok: true, state: 'READY', pid: fresh.process.pid, previous: { pid: old.process.pid }, jobStillRunning: false });
  }, 150_000);

  it('refuses a node that is not the stack\'s by name, exit 2, nothing sent', async () => {
    const [other] = await launchTestNodes(ec2, { stack: `other-${suffix}` });
    const r = await cli('exec', '--node', ids[0]!, '--node', other!, '--', 'touch', '/tmp/should-not-run');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${other}: a node of stack "other-${suffix}", not of stack "${stack}"`);
  });
});
