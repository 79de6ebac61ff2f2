// The local node agent: makes moto's instances of the local stack real. Every half second it reads the
// stack's instances from moto and the node folders (src/lib/local-nodes.ts), asks reconcile.ts what to
// do, and does it — starts a worker (the real runtime) for a new running instance, stops the worker of
// an instance that stopped or terminated, stops the instance of a worker that died. It runs inside the
// local region's process (src/region.ts), started and stopped by `fluxer local up` / `local down`.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Ec2Port } from '../../aws/ec2.js';
import { REBOOT_FILE, listRegistrations, nodeDir, nodeRoot, readSpotNotice, registerNode, deregisterNode, type NodeRegistration } from '../../lib/local-nodes.js';
import { describeAll, type NodeInstance } from '../nodes/instances.js';
import { stackFilters } from '../tags.js';
import { pinnedIdleEnv, templateVersionData } from './launch-template.js';
import { isOurs, spawnDetached, stopGroup } from './processes.js';
import { reconcile, type AgentAction, type WorkerView } from './reconcile.js';
import { RUNTIME_BIN } from './tools.js';
import { POWEROFF_FILE, RESTART_FILE, RUNTIME_LOG, isStale, nodeRuntimeBin, prepareRoot, workerEnv, type RegionSettings } from './node-env.js';

export { BASE_RELEASE, DRAIN_SECONDS, POWEROFF_FILE, RESTART_FILE, RUNTIME_LOG, RUNTIME_STATE, isStale, nodeRuntimeBin, workerEnv, type RegionSettings } from './node-env.js';

const WORKER_GRACE_MS = 30_000;

export interface AgentDeps {
  ec2: Pick<Ec2Port, 'describeInstances' | 'describeInstanceAttribute' | 'describeLaunchTemplateVersions' | 'stopInstances' | 'terminateInstances'>;
  nodesDir: string;
  settingsFile: string;
  /** The environment workers inherit (AWS_* and FLUXER_* are set explicitly, never inherited). */
  baseEnv: NodeJS.ProcessEnv;
  log(message: string): void;
  now?: () => number;
}

