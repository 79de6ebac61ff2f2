// The local node agent: makes moto's instances of the local stack real. Every half second it reads the
// stack's instances from moto and the node folders (src/lib/local-nodes.ts), asks reconcile.ts what to
// do, and does it — starts a worker (the real runtime) for a new running instance, stops the worker of
// an instance that stopped or terminated, stops the instance of a worker that died. It runs inside the
// local region's process (src/region.ts), started and stopped by `fluxer local up` / `local down`.
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Ec2Port } from '../../aws/ec2.js';
import { REBOOT_FILE, listRegistrations, nodeDir, nodeRoot, readSpotNotice, registerNode, deregisterNode, type NodeRegistration } from '../../lib/local-nodes.js';
import { describeAll, type NodeInstance } from '../nodes/instances.js';
import { stackFilters } from '../tags.js';
import { isOurs, spawnDetached, stopGroup } from './processes.js';
import { reconcile, type AgentAction, type WorkerView } from './reconcile.js';
import { RUNTIME_BIN } from './tools.js';

/** What the workers are started with: written by `local up` (region.json), read on every pass. */
export interface RegionSettings {
  stack: string;
  region: string;
  /** The emulator's endpoint: the nodes' AWS endpoint, and their IMDS at `<endpoint>/_imds/<id>`. */
  endpoint: string;
  queueUrl: string;
  bucket: string;
  prefix: string;
  model: string;
  modelDir: string | null;
  device: string;
  visibilitySeconds: number;
  /** The runtime console script (fluxer-runtime) of the local stack's environment: a new node's first release. */
  runtimeBin: string;
  /** FLUXER_* settings `local up --node-env` gives every node, over the agent's own (e.g. FLUXER_IDLE_SECONDS). */
  nodeEnv?: Record<string, string>;
}

export interface AgentDeps {
  ec2: Pick<Ec2Port, 'describeInstances' | 'describeInstanceAttribute' | 'describeLaunchTemplateVersions' | 'stopInstances' | 'terminateInstances'>;
  nodesDir: string;
  settingsFile: string;
  /** The environment workers inherit (AWS_* and FLUXER_* are set explicitly, never inherited). */
  baseEnv: NodeJS.ProcessEnv;
  log(message: string): void;
  now?: () => number;
}

