// The tag names on everything fluxer creates: the one source of truth. Destructive commands act only
// on resources carrying MANAGED=true of the current stack, so these names must never drift.

export const TAG_MANAGED = 'fluxer:managed';
export const TAG_STACK = 'fluxer:stack';
export const TAG_ROLE = 'fluxer:role';
export const TAG_NAME = 'Name';
/** On GPU nodes only: groups the instances of one `fluxer spot launch`. */
export const TAG_LAUNCH_ID = 'fluxer:launch-id';
/** On baked AMIs (and their snapshots): the runtime release and the model the image holds. */
export const TAG_RELEASE = 'fluxer:release';
export const TAG_MODEL = 'fluxer:model';

export type FluxerRole = 'gpu-node' | 'ami' | 'queue' | 'bucket' | 'node-role' | 'node-profile' | 'node-security-group' | 'fleet' | 'launch-template' | 'fleet-alarm';

/** EC2 and S3 shape. */
export interface KeyValueTag {
  Key: string;
  Value: string;
}

/** The tags for one resource, as a plain map (SQS's shape for CreateQueue/TagQueue). */
export function fluxerTagMap(stack: string, role: FluxerRole, name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [TAG_MANAGED]: 'true', [TAG_STACK]: stack, [TAG_ROLE]: role, [TAG_NAME]: name, ...extra };
}

/** The same tags in EC2/S3's [{Key, Value}] shape. */
export function fluxerTags(stack: string, role: FluxerRole, name: string, extra: Record<string, string> = {}): KeyValueTag[] {
  return Object.entries(fluxerTagMap(stack, role, name, extra)).map(([Key, Value]) => ({ Key, Value }));
}

/** EC2 filters that select what fluxer manages for one stack (DescribeInstances, DescribeImages, ...). */
export function stackFilters(stack: string, role?: FluxerRole): Array<{ Name: string; Values: string[] }> {
  return [
    { Name: `tag:${TAG_MANAGED}`, Values: ['true'] },
    { Name: `tag:${TAG_STACK}`, Values: [stack] },
    ...(role ? [{ Name: `tag:${TAG_ROLE}`, Values: [role] }] : []),
  ];
}

/** Whether a resource's tags (either shape) mark it as fluxer-managed for this stack. */
export function isManagedBy(tags: KeyValueTag[] | Record<string, string> | undefined, stack: string): boolean {
  if (!tags) return false;
  const map = Array.isArray(tags) ? Object.fromEntries(tags.map((t) => [t.Key, t.Value])) : tags;
  return map[TAG_MANAGED] === 'true' && map[TAG_STACK] === stack;
}
