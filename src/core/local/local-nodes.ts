// The local stack's nodes: EC2 instances in moto, tagged as `fluxer spot launch` tags a node, each made
// real by the node agent (a worker process with its own root folder). `local up --workers N` makes the
// count N; every node, however it was launched, is listed from its registration and state file.
import { join } from 'node:path';
import type { Ec2Port } from '../../aws/ec2.js';
import type { SsmPort } from '../../aws/ssm.js';
import { FluxerError, InterruptedError } from '../../lib/errors.js';
import { listRegistrations, readRegistration, readSpotNotice } from '../../lib/local-nodes.js';
import { DLAMI_PARAMETER } from '../launch/spec.js';
import { stackNodes } from '../nodes/instances.js';
import { fluxerTags, TAG_LAUNCH_ID } from '../tags.js';
import { RUNTIME_LOG, RUNTIME_STATE } from './agent.js';
import { delay, isOurs, tailOf } from './processes.js';
import { RUNTIME_BIN } from './tools.js';
import { readWorkerHealth, type WorkerState } from './worker-health.js';

export type LocalEc2 = Pick<Ec2Port, 'describeInstances' | 'runInstances' | 'terminateInstances'>;
/** What `local up` launches: the cheapest of the sample prices (src/emulator/sample-data.ts). */
export const LOCAL_INSTANCE_TYPE = 'g6.xlarge';
export const LOCAL_UP_LAUNCH_ID = 'local-up';

/** Makes the stack's running nodes `count`: launches the missing ones, terminates the newest extras. */
export async function ensureNodeCount(ports: { ec2: LocalEc2; ssm: Pick<SsmPort, 'getParameter'> }, stack: string, count: number): Promise<{ launched: string[]; terminated: string[] }> {
  const live = (await stackNodes(ports.ec2, { stack })).filter((n) => n.state === 'pending' || n.state === 'running');
  if (live.length > count) {
    const extra = live.slice(count).map((n) => n.instanceId);
    await ports.ec2.terminateInstances({ InstanceIds: extra });
    return { launched: [], terminated: extra };
  }
  if (live.length === count) return { launched: [], terminated: [] };
  const ami = (await ports.ssm.getParameter({ Name: DLAMI_PARAMETER })).Parameter?.Value;
  if (!ami) throw new FluxerError(`The local region has no Deep Learning AMI (${DLAMI_PARAMETER})`, { code: 'LocalAmiMissing' });
  const tags = fluxerTags(stack, 'gpu-node', `fluxer-${stack}-node`, { [TAG_LAUNCH_ID]: LOCAL_UP_LAUNCH_ID });
  const out = await ports.ec2.runInstances({
    ImageId: ami,
    InstanceType: LOCAL_INSTANCE_TYPE,
    MinCount: count - live.length,
    MaxCount: count - live.length,
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } },
    InstanceInitiatedShutdownBehavior: 'terminate',
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
  });
  return { launched: (out.Instances ?? []).map((i) => i.InstanceId!).filter(Boolean), terminated: [] };
}

export interface LocalNode {
  instanceId: string;
  /** The worker process (0: none: the instance is stopped, or the worker was never started). */
  pid: number;
  /** The runtime's state (its state file), `dead` when its process is gone. */
  state: WorkerState | 'dead';
  reason: string | null;
  instanceType: string;
  az: string;
  root: string;
  log: string;
  /** A spot notice sent with `fluxer local interrupt`: when the instance goes. */
  interruptionAt?: string;
}

/** Every registered local node, however it was started (`local up`, `spot launch --stack local`). */
export function localNodes(nodesDir: string): LocalNode[] {
  return listRegistrations(nodesDir)
    .sort((a, b) => a.launchTime.localeCompare(b.launchTime) || a.instanceId.localeCompare(b.instanceId))
    .map((r) => {
      const alive = r.pid > 0 && isOurs(r.pid, RUNTIME_BIN);
      const health = alive ? readWorkerHealth(join(r.root, RUNTIME_STATE)) : undefined;
      const notice = readSpotNotice(nodesDir, r.instanceId);
      return {
        instanceId: r.instanceId,
        pid: r.pid,
        state: alive ? (health?.state ?? 'STARTING') : 'dead',
        reason: health?.reason ?? null,
        instanceType: r.instanceType,
        az: r.az,
        root: r.root,
        log: join(r.root, RUNTIME_LOG),
        ...(notice ? { interruptionAt: notice.time } : {}),
      };
    });
}

/** Waits until each node has a worker that reports READY (or BUSY); a worker that fails or dies is an error naming it. */
export async function waitNodesReady(nodesDir: string, ids: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(ids);
  // A worker that has not been started yet (the agent's next pass) is not a failure.
  const seenAlive = new Set<string>();
  while (pending.size) {
    if (signal?.aborted) throw new InterruptedError('Interrupted while the local nodes start', { hint: 'What started is recorded: `fluxer local up` resumes, `fluxer local down` stops it.' });
    for (const id of [...pending]) {
      const reg = readRegistration(nodesDir, id);
      if (!reg || reg.pid === 0) continue;
      const alive = isOurs(reg.pid, RUNTIME_BIN);
      if (alive) seenAlive.add(id);
      const health = readWorkerHealth(join(reg.root, RUNTIME_STATE));
      if (health && (health.state === 'READY' || health.state === 'BUSY')) {
        pending.delete(id);
        continue;
      }
      const failed = health?.state === 'FAILED' || health?.state === 'STOPPED';
      if (failed || (!alive && seenAlive.has(id))) {
        const log = join(reg.root, RUNTIME_LOG);
        const why = failed ? `is ${health!.state}${health!.reason ? `: ${health!.reason}` : ''}` : 'exited before it was READY';
        throw new FluxerError(`Node ${id} (worker pid ${reg.pid}) ${why}. Last lines of ${log}:\n${tailOf(log)}`, {
          code: 'LocalWorkerFailed',
          hint: 'Fix the cause and run `fluxer local up` again (it replaces what is missing), or `fluxer local down`.',
        });
      }
    }
    if (!pending.size) break;
    if (Date.now() > deadline) {
      const id = [...pending][0]!;
      const reg = readRegistration(nodesDir, id);
      const log = reg ? join(reg.root, RUNTIME_LOG) : undefined;
      throw new FluxerError(`Node ${id} was not READY after ${Math.round(timeoutMs / 1000)}s${log ? `. Last lines of ${log}:\n${tailOf(log)}` : ' (no worker started: see the region log)'}`, {
        code: 'LocalWorkerFailed',
        hint: 'A first start imports torch and can be slow on a busy machine: try a longer --timeout.',
      });
    }
    await delay(200);
  }
}
