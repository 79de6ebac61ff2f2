// `ami prune`: which of the stack's images go (beyond the newest N available, older than --older-than),
// which stay and why (the default, in use, still being made), the orphan snapshots interrupted bakes
// left, and the cleanups the bake journal lists. planPrune is pure; gatherPrune reads, runPrune acts.
// Only images and snapshots that are fluxer's for this stack are ever named: tagged for it, or listed
// by this stack's bake journal in this region (and never one tagged for another stack).
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import { awsErrorName, hasErrorCode } from '../../aws/errors.js';
import { formatDuration } from '../../lib/duration.js';
import { isManagedBy, stackFilters, TAG_MANAGED, TAG_STACK } from '../tags.js';
import type { BakeEntry } from './journal.js';
import { listStackImages, nodesUsing, ownImages, snapshotsOf, tagsOf, templatesUsing, type ImagesPort, type StackImage } from './images.js';

export type PrunePort = ImagesPort & Pick<Ec2Port, 'describeSnapshots' | 'deregisterImage' | 'deleteSnapshot'>;

export interface PruneRules {
  stack: string;
  region: string;
  /** Available images kept, newest first (0–100). */
  keep: number;
  /** Only images older than this go (ms); undefined: no age limit. */
  olderThanMs?: number;
  nowMs: number;
  /** The default AMI parameter's name, for the reason. */
  defaultParameter: string;
}

export interface Kept {
  imageId: string;
  reason: string;
}

export interface Orphan {
  snapshotId: string;
  reason: string;
}

export interface ImageRemoval {
  imageId: string;
  name: string | null;
  snapshots: string[];
  why: string;
}

export interface PrunePlan {
  remove: ImageRemoval[];
  kept: Kept[];
  orphans: Orphan[];
  /** Snapshots of journal cleanups (their images' snapshots go with the images). */
  cleanupSnapshots: Orphan[];
  /** Journal entries that are cleaned once the plan is carried out. */
  entries: BakeEntry[];
}

/** What planPrune reads: the stack's images with their users, and what else EC2 holds that prune may touch. */
export interface PruneInputs {
  images: StackImage[];
  /** Images of the journal's cleanup lists that still exist and are not among `images` (untagged). */
  cleanupImages: StackImage[];
  /** Every image this account owns in the region, for "is this snapshot's image gone". */
  ownImages: Sdk.Image[];
  /** Snapshots tagged for the stack (fluxer:role=ami), and the ones journaled bakes name. */
  snapshots: Sdk.Snapshot[];
  /** This stack's journal entries in this region. */
  bakes: BakeEntry[];
}

const CREATED_BY = /^Created by CreateImage\((i-[0-9a-f]+)\) for (ami-[0-9a-f]+)\b/;
/** Bakes that no command follows any more: their pending image is prune's to clean. */
const ABANDONED: ReadonlySet<string> = new Set(['failed', 'interrupted', 'cleaning']);

export function describedImage(snapshot: Pick<Sdk.Snapshot, 'Description'>): string | undefined {
  return CREATED_BY.exec(snapshot.Description ?? '')?.[2];
}

const DAY_MS = 86_400_000;
/** "14d" rather than "336h": ages are given in days. */
const age = (ms: number): string => (ms >= DAY_MS && ms % DAY_MS === 0 ? `${ms / DAY_MS}d` : formatDuration(ms));

function protections(image: StackImage, rules: PruneRules): string[] {
  const reasons: string[] = [];
  if (image.isDefault) reasons.push(`the stack's default AMI (SSM ${rules.defaultParameter})`);
  for (const t of image.launchTemplates) reasons.push(`launch template ${t.name || t.launchTemplateId} (${t.launchTemplateId}) version ${t.versions.join(', ')} uses it`);
  if (image.nodes.length) reasons.push(`${image.nodes.length === 1 ? 'a node uses' : `${image.nodes.length} nodes use`} it: ${image.nodes.map((n) => `${n.instanceId} (${n.state}${n.stack && n.stack !== rules.stack ? `, stack ${n.stack}` : ''})`).join(', ')}`);
  return reasons;
}

