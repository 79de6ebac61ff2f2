// `fluxer ami list|prune|default` through the emulator: images made with CreateImage from test nodes
// and tagged as a bake tags them (image and snapshots at creation), a launch template of the stack,
// the bake journal as `ami bake` writes it; what prune left behind is read with the real AWS CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ec2sdk from '@aws-sdk/client-ec2';
import * as ssmsdk from '@aws-sdk/client-ssm';
import { describe, expect, inject, it } from 'vitest';
import { createEc2Port } from '../../src/aws/ec2.js';
import { createSsmPort } from '../../src/aws/ssm.js';
import { bakesDir, writeBake, type BakeEntry } from '../../src/core/ami/journal.js';
import { resolveAmi } from '../../src/core/launch/spec.js';
import { fluxerTags, TAG_MODEL, TAG_RELEASE } from '../../src/core/tags.js';
import { setStandinImageHolds } from '../../src/emulator/images.js';
import { standinRequests } from '../../src/emulator/prices.js';
import type { Prompter } from '../../src/cli/prompter.js';
import type { Clock } from '../../src/lib/clock.js';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const motoEndpoint = inject('motoEndpoint');
const KEY = 'AMIMANAGE';
const { ec2 } = nodeClients(endpoint, { accessKeyId: KEY });
const ssm = new ssmsdk.SSMClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: KEY, secretAccessKey: 'testing' }, maxAttempts: 1 });
/** Straight to moto: an EC2 that deregisters without deleting snapshots (what an interrupted cleanup leaves). */
const moto = nodeClients(motoEndpoint, { accessKeyId: KEY }).ec2;
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

async function awsCli(...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent-home', AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'testing' },
  });
  return stdout.trim() ? JSON.parse(stdout) : undefined;
}
const imagesLeft = async (ids: string[]): Promise<string[]> => ((await awsCli('ec2', 'describe-images', '--filters', `Name=image-id,Values=${ids.join(',')}`)).Images as Array<{ ImageId: string }>).map((i) => i.ImageId).sort();
const snapshotsLeft = async (ids: string[]): Promise<string[]> => ((await awsCli('ec2', 'describe-snapshots', '--owner-ids', 'self', '--filters', `Name=snapshot-id,Values=${ids.join(',')}`)).Snapshots as Array<{ SnapshotId: string }>).map((s) => s.SnapshotId).sort();

