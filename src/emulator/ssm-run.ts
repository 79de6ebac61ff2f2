// The SSM executor's engine (the API is src/emulator/ssm.ts): commands and their invocations in memory,
// one `bash -c SCRIPT` per (command, instance) on the node the instance is, in the node's root folder
// with its registration's environment (src/emulator/nodes.ts), as SSM Agent runs AWS-RunShellScript.
//
// What SSM Agent does and this copies (amazon-ssm-agent, agent/executers and agent/contracts):
//   - the script runs as the leader of its own process group; on timeout or cancel the whole group is
//     killed and the plugin's exit code is 137 (128 + SIGKILL, the agent's CommandStoppedPreemptivelyExitCode
//     on Linux): TimedOut/ExecutionTimedOut or Cancelled
//   - ResponseCode -1: the command never ran on the node (delivery timed out, undeliverable, cancelled
//     while pending): https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
//   - with OutputS3BucketName, the whole stdout and stderr go to
//     `<prefix>/<CommandId>/<InstanceId>/awsrunShellScript/0.awsrunShellScript/{stdout,stderr}`, each only
//     when non-empty (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandPlugin.html)
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { pidAlive, readRegistration, type NodeRegistration } from './nodes.js';
import type { Upstream } from './server.js';

export type InvocationStatus = 'Pending' | 'InProgress' | 'Delayed' | 'Success' | 'Cancelled' | 'TimedOut' | 'Failed' | 'Cancelling';

export interface Invocation {
  commandId: string;
  instanceId: string;
  status: InvocationStatus;
  statusDetails: string;
  responseCode: number;
  requestedAt: number;
  startedAt?: number;
  endedAt?: number;
  stdout: string;
  stderr: string;
  stdoutUrl: string;
  stderrUrl: string;
  /** The running script's pid (its process group id), while it runs. */
  pgid?: number;
  stop?: 'cancel' | 'timeout';
}

export interface CommandRecord {
  commandId: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  script: string;
  executionTimeoutS: number;
  /** The delivery timeout (TimeoutSeconds). */
  timeoutS: number;
  instanceIds: string[];
  requestedAt: number;
  bucket: string;
  prefix: string;
  maxConcurrency: string;
  maxErrors: string;
  region: string;
  /** The sender's signature, reused for the EC2 and S3 calls the executor makes to moto on its behalf. */
  authorization: string;
  invocations: Map<string, Invocation>;
  cancelled?: boolean;
}

export const TERMINAL: ReadonlySet<InvocationStatus> = new Set(['Success', 'Cancelled', 'TimedOut', 'Failed']);
/** How often a Pending invocation on an offline node looks again (node back, gone, or delivery timed out). */
export const PENDING_POLL_MS = 500;
/** SIGTERM first, then SIGKILL to the whole group after this grace. */
export const KILL_GRACE_MS = 2000;
/** Exit code SSM Agent reports for a script it stopped (timeout or cancel) on Linux. */
export const STOPPED_EXIT_CODE = 137;
const BASIC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface NodeView {
  registered: boolean;
  alive: boolean;
  /** The EC2 instance exists in moto and is pending or running. */
  instanceValid: boolean;
}

/** What a Pending invocation does next: the delivery rules, pure so they can be checked with any clock. */
export function pendingStep(inv: Pick<Invocation, 'requestedAt'>, timeoutS: number, node: NodeView, now: number): 'run' | 'wait' | 'DeliveryTimedOut' | 'Undeliverable' {
  if (!node.registered || !node.instanceValid) return 'Undeliverable';
  if (now >= inv.requestedAt + timeoutS * 1000) return 'DeliveryTimedOut';
  return node.alive ? 'run' : 'wait';
}

export interface InstanceFacts {
  state: string;
  privateIp?: string;
  privateDns?: string;
}