/** Files the runtime's commands create in its root (FLUXER_POWEROFF_COMMAND / FLUXER_RESTART_COMMAND). */
export const POWEROFF_FILE = 'run/fluxer/poweroff-requested';
export const RESTART_FILE = 'run/fluxer/restart-requested';
export const RUNTIME_LOG = 'var/log/fluxer/runtime.log';
export const RUNTIME_STATE = 'run/fluxer/state.json';
const WORKER_GRACE_MS = 30_000;
export const DRAIN_SECONDS = 10;

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
    const regs = new Map(listRegistrations(this.deps.nodesDir).map((r) => [r.instanceId, r]));
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
   * RunInstances gives (`local up`, `spot launch`: terminate) but applies nothing of a launch template, so an instance
   * launched from one (an Auto Scaling group's: EC2's aws:ec2launchtemplate:id/version tags) takes its template
   * version's, as AWS would. Unreadable: stop, the state a user can still look at.
   */
  private async shutdownBehavior(inst: NodeInstance): Promise<'stop' | 'terminate'> {
    try {
      const own = await this.deps.ec2.describeInstanceAttribute({ InstanceId: inst.instanceId, Attribute: 'instanceInitiatedShutdownBehavior' });
      if (own.InstanceInitiatedShutdownBehavior?.Value === 'terminate') return 'terminate';
      const template = inst.tags['aws:ec2launchtemplate:id'];
      const version = inst.tags['aws:ec2launchtemplate:version'];
      if (!template || !version) return 'stop';
      const versions = await this.deps.ec2.describeLaunchTemplateVersions({ LaunchTemplateId: template, Versions: [version] });
      return versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.InstanceInitiatedShutdownBehavior === 'terminate' ? 'terminate' : 'stop';
    } catch (err) {
      this.deps.log(`${inst.instanceId}: shutdown behaviour not read (${(err as Error).message}): stopping it`);
      return 'stop';
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
    const env = workerEnv(settings, id, root, this.deps.baseEnv, inst.tags?.['aws:autoscaling:groupName']);
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

/** Started with other settings than the stack's now. `--node-env` wins over the stack's own, as in workerEnv. */
export function isStale(r: Pick<NodeRegistration, 'env'>, s: RegionSettings): boolean {
  const e = r.env;
  const extra = s.nodeEnv ?? {};
  if (Object.entries(extra).some(([k, v]) => e[k] !== v)) return true;
  const own: Record<string, string | null> = { FLUXER_MODEL: s.model, FLUXER_MODEL_DIR: s.modelDir, FLUXER_DEVICE: s.device, FLUXER_QUEUE_URL: s.queueUrl, FLUXER_ENDPOINT_URL: s.endpoint };
  return Object.entries(own).some(([k, v]) => !(k in extra) && (e[k] ?? null) !== v);
}

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

/** The runtime's environment on a local node: what its env file says, plus where its root is. */
export function workerEnv(s: RegionSettings, instanceId: string, root: string, baseEnv: NodeJS.ProcessEnv, group?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(baseEnv)) if (!/^(AWS|FLUXER)_/.test(k)) env[k] = v;
  return {
    // Marks every process of this local stack (tests find strays by it).
    ...(baseEnv.FLUXER_LOCAL_DIR ? { FLUXER_LOCAL_DIR: baseEnv.FLUXER_LOCAL_DIR } : {}),
    ...env,
    // moto accepts any signature; a node must never pick up the host's real credentials.
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: s.region,
    AWS_DEFAULT_REGION: s.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    PYTHONUNBUFFERED: '1',
    // The current release's bin first; then the local stack's environment, which stands in for the
    // AMI's system tools (the AWS CLI): a release's own venv holds only the runtime.
    PATH: `${join(root, 'opt/fluxer/venv/bin')}:${dirname(s.runtimeBin)}:${env.PATH ?? '/usr/bin:/bin'}`,
    FLUXER_ROOT: root,
    FLUXER_ENV_FILE: join(root, 'etc/fluxer/runtime.env'),
    FLUXER_STATE_FILE: join(root, RUNTIME_STATE),
    FLUXER_LOG_FILE: join(root, RUNTIME_LOG),
    FLUXER_QUEUE_URL: s.queueUrl,
    FLUXER_REGION: s.region,
    FLUXER_ENDPOINT_URL: s.endpoint,
    FLUXER_BUCKET: s.bucket,
    FLUXER_PREFIX: s.prefix,
    FLUXER_STACK: s.stack,
    FLUXER_MODEL: s.model,
    FLUXER_DEVICE: s.device,
    // Its own IMDSv2 (src/emulator/imds.ts): identity, and spot notices within half a second.
    FLUXER_IMDS_URL: `${s.endpoint}/_imds/${instanceId}`,
    FLUXER_IMDS_POLL_SECONDS: '0.5',
    FLUXER_HEALTH_PORT: '0',
    // Short long-polls: a stop is not held up by a receive in flight; pickup latency is the same.
    FLUXER_WAIT_SECONDS: '2',
    FLUXER_VISIBILITY_SECONDS: String(s.visibilitySeconds),
    FLUXER_HEARTBEAT_SECONDS: '10',
    // A local instance's shutdown gives its runtime this long (the agent SIGKILLs after WORKER_GRACE_MS).
    // Under the runtime's 15 s notice margin, so a running job is handed back to the queue at once for
    // another node: the hand-back path every local termination exercises (a real node drains 90 s).
    FLUXER_DRAIN_SECONDS: String(DRAIN_SECONDS),
    // What a release installs over (the bootstrap's base Python, whose packages the release's venv reuses):
    // the local stack's environment, as the Deep Learning AMI's PyTorch environment is on a real node.
    FLUXER_BASE_PYTHON: join(dirname(s.runtimeBin), 'python'),
    FLUXER_POWEROFF_COMMAND: `touch ${join(root, POWEROFF_FILE)}`,
    FLUXER_RESTART_COMMAND: `touch ${join(root, RESTART_FILE)}`,
    ...(s.modelDir ? { FLUXER_MODEL_DIR: s.modelDir, HF_HUB_OFFLINE: '1' } : {}),
    // A fleet's instance (Auto Scaling tags it aws:autoscaling:groupName) gets its group, as the fleet's user data
    // gives a real node: the runtime's node protocol (docs/fleet.md) runs only with it.
    ...(group ? { FLUXER_ASG_NAME: group } : {}),
    ...(s.nodeEnv ?? {}),
  };
}

/** The release a new local node starts on: the local stack's own Python environment, as a release folder. */
export const BASE_RELEASE = 'local-base';

/** The console script a node runs: its current release's (`opt/fluxer/venv` → `current/venv`), as on a real node. */
export function nodeRuntimeBin(root: string): string {
  return join(root, 'opt/fluxer/venv/bin/fluxer-runtime');
}

/**
 * The node's own /etc/fluxer/runtime.env, /opt/fluxer, /run/fluxer and /var/log/fluxer. Its first start lays
 * out /opt/fluxer as the bootstrap does (`releases/<id>/venv`, `current` → `releases/<id>`, `venv` →
 * `current/venv`), the first release being the local stack's environment; later starts keep whatever
 * release is current there (`fluxer runtime deploy` installs and switches releases in the node's root).
 */
function prepareRoot(root: string, s: RegionSettings, env: NodeJS.ProcessEnv): void {
  for (const d of ['etc/fluxer', 'opt/fluxer/releases', 'run/fluxer', 'var/log/fluxer']) mkdirSync(join(root, d), { recursive: true });
  for (const f of [POWEROFF_FILE, RESTART_FILE, RUNTIME_STATE]) rmSync(join(root, f), { force: true });
  const base = join(root, 'opt/fluxer');
  if (!existsSync(join(base, 'current'))) {
    const release = join(base, 'releases', BASE_RELEASE);
    mkdirSync(release, { recursive: true });
    rmSync(join(release, 'venv'), { force: true });
    symlinkSync(dirname(dirname(s.runtimeBin)), join(release, 'venv'));
    writeFileSync(join(release, '.installed'), `${BASE_RELEASE}\n`);
    symlinkSync(join('releases', BASE_RELEASE), join(base, 'current'));
    rmSync(join(base, 'venv'), { force: true });
    symlinkSync('current/venv', join(base, 'venv'));
  }
  const lines = Object.entries(env)
    .filter(([k]) => k.startsWith('FLUXER_') && k !== 'FLUXER_ENV_FILE')
    .map(([k, v]) => `${k}=${v}`);
  writeFileSync(join(root, 'etc/fluxer/runtime.env'), `# fluxer-runtime settings of this local node (written by the local node agent)\n${lines.join('\n')}\n`);
}
