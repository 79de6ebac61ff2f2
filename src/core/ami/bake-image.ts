// The EC2 half of a bake: CreateImage with the image and its snapshots tagged at creation (CreateTags
// from the block device mappings where the API refuses snapshot specs), a lost answer found again by
// the image's name (CreateImage has no ClientToken), the wait on its own budget, and the cleanup of a
// failed image: deregistered, and every snapshot it made deleted. No terminal code here.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import { awsErrorName, hasErrorCode, isNotFound, isPermissionDenied } from '../../aws/errors.js';
import type { Clock } from '../../lib/clock.js';
import { TAG_MANAGED, type KeyValueTag } from '../tags.js';

export type ImageEc2 = Pick<Ec2Port, 'createImage' | 'describeImages' | 'deregisterImage' | 'describeSnapshots' | 'deleteSnapshot' | 'createTags'>;

export interface CreateImageInput {
  instanceId: string;
  name: string;
  description: string;
  noReboot: boolean;
  tags: KeyValueTag[];
}

export interface CreatedImage {
  imageId: string;
  /** The answer was lost (or refused after sending) and the image was found by its name. */
  recovered: boolean;
  /** Snapshot tags were refused at creation: they are set with CreateTags once the snapshots are known. */
  snapshotTagsLater: boolean;
}

/** An image of ours by its exact name (self-owned), newest first: the lost-answer lookup. */
export async function findImageByName(ec2: Pick<Ec2Port, 'describeImages'>, name: string): Promise<Sdk.Image | undefined> {
  const images = (await ec2.describeImages({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })).Images ?? [];
  return [...images].filter((i) => i.Name === name).sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
}

/** Errors that say the request was understood and refused for the caller: no retry, no lookup helps. */
const isCallerError = (err: unknown) => isPermissionDenied(err) || hasErrorCode(err, 'InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed', 'IncorrectInstanceState', 'AuthFailure', 'UnauthorizedOperation');

export async function createImage(ec2: ImageEc2, input: CreateImageInput): Promise<CreatedImage> {
  const base: Sdk.CreateImageCommandInput = { InstanceId: input.instanceId, Name: input.name, Description: input.description, NoReboot: input.noReboot };
  const imageSpec = { ResourceType: 'image' as const, Tags: input.tags };
  const snapshotSpec = { ResourceType: 'snapshot' as const, Tags: input.tags };
  try {
    const made = await ec2.createImage({ ...base, TagSpecifications: [imageSpec, snapshotSpec] });
    if (!made.ImageId) throw new Error('CreateImage returned no ImageId');
    return { imageId: made.ImageId, recovered: false, snapshotTagsLater: false };
  } catch (first) {
    if (isCallerError(first)) throw first;
    // Sent, and maybe made: an image by this name is ours (the name was journaled and is unique per bake).
    const found = await findImageByName(ec2, input.name);
    if (found?.ImageId) return { imageId: found.ImageId, recovered: true, snapshotTagsLater: true };
    // Not made: some APIs (moto) refuse snapshot TagSpecifications. Once more with the image's only.
    try {
      const made = await ec2.createImage({ ...base, TagSpecifications: [imageSpec] });
      if (!made.ImageId) throw new Error('CreateImage returned no ImageId');
      return { imageId: made.ImageId, recovered: false, snapshotTagsLater: true };
    } catch (second) {
      if (isCallerError(second)) throw second;
      const again = await findImageByName(ec2, input.name);
      if (again?.ImageId) return { imageId: again.ImageId, recovered: true, snapshotTagsLater: true };
      throw second;
    }
  }
}

export function snapshotIdsOf(image: Sdk.Image | undefined): string[] {
  return (image?.BlockDeviceMappings ?? []).map((b) => b.Ebs?.SnapshotId).filter((s): s is string => !!s);
}