export class NodeAgent {
  private readonly stopping = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: AgentDeps) {}

  start(intervalMs = 500): void {
    const tick = () => {
      if (this.closed) return;
      this.passing = this.pass()
        .catch((err: Error) => this.deps.log(`agent pass failed: ${err.message}`))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  /** Stops reconciling; the workers keep running (`local down` stops them, after the agent). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.passing;
  }

  async pass(): Promise<void> {
    const settings = readSettings(this.deps.settingsFile);
    if (!settings) return;
    const instances = await describeAll(this.deps.ec2, stackFilters(settings.stack, 'gpu-node'));
    // Only this stack's nodes (their env names it): a registration of another stack, or of a test's own, is not ours to
    // stop or forget because our stack's instances do not include it.
    const regs = new Map(listRegistrations(this.deps.nodesDir).filter((r) => r.env.FLUXER_STACK === settings.stack).map((r) => [r.instanceId, r]));
    const workers: WorkerView[] = [...regs.values()].map((r) => {
      const root = r.root;
      const notice = readSpotNotice(this.deps.nodesDir, r.instanceId);
      return {
        instanceId: r.instanceId,
        pid: r.pid,
        alive: r.pid > 0 && isOurs(r.pid, RUNTIME_BIN),
        stopping: this.stopping.has(r.instanceId),
        poweroffRequested: existsSync(join(root, POWEROFF_FILE)),
        // The runtime's restart command, or a reboot (CreateImage without NoReboot, RebootInstances: the emulator).
        restartRequested: existsSync(join(root, RESTART_FILE)) || existsSync(join(nodeDir(this.deps.nodesDir, r.instanceId), REBOOT_FILE)),
        stale: isStale(r, settings),
        ...(notice ? { notice } : {}),
      };
    });
    await Promise.all(workers.filter((w) => w.poweroffRequested).map(async (w) => {
      const inst = instances.find((i) => i.instanceId === w.instanceId);
      if (inst) w.shutdownBehavior = await this.shutdownBehavior(inst);
    }));
    const actions = reconcile(instances, workers, (this.deps.now ?? Date.now)());
    await Promise.all(actions.map((a) => this.act(a, settings, instances.find((i) => i.instanceId === a.instanceId), regs.get(a.instanceId))));
  }

  private async act(a: AgentAction, settings: RegionSettings, inst: InstanceFacts | undefined, reg: NodeRegistration | undefined): Promise<void> {
    const id = a.instanceId;
    switch (a.kind) {
      case 'start':
        await this.startWorker(settings, id, inst!, reg);
        return;
      case 'stop-worker':
        this.deps.log(`${id}: ${a.reason}: stopping its worker (pid ${a.pid}, SIGTERM: the runtime drains)`);
        this.background(id, async () => {
          await stopGroup(a.pid, WORKER_GRACE_MS);
          if (reg) registerNode(this.deps.nodesDir, { ...reg, pid: 0 });
        });
        return;
      case 'restart':
        this.deps.log(`${id}: restart (${existsSync(join(reg!.root, RESTART_FILE)) ? 'requested by the runtime' : existsSync(join(nodeDir(this.deps.nodesDir, id), REBOOT_FILE)) ? 'instance rebooted' : 'new settings'}): stopping pid ${a.pid}, then a new worker`);
        this.background(id, async () => {
          await stopGroup(a.pid, WORKER_GRACE_MS);
          rmSync(join(reg!.root, RESTART_FILE), { force: true });
          rmSync(join(nodeDir(this.deps.nodesDir, id), REBOOT_FILE), { force: true });
          await this.startWorker(settings, id, inst!, reg);
        });
        return;
      case 'stop-instance':
        this.deps.log(`${id}: ${a.reason}: stopping the instance`);
        await this.deps.ec2.stopInstances({ InstanceIds: [id] });
        if (reg) rmSync(join(reg.root, POWEROFF_FILE), { force: true });
        return;
      case 'terminate-instance':
        this.deps.log(`${id}: ${a.reason}: terminating the instance`);
        await this.deps.ec2.terminateInstances({ InstanceIds: [id] });
        return;
      case 'forget':
        deregisterNode(this.deps.nodesDir, id);
        return;
    }
  }

  /**
   * What EC2 does when this instance's OS powers off: its InstanceInitiatedShutdownBehavior. moto keeps the one
   * RunInstances gives (`local up`, `spot launch`: terminate) but applies nothing of a launch template, so an
   * instance launched from one (an Auto Scaling group's) takes its template version's, as AWS would. Unreadable:
   * stop, the state a user can still look at.
   */
  private async shutdownBehavior(inst: NodeInstance): Promise<'stop' | 'terminate'> {
    try {
      const own = await this.deps.ec2.describeInstanceAttribute({ InstanceId: inst.instanceId, Attribute: 'instanceInitiatedShutdownBehavior' });
      if (own.InstanceInitiatedShutdownBehavior?.Value === 'terminate') return 'terminate';
      return (await templateVersionData(this.deps.ec2, inst.tags))?.InstanceInitiatedShutdownBehavior === 'terminate' ? 'terminate' : 'stop';
    } catch (err) {
      this.deps.log(`${inst.instanceId}: shutdown behaviour not read (${(err as Error).message}): stopping it`);
      return 'stop';
    }
  }

  /** A fleet member's idle times from its template version's user data, as a real node's env file has them. */
  private async templateEnv(id: string, tags: Record<string, string> | undefined): Promise<Record<string, string>> {
    try {
      return pinnedIdleEnv(await templateVersionData(this.deps.ec2, tags));
    } catch (err) {
      this.deps.log(`${id}: launch template not read (${(err as Error).message}): the runtime's idle times`);
      return {};
    }
  }

  /** Runs a slow step (a drain takes seconds) without holding up the next pass; one at a time per node. */
  private background(id: string, work: () => Promise<void>): void {
    this.stopping.add(id);
    work()
      .catch((err: Error) => this.deps.log(`${id}: ${err.message}`))
      .finally(() => this.stopping.delete(id));
  }

  private async startWorker(settings: RegionSettings, id: string, inst: InstanceFacts, previous: NodeRegistration | undefined): Promise<void> {
    const root = nodeRoot(this.deps.nodesDir, id);
    const group = inst.tags?.['aws:autoscaling:groupName'];
    const env = workerEnv(settings, id, root, this.deps.baseEnv, group ? { group, env: await this.templateEnv(id, inst.tags) } : undefined);
    prepareRoot(root, settings, env);
    const log = join(root, RUNTIME_LOG);
    const pid = await spawnDetached({ command: nodeRuntimeBin(root), args: ['serve'], env, cwd: root, logPath: log });
    this.deps.log(`${id}: worker started (pid ${pid}, root ${root})`);
    const launchTime = new Date(inst.launchedAt ?? (this.deps.now ?? Date.now)()).toISOString();
    registerNode(this.deps.nodesDir, {
      instanceId: id,
      root,
      env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string')),
      pid,
      instanceType: inst.instanceType,
      az: inst.az,
      azId: azIdOf(inst.az),
      region: settings.region,
      lifecycle: inst.lifecycle === 'spot' ? 'spot' : 'on-demand',
      launchTime,
      registeredAt: previous?.registeredAt ?? new Date((this.deps.now ?? Date.now)()).toISOString(),
      imageId: inst.ami,
    });
  }
}

type InstanceFacts = Pick<NodeInstance, 'instanceType' | 'az' | 'launchedAt' | 'ami' | 'lifecycle'> & { tags?: Record<string, string> };

/** moto's zone ids follow its zone names (us-east-1a → use1-az1 ...): close enough for a label. */
function azIdOf(az: string): string | undefined {
  const m = /^([a-z]+)-([a-z]+)-(\d)([a-z])$/.exec(az);
  return m ? `${m[1]![0]}${m[2]![0]}${m[2]!.slice(-1)}${m[3]}-az${m[4]!.charCodeAt(0) - 96}` : undefined;
}

export function readSettings(path: string): RegionSettings | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RegionSettings;
  } catch {
    return undefined;
  }
}

