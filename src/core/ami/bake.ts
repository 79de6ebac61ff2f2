// `fluxer ami bake --from NODE`, the sequence (docs/ami.md, "Baking"):
//   READY → weights check → journal → drain, no job → prepare (clean) → journal the name → CreateImage
//   → journal the id → wait (own budget) → tag snapshots → the source back READY (or terminated)
// A failed or timed-out image is deregistered and its snapshots deleted; Ctrl-C leaves it being made,
// journaled `interrupted`, for `--resume NAME` or `fluxer ami prune`. No terminal code here.
import type { Ec2Port } from '../../aws/ec2.js';
import type { Clock } from '../../lib/clock.js';
import { formatDuration } from '../../lib/duration.js';
import { FluxerError, InterruptedError } from '../../lib/errors.js';
import { runOnNodes } from '../remote/run.js';
import { jobFinished, runtimeCall, runtimeControl, waitForStatus, type RemotePorts, type RemoteSettings, type RuntimeHealth, type StatusRow } from '../remote/runtime.js';
import { fluxerTags } from '../tags.js';
import { bakeSnapshots, cleanupImage, createImage, describeImage, ensureSnapshotTags, snapshotIdsOf, waitForImage, type ImageEc2 } from './bake-image.js';
import { parseCleared, parseRelease, parseWeights, prepareScript, weightsScript, type WeightsFound } from './bake-scripts.js';
import { writeBake, type BakeRecord, type BakeState } from './journal.js';

export const TAG_RELEASE = 'fluxer:release';
export const TAG_MODEL = 'fluxer:model';
export const TAG_SOURCE_NODE = 'fluxer:source-node';
/** How long the node gets to be READY, to finish its job, and to come back after the reboot. */
export const NODE_WAIT_MS = 20 * 60_000;

export type BakeEc2 = ImageEc2 & Pick<Ec2Port, 'terminateInstances'>;

export interface BakeDeps {
  ec2: BakeEc2;
  remote: RemotePorts;
  /** The stack's SSM output location and the abort signal. */
  remoteSettings: RemoteSettings;
  clock: Clock;
  journalDir: string;
  signal: AbortSignal;
  progress: (message: string) => void;
  warn: (message: string) => void;
  /** Poll gaps (tests shorten them). */
  pollMs?: { image: { first: number; max: number }; node: number };
}

export interface BakeOptions {
  stack: string;
  region: string;
  node: string;
  name: string;
  noReboot: boolean;
  includeWeights: boolean;
  terminateSource: boolean;
  wait: boolean;
  timeoutMs: number;
  /** The stack's model, when the runtime does not say. */
  model: string;
  /** More tags for the image and its snapshots (`--base`: the base AMI). */
  extraTags?: Record<string, string>;
}

export interface BakeResult {
  imageId: string | null;
  name: string;
  /** The journal's state, or `pending` when the command did not wait. */
  state: BakeState | 'pending';
  snapshots: string[];
  sourceNode: string;
  cleaned: { images: string[]; snapshots: string[] } | null;
  /** What happened to the source: back READY, rebooting (not waited for), terminated, or why not. */
  source: { state: string; terminated: boolean };
  weights: WeightsFound[];
  prepared: string[];
  failure?: FluxerError;
}

const SERVING = new Set(['READY', 'BUSY', 'DRAINING']);
const readyRow = (row: StatusRow) => row.ok && SERVING.has(row.health?.state ?? '');

export function followHint(name: string): string {
  return `Follow it with \`fluxer ami bake --resume ${name}\`, or clean it up with \`fluxer ami prune\`.`;
}

/** The journal as one object written at every step. */
export class BakeLog {
  constructor(
    readonly record: BakeRecord,
    private readonly dir: string,
    private readonly clock: Clock,
  ) {}
  set(patch: Partial<BakeRecord>): void {
    Object.assign(this.record, patch, { updatedAt: new Date(this.clock.now()).toISOString() });
    writeBake(this.dir, this.record);
  }
}

export function newBakeRecord(clock: Clock, opts: { name: string; stack: string; region: string; sourceNode: string }): BakeRecord {
  const now = new Date(clock.now()).toISOString();
  return { name: opts.name, stack: opts.stack, region: opts.region, sourceNode: opts.sourceNode, state: 'preparing', startedAt: now, updatedAt: now };
}