export async function describeImage(ec2: Pick<Ec2Port, 'describeImages'>, imageId: string): Promise<Sdk.Image | undefined> {
  try {
    return (await ec2.describeImages({ ImageIds: [imageId] })).Images?.[0];
  } catch (err) {
    if (isNotFound(err, 'ec2') || hasErrorCode(err, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable')) return undefined;
    throw err;
  }
}

/** Tags the image's snapshots that lack fluxer's tags (CreateTags: the fallback, and a resumed bake's check). */
export async function ensureSnapshotTags(ec2: ImageEc2, snapshotIds: readonly string[], tags: KeyValueTag[]): Promise<string[]> {
  if (snapshotIds.length === 0) return [];
  const snaps = (await ec2.describeSnapshots({ SnapshotIds: [...snapshotIds] })).Snapshots ?? [];
  const untagged = snaps.filter((s) => !(s.Tags ?? []).some((t) => t.Key === TAG_MANAGED && t.Value === 'true')).map((s) => s.SnapshotId!).filter(Boolean);
  if (untagged.length) await ec2.createTags({ Resources: untagged, Tags: tags });
  return untagged;
}

export type ImageOutcome = { state: 'available'; image: Sdk.Image } | { state: 'failed'; reason: string; image: Sdk.Image | undefined } | { state: 'timeout'; lastState: string };

export interface WaitImageOptions {
  clock: Clock;
  deadlineMs: number;
  signal?: AbortSignal;
  /** Each poll's state and, when the snapshots are known, their progress ("snap-…: 42%"). */
  onPoll?: (state: string, progress: string[]) => void;
  /** First and largest gap between polls. */
  intervalMs?: { first: number; max: number };
}

/** Polls DescribeImages until available or failed, or the deadline (a new image may be invisible at first). */
export async function waitForImage(ec2: ImageEc2, imageId: string, opts: WaitImageOptions): Promise<ImageOutcome> {
  const gaps = opts.intervalMs ?? { first: 2000, max: 15_000 };
  let gap = gaps.first;
  let last = 'pending';
  for (;;) {
    const image = await describeImage(ec2, imageId);
    last = image?.State ?? 'pending';
    if (image && last === 'available') return { state: 'available', image };
    if (image && (last === 'failed' || last === 'error' || last === 'invalid' || last === 'deregistered')) {
      return { state: 'failed', image, reason: image.StateReason?.Message ?? `image ${last}` };
    }
    const snaps = snapshotIdsOf(image);
    const progress = snaps.length ? ((await ec2.describeSnapshots({ SnapshotIds: snaps }).catch(() => ({ Snapshots: [] }))).Snapshots ?? []).map((s) => `${s.SnapshotId}: ${s.Progress ?? '?'}`) : [];
    opts.onPoll?.(last, progress);
    const left = opts.deadlineMs - opts.clock.now();
    if (left <= 0) return { state: 'timeout', lastState: last };
    await opts.clock.sleep(Math.min(gap, left), opts.signal);
    gap = Math.min(gap * 2, gaps.max);
  }
}

/**
 * Every snapshot a bake's image made: its block device mappings, the snapshots tagged with its name,
 * and those AWS describes "Created by CreateImage(<instance>) for <image>" (a snapshot whose image
 * is gone, or not yet in the mappings, is found by that).
 */
export async function bakeSnapshots(ec2: ImageEc2, opts: { imageId: string; name: string; sourceNode: string; known?: readonly string[] }): Promise<string[]> {
  const ids = new Set<string>(opts.known ?? []);
  for (const s of snapshotIdsOf(await describeImage(ec2, opts.imageId))) ids.add(s);
  const byFilter = async (filters: Sdk.Filter[]) => ((await ec2.describeSnapshots({ OwnerIds: ['self'], Filters: filters })).Snapshots ?? []).map((s) => s.SnapshotId).filter((s): s is string => !!s);
  for (const s of await byFilter([{ Name: 'tag:Name', Values: [opts.name] }, { Name: `tag:${TAG_MANAGED}`, Values: ['true'] }])) ids.add(s);
  for (const s of await byFilter([{ Name: 'description', Values: [`Created by CreateImage(${opts.sourceNode}) for ${opts.imageId}*`] }])) ids.add(s);
  return [...ids].sort();
}

export interface CleanupResult {
  images: string[];
  snapshots: string[];
  /** What could not be deleted, and why (the journal keeps it for `ami prune`). */
  problems: string[];
}

/** DeregisterImage (with its snapshots), then each snapshot still there deleted; not-found counts as gone. */
export async function cleanupImage(ec2: ImageEc2, imageId: string, snapshots: readonly string[]): Promise<CleanupResult> {
  const result: CleanupResult = { images: [], snapshots: [], problems: [] };
  try {
    await ec2.deregisterImage({ ImageId: imageId, DeleteAssociatedSnapshots: true });
    result.images.push(imageId);
  } catch (err) {
    if (isNotFound(err, 'ec2') || hasErrorCode(err, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable')) result.images.push(imageId);
    else result.problems.push(`DeregisterImage ${imageId}: ${awsErrorName(err)}: ${(err as Error).message}`);
  }
  for (const id of snapshots) {
    try {
      await ec2.deleteSnapshot({ SnapshotId: id });
      result.snapshots.push(id);
    } catch (err) {
      if (hasErrorCode(err, 'InvalidSnapshot.NotFound') || isNotFound(err, 'ec2')) result.snapshots.push(id);
      else result.problems.push(`DeleteSnapshot ${id}: ${awsErrorName(err)}: ${(err as Error).message}`);
    }
  }
  return result;
}
