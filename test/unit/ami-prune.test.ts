// The prune rules without a server (planPrune is pure), and the bake journal's reader.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import type { StackImage } from '../../src/core/ami/images.js';
import { readBake, readBakes, writeBake, type BakeEntry } from '../../src/core/ami/journal.js';
import { planPrune, type PruneInputs, type PruneRules } from '../../src/core/ami/prune.js';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const rules: PruneRules = { stack: 's', region: 'us-east-1', keep: 1, nowMs: NOW, defaultParameter: '/fluxer/s/ami' };
const tags = (stack: string) => [{ Key: 'fluxer:managed', Value: 'true' }, { Key: 'fluxer:stack', Value: stack }, { Key: 'fluxer:role', Value: 'ami' }];

function image(n: number, fields: Partial<StackImage> = {}): StackImage {
  return { imageId: `ami-0000000${n}`, name: `s-${n}`, createdAt: new Date(NOW - (10 - n) * 86_400_000).toISOString(), state: 'available', stateReason: null, sizeGiB: 30, snapshots: [`snap-0000000${n}`], release: null, model: null, isDefault: false, nodes: [], launchTemplates: [], ...fields };
}

function inputs(images: StackImage[], more: Partial<PruneInputs> = {}): PruneInputs {
  return { images, cleanupImages: [], ownImages: images.map((i) => ({ ImageId: i.imageId, BlockDeviceMappings: i.snapshots.map((s) => ({ Ebs: { SnapshotId: s } })), Tags: tags('s') })), snapshots: [], bakes: [], ...more };
}

const bake = (fields: Partial<BakeEntry> & { name: string }): BakeEntry => ({ stack: 's', region: 'us-east-1', sourceNode: 'i-00000001', state: 'interrupted', startedAt: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z', ...fields });

describe('planPrune', () => {
  it('keeps the newest N available; a failed image neither counts nor is kept; an abandoned bake\'s pending image goes', () => {
    const imgs = [image(4, { state: 'failed', stateReason: 'snapshot failed' }), image(3, { state: 'pending' }), image(2, { state: 'pending' }), image(1)];
    const plan = planPrune(inputs(imgs, { bakes: [bake({ name: 'b2', imageId: 'ami-00000002', state: 'interrupted' })] }), rules);
    expect(plan.remove.map((r) => [r.imageId, r.why])).toEqual([
      ['ami-00000004', 'failed: snapshot failed'],
      ['ami-00000002', 'pending'],
    ]);
    expect(plan.kept).toEqual([
      { imageId: 'ami-00000003', reason: expect.stringContaining('still being made') },
      { imageId: 'ami-00000001', reason: 'one of the newest 1 available' },
    ]);
  });

  it('gives every reason an image is kept', () => {
    const img = image(1, { isDefault: true, nodes: [{ instanceId: 'i-00000001', state: 'stopped', stack: 'other' }], launchTemplates: [{ launchTemplateId: 'lt-1', name: 'fleet', versions: ['3 ($Latest)'] }] });
    const plan = planPrune(inputs([img]), { ...rules, keep: 0, olderThanMs: 30 * 86_400_000 });
    expect(plan.kept[0]!.reason).toBe("the stack's default AMI (SSM /fluxer/s/ami); launch template fleet (lt-1) version 3 ($Latest) uses it; a node uses it: i-00000001 (stopped, stack other); newer than 30d (--older-than)");
    expect(plan.remove).toEqual([]);
  });

  it('orphans: only completed snapshots no image names, tagged for this stack or of a journaled bake whose image is gone', () => {
    const imgs = [image(1)];
    const snapshots: Snapshot[] = [
      { SnapshotId: 'snap-00000001', State: 'completed', Tags: tags('s') }, // its image exists
      { SnapshotId: 'snap-0000000a', State: 'completed', Tags: tags('s'), Description: 'Created by CreateImage(i-00000001) for ami-0000000a' },
      { SnapshotId: 'snap-0000000b', State: 'pending', Tags: tags('s') }, // a bake still making it
      { SnapshotId: 'snap-0000000c', State: 'completed', Tags: tags('other') },
      { SnapshotId: 'snap-0000000d', State: 'completed', Description: 'Created by CreateImage(i-00000001) for ami-0000000d' }, // journaled, untagged
      { SnapshotId: 'snap-0000000e', State: 'completed', Description: 'Created by CreateImage(i-00000001) for ami-0000000e' }, // nobody's
      { SnapshotId: 'snap-0000000f', State: 'completed', Tags: tags('s'), Description: 'Created by CreateImage(i-00000001) for ami-00000001' }, // its image exists
    ];
    const plan = planPrune(inputs(imgs, { snapshots, bakes: [bake({ name: 'bd', imageId: 'ami-0000000d' })] }), { ...rules, keep: 5 });
    expect(plan.orphans.map((o) => o.snapshotId)).toEqual(['snap-0000000a', 'snap-0000000d']);
    expect(plan.entries.map((e) => e.name)).toEqual(['bd']);
  });

  it('a cleanup-listed image that became the default is kept, and its entry stays uncleaned', () => {
    const listed = image(7, { isDefault: true });
    const plan = planPrune({ ...inputs([]), cleanupImages: [listed], ownImages: [{ ImageId: listed.imageId }], bakes: [bake({ name: 'b7', state: 'cleaning', cleanup: { images: [listed.imageId], snapshots: [] } })] }, rules);
    expect(plan.remove).toEqual([]);
    expect(plan.kept).toEqual([{ imageId: listed.imageId, reason: expect.stringContaining('(listed for cleanup by bake b7)') }]);
    expect(plan.entries).toEqual([]);
  });

  it('never a cleanup-listed image tagged for another stack', () => {
    const listed = image(8);
    const plan = planPrune({ ...inputs([]), cleanupImages: [listed], ownImages: [{ ImageId: listed.imageId, Tags: tags('other') }], bakes: [bake({ name: 'b8', state: 'failed', cleanup: { images: [listed.imageId], snapshots: [] } })] }, rules);
    expect(plan.remove).toEqual([]);
    expect(plan.kept[0]!.reason).toContain('tagged for stack "other"');
  });
});

describe('bake journal', () => {
  it('writes whole entries, reads them back oldest first, and names files that are not entries', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bakes-')), 'bakes');
    writeBake(dir, bake({ name: 'b-2', startedAt: '2026-12-02T00:00:00.000Z' }), NOW);
    writeBake(dir, bake({ name: 'b-1', imageId: 'ami-00000001', snapshots: ['snap-00000001'] }), NOW);
    writeFileSync(join(dir, 'junk.json'), '{"name": "junk"}');
    const read = readBakes(dir);
    expect(read.entries.map((e) => e.name)).toEqual(['b-1', 'b-2']);
    expect(read.unreadable).toEqual([join(dir, 'junk.json')]);
    expect(readBake(dir, 'b-1')).toMatchObject({ imageId: 'ami-00000001', updatedAt: new Date(NOW).toISOString() });
    expect(readBake(dir, 'missing')).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, 'b-2.json'), 'utf8')).state).toBe('interrupted');
    expect(() => readBake(dir, '../etc/passwd')).toThrow('not a bake name');
  });

  it('an absent folder is an empty journal', () => {
    expect(readBakes(join(tmpdir(), 'no-such-bakes-dir-x'))).toEqual({ entries: [], unreadable: [] });
  });
});