export async function bakeFromNode(deps: BakeDeps, opts: BakeOptions): Promise<BakeResult> {
  const { clock } = deps;
  const node = opts.node;
  const remote = { ...deps.remoteSettings, signal: deps.signal };
  const nodePoll = deps.pollMs?.node ?? 3000;
  const result: BakeResult = { imageId: null, name: opts.name, state: 'preparing', snapshots: [], sourceNode: node, cleaned: null, source: { state: 'unknown', terminated: false }, weights: [], prepared: [] };

  deps.progress(`Waiting for ${node} to be READY`);
  const ready = await waitForStatus(deps.remote, clock, [node], readyRow, { ...remote, deadlineMs: clock.now() + NODE_WAIT_MS, intervalMs: nodePoll, roundWaitMs: 60_000 });
  const before = ready.rows.get(node);
  if (ready.waiting.length || !before?.health) {
    throw new FluxerError(`${node} is not READY after ${formatDuration(NODE_WAIT_MS)}: ${before?.error ?? before?.health?.state ?? 'no answer'}`, { code: 'NodeNotReady', hint: `\`fluxer runtime status --node ${node}\` shows its runtime; nothing was changed on it.` });
  }
  const health: RuntimeHealth = before.health;

  const [weighed] = await runOnNodes(deps.remote, clock, { instanceIds: [node], script: weightsScript(), comment: 'fluxer ami bake: weights check', executionTimeoutSeconds: 300, waitMs: 300_000, ...remote });
  if (!weighed?.ok) throw new FluxerError(`The weights check on ${node} failed: ${weighed?.error ?? 'no answer'}`, { code: 'BakePrepareFailed', hint: 'Nothing was changed on the node.' });
  result.weights = parseWeights(weighed.stdout);
  const release = health.release ?? parseRelease(weighed.stdout);
  if (result.weights.length) {
    const list = result.weights.map((w) => `${w.path} (${formatBytes(w.bytes)})`).join(', ');
    deps.warn(`model weights on ${node}'s root volume: ${list}; an image holding them starts slowly (EBS loads them lazily from S3)`);
    if (!opts.includeWeights) {
      throw new FluxerError(`Refused: ${node} has model weights on its root volume (${list})`, { code: 'WeightsOnRootVolume', hint: 'Nodes pull weights at boot (docs/ami.md); remove them from the node, or bake them in with --include-weights. Nothing was changed on the node.' });
    }
  }

  const log = new BakeLog(newBakeRecord(clock, { name: opts.name, stack: opts.stack, region: opts.region, sourceNode: node }), deps.journalDir, clock);
  log.set({ state: 'preparing' });
  try {
    deps.progress(`Draining ${node}`);
    const [drained] = await runtimeControl(deps.remote, clock, [node], 'drain', { ...remote, waitMs: 60_000 });
    if (!drained?.ok) throw stepFailed(log, `drain on ${node} failed: ${drained?.error ?? 'no answer'}`, node);
    const idle = await waitForStatus(deps.remote, clock, [node], jobFinished, { ...remote, deadlineMs: clock.now() + NODE_WAIT_MS, intervalMs: nodePoll, roundWaitMs: 60_000 });
    if (idle.waiting.length) throw stepFailed(log, `${node} still runs a job after ${formatDuration(NODE_WAIT_MS)}`, node);

    deps.progress(`Preparing ${node} for imaging (cloud-init, machine-id, the runtime's state, logs and caches)`);
    const [prepared] = await runOnNodes(deps.remote, clock, { instanceIds: [node], script: prepareScript({ includeWeights: opts.includeWeights }), comment: 'fluxer ami bake: prepare', executionTimeoutSeconds: 600, waitMs: 600_000, ...remote });
    if (!prepared?.ok) throw stepFailed(log, `preparing ${node} failed: ${prepared?.error ?? 'no answer'}${prepared?.stderr ? `: ${prepared.stderr.trim().split('\n').pop()}` : ''}`, node);
    result.prepared = parseCleared(prepared.stdout);

    const tags = fluxerTags(opts.stack, 'ami', opts.name, {
      [TAG_SOURCE_NODE]: node,
      [TAG_MODEL]: health.model ?? opts.model,
      ...(release ? { [TAG_RELEASE]: release } : {}),
      ...(opts.extraTags ?? {}),
    });
    log.set({ state: 'creating' });
    deps.progress(`CreateImage ${opts.name} from ${node}${opts.noReboot ? ' (no reboot: crash-consistent)' : ' (the node reboots)'}`);
    const made = await createImage(deps.ec2, { instanceId: node, name: opts.name, description: `fluxer ${opts.stack}: ${release ? `release ${release}, ` : ''}from ${node}`, noReboot: opts.noReboot, tags });
    if (made.recovered) deps.progress(`CreateImage's answer was lost; found ${made.imageId} by its name`);
    result.imageId = made.imageId;
    const snapshots = snapshotIdsOf(await describeImage(deps.ec2, made.imageId));
    log.set({ state: 'waiting', imageId: made.imageId, snapshots });
    if (snapshots.length) await ensureSnapshotTags(deps.ec2, snapshots, tags);

    // Written after CreateImage: an EBS snapshot is of the moment it was asked for.
    if (opts.noReboot && !opts.terminateSource) await restartRuntime(deps, node, remote);
    if (!opts.wait) {
      Object.assign(result, { state: 'pending', snapshots, source: { state: opts.noReboot ? 'restarting' : 'rebooting', terminated: false } });
      return result;
    }
    await followImage(deps, log, result, { timeoutMs: opts.timeoutMs, tags });
    await settleSource(deps, result, { node, previous: health, terminate: opts.terminateSource && result.state === 'available', waitBack: !opts.terminateSource, remote });
    return result;
  } catch (err) {
    if (deps.signal.aborted) throw interruptedBake(log);
    throw err;
  }
}

