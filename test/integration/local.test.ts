// `fluxer local up|status|down` as a user runs them (bin/fluxer as a child process), with the real
// moto server and the real runtime (tiny model, CPU), in a temp project so nothing in the repo is
// touched — and with no AWS credentials in the environment at all.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-local-'));
const localDir = join(project, '.fluxer', 'local');
/** A machine with no AWS account: no keys, no profile, no region. */
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const seenPids = new Set<number>();

const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 150_000 });

interface Status {
  endpoint: string;
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  prefix: string;
  server: { pid: number; state: string };
  regionProcess: { pid: number; state: string };
  workers: Array<{ pid: number; instanceId: string; state: string }>;
}

async function status(): Promise<{ code: number; doc: Status }> {
  const r = await fluxer('local', 'status', '--json');
  const doc = JSON.parse(r.stdout) as Status;
  if (doc.server) seenPids.add(doc.server.pid);
  if (doc.regionProcess) seenPids.add(doc.regionProcess.pid);
  for (const w of doc.workers ?? []) seenPids.add(w.pid);
  return { code: r.code, doc };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** The AWS CLI against the local stack, as a third-party backend would use it (dummy keys). */
function aws(endpoint: string, args: string[]): Promise<{ code: number; stdout: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => {
    execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

/** Every process that carries this project's local-stack marker in its environment. */
function processesOfThisStack(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`FLUXER_LOCAL_DIR=${localDir}`) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

describe('fluxer local up | status | down', () => {
  beforeAll(async () => {
    const r = await fluxer('local', 'up', '--json');
    expect(r.stderr).toContain('Local stack up');
    expect(r.code, r.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await fluxer('local', 'down');
    // Fallback: whatever survived is killed by pid, so a failed test never leaves a process behind.
    for (const pid of [...seenPids, ...processesOfThisStack()]) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    rmSync(project, { recursive: true, force: true });
  }, 60_000);

  it('up starts moto, the region and a node; status --json shows them up and the node READY under its instance id', async () => {
    const { code, doc } = await status();
    expect(code).toBe(0);
    expect(doc.server.state).toBe('up');
    expect(doc.regionProcess.state).toBe('up');
    expect(doc.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(doc.queueUrl).toContain('fluxer-local-jobs');
    expect(doc.dlqUrl).toContain('fluxer-local-jobs-dlq');
    expect({ bucket: doc.bucket, prefix: doc.prefix }).toEqual({ bucket: 'fluxer-local', prefix: 'fluxer/' });
    expect(doc.workers).toHaveLength(1);
    expect(doc.workers[0]!.state).toBe('READY');
    expect(doc.workers[0]!.instanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(alive(doc.server.pid) && alive(doc.regionProcess.pid) && alive(doc.workers[0]!.pid)).toBe(true);
    // The node is an EC2 instance, tagged as a launched node, and its runtime reports that instance id.
    const described = await aws(doc.endpoint, ['ec2', 'describe-instances', '--instance-ids', doc.workers[0]!.instanceId, '--query', 'Reservations[0].Instances[0].[State.Name,Tags[?Key==`fluxer:stack`]|[0].Value]', '--output', 'text']);
    expect(described.stdout.trim().split(/\s+/)).toEqual(['running', 'local']);
    const node = join(localDir, 'nodes', doc.workers[0]!.instanceId, 'root');
    expect(JSON.parse(readFileSync(join(node, 'run/fluxer/state.json'), 'utf8')).instanceId).toBe(doc.workers[0]!.instanceId);
    // Its own root: its env file, its log; nothing of the host's /etc.
    expect(readFileSync(join(node, 'etc/fluxer/runtime.env'), 'utf8')).toContain(`FLUXER_QUEUE_URL=${doc.queueUrl}`);
    expect(readFileSync(join(node, 'var/log/fluxer/runtime.log'), 'utf8')).toContain(doc.workers[0]!.instanceId);

    // The stack is recorded in the project's config, without becoming the default.
    const config = JSON.parse(readFileSync(join(project, 'fluxer.config.json'), 'utf8'));
    expect(config.defaultStack).toBeUndefined();
    expect(config.stacks.local).toMatchObject({ region: 'us-east-1', endpointUrl: doc.endpoint, queueName: 'fluxer-local-jobs', bucket: 'fluxer-local', prefix: 'fluxer/', model: 'tiny' });
    // The queue really exists on the server the stack points at (found through the config).
    const show = await fluxer('config', 'show', '--stack', 'local', '--json');
    expect(JSON.parse(show.stdout).settings.endpointUrl.value).toBe(doc.endpoint);
  });

  it('up twice is harmless: the same server and worker pids, nothing restarted', async () => {
    const before = (await status()).doc;
    const r = await fluxer('local', 'up', '--json');
    expect(r.code, r.stderr).toBe(0);
    const again = JSON.parse(r.stdout);
    expect(again.serverStarted).toBe(false);
    expect(again.launched).toEqual([]);
    const after = (await status()).doc;
    expect(after.server.pid).toBe(before.server.pid);
    expect(after.regionProcess.pid).toBe(before.regionProcess.pid);
    expect(after.workers.map((w) => w.pid)).toEqual(before.workers.map((w) => w.pid));
  }, 60_000);

  it('a job sent to the local queue by another client is rendered by the worker into a PNG in the local bucket', async () => {
    const { doc } = await status();
    const id = randomUUID();
    const job = {
      version: 1, id, prompt: 'a lighthouse on a cliff at dawn', model: 'tiny', width: 64, height: 48, steps: 2, guidance: 3.5, seed: 7, count: 1,
      output: { bucket: doc.bucket, prefix: doc.prefix }, submittedAt: new Date().toISOString(),
    };
    const sent = await aws(doc.endpoint, ['sqs', 'send-message', '--queue-url', doc.queueUrl, '--message-body', JSON.stringify(job)]);
    expect(sent.code).toBe(0);
    const statusKey = `${doc.prefix}jobs/${id}/status.json`;
    const state = async () => {
      const r = await aws(doc.endpoint, ['s3', 'cp', `s3://${doc.bucket}/${statusKey}`, '-']);
      return r.code === 0 ? (JSON.parse(r.stdout) as { state: string }).state : 'absent';
    };
    await expect.poll(state, { timeout: 60_000, interval: 500 }).toBe('succeeded');
    const png = join(project, 'image.png');
    const got = await aws(doc.endpoint, ['s3', 'cp', `s3://${doc.bucket}/${doc.prefix}jobs/${id}/image-0.png`, png]);
    expect(got.code).toBe(0);
    const bytes = readFileSync(png);
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    // IHDR: width and height, big-endian, at bytes 16-23.
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([64, 48]);
  }, 90_000);

  it('fluxer generate --stack local --wait, with no AWS credentials anywhere, ends with the path of a real PNG on stdout', async () => {
    const out = join(project, 'images');
    const r = await fluxer('generate', 'a lighthouse on a cliff at dawn', '--stack', 'local', '--wait', '--size', '96x64', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const path = r.stdout.trim().split('\n').at(-1)!;
    expect(path.startsWith(out)).toBe(true);
    expect(path.endsWith('.png')).toBe(true);
    const bytes = readFileSync(path);
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([96, 64]);
    expect(r.stderr).toContain('succeeded');
  }, 90_000);

  it('a worker killed with SIGKILL shows dead and its instance stopped; the next up launches a replacement node', async () => {
    const before = (await status()).doc;
    const victim = before.workers[0]!;
    process.kill(victim.pid, 'SIGKILL');
    await expect.poll(() => alive(victim.pid), { timeout: 5_000 }).toBe(false);
    const dead = await status();
    expect(dead.doc.workers.find((w) => w.instanceId === victim.instanceId)!.state).toBe('dead');
    const instanceState = async () => (await aws(before.endpoint, ['ec2', 'describe-instances', '--instance-ids', victim.instanceId, '--query', 'Reservations[0].Instances[0].State.Name', '--output', 'text'])).stdout.trim();
    await expect.poll(instanceState, { timeout: 10_000, interval: 250 }).toBe('stopped');

    const r = await fluxer('local', 'up', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).launched).toHaveLength(1);
    const after = (await status()).doc;
    expect(after.server.pid).toBe(before.server.pid);
    const ready = after.workers.filter((w) => w.state === 'READY');
    expect(ready).toHaveLength(1);
    expect(ready[0]!.instanceId).not.toBe(victim.instanceId);
  }, 180_000);

  it('down leaves no process behind, keeps the logs, and a second down is harmless', async () => {
    const { doc } = await status();
    const pids = [doc.server.pid, doc.regionProcess.pid, ...doc.workers.filter((w) => w.state !== 'dead').map((w) => w.pid)];
    const r = await fluxer('local', 'down', '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.wasUp).toBe(true);
    expect(result.stopped.map((s: { pid: number }) => s.pid).sort()).toEqual([...pids].sort());
    for (const pid of [...pids, ...seenPids]) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(processesOfThisStack()).toEqual([]);
    expect(existsSync(join(localDir, 'state.json'))).toBe(false);
    expect(existsSync(join(localDir, 'nodes', doc.workers.at(-1)!.instanceId, 'root/var/log/fluxer/runtime.log'))).toBe(true);
    expect(existsSync(join(localDir, 'region.log'))).toBe(true);

    const again = await fluxer('local', 'down');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to stop');
    const after = await fluxer('local', 'status');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('fluxer local up');
  }, 90_000);
});