function otherStack(tags: Record<string, string>, stack: string): string | undefined {
  return tags[TAG_MANAGED] === 'true' && tags[TAG_STACK] && tags[TAG_STACK] !== stack ? tags[TAG_STACK] : undefined;
}

export function planPrune(inputs: PruneInputs, rules: PruneRules): PrunePlan {
  const remove: ImageRemoval[] = [];
  const kept: Kept[] = [];
  const abandoned = new Set(inputs.bakes.filter((b) => b.imageId && ABANDONED.has(b.state)).map((b) => b.imageId!));
  let available = 0;
  for (const image of inputs.images) {
    const reasons = protections(image, rules);
    if (image.state === 'available' && available++ < rules.keep) reasons.push(`one of the newest ${rules.keep} available`);
    if (image.state === 'pending' && !abandoned.has(image.imageId)) reasons.push('still being made (pending): `fluxer ami bake --resume NAME` follows it; prune takes it once it is available or failed');
    const created = image.createdAt ? Date.parse(image.createdAt) : NaN;
    if (rules.olderThanMs !== undefined) {
      if (!Number.isFinite(created)) reasons.push('EC2 gives no creation date (--older-than)');
      else if (rules.nowMs - created < rules.olderThanMs) reasons.push(`newer than ${age(rules.olderThanMs)} (--older-than)`);
    }
    if (reasons.length) kept.push({ imageId: image.imageId, reason: reasons.join('; ') });
    else remove.push({ imageId: image.imageId, name: image.name, snapshots: image.snapshots, why: image.state === 'available' ? 'older than the newest kept' : `${image.state}${image.stateReason ? `: ${image.stateReason}` : ''}` });
  }

  // The journal's cleanup lists: images a failed bake could not remove (they may carry no tags).
  const cleanupOf = new Map<string, BakeEntry>();
  for (const b of inputs.bakes) for (const id of b.state === 'cleaned' ? [] : (b.cleanup?.images ?? [])) cleanupOf.set(id, b);
  for (const image of inputs.cleanupImages) {
    const entry = cleanupOf.get(image.imageId);
    if (!entry || remove.some((r) => r.imageId === image.imageId) || kept.some((k) => k.imageId === image.imageId)) continue;
    const foreign = otherStack(tagsOf(inputs.ownImages.find((i) => i.ImageId === image.imageId)?.Tags), rules.stack);
    const reasons = [...protections(image, rules), ...(foreign ? [`tagged for stack "${foreign}"`] : [])];
    if (reasons.length) kept.push({ imageId: image.imageId, reason: `${reasons.join('; ')} (listed for cleanup by bake ${entry.name})` });
    else remove.push({ imageId: image.imageId, name: image.name, snapshots: image.snapshots, why: `left by bake ${entry.name} (journal cleanup)` });
  }

  // Snapshots whose image is gone. A snapshot an image still names, or one still being made, stays.
  const existing = new Set(inputs.ownImages.map((i) => i.ImageId));
  const referenced = new Set(inputs.ownImages.flatMap(snapshotsOf));
  const journaled = new Map<string, BakeEntry>();
  for (const b of inputs.bakes) if (b.imageId && !existing.has(b.imageId)) journaled.set(b.imageId, b);
  const listed = new Map<string, BakeEntry>();
  for (const b of inputs.bakes) {
    if (b.state === 'cleaned') continue;
    if (!(b.imageId && existing.has(b.imageId))) for (const s of b.snapshots ?? []) listed.set(s, b);
    for (const s of b.cleanup?.snapshots ?? []) listed.set(s, b);
  }
  const orphans: Orphan[] = [];
  const cleanupSnapshots: Orphan[] = [];
  const seen = new Set<string>();
  for (const s of inputs.snapshots) {
    const id = s.SnapshotId;
    if (!id || seen.has(id) || referenced.has(id) || s.State === 'pending') continue;
    seen.add(id);
    const tags = tagsOf(s.Tags);
    if (otherStack(tags, rules.stack)) continue;
    const ami = describedImage(s);
    const entry = listed.get(id);
    if (entry?.cleanup?.snapshots.includes(id)) cleanupSnapshots.push({ snapshotId: id, reason: `listed for cleanup by bake ${entry.name}` });
    else if (isManagedBy(tags, rules.stack) && !(ami && existing.has(ami))) orphans.push({ snapshotId: id, reason: `tagged for stack "${rules.stack}", its image${ami ? ` ${ami}` : ''} is gone` });
    else if (ami && journaled.has(ami)) orphans.push({ snapshotId: id, reason: `made by CreateImage for ${ami} of bake ${journaled.get(ami)!.name}, which is gone` });
    else if (entry) orphans.push({ snapshotId: id, reason: `listed by bake ${entry.name}, whose image is gone` });
  }

  const entries = entriesCleaned(inputs, { remove, orphans, cleanupSnapshots }, existing);
  return { remove, kept, orphans, cleanupSnapshots, entries };
}