/** Waits for the journaled image, then tags its snapshots (available) or cleans it up (failed, timed out). */
export async function followImage(deps: BakeDeps, log: BakeLog, result: BakeResult, opts: { timeoutMs: number; tags?: ReturnType<typeof fluxerTags> }): Promise<void> {
  const imageId = log.record.imageId!;
  const started = deps.clock.now();
  let lastSaid = '';
  const outcome = await waitForImage(deps.ec2, imageId, {
    clock: deps.clock,
    deadlineMs: started + opts.timeoutMs,
    signal: deps.signal,
    ...(deps.pollMs ? { intervalMs: deps.pollMs.image } : {}),
    onPoll: (state, progress) => {
      const text = `${imageId}: ${state}${progress.length ? ` (${progress.join(', ')})` : ''}`;
      if (text !== lastSaid) deps.progress(`${text}, ${formatDuration(deps.clock.now() - started)} of ${formatDuration(opts.timeoutMs)}`);
      lastSaid = text;
    },
  });
  if (outcome.state === 'available') {
    const snapshots = snapshotIdsOf(outcome.image);
    const tags = opts.tags ?? fluxerTags(log.record.stack, 'ami', log.record.name, { [TAG_SOURCE_NODE]: log.record.sourceNode });
    const tagged = await ensureSnapshotTags(deps.ec2, snapshots, tags);
    if (tagged.length) deps.progress(`Tagged ${tagged.join(', ')} with CreateTags (the API did not take snapshot tags at creation)`);
    log.set({ state: 'available', snapshots });
    Object.assign(result, { state: 'available', snapshots, imageId });
    deps.progress(`${imageId} (${log.record.name}) is available`);
    return;
  }
  const why = outcome.state === 'failed' ? `the image failed: ${outcome.reason}` : `the image was still ${outcome.lastState} after ${formatDuration(opts.timeoutMs)} (--timeout)`;
  const cleaned = await cleanupBake(deps, log);
  Object.assign(result, { state: log.record.state, cleaned, snapshots: [] });
  const what = `deregistered ${cleaned.images.join(', ') || 'no image'}${cleaned.snapshots.length ? ` and deleted ${cleaned.snapshots.join(', ')}` : ', no snapshot to delete'}`;
  result.failure = log.record.state === 'cleaned'
    ? new FluxerError(`Bake ${log.record.name}: ${why}; cleaned up: ${what}`, { code: outcome.state === 'failed' ? 'ImageFailed' : 'ImageTimedOut', hint: outcome.state === 'failed' ? 'Nothing of it is left. Try again; `fluxer runtime status` shows the source node.' : 'Nothing of it is left. A large volume takes longer: try again with a longer --timeout.' })
    : new FluxerError(`Bake ${log.record.name}: ${why}; the cleanup is unfinished: ${cleaned.problems.join('; ')}`, { code: 'BakeCleanupUnfinished', hint: '`fluxer ami prune` finishes the cleanup the journal lists.' });
}

