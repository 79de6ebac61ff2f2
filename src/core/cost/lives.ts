// Each node's life from the three sources that know about it (pure): its node record (the runtime's,
// <prefix>nodes/<id>.json), its launch record (<prefix>launches/<launch-id>.json, written by `spot
// launch`) and EC2 while it still lists the instance (about an hour after termination). Records are the
// durable source; EC2, when it answers, has the exact end and the termination reason.
import type { NodeInstance } from '../nodes/instances.js';
import type { NodeRecord } from '../submit.js';
import type { NodeLife } from './billing.js';

/**
 * AWS's spot service reclaimed the instance: StateReason `Server.SpotInstanceTermination`, message
 * "Server.SpotInstanceTermination: Spot instance termination".
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html (state reason codes)
 */
export const SPOT_TERMINATION_REASON = 'Server.SpotInstanceTermination';
/** The same for an instance AWS stopped (interruption behaviour `stop`). */
export const SPOT_STOP_REASON = 'Server.SpotInstanceShutdown';
/** The runtime rewrites its record at least this often while it lives (docs/runtime.md). */
export const RECORD_INTERVAL_MS = 60_000;
/** A record rewritten within this long of now belongs to a node still up (two intervals: spot list's "stale"). */
export const FRESH_RECORD_MS = 2 * RECORD_INTERVAL_MS;
const ENDED_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

export interface LaunchRecordInstance {
  instanceId: string;
  instanceType: string;
  az: string;
  launchTime?: string;
}

export interface LaunchRecord {
  launchId: string;
  stack?: string;
  rootVolumeGiB?: number;
  instances: LaunchRecordInstance[];
}

export interface ReadNodeRecord {
  record: NodeRecord;
  /** When S3 last saw it written (ms), from the listing. */
  lastModifiedMs: number | undefined;
}

export interface LifeSources {
  /** Records and launch records naming another stack (a shared bucket and prefix) are not this stack's nodes. */
  stack?: string;
  records: ReadonlyMap<string, ReadNodeRecord>;
  launches: readonly LaunchRecord[];
  /** What EC2 lists for the stack now (any state); empty when it was not asked or did not answer. */
  instances: readonly NodeInstance[];
  now: number;
  /** The stack's root volume size, for nodes whose launch record does not say (spot launch sets it). */
  defaultRootVolumeGiB: number;
}

const ms = (t: string | undefined) => {
  const v = t === undefined ? NaN : Date.parse(t);
  return Number.isFinite(v) ? v : undefined;
};

export function assembleLives(src: LifeSources): NodeLife[] {
  const fromLaunch = new Map<string, { launchId: string; inst: LaunchRecordInstance; rootVolumeGiB: number | undefined }>();
  const ours = (stack: string | undefined) => src.stack === undefined || stack === undefined || stack === src.stack;
  const records = new Map([...src.records].filter(([, r]) => ours(r.record.stack)));
  for (const l of src.launches.filter((x) => ours(x.stack))) for (const inst of l.instances ?? []) if (inst?.instanceId) fromLaunch.set(inst.instanceId, { launchId: l.launchId, inst, rootVolumeGiB: l.rootVolumeGiB });
  const fromEc2 = new Map(src.instances.map((i) => [i.instanceId, i]));
  const ids = [...new Set([...records.keys(), ...fromLaunch.keys(), ...fromEc2.keys()])].sort();

  return ids.map((id): NodeLife => {
    const read = records.get(id);
    const rec = read?.record;
    const launch = fromLaunch.get(id);
    const inst = fromEc2.get(id);

    let start: number | undefined;
    let startSource: NodeLife['startSource'] = null;
    for (const [t, source] of [[ms(rec?.launchTime), 'node-record'], [ms(launch?.inst.launchTime), 'launch-record'], [inst?.launchedAt, 'ec2']] as const) {
      if (t !== undefined) {
        start = t;
        startSource = source;
        break;
      }
    }

    let running = false;
    let end: number | undefined;
    let endSource: NodeLife['endSource'] = null;
    let interruptedByAws = false;
    const notice = rec?.interruption;
    if (inst) interruptedByAws = inst.stateReasonCode === SPOT_TERMINATION_REASON || inst.stateReasonCode === SPOT_STOP_REASON;
    if (inst && !ENDED_STATES.has(inst.state)) {
      running = true;
    } else if (inst?.endedAt !== undefined) {
      // EC2 still lists it, ended: its time and reason are the truth.
      end = inst.endedAt;
      endSource = 'ec2';
    } else if (rec) {
      const lastWrite = read?.lastModifiedMs ?? ms(rec.lastSeenAt);
      const noticeTime = ms(notice?.time);
      if (noticeTime !== undefined) {
        // EC2 has forgotten it; its record says AWS gave notice to take it at `time`: AWS's termination.
        end = Math.max(noticeTime, lastWrite ?? noticeTime);
        endSource = 'interruption-notice';
        // Only when EC2 no longer says who ended it; while it does, its reason decides.
        if (!inst) interruptedByAws = true;
      } else if (lastWrite !== undefined && src.now - lastWrite <= FRESH_RECORD_MS) {
        running = true;
      } else if (lastWrite !== undefined) {
        // Gone without EC2 to say when: within one record interval of its last write.
        end = Math.min(src.now, lastWrite + RECORD_INTERVAL_MS);
        endSource = 'node-record';
      }
    }
    // A launch record alone with EC2 no longer listing it: terminated, when unknown (unpriced, never guessed).

    const c = rec;
    const market: NodeLife['market'] = rec?.lifecycle ?? (inst ? (inst.lifecycle === 'spot' ? 'spot' : 'on-demand') : 'spot');
    return {
      instanceId: id,
      instanceType: rec?.instanceType ?? inst?.instanceType ?? launch?.inst.instanceType ?? 'unknown',
      az: rec?.az ?? inst?.az ?? launch?.inst.az ?? '',
      market,
      launchId: launch?.launchId ?? inst?.launchId ?? null,
      start,
      startSource,
      end,
      endSource,
      running,
      interruptedByAws,
      rootVolumeGiB: launch?.rootVolumeGiB ?? src.defaultRootVolumeGiB,
      // EC2 says whether it has an address; otherwise the default subnets' public IP on launch is assumed.
      publicIpv4Addresses: inst ? (inst.publicIp ? 1 : 0) : 1,
      counters: c
        ? {
            jobs: {
              succeeded: c.jobs?.succeeded ?? 0,
              failed: c.jobs?.failed ?? 0,
              rejected: c.jobs?.rejected ?? 0,
              cancelled: c.jobs?.cancelled ?? 0,
              requeued: c.jobs?.requeued ?? 0,
            },
            images: typeof c.imagesDone === 'number' ? c.imagesDone : 0,
            busySeconds: typeof c.busySeconds === 'number' ? c.busySeconds : 0,
            ...(c.histograms?.generationSeconds ? { generationSeconds: c.histograms.generationSeconds } : {}),
            ...(c.histograms?.queueWaitSeconds ? { queueWaitSeconds: c.histograms.queueWaitSeconds } : {}),
          }
        : null,
    };
  });
}