/** Entries with nothing of theirs left once the plan is done, that it touched or that asked for a cleanup. */
function entriesCleaned(inputs: PruneInputs, plan: Pick<PrunePlan, 'remove' | 'orphans' | 'cleanupSnapshots'>, existing: Set<string | undefined>): BakeEntry[] {
  const goneImages = new Set(plan.remove.map((r) => r.imageId));
  const goneSnapshots = new Set([...plan.remove.flatMap((r) => r.snapshots), ...plan.orphans.map((o) => o.snapshotId), ...plan.cleanupSnapshots.map((o) => o.snapshotId)]);
  const liveSnapshots = new Set(inputs.snapshots.map((s) => s.SnapshotId));
  const out: BakeEntry[] = [];
  for (const b of inputs.bakes) {
    if (b.state === 'cleaned') continue;
    const images = [b.imageId, ...(b.cleanup?.images ?? [])].filter((i): i is string => Boolean(i));
    const snapshots = [...(b.snapshots ?? []), ...(b.cleanup?.snapshots ?? []), ...inputs.snapshots.filter((s) => b.imageId && describedImage(s) === b.imageId).map((s) => s.SnapshotId!)];
    const left = images.some((i) => existing.has(i) && !goneImages.has(i)) || snapshots.some((s) => liveSnapshots.has(s) && !goneSnapshots.has(s));
    const touched = images.some((i) => goneImages.has(i)) || snapshots.some((s) => goneSnapshots.has(s));
    if (!left && (touched || b.cleanup || ABANDONED.has(b.state))) out.push(b);
  }
  return out;
}

async function describeSnapshots(ec2: Pick<Ec2Port, 'describeSnapshots'>, filters: Sdk.Filter[]): Promise<Sdk.Snapshot[]> {
  const found: Sdk.Snapshot[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.describeSnapshots({ OwnerIds: ['self'], Filters: filters, MaxResults: 1000, ...(token ? { NextToken: token } : {}) });
    found.push(...(page.Snapshots ?? []));
    token = page.NextToken || undefined;
  } while (token);
  return found;
}

