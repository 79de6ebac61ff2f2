// Scale from zero, the CLI's part: target tracking cannot start a fleet at 0 (backlog per instance has
// no value without an instance in service), so `fluxer generate` raises the group itself once its
// jobs are sent, with one SetDesiredCapacity, and only when the rule below says so. Jobs other clients
// send are covered by the backstop alarm `fleet up` makes (spec.ts, scaleFromZeroAlarm), in minutes.
//
// What it costs a stack with no fleet: one DescribeAutoScalingGroups, sent while the jobs are being
// sent, and then nothing for NO_FLEET_TTL_MS: "no group" (or "may not look") is remembered in a small
// file under the state folder. `fleet up` on this machine forgets it at once; elsewhere a fleet made
// in the meantime is seen after the TTL (the alarm starts its first node meanwhile).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import { awsErrorName, isPermissionDenied } from '../../aws/errors.js';
import { forgetCacheFile, isFresh, readCacheFile, writeCacheFile } from '../../lib/ttl-file-cache.js';
import { isManagedBy } from '../tags.js';
import { BREAKER_TAG } from './names.js';
import { tagMap } from './read.js';

export interface ZeroInput {
  /** The group's desired capacity now. */
  desired: number;
  min: number;
  max: number;
  /** Jobs waiting for a node: at least the ones just sent. */
  queued: number;
  /** Auto Scaling's Launch process is suspended (the fleet stopped itself, or an operator did). */
  launchSuspended?: boolean;
  /** A node's boot-failure breaker stopped the fleet (the group's `fluxer:breaker` tag). */
  breaker?: boolean;
}

/**
 * The scale-from-zero rule (pure; sim/fleet_sim.py mirrors it, both checked against one table,
 * test/contracts/scale-from-zero.json):
 *
 *   raise to max(1, min)  when  queued > 0, desired = 0, Launch is not suspended, the breaker has not
 *                         stopped the fleet, and max(1, min) ≤ max
 *   leave it (undefined)  otherwise
 *
 * So a fleet with a node wanted already (desired ≥ 1) is never touched (target tracking and the nodes
 * size it from there) and nothing here ever lowers a group. Max 0 means "switched off" (set so in the
 * console, or by `fleet down` while it takes the fleet away); a suspended Launch means the fleet
 * stopped itself after failed boots, or an operator stopped it: raising either would only restart
 * what was stopped. min > 0 with desired 0 does not happen on AWS (desired ≥ min); it would raise to min.
 */
export function scaleFromZeroDecision(g: ZeroInput): number | undefined {
  if (!(g.queued > 0) || g.desired > 0 || g.launchSuspended || g.breaker) return undefined;
  const to = Math.max(1, g.min);
  return to <= g.max ? to : undefined;
}

/** Why a fleet at 0 was left there (for the note). */
export type HeldReason = 'max-zero' | 'launch-suspended' | 'breaker';

export type ZeroOutcome =
  /** No group of this stack's name (or one not tagged for the stack: not ours to touch). */
  | { kind: 'no-fleet'; cached: boolean }
  | { kind: 'not-at-zero'; desired: number }
  | { kind: 'held'; reason: HeldReason; max: number }
  | { kind: 'raised'; raisedTo: number }
  /** The caller may not read or raise the group; `action` is the IAM action refused. */
  | { kind: 'denied'; action: string; message: string; cached: boolean }
  /** Anything else (throttled, network, a 5xx): the jobs were sent, so it only informs. */
  | { kind: 'failed'; message: string };

export const NO_FLEET_TTL_MS = 5 * 60_000;

export interface ZeroCache {
  dir: string;
  /** The Auto Scaling endpoint (undefined: AWS itself) and the group's region: part of the key. */
  endpoint: string | undefined;
  region: string;
  nowMs: number;
  ttlMs?: number;
}

interface CacheFile {
  group: string;
  region: string;
  endpoint: string;
  /** absent: no group of this name; denied: DescribeAutoScalingGroups was refused. */
  state: 'absent' | 'denied';
  checkedAt: number;
}