function newStack() {
  const stack = unique('ami');
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-ami-'));
  const state = mkdtempSync(join(tmpdir(), 'fluxer-ami-state-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: unique('ami-bkt') } } }));
  const env = testEnv({ AWS_ACCESS_KEY_ID: KEY, XDG_STATE_HOME: state });
  const cli = (args: string[], opts: { clock?: Clock; endpointUrl?: string; env?: NodeJS.ProcessEnv; prompter?: Prompter } = {}) =>
    runCli(['ami', ...args, '--endpoint-url', opts.endpointUrl ?? endpoint], { cwd, env: opts.env ?? env, clock: opts.clock, ...(opts.prompter ? { tty: true, prompter: opts.prompter } : {}) });
  return { stack, cwd, env, journal: bakesDir(env), cli };
}

interface Baked {
  imageId: string;
  snapshots: string[];
  instanceId: string;
}

/** An image as `ami bake` makes one: CreateImage from a node, the image and its snapshots tagged at creation. */
async function bake(stack: string, name: string, opts: { tags?: 'all' | 'image' | 'none'; release?: string; model?: string } = {}): Promise<Baked> {
  const [instanceId] = await launchTestNodes(ec2, { stack });
  const tags = fluxerTags(stack, 'ami', name, { [TAG_RELEASE]: opts.release ?? 'r-0001', [TAG_MODEL]: opts.model ?? 'tiny' });
  const which = opts.tags ?? 'all';
  const specs: ec2sdk.TagSpecification[] = which === 'none' ? [] : [{ ResourceType: 'image', Tags: tags }, ...(which === 'all' ? [{ ResourceType: 'snapshot' as const, Tags: tags }] : [])];
  const { ImageId } = await ec2.send(new ec2sdk.CreateImageCommand({ InstanceId: instanceId!, Name: name, NoReboot: true, ...(specs.length ? { TagSpecifications: specs } : {}) }));
  const image = (await ec2.send(new ec2sdk.DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images![0]!;
  return { imageId: ImageId!, instanceId: instanceId!, snapshots: (image.BlockDeviceMappings ?? []).map((b) => b.Ebs?.SnapshotId).filter((s): s is string => Boolean(s)) };
}

async function launchTemplate(stack: string, imageId: string): Promise<string> {
  const out = await ec2.send(
    new ec2sdk.CreateLaunchTemplateCommand({
      LaunchTemplateName: unique(`fluxer-${stack}`),
      LaunchTemplateData: { ImageId: imageId, InstanceType: 'g5.xlarge' },
      TagSpecifications: [{ ResourceType: 'launch-template', Tags: fluxerTags(stack, 'gpu-node', `fluxer-${stack}-fleet`) }],
    }),
  );
  return out.LaunchTemplate!.LaunchTemplateId!;
}

async function nodeFrom(stack: string, imageId: string): Promise<string> {
  const out = await ec2.send(new ec2sdk.RunInstancesCommand({ ImageId: imageId, InstanceType: 'g5.xlarge', MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: fluxerTags(stack, 'gpu-node', `fluxer-${stack}-node`) }] }));
  return out.Instances![0]!.InstanceId!;
}

const entry = (stack: string, fields: Partial<BakeEntry> & { name: string }): BakeEntry => ({ stack, region: 'us-east-1', sourceNode: 'i-0123456789abcdef0', state: 'interrupted', startedAt: new Date().toISOString(), updatedAt: new Date().toISOString(), ...fields });
const readEntry = (dir: string, name: string): BakeEntry => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
const shifted = (ms: number): Clock => ({ now: () => Date.now() + ms, sleep: async () => {} });
const DAY = 86_400_000;

describe('fluxer ami list', () => {
  it('shows the stack\'s images newest first with size, snapshots, release, model, the default and what uses each', async () => {
    const s = newStack();
    const one = await bake(s.stack, `${s.stack}-1`, { release: 'r-aaaa', model: 'flux-dev' });
    const two = await bake(s.stack, `${s.stack}-2`);
    const three = await bake(s.stack, `${s.stack}-3`, { release: 'r-cccc', model: 'sdxl' });
    await bake(unique('other'), unique('other-img'));
    expect((await s.cli(['default', one.imageId])).code).toBe(0);
    const node = await nodeFrom(s.stack, two.imageId);
    const template = await launchTemplate(s.stack, three.imageId);

    const r = await s.cli(['list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.defaultAmi).toBe(one.imageId);
    expect(doc.images.map((i: any) => i.imageId)).toEqual([three.imageId, two.imageId, one.imageId]);
    const [i3, i2, i1] = doc.images;
    expect(i3).toMatchObject({ name: `${s.stack}-3`, state: 'available', sizeGiB: 15, snapshots: three.snapshots, release: 'r-cccc', model: 'sdxl', isDefault: false, nodes: [] });
    expect(i3.launchTemplates).toEqual([{ launchTemplateId: template, name: expect.any(String), versions: ['1 ($Latest, $Default)'] }]);
    expect(i2.nodes).toEqual(expect.arrayContaining([{ instanceId: node, state: 'running', stack: s.stack }]));
    expect(i2.launchTemplates).toEqual([]);
    expect(i1).toMatchObject({ release: 'r-aaaa', model: 'flux-dev', isDefault: true });
    expect(Date.parse(i1.createdAt)).toBeGreaterThan(Date.now() - 10 * 60_000);

    const table = await s.cli(['list']);
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows[0]).toEqual(['ID', 'NAME', 'CREATED', 'STATE', 'SIZE', 'SNAPSHOTS', 'RELEASE', 'MODEL', 'DEFAULT', 'NODES', 'TEMPLATES']);
    expect(rows.find((c) => c[0] === one.imageId)?.[8]).toBe('default');
    expect(rows.find((c) => c[0] === two.imageId)?.[9]).toContain(node);
    expect(rows.find((c) => c[0] === three.imageId)?.[10]).toContain(':1');
  });

  it('an empty stack: an empty list, and the next command to run', async () => {
    const s = newStack();
    const r = await s.cli(['list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).images).toEqual([]);
    expect(r.stderr).toContain('fluxer ami bake');
  });
});

describe('fluxer ami prune', () => {
  it('keeps the newest N, the default and images in use (saying why), deregisters the rest with their snapshots; another stack is never touched', async () => {
    const s = newStack();
    const imgs: Baked[] = [];
    for (let i = 1; i <= 6; i++) imgs.push(await bake(s.stack, `${s.stack}-${i}`));
    const [d, n, t, old1, old2, newest] = imgs as [Baked, Baked, Baked, Baked, Baked, Baked];
    const other = await bake(unique('other'), unique('other-img'));
    expect((await s.cli(['default', d.imageId])).code).toBe(0);
    await nodeFrom(s.stack, n.imageId);
    await launchTemplate(s.stack, t.imageId);
    const all = [...imgs.map((i) => i.imageId), other.imageId];
    const allSnapshots = [...imgs, other].flatMap((i) => i.snapshots);

    const refused = await s.cli(['prune', '--keep', '1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');

    const dry = await s.cli(['prune', '--keep', '1', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.dryRun).toBe(true);
    expect([...plan.deregistered].sort()).toEqual([old1.imageId, old2.imageId].sort());
    expect(await imagesLeft(all)).toEqual([...all].sort());
    expect(await snapshotsLeft(allSnapshots)).toEqual([...allSnapshots].sort());

    const r = await s.cli(['prune', '--keep', '1', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect([...doc.deregistered].sort()).toEqual([old1.imageId, old2.imageId].sort());
    expect([...doc.snapshotsDeleted].sort()).toEqual([...old1.snapshots, ...old2.snapshots].sort());
    const why = Object.fromEntries(doc.kept.map((k: any) => [k.imageId, k.reason]));
    expect(Object.keys(why).sort()).toEqual([d.imageId, n.imageId, t.imageId, newest.imageId].sort());
    expect(why[d.imageId]).toContain(`default AMI (SSM /fluxer/${s.stack}/ami)`);
    expect(why[n.imageId]).toMatch(/a node uses it: i-[0-9a-f]+ \(running\)/);
    expect(why[t.imageId]).toContain('launch template');
    expect(why[newest.imageId]).toContain('one of the newest 1');
    expect(doc.orphansDeleted).toEqual([]);

    expect(await imagesLeft(all)).toEqual([d.imageId, n.imageId, t.imageId, newest.imageId, other.imageId].sort());
    expect(await snapshotsLeft(allSnapshots)).toEqual([...d.snapshots, ...n.snapshots, ...t.snapshots, ...newest.snapshots, ...other.snapshots].sort());

    // --keep 0: the newest goes too; what is in use stays.
    const zero = await s.cli(['prune', '--keep', '0', '--yes', '--json']);
    expect(zero.code, zero.stderr).toBe(0);
    expect(JSON.parse(zero.stdout).deregistered).toEqual([newest.imageId]);
    expect(await imagesLeft(all)).toEqual([d.imageId, n.imageId, t.imageId, other.imageId].sort());
  });

  it('without --yes and not on a terminal: exit 2 and not one request sent', async () => {
    const s = newStack();
    const key = unique('AMINOYES').toUpperCase();
    const r = await s.cli(['prune', '--keep', '0'], { env: { ...s.env, AWS_ACCESS_KEY_ID: key } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--yes');
    expect(await standinRequests(endpoint, key)).toEqual([]);
  });

  it('on a terminal it asks: no removes nothing (exit 1), yes removes', async () => {
    const s = newStack();
    const img = await bake(s.stack, `${s.stack}-1`);
    const questions: string[] = [];
    const answer = (yes: boolean): Prompter => ({ confirm: async (q: string) => (questions.push(q), yes), input: async () => '', select: async () => { throw new Error('no select'); } }) as Prompter;
    const no = await s.cli(['prune', '--keep', '0'], { prompter: answer(false) });
    expect(no.code).toBe(1);
    expect(questions).toEqual([`Remove 1 AMI(s) and 0 orphan snapshot(s) of stack "${s.stack}" in us-east-1?`]);
    expect(await imagesLeft([img.imageId])).toEqual([img.imageId]);
    const yes = await s.cli(['prune', '--keep', '0'], { prompter: answer(true) });
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.stdout).toContain('Deregistered 1 AMI(s)');
    expect(await imagesLeft([img.imageId])).toEqual([]);
  });

  it('--older-than: only older images go; a pending image (a bake still running) is kept', async () => {
    const s = newStack();
    const a = await bake(s.stack, `${s.stack}-1`);
    const b = await bake(s.stack, `${s.stack}-2`);
    await setStandinImageHolds(endpoint, [{ namePrefix: `${s.stack}-3`, holdMs: 3_600_000, accessKeyId: KEY }]);
    const pending = await bake(s.stack, `${s.stack}-3`);

    const young = await s.cli(['prune', '--keep', '0', '--older-than', '7d', '--yes', '--json']);
    expect(young.code, young.stderr).toBe(0);
    const y = JSON.parse(young.stdout);
    expect(y.deregistered).toEqual([]);
    expect(Object.fromEntries(y.kept.map((k: any) => [k.imageId, k.reason]))).toMatchObject({ [a.imageId]: 'newer than 7d (--older-than)', [b.imageId]: 'newer than 7d (--older-than)' });

    const later = await s.cli(['prune', '--keep', '0', '--older-than', '7d', '--yes', '--json'], { clock: shifted(30 * DAY) });
    expect(later.code, later.stderr).toBe(0);
    const l = JSON.parse(later.stdout);
    expect([...l.deregistered].sort()).toEqual([a.imageId, b.imageId].sort());
    expect(l.kept).toEqual([{ imageId: pending.imageId, reason: expect.stringContaining('still being made (pending)') }]);
    expect(await imagesLeft([a.imageId, b.imageId, pending.imageId])).toEqual([pending.imageId]);
  });

  it('deletes orphan snapshots: tagged ones whose image is gone, and by description those of a journaled bake; never one not fluxer\'s for the stack', async () => {
    const s = newStack();
    const tagged = await bake(s.stack, `${s.stack}-tagged`);
    const untagged = await bake(s.stack, `${s.stack}-journaled`, { tags: 'none' });
    const stranger = await bake(s.stack, unique('stranger'), { tags: 'none' });
    const otherStack = unique('other');
    const theirs = await bake(otherStack, unique('theirs'));
    // Gone without their snapshots, as an interrupted cleanup leaves them.
    for (const i of [tagged, untagged, stranger, theirs]) await moto.send(new ec2sdk.DeregisterImageCommand({ ImageId: i.imageId }));
    writeBake(s.journal, entry(s.stack, { name: `${s.stack}-journaled`, imageId: untagged.imageId, state: 'interrupted' }));
    const snaps = [tagged, untagged, stranger, theirs].flatMap((i) => i.snapshots);
    expect(await snapshotsLeft(snaps)).toEqual([...snaps].sort());

    const r = await s.cli(['prune', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const reasons = Object.fromEntries(doc.orphansDeleted.map((o: any) => [o.snapshotId, o.reason]));
    expect(Object.keys(reasons).sort()).toEqual([...tagged.snapshots, ...untagged.snapshots].sort());
    expect(reasons[tagged.snapshots[0]!]).toContain(`tagged for stack "${s.stack}"`);
    expect(reasons[untagged.snapshots[0]!]).toContain(`made by CreateImage for ${untagged.imageId} of bake ${s.stack}-journaled`);
    expect(await snapshotsLeft(snaps)).toEqual([...stranger.snapshots, ...theirs.snapshots].sort());
    expect(doc.journalCleaned).toEqual([`${s.stack}-journaled`]);
    expect(readEntry(s.journal, `${s.stack}-journaled`).state).toBe('cleaned');
  });

  it("finishes the cleanup a bake's journal lists and marks it cleaned", async () => {
    const s = newStack();
    const failed = await bake(s.stack, `${s.stack}-failed`, { tags: 'none' });
    const loose = await bake(s.stack, unique('loose'), { tags: 'none' });
    await moto.send(new ec2sdk.DeregisterImageCommand({ ImageId: loose.imageId }));
    const name = `${s.stack}-failed`;
    writeBake(s.journal, entry(s.stack, { name, imageId: failed.imageId, snapshots: failed.snapshots, state: 'cleaning', cleanup: { images: [failed.imageId], snapshots: loose.snapshots } }));

    const dry = await s.cli(['prune', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout).deregistered).toEqual([failed.imageId]);
    expect(readEntry(s.journal, name).state).toBe('cleaning');

    const r = await s.cli(['prune', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.deregistered).toEqual([failed.imageId]);
    expect(doc.orphansDeleted.map((o: any) => o.snapshotId)).toEqual(loose.snapshots);
    expect(doc.journalCleaned).toEqual([name]);
    expect(await imagesLeft([failed.imageId])).toEqual([]);
    expect(await snapshotsLeft([...failed.snapshots, ...loose.snapshots])).toEqual([]);
    expect(readEntry(s.journal, name)).toMatchObject({ state: 'cleaned', cleanup: { images: [failed.imageId] } });
  });

  it('where DeregisterImage leaves the snapshots (moto alone), prune finds and deletes them', async () => {
    const s = newStack();
    const img = await bake(s.stack, `${s.stack}-1`);
    const r = await s.cli(['prune', '--keep', '0', '--yes', '--json'], { endpointUrl: motoEndpoint });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ deregistered: [img.imageId], snapshotsDeleted: img.snapshots });
    expect(r.stderr).toContain('which DeregisterImage left');
    expect(await snapshotsLeft(img.snapshots)).toEqual([]);
  });
});

describe('fluxer ami default', () => {
  const ports = () => ({ ec2: createEc2Port(ec2, ec2sdk), ssm: createSsmPort(ssm, ssmsdk) });

  it('shows what latest resolves to when unset; sets the parameter; latest resolves to it; --clear removes it', async () => {
    const s = newStack();
    const older = await bake(s.stack, `${s.stack}-1`);
    const newer = await bake(s.stack, `${s.stack}-2`);

    const unset = await s.cli(['default', '--json']);
    expect(unset.code, unset.stderr).toBe(0);
    expect(JSON.parse(unset.stdout)).toMatchObject({ parameter: `/fluxer/${s.stack}/ami`, value: null, latest: { imageId: newer.imageId, source: `newest AMI baked for stack "${s.stack}"` } });
    expect(unset.stderr).toContain('No default set');

    const set = await s.cli(['default', older.imageId, '--json']);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout).image).toMatchObject({ imageId: older.imageId, state: 'available' });
    const param = await awsCli('ssm', 'get-parameter', '--name', `/fluxer/${s.stack}/ami`);
    expect(param.Parameter).toMatchObject({ Value: older.imageId, DataType: 'aws:ec2:image' });
    expect(await resolveAmi(ports(), s.stack, 'latest')).toMatchObject({ imageId: older.imageId, source: `SSM /fluxer/${s.stack}/ami` });

    const shown = await s.cli(['default']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(older.imageId);

    const cleared = await s.cli(['default', '--clear', '--json']);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ cleared: true, latest: { imageId: newer.imageId } });
    expect(await resolveAmi(ports(), s.stack, 'latest')).toMatchObject({ imageId: newer.imageId });
  });

  it('refuses an AMI that is not in the region or not available: exit 2 naming it, the default unchanged', async () => {
    const s = newStack();
    const good = await bake(s.stack, `${s.stack}-1`);
    expect((await s.cli(['default', good.imageId])).code).toBe(0);

    const missing = await s.cli(['default', 'ami-0123456789abcdef0']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('ami-0123456789abcdef0 not found in us-east-1');

    await setStandinImageHolds(endpoint, [{ namePrefix: `${s.stack}-held`, holdMs: 3_600_000, accessKeyId: KEY }]);
    const held = await bake(s.stack, `${s.stack}-held`);
    const pending = await s.cli(['default', held.imageId, '--json']);
    expect(pending.code).toBe(2);
    expect(JSON.parse(pending.stdout).error).toMatchObject({ code: 'AmiNotAvailable', message: expect.stringContaining(`${held.imageId} is pending`) });

    expect((await awsCli('ssm', 'get-parameter', '--name', `/fluxer/${s.stack}/ami`)).Parameter.Value).toBe(good.imageId);
    expect(existsSync(s.journal)).toBe(false);
  });
});
