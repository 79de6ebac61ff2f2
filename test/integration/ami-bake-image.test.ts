// The EC2 half of a bake (src/core/ami/bake-image.ts) against moto alone and through a fault proxy:
// moto refuses snapshot TagSpecifications (HTTP 500) — the image is made with its own tags and the
// snapshots tagged with CreateTags; a CreateImage whose answer is lost after moto made the image is
// found again by its name, and no third call or second image is made; the cleanup leaves no snapshot (moto keeps
// them on DeregisterImage, so each is deleted).
import * as ec2sdk from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEc2Port } from '../../src/aws/ec2.js';
import { bakeSnapshots, cleanupImage, createImage, describeImage, ensureSnapshotTags, snapshotIdsOf } from '../../src/core/ami/bake-image.js';
import { fluxerTags } from '../../src/core/tags.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const moto = inject('motoEndpoint');
const unique = (p: string) => `${p}-${Math.random().toString(16).slice(2, 10)}`;
const port = (endpoint: string) => createEc2Port(new ec2sdk.EC2Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'AMIBAKEIMG', secretAccessKey: 'testing' }, maxAttempts: 1 }), ec2sdk);
const { ec2: motoClient } = nodeClients(moto, { accessKeyId: 'AMIBAKEIMG' });
const proxy = await startFaultProxy({ upstream: moto });
afterAll(() => proxy.stop());

const tagMap = (t: Array<{ Key?: string; Value?: string }> | undefined) => Object.fromEntries((t ?? []).map((x) => [x.Key, x.Value]));

describe('bake images against moto', () => {
  it('snapshot specs refused (moto: HTTP 500): the image is made, its snapshots tagged with CreateTags', async () => {
    const ec2 = port(moto);
    const [instance] = await launchTestNodes(motoClient, { stack: unique('s') });
    const name = unique('refused');
    const tags = fluxerTags('s1', 'ami', name);
    const made = await createImage(ec2, { instanceId: instance!, name, description: 'test', noReboot: true, tags });
    expect(made).toMatchObject({ recovered: false, snapshotTagsLater: true });
    const image = await describeImage(ec2, made.imageId);
    expect(tagMap(image?.Tags)).toMatchObject({ 'fluxer:role': 'ami', Name: name });
    const snaps = snapshotIdsOf(image);
    expect(await ensureSnapshotTags(ec2, snaps, tags)).toEqual(snaps);
    const described = (await ec2.describeSnapshots({ SnapshotIds: snaps })).Snapshots ?? [];
    for (const s of described) expect(tagMap(s.Tags)).toMatchObject({ 'fluxer:managed': 'true', 'fluxer:role': 'ami', Name: name });
    // Tagged once: a second check changes nothing.
    expect(await ensureSnapshotTags(ec2, snaps, tags)).toEqual([]);
  });

  it('a lost answer (moto made the image, the client got a 500) is found by its name: one image, not two', async () => {
    const ec2 = port(proxy.endpoint);
    const [instance] = await launchTestNodes(motoClient, { stack: unique('s') });
    const name = unique('lost');
    let creates = 0;
    proxy.intercept = async (req, forward) => {
      if (!req.body.toString().includes('Action=CreateImage')) return undefined;
      creates++;
      // The first (with snapshot specs) moto refuses; the second it carries out, and its answer is lost.
      const answer = await forward();
      return creates === 1 ? answer : { status: 500, headers: { 'Content-Type': 'text/xml' }, body: '<Response><Errors><Error><Code>InternalError</Code><Message>lost</Message></Error></Errors></Response>' };
    };
    try {
      const made = await createImage(ec2, { instanceId: instance!, name, description: 'test', noReboot: true, tags: fluxerTags('s1', 'ami', name) });
      expect(made.recovered).toBe(true);
      expect(creates).toBe(2);
      const named = (await port(moto).describeImages({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })).Images ?? [];
      expect(named.map((i) => i.ImageId)).toEqual([made.imageId]);
    } finally {
      proxy.intercept = undefined;
    }
  });

  it('cleanup deregisters the image and deletes every snapshot it made (moto keeps them on deregister)', async () => {
    const ec2 = port(moto);
    const [instance] = await launchTestNodes(motoClient, { stack: unique('s') });
    const name = unique('clean');
    const made = await createImage(ec2, { instanceId: instance!, name, description: 'test', noReboot: true, tags: fluxerTags('s1', 'ami', name) });
    const snapshots = await bakeSnapshots(ec2, { imageId: made.imageId, name, sourceNode: instance! });
    expect(snapshots.length).toBeGreaterThan(0);
    const done = await cleanupImage(ec2, made.imageId, snapshots);
    expect(done).toEqual({ images: [made.imageId], snapshots, problems: [] });
    expect(await describeImage(ec2, made.imageId)).toBeUndefined();
    const left = (await ec2.describeSnapshots({ OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values: snapshots }] })).Snapshots ?? [];
    expect(left).toEqual([]);
    // Run again (a resumed cleanup): gone counts as done.
    expect((await cleanupImage(ec2, made.imageId, snapshots)).problems).toEqual([]);
  });
});
