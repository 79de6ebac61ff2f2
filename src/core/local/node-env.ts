// What a local node's runtime starts with: the local region's settings (region.json), the node's
// environment (as a real node's env file and unit give it, with the emulator's endpoints), and its root
// laid out as the bootstrap lays out a real node's /etc/fluxer, /opt/fluxer, /run/fluxer, /var/log/fluxer.
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NodeRegistration } from '../../lib/local-nodes.js';

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

/** Files the runtime's commands create in its root (FLUXER_POWEROFF_COMMAND / FLUXER_RESTART_COMMAND). */
export const POWEROFF_FILE = 'run/fluxer/poweroff-requested';
export const RESTART_FILE = 'run/fluxer/restart-requested';
export const RUNTIME_LOG = 'var/log/fluxer/runtime.log';
export const RUNTIME_STATE = 'run/fluxer/state.json';
export const DRAIN_SECONDS = 10;

/** Started with other settings than the stack's now. `--node-env` wins over the stack's own, as in workerEnv. */
export function isStale(r: Pick<NodeRegistration, 'env'>, s: RegionSettings): boolean {
  const e = r.env;
  const extra = s.nodeEnv ?? {};
  if (Object.entries(extra).some(([k, v]) => e[k] !== v)) return true;
  const own: Record<string, string | null> = { FLUXER_MODEL: s.model, FLUXER_MODEL_DIR: s.modelDir, FLUXER_DEVICE: s.device, FLUXER_QUEUE_URL: s.queueUrl, FLUXER_ENDPOINT_URL: s.endpoint };
  return Object.entries(own).some(([k, v]) => !(k in extra) && (e[k] ?? null) !== v);
}

/** The runtime's environment on a local node: what its env file says, plus where its root is. */
export function workerEnv(s: RegionSettings, instanceId: string, root: string, baseEnv: NodeJS.ProcessEnv, fleet?: { group: string; env: Record<string, string> }): NodeJS.ProcessEnv {
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
    // A fleet's instance (Auto Scaling tags it aws:autoscaling:groupName) gets its group and the idle times its
    // template pins, as the fleet's user data gives a real node: the runtime's node protocol (docs/fleet.md) runs
    // only with a group. `--node-env` still wins (a stack-wide override), as isStale assumes.
    ...(fleet ? { ...fleet.env, FLUXER_ASG_NAME: fleet.group } : {}),
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
export function prepareRoot(root: string, s: RegionSettings, env: NodeJS.ProcessEnv): void {
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
