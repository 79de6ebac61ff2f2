// The local region's nodes, as the emulator (src/emulator/) and the local node agent (src/core/local/agent.ts) share them: one folder per EC2 instance under the emulator's
// nodes directory, `<nodesDir>/<instanceId>/`, holding
//   node.json          the registration (NodeRegistration): written by whoever runs the node (the local
//                      node agent, or a test), atomically; its presence is what "registered with SSM" means
//   root/              the node's root folder: its etc/fluxer/, opt/fluxer/, run/fluxer/, var/log/fluxer/
//   spot-notice.json   a spot interruption notice (`fluxer local interrupt`), served by the node's IMDS
//   reboot-requested   the instance is rebooting (written by the emulator, carried out by the node agent)
//   target-lifecycle-state  Auto Scaling's target state for the instance (`Terminated` while a termination
//                      lifecycle hook holds it: the emulator's lifecycle-hooks.ts), served by the node's IMDS
// The SSM executor runs commands in root/ with the registration's environment; the IMDS answers from
// the registration. A node is Online while its pid is alive, ConnectionLost once it is gone.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** In a node's folder: the instance is being rebooted (the emulator: CreateImage, RebootInstances); the node agent restarts its worker. */
export const REBOOT_FILE = 'reboot-requested';

/** In a node's folder: Auto Scaling's target lifecycle state, when the emulator set one (IMDS `autoscaling/target-lifecycle-state`). */
export const TARGET_LIFECYCLE_FILE = 'target-lifecycle-state';

export interface NodeRegistration {
  instanceId: string;
  /** Absolute path of the node's root folder (what scripts see as FLUXER_ROOT). */
  root: string;
  /** The environment a command on this node runs in (the runtime's FLUXER_* settings, PATH...). */
  env: Record<string, string>;
  /** The process that is the node: gone means the node is gone (ConnectionLost, instance stopped). */
  pid: number;
  instanceType: string;
  az: string;
  azId?: string;
  region: string;
  /** "spot" or "on-demand" (IMDS `instance-life-cycle`). */
  lifecycle: string;
  /** The instance's launch time, ISO 8601 (the identity document's pendingTime). */
  launchTime: string;
  /** When this registration was written (DescribeInstanceInformation's RegistrationDate). */
  registeredAt: string;
  /** The AMI (IMDS `ami-id`). */
  imageId?: string;
}

export interface SpotNotice {
  /** "terminate", "stop" or "hibernate" (IMDS spot/instance-action). */
  action: string;
  /** ISO 8601, seconds precision: when the instance goes away. */
  time: string;
}

export function nodeDir(nodesDir: string, instanceId: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(instanceId)) throw new Error(`not an instance id: ${JSON.stringify(instanceId)}`);
  return join(nodesDir, instanceId);
}

export function nodeRoot(nodesDir: string, instanceId: string): string {
  return join(nodeDir(nodesDir, instanceId), 'root');
}

function writeJsonAtomic(path: string, doc: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
  renameSync(tmp, path);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function registerNode(nodesDir: string, reg: NodeRegistration): void {
  const dir = nodeDir(nodesDir, reg.instanceId);
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, 'node.json'), reg);
}

export function readRegistration(nodesDir: string, instanceId: string): NodeRegistration | undefined {
  try {
    return readJson<NodeRegistration>(join(nodeDir(nodesDir, instanceId), 'node.json'));
  } catch {
    return undefined;
  }
}

export function listRegistrations(nodesDir: string): NodeRegistration[] {
  if (!existsSync(nodesDir)) return [];
  return readdirSync(nodesDir)
    .map((id) => readRegistration(nodesDir, id))
    .filter((r): r is NodeRegistration => r !== undefined);
}

/** Removes the registration (the folder and its logs stay for post-mortems). */
export function deregisterNode(nodesDir: string, instanceId: string): void {
  rmSync(join(nodeDir(nodesDir, instanceId), 'node.json'), { force: true });
}

export function writeSpotNotice(nodesDir: string, instanceId: string, notice: SpotNotice): void {
  const dir = nodeDir(nodesDir, instanceId);
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, 'spot-notice.json'), notice);
}

/** The instance's target lifecycle state: the emulator's, else InService for a node of an Auto Scaling group (its env names one), else none. */
export function readTargetLifecycleState(nodesDir: string, reg: NodeRegistration): string | undefined {
  try {
    return readFileSync(join(nodeDir(nodesDir, reg.instanceId), TARGET_LIFECYCLE_FILE), 'utf8').trim() || undefined;
  } catch {
    return reg.env.FLUXER_ASG_NAME ? 'InService' : undefined;
  }
}

export function readSpotNotice(nodesDir: string, instanceId: string): SpotNotice | undefined {
  return readJson<SpotNotice>(join(nodeDir(nodesDir, instanceId), 'spot-notice.json'));
}

/** Whether the pid is a live process: not gone, and not a zombie waiting to be reaped (/proc, where it exists). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !existsSync('/proc/self/stat');
  }
}