const chunks = <T>(xs: readonly T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

/** The snapshots among `ids` that still exist (a filter, so an unknown id is absent rather than an error). */
export async function existingSnapshots(ec2: Pick<Ec2Port, 'describeSnapshots'>, ids: readonly string[]): Promise<Sdk.Snapshot[]> {
  const found: Sdk.Snapshot[] = [];
  for (const c of chunks(ids, 200)) found.push(...(await describeSnapshots(ec2, [{ Name: 'snapshot-id', Values: c }])));
  return found;
}

/** Reads everything planPrune needs. `bakes`: this stack's entries in this region. */
export async function gatherPrune(ec2: PrunePort, opts: { stack: string; defaultAmi: string | undefined; bakes: BakeEntry[] }): Promise<PruneInputs> {
  const [images, own, tagged] = await Promise.all([listStackImages(ec2, opts), ownImages(ec2), describeSnapshots(ec2, stackFilters(opts.stack, 'ami'))]);
  const existing = new Set(own.map((i) => i.ImageId));
  const ours = new Set(images.map((i) => i.imageId));
  const active = opts.bakes.filter((b) => b.state !== 'cleaned');
  // Untagged images of cleanup lists: described with their users like the stack's own.
  const cleanupIds = [...new Set(active.flatMap((b) => b.cleanup?.images ?? []))].filter((id) => existing.has(id) && !ours.has(id));
  let cleanupImages: StackImage[] = [];
  if (cleanupIds.length) {
    const [nodes, templates] = await Promise.all([nodesUsing(ec2, cleanupIds), templatesUsing(ec2, opts.stack)]);
    cleanupImages = own
      .filter((i) => cleanupIds.includes(i.ImageId!))
      .map((i) => ({ imageId: i.ImageId!, name: i.Name ?? null, createdAt: i.CreationDate ?? null, state: i.State ?? 'unknown', stateReason: i.StateReason?.Message ?? null, sizeGiB: 0, snapshots: snapshotsOf(i), release: null, model: null, isDefault: i.ImageId === opts.defaultAmi, nodes: nodes.get(i.ImageId!) ?? [], launchTemplates: templates.get(i.ImageId!) ?? [] }));
  }
  // Snapshots of journaled bakes whose image is gone: by CreateImage's description, and those the journal names.
  const goneImages = active.map((b) => b.imageId).filter((id): id is string => Boolean(id) && !existing.has(id));
  const described: Sdk.Snapshot[] = [];
  for (const c of chunks(goneImages, 200)) {
    const found = await describeSnapshots(ec2, [{ Name: 'description', Values: c.map((id) => `Created by CreateImage(*) for ${id}*`) }]);
    described.push(...found.filter((s) => c.includes(describedImage(s) ?? '')));
  }
  const named = await existingSnapshots(ec2, [...new Set(active.flatMap((b) => [...(b.snapshots ?? []), ...(b.cleanup?.snapshots ?? [])]))]);
  return { images, cleanupImages, ownImages: own, snapshots: [...tagged, ...described, ...named], bakes: opts.bakes };
}

export interface PruneFailure {
  id: string;
  code: string;
  message: string;
}

export interface PruneOutcome {
  deregistered: string[];
  snapshotsDeleted: string[];
  orphansDeleted: Orphan[];
  failed: PruneFailure[];
}

const failure = (id: string, err: unknown): PruneFailure => ({ id, code: awsErrorName(err), message: err instanceof Error ? err.message : String(err) });

/**
 * Carries the plan out: each image deregistered with DeleteAssociatedSnapshots, then its snapshots
 * looked up and any left deleted (an API or region that kept them leaks nothing); then the orphans.
 * A failure is recorded and the rest goes on.
 */
export async function runPrune(ec2: PrunePort, plan: PrunePlan, progress: (line: string) => void = () => {}): Promise<PruneOutcome> {
  const out: PruneOutcome = { deregistered: [], snapshotsDeleted: [], orphansDeleted: [], failed: [] };
  const deleteSnapshot = async (id: string): Promise<boolean> => {
    try {
      await ec2.deleteSnapshot({ SnapshotId: id });
      return true;
    } catch (err) {
      if (hasErrorCode(err, 'InvalidSnapshot.NotFound')) return true;
      out.failed.push(failure(id, err));
      return false;
    }
  };
  for (const r of plan.remove) {
    try {
      await ec2.deregisterImage({ ImageId: r.imageId, DeleteAssociatedSnapshots: true });
    } catch (err) {
      if (!hasErrorCode(err, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable')) {
        out.failed.push(failure(r.imageId, err));
        continue;
      }
    }
    out.deregistered.push(r.imageId);
    progress(`deregistered ${r.imageId}${r.name ? ` (${r.name})` : ''}`);
    const left = r.snapshots.length ? await existingSnapshots(ec2, r.snapshots) : [];
    for (const s of r.snapshots) {
      const stillThere = left.some((l) => l.SnapshotId === s);
      if (!stillThere || (await deleteSnapshot(s))) {
        out.snapshotsDeleted.push(s);
        if (stillThere) progress(`deleted ${s}, which DeregisterImage left`);
      }
    }
  }
  for (const o of [...plan.cleanupSnapshots, ...plan.orphans]) {
    if (await deleteSnapshot(o.snapshotId)) {
      out.orphansDeleted.push(o);
      progress(`deleted ${o.snapshotId}: ${o.reason}`);
    }
  }
  return out;
}