/** EC2 DescribeInstances in moto (query protocol), by instance-id filter so unknown ids are just absent. */
export async function describeInstances(upstream: Upstream, auth: { authorization: string; region: string }, ids: string[]): Promise<Map<string, InstanceFacts>> {
  const params = new URLSearchParams({ Action: 'DescribeInstances', Version: '2016-11-15', 'Filter.1.Name': 'instance-id' });
  ids.forEach((id, i) => params.set(`Filter.1.Value.${i + 1}`, id));
  // moto routes by the credential scope's service (or, unsigned, by host): sign "as EC2".
  const authorization = auth.authorization.replace(/(Credential=[^/]+\/\d{8}\/[^/]+\/)[^/]+\//, '$1ec2/');
  const headers: IncomingMessage['headers'] = { host: `ec2.${auth.region}.amazonaws.com`, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', ...(authorization ? { authorization } : {}) };
  const answer = await upstream({ method: 'POST', path: '/', headers, body: Buffer.from(params.toString()) });
  const text = answer.body.toString('utf8');
  const out = new Map<string, InstanceFacts>();
  const starts = [...text.matchAll(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g)];
  starts.forEach((m, i) => {
    const chunk = text.slice(m.index, starts[i + 1]?.index ?? text.length);
    const state = /<instanceState>\s*<code>\d+<\/code>\s*<name>([a-z-]+)<\/name>/.exec(chunk)?.[1];
    if (!state || out.has(m[1]!)) return;
    out.set(m[1]!, { state, privateIp: /<privateIpAddress>([^<]+)</.exec(chunk)?.[1], privateDns: /<privateDnsName>([^<]+)</.exec(chunk)?.[1] });
  });
  return out;
}

export const instanceUsable = (f: InstanceFacts | undefined) => f?.state === 'running' || f?.state === 'pending';

/** The environment a script sees: the registration's, FLUXER_ROOT, and PATH/HOME only when it lacks them. */
export function scriptEnv(reg: NodeRegistration): Record<string, string> {
  return { PATH: process.env.PATH ?? BASIC_PATH, HOME: process.env.HOME ?? '/root', ...reg.env, FLUXER_ROOT: reg.root };
}

export const outputKey = (cmd: CommandRecord, instanceId: string, stream: 'stdout' | 'stderr') =>
  [cmd.prefix.replace(/\/+$/, ''), cmd.commandId, instanceId, 'awsrunShellScript', '0.awsrunShellScript', stream].filter((p) => p !== '').join('/');

export class SsmRunner {
  constructor(
    private readonly nodesDir: string,
    private readonly upstream: Upstream,
    private readonly now: () => number = Date.now,
  ) {}

  private readonly running = new Set<Invocation>();

  /** The emulator stops: no script outlives it (each is killed as a cancel would). */
  stopAll(): void {
    for (const inv of this.running) this.cancel(inv);
  }

  /** Starts every invocation of a just-accepted command. */
  start(cmd: CommandRecord): void {
    for (const inv of cmd.invocations.values()) void this.deliver(cmd, inv);
  }

  private async deliver(cmd: CommandRecord, inv: Invocation): Promise<void> {
    if (inv.status !== 'Pending') return;
    const reg = readRegistration(this.nodesDir, inv.instanceId);
    let instanceValid = false;
    try {
      instanceValid = instanceUsable((await describeInstances(this.upstream, cmd, [inv.instanceId])).get(inv.instanceId));
    } catch {
      instanceValid = true; // moto unreachable for a moment: try again on the next look
    }
    if (inv.status !== 'Pending') return; // cancelled meanwhile
    const step = pendingStep(inv, cmd.timeoutS, { registered: reg !== undefined, alive: reg !== undefined && pidAlive(reg.pid), instanceValid }, this.now());
    if (step === 'wait') {
      setTimeout(() => void this.deliver(cmd, inv), PENDING_POLL_MS).unref();
      return;
    }
    if (step === 'DeliveryTimedOut') return this.finish(inv, 'TimedOut', 'DeliveryTimedOut', -1);
    if (step === 'Undeliverable') return this.finish(inv, 'Failed', 'Undeliverable', -1);
    this.run(cmd, inv, reg!);
  }

  private run(cmd: CommandRecord, inv: Invocation, reg: NodeRegistration): void {
    inv.status = 'InProgress';
    inv.statusDetails = 'InProgress';
    inv.startedAt = this.now();
    const child = spawn('bash', ['-c', cmd.script], { cwd: reg.root, env: scriptEnv(reg), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    inv.pgid = child.pid;
    this.running.add(inv);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      inv.stop ??= 'timeout';
      this.killGroup(inv);
    }, cmd.executionTimeoutS * 1000);
    timer.unref();
    let done = false;
    const end = async (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      inv.stdout = Buffer.concat(out).toString('utf8');
      inv.stderr = Buffer.concat(err).toString('utf8') + (spawnError ? `${spawnError.message}\n` : '');
      inv.endedAt = this.now();
      inv.pgid = undefined;
      this.running.delete(inv);
      await this.uploadOutput(cmd, inv);
      if (inv.stop === 'cancel') return this.finish(inv, 'Cancelled', 'Cancelled', STOPPED_EXIT_CODE);
      if (inv.stop === 'timeout') return this.finish(inv, 'TimedOut', 'ExecutionTimedOut', STOPPED_EXIT_CODE);
      const exit = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
      if (exit === 0) return this.finish(inv, 'Success', 'Success', 0);
      return this.finish(inv, 'Failed', 'Failed', exit);
    };
    // 'close': the exit code and every byte of output (the group's other members may hold the pipes).
    child.on('close', (code, signal) => void end(code, signal));
    child.on('error', (e) => void end(1, null, e));
  }

  private killGroup(inv: Invocation): void {
    const pgid = inv.pgid;
    if (!pgid) return;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-pgid, s);
      } catch {
        /* the group is gone */
      }
    };
    signal('SIGTERM');
    setTimeout(() => signal('SIGKILL'), KILL_GRACE_MS).unref();
  }

  /** CancelCommand for one invocation: a pending one never runs; a running one's group is killed. */
  cancel(inv: Invocation): void {
    if (TERMINAL.has(inv.status)) return;
    if (inv.status === 'Pending' || inv.status === 'Delayed') return this.finish(inv, 'Cancelled', 'Cancelled', -1);
    inv.stop ??= 'cancel';
    inv.status = 'Cancelling';
    inv.statusDetails = 'Cancelling';
    this.killGroup(inv);
  }

  private finish(inv: Invocation, status: InvocationStatus, details: string, code: number): void {
    inv.status = status;
    inv.statusDetails = details;
    inv.responseCode = code;
    inv.endedAt ??= this.now();
  }

  /** The whole output to moto's S3 (path style, signed as the sender was, or unsigned) before the status turns terminal. */
  private async uploadOutput(cmd: CommandRecord, inv: Invocation): Promise<void> {
    if (!cmd.bucket) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = outputKey(cmd, inv.instanceId, stream);
      const url = `https://s3.${cmd.region}.amazonaws.com/${cmd.bucket}/${key}`;
      if (stream === 'stdout') inv.stdoutUrl = url;
      else inv.stderrUrl = url;
      const text = inv[stream];
      if (!text) continue;
      const path = `/${cmd.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
      // As the agent: a failed upload is not the command's failure (the URL stands, the object is missing).
      await this.upstream({ method: 'PUT', path, headers: { host: 's3.amazonaws.com', 'content-type': 'text/plain; charset=utf-8' }, body: Buffer.from(text, 'utf8') }).catch(() => undefined);
    }
  }
}