/** Deregisters the image and deletes every snapshot the bake made; the journal lists them first. */
export async function cleanupBake(deps: Pick<BakeDeps, 'ec2' | 'progress'>, log: BakeLog): Promise<{ images: string[]; snapshots: string[]; problems: string[] }> {
  const r = log.record;
  const images = r.imageId ? [r.imageId] : [];
  const snapshots = r.imageId ? await bakeSnapshots(deps.ec2, { imageId: r.imageId, name: r.name, sourceNode: r.sourceNode, known: r.snapshots ?? [] }) : [];
  log.set({ state: 'cleaning', cleanup: { images, snapshots } });
  deps.progress(`Cleaning up: ${[...images, ...snapshots].join(', ') || 'nothing was made'}`);
  const done = r.imageId ? await cleanupImage(deps.ec2, r.imageId, snapshots) : { images: [], snapshots: [], problems: [] };
  if (done.problems.length === 0) log.set({ state: 'cleaned', cleanup: { images: done.images, snapshots: done.snapshots } });
  return done;
}

/** After the image: terminate the source, or wait until it is back READY (a new runtime process). */
async function settleSource(deps: BakeDeps, result: BakeResult, opts: { node: string; previous: RuntimeHealth; terminate: boolean; waitBack: boolean; remote: RemoteSettings }): Promise<void> {
  if (opts.terminate) {
    await deps.ec2.terminateInstances({ InstanceIds: [opts.node] });
    deps.progress(`Terminated the source ${opts.node} (--terminate-source)`);
    result.source = { state: 'terminated', terminated: true };
    return;
  }
  if (!opts.waitBack) return;
  deps.progress(`Waiting for ${opts.node} to be back READY`);
  const fresh = (row: StatusRow) => row.health?.state === 'READY' && ((row.health.pid ?? null) !== (opts.previous.pid ?? null) || (row.health.startedAt ?? null) !== (opts.previous.startedAt ?? null));
  const back = await waitForStatus(deps.remote, deps.clock, [opts.node], fresh, { ...opts.remote, deadlineMs: deps.clock.now() + NODE_WAIT_MS, intervalMs: deps.pollMs?.node ?? 3000, roundWaitMs: 60_000 });
  const row = back.rows.get(opts.node);
  result.source = { state: row?.health?.state ?? 'unknown', terminated: false };
  if (back.waiting.length) deps.warn(`${opts.node} was not back READY within ${formatDuration(NODE_WAIT_MS)} (${row?.error ?? row?.health?.state ?? 'no answer'}); \`fluxer runtime status --node ${opts.node}\``);
  else deps.progress(`${opts.node} is READY again (pid ${row?.health?.pid ?? '?'})`);
}

/** --no-reboot: the runtime whose state and logs the prepare cleared is restarted (a fresh runtime, taking jobs). */
async function restartRuntime(deps: BakeDeps, node: string, remote: RemoteSettings): Promise<void> {
  const [r] = await runtimeCall(deps.remote, deps.clock, [node], ['restart'], { ...remote, waitMs: 120_000, stdoutOnly: true });
  if (!r?.ok) deps.warn(`restarting the runtime on ${node} failed: ${r?.error ?? 'no answer'}; \`fluxer runtime restart --node ${node}\``);
}

function stepFailed(log: BakeLog, message: string, node: string): FluxerError {
  log.set({ state: 'failed' });
  return new FluxerError(`Bake ${log.record.name}: ${message}; no image was made`, { code: 'BakePrepareFailed', hint: `The node may be left drained: \`fluxer runtime restart --node ${node}\` brings its runtime back.` });
}

export function interruptedBake(log: BakeLog): InterruptedError {
  log.set({ state: 'interrupted' });
  const made = log.record.imageId;
  return new InterruptedError(made ? `Stopped waiting for ${made} (${log.record.name}); it is still being made` : `Bake ${log.record.name} stopped before an image was asked for`, { hint: made ? followHint(log.record.name) : `\`fluxer ami bake --resume ${log.record.name}\` checks whether an image was made; the source may be left drained (\`fluxer runtime restart --node ${log.record.sourceNode}\`).` });
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