export function zeroCachePath(c: Pick<ZeroCache, 'dir' | 'endpoint' | 'region'>, group: string): string {
  const key = createHash('sha256').update(`${c.endpoint ?? 'aws'}\n${c.region}\n${group}`).digest('hex').slice(0, 16);
  return join(c.dir, `fleet-${key}.json`);
}

/** The remembered answer: undefined when none is fresh (none yet, damaged, another key's): ask AWS. */
async function readCache(c: ZeroCache, group: string): Promise<CacheFile['state'] | undefined> {
  const f = await readCacheFile<CacheFile>(zeroCachePath(c, group));
  if (f && f.group === group && f.region === c.region && f.endpoint === (c.endpoint ?? 'aws') && isFresh(f.checkedAt, c.nowMs, c.ttlMs ?? NO_FLEET_TTL_MS)) return f.state;
  return undefined;
}

async function writeCache(c: ZeroCache, group: string, state: CacheFile['state']): Promise<void> {
  const doc: CacheFile = { group, region: c.region, endpoint: c.endpoint ?? 'aws', state, checkedAt: c.nowMs };
  // A cache that cannot be written only costs the next run one call.
  await writeCacheFile(zeroCachePath(c, group), doc).catch(() => undefined);
}

/** `fleet up` (and anything else that makes the group) forgets "no fleet" for it on this machine. */
export async function forgetNoFleet(c: Pick<ZeroCache, 'dir' | 'endpoint' | 'region'>, group: string): Promise<void> {
  await forgetCacheFile(zeroCachePath(c, group));
}

/** What fluxer knows of the group before deciding: undefined when it has none (or not ours). */
export interface ZeroLook {
  outcome?: ZeroOutcome;
  group?: Asg.AutoScalingGroup;
}

/**
 * The read half: from the cache, else one DescribeAutoScalingGroups. Started while the jobs are sent
 * (it needs nothing from them), so on AWS its round trip overlaps theirs.
 */
export async function lookAtFleet(asg: () => Promise<Pick<AutoScalingPort, 'describeAutoScalingGroups'>>, cache: ZeroCache, groupName: string, stack: string): Promise<ZeroLook> {
  const cached = await readCache(cache, groupName);
  if (cached === 'absent') return { outcome: { kind: 'no-fleet', cached: true } };
  if (cached === 'denied') return { outcome: { kind: 'denied', action: 'autoscaling:DescribeAutoScalingGroups', message: 'refused earlier (remembered for a few minutes)', cached: true } };
  let group: Asg.AutoScalingGroup | undefined;
  try {
    group = (await (await asg()).describeAutoScalingGroups({ AutoScalingGroupNames: [groupName] })).AutoScalingGroups?.[0];
  } catch (err) {
    if (isPermissionDenied(err)) {
      await writeCache(cache, groupName, 'denied');
      return { outcome: { kind: 'denied', action: 'autoscaling:DescribeAutoScalingGroups', message: messageOf(err), cached: false } };
    }
    return { outcome: { kind: 'failed', message: messageOf(err) } };
  }
  if (!group || !isManagedBy(tagMap(group.Tags), stack)) {
    await writeCache(cache, groupName, 'absent');
    return { outcome: { kind: 'no-fleet', cached: false } };
  }
  return { group };
}

