// The stack's AMIs as EC2 sees them (DescribeImages, Owners self, the stack's fluxer:role=ami tags),
// with what uses each: instances launched from it and the stack's launch templates (the fleet's)
// whose latest or default version names it. Read by `ami list` and `ami prune`.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import { describeAll, LIVE_STATES } from '../nodes/instances.js';
import { stackFilters, TAG_MODEL, TAG_RELEASE, TAG_STACK } from '../tags.js';

export type ImagesPort = Pick<Ec2Port, 'describeImages' | 'describeInstances' | 'describeLaunchTemplates' | 'describeLaunchTemplateVersions'>;

export interface ImageNode {
  instanceId: string;
  state: string;
  /** Its fluxer:stack tag (null: not a fluxer node): any instance launched from the image counts. */
  stack: string | null;
}

export interface ImageTemplate {
  launchTemplateId: string;
  name: string;
  /** The versions that name the image, e.g. ["2 ($Latest)", "1 ($Default)"]. */
  versions: string[];
}

export interface StackImage {
  imageId: string;
  name: string | null;
  createdAt: string | null;
  state: string;
  stateReason: string | null;
  /** GiB: the sum of its snapshots' volume sizes (the block device mappings). */
  sizeGiB: number;
  snapshots: string[];
  release: string | null;
  model: string | null;
  isDefault: boolean;
  nodes: ImageNode[];
  launchTemplates: ImageTemplate[];
}

/**
 * Newest first. EC2's CreationDate has whole seconds, so images made within one second tie; the name
 * decides then (bake names carry their time), then the id, so every listing and prune agree.
 */
export function newestImageFirst(a: Pick<Sdk.Image, 'CreationDate' | 'Name' | 'ImageId'>, b: Pick<Sdk.Image, 'CreationDate' | 'Name' | 'ImageId'>): number {
  const time = (i: Pick<Sdk.Image, 'CreationDate'>) => (i.CreationDate ? Date.parse(i.CreationDate) || 0 : 0);
  return time(b) - time(a) || (b.Name ?? '').localeCompare(a.Name ?? '') || (b.ImageId ?? '').localeCompare(a.ImageId ?? '');
}

export const tagsOf = (tags: Sdk.Tag[] | undefined): Record<string, string> => Object.fromEntries((tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key!, t.Value ?? '']));

export function snapshotsOf(image: Sdk.Image): string[] {
  return (image.BlockDeviceMappings ?? []).map((b) => b.Ebs?.SnapshotId).filter((s): s is string => Boolean(s));
}

/** Images this account owns in the region, over all pages (Filters narrow them; none: all of them). */
export async function ownImages(ec2: Pick<Ec2Port, 'describeImages'>, filters: Sdk.Filter[] = []): Promise<Sdk.Image[]> {
  const found: Sdk.Image[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.describeImages({ Owners: ['self'], ...(filters.length ? { Filters: filters } : {}), MaxResults: 1000, ...(token ? { NextToken: token } : {}) });
    found.push(...(page.Images ?? []));
    token = page.NextToken || undefined;
  } while (token);
  return found;
}

/** The instances (pending, running, stopping, stopped; of any stack) launched from each image. */
export async function nodesUsing(ec2: Pick<Ec2Port, 'describeInstances'>, imageIds: readonly string[]): Promise<Map<string, ImageNode[]>> {
  const byImage = new Map<string, ImageNode[]>();
  for (let i = 0; i < imageIds.length; i += 200) {
    const found = await describeAll(ec2, [
      { Name: 'image-id', Values: imageIds.slice(i, i + 200) },
      { Name: 'instance-state-name', Values: [...LIVE_STATES] },
    ]);
    for (const n of found) byImage.set(n.ami, [...(byImage.get(n.ami) ?? []), { instanceId: n.instanceId, state: n.state, stack: n.tags[TAG_STACK] ?? null }]);
  }
  return byImage;
}

/** The stack's launch templates (tagged fluxer:managed + fluxer:stack) by the image their $Latest or $Default version names. */
export async function templatesUsing(ec2: Pick<Ec2Port, 'describeLaunchTemplates' | 'describeLaunchTemplateVersions'>, stack: string): Promise<Map<string, ImageTemplate[]>> {
  const templates: Sdk.LaunchTemplate[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.describeLaunchTemplates({ Filters: stackFilters(stack), MaxResults: 200, ...(token ? { NextToken: token } : {}) });
    templates.push(...(page.LaunchTemplates ?? []));
    token = page.NextToken || undefined;
  } while (token);
  const byImage = new Map<string, ImageTemplate[]>();
  for (const t of templates) {
    if (!t.LaunchTemplateId) continue;
    const versions = (await ec2.describeLaunchTemplateVersions({ LaunchTemplateId: t.LaunchTemplateId, Versions: ['$Latest', '$Default'] })).LaunchTemplateVersions ?? [];
    const labels = new Map<string, Set<string>>();
    for (const v of versions) {
      const imageId = v.LaunchTemplateData?.ImageId;
      if (!imageId) continue;
      const which = [v.VersionNumber === t.LatestVersionNumber ? '$Latest' : '', v.DefaultVersion || v.VersionNumber === t.DefaultVersionNumber ? '$Default' : ''].filter(Boolean).join(', ');
      const set = labels.get(imageId) ?? new Set<string>();
      set.add(`${v.VersionNumber ?? '?'}${which ? ` (${which})` : ''}`);
      labels.set(imageId, set);
    }
    for (const [imageId, set] of labels) {
      byImage.set(imageId, [...(byImage.get(imageId) ?? []), { launchTemplateId: t.LaunchTemplateId, name: t.LaunchTemplateName ?? '', versions: [...set] }]);
    }
  }
  return byImage;
}

function toStackImage(image: Sdk.Image, defaultAmi: string | undefined, nodes: Map<string, ImageNode[]>, templates: Map<string, ImageTemplate[]>): StackImage {
  const tags = tagsOf(image.Tags);
  const id = image.ImageId!;
  return {
    imageId: id,
    name: image.Name ?? null,
    createdAt: image.CreationDate ?? null,
    state: image.State ?? 'unknown',
    stateReason: image.StateReason?.Message ?? null,
    sizeGiB: (image.BlockDeviceMappings ?? []).reduce((sum, b) => sum + (b.Ebs?.SnapshotId ? (b.Ebs.VolumeSize ?? 0) : 0), 0),
    snapshots: snapshotsOf(image),
    release: tags[TAG_RELEASE] ?? null,
    model: tags[TAG_MODEL] ?? null,
    isDefault: id === defaultAmi,
    nodes: nodes.get(id) ?? [],
    launchTemplates: templates.get(id) ?? [],
  };
}

/** The stack's images, newest first, with their users. `defaultAmi`: the stack's parameter's value. */
export async function listStackImages(ec2: ImagesPort, opts: { stack: string; defaultAmi: string | undefined }): Promise<StackImage[]> {
  const images = (await ownImages(ec2, stackFilters(opts.stack, 'ami'))).filter((i) => i.ImageId).sort(newestImageFirst);
  const ids = images.map((i) => i.ImageId!);
  const [nodes, templates] = await Promise.all([ids.length ? nodesUsing(ec2, ids) : Promise.resolve(new Map<string, ImageNode[]>()), templatesUsing(ec2, opts.stack)]);
  return images.map((i) => toStackImage(i, opts.defaultAmi, nodes, templates));
}