/** The write half: the rule, then at most one SetDesiredCapacity. Never throws. */
export async function raiseFromZero(asg: () => Promise<Pick<AutoScalingPort, 'setDesiredCapacity'>>, look: ZeroLook, queued: number): Promise<ZeroOutcome> {
  if (look.outcome) return look.outcome;
  const g = look.group!;
  const input: ZeroInput = {
    desired: g.DesiredCapacity ?? 0,
    min: g.MinSize ?? 0,
    max: g.MaxSize ?? 0,
    queued,
    launchSuspended: (g.SuspendedProcesses ?? []).some((p) => p.ProcessName === 'Launch'),
    // Raising a fleet its own nodes stopped after failed boots would boot another failing node per job.
    breaker: (g.Tags ?? []).some((t) => t.Key === BREAKER_TAG),
  };
  const to = scaleFromZeroDecision(input);
  if (to === undefined) {
    if (input.desired > 0 || !(queued > 0)) return { kind: 'not-at-zero', desired: input.desired };
    return { kind: 'held', reason: input.breaker ? 'breaker' : input.launchSuspended ? 'launch-suspended' : 'max-zero', max: input.max };
  }
  try {
    // HonorCooldown false (the default): a fleet at zero has nothing to cool down from.
    await (await asg()).setDesiredCapacity({ AutoScalingGroupName: g.AutoScalingGroupName, DesiredCapacity: to, HonorCooldown: false });
  } catch (err) {
    if (isPermissionDenied(err)) return { kind: 'denied', action: 'autoscaling:SetDesiredCapacity', message: messageOf(err), cached: false };
    return { kind: 'failed', message: messageOf(err) };
  }
  return { kind: 'raised', raisedTo: to };
}

/**
 * The `fleet` field of `generate --json` (docs/jobs.md, "A fleet at 0"): what scale from zero did, one
 * shape per outcome, told apart by `outcome`; null when the stack has no fleet (or none of its own).
 */
export type FleetField =
  | { group: string; outcome: 'raised'; raisedTo: number }
  /** Desired was ≥ 1 already: target tracking and the nodes size it, generate left it alone. */
  | { group: string; outcome: 'running'; desired: number }
  | { group: string; outcome: 'held'; reason: HeldReason; max: number }
  | { group: string; outcome: 'denied'; action: string; message: string }
  | { group: string; outcome: 'failed'; message: string };

export function fleetField(o: ZeroOutcome, group: string): FleetField | null {
  switch (o.kind) {
    case 'no-fleet':
      return null;
    case 'not-at-zero':
      return { group, outcome: 'running', desired: o.desired };
    case 'held':
      return { group, outcome: 'held', reason: o.reason, max: o.max };
    case 'raised':
      return { group, outcome: 'raised', raisedTo: o.raisedTo };
    case 'denied':
      return { group, outcome: 'denied', action: o.action, message: o.message };
    case 'failed':
      return { group, outcome: 'failed', message: o.message };
  }
}

const messageOf = (err: unknown) => `${awsErrorName(err) || 'Error'}: ${(err as Error)?.message ?? String(err)}`;

/** The stderr line for an outcome worth a line (undefined: say nothing). */
export function describeZeroOutcome(o: ZeroOutcome, groupName: string): string | undefined {
  const later = 'the fleet\'s queue alarm starts a node within minutes (docs/fleet.md, "Scale from zero")';
  switch (o.kind) {
    case 'raised':
      return `Fleet ${groupName} was at 0: desired capacity raised to ${o.raisedTo} (a node takes a few minutes to boot).`;
    case 'held':
      return o.reason === 'max-zero'
        ? `Fleet ${groupName} is switched off (max 0): it starts no node for this. \`fluxer fleet scale 1 --max N\` turns it on.`
        : o.reason === 'breaker'
          ? `Fleet ${groupName} stopped itself after failed boots: it starts no node for this. \`fluxer fleet status\` says why; \`fluxer fleet scale N\` resumes it.`
          : `Fleet ${groupName} is at 0 with launches suspended: it starts no node for this. \`fluxer fleet status\` says why and how to resume.`;
    case 'denied':
      return o.cached ? undefined : `Note: fleet ${groupName} was not raised from 0: your identity may not call ${o.action} (${o.message}); ${later}, or ask for \`fluxer fleet scale 1\`.`;
    case 'failed':
      return `Note: fleet ${groupName} could not be checked or raised from 0 (${o.message}); ${later}.`;
    default:
      return undefined;
  }
}
