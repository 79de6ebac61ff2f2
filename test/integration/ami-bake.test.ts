// `fluxer ami bake` on the local stack (`local up --workers 1`): as a user runs it — bin/fluxer, real
// moto behind the emulator (images held pending or failed, the reboot the node agent carries out),
// SSM commands really run in the node's root folder. What is left behind is read with the AWS CLI.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setStandinImageHolds } from '../../src/emulator/images.js';
import { BIN, runBin } from '../support/cli.js';
import { tearDownLocalStack } from '../support/local-stack.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-ami-bake-'));
const localDir = join(project, '.fluxer', 'local');
const bakes = join(project, '.local', 'state', 'fluxer', 'bakes');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 240_000 });
let endpoint = '';
let node = '';

function aws(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--output', 'json', ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })));
}
const tagsOf = (list: Array<{ Key: string; Value: string }> | undefined) => Object.fromEntries((list ?? []).map((t) => [t.Key, t.Value]));
async function imagesNamed(name: string): Promise<Array<{ ImageId: string; State: string; Tags?: Array<{ Key: string; Value: string }> }>> {
  return JSON.parse((await aws(['ec2', 'describe-images', '--owners', 'self', '--filters', `Name=name,Values=${name}`])).stdout).Images;
}
/** Snapshots a bake's image made: tagged with its name, or described as made for one of its images. */
async function snapshotsOf(name: string, imageIds: string[] = []): Promise<string[]> {
  const byTag = JSON.parse((await aws(['ec2', 'describe-snapshots', '--owner-ids', 'self', '--filters', `Name=tag:Name,Values=${name}`])).stdout).Snapshots as Array<{ SnapshotId: string }>;
  const all = JSON.parse((await aws(['ec2', 'describe-snapshots', '--owner-ids', 'self'])).stdout).Snapshots as Array<{ SnapshotId: string; Description?: string }>;
  return [...new Set([...byTag.map((s) => s.SnapshotId), ...all.filter((s) => imageIds.some((id) => s.Description?.includes(id))).map((s) => s.SnapshotId)])];
}
async function status(id: string): Promise<{ state: string | null; pid?: number }> {
  const r = await fluxer('runtime', 'status', '--stack', 'local', '--node', id, '--json');
  return (JSON.parse(r.stdout) as { nodes: Array<{ state: string | null; pid?: number }> }).nodes[0]!;
}
const journal = (name: string) => (existsSync(join(bakes, `${name}.json`)) ? (JSON.parse(readFileSync(join(bakes, `${name}.json`), 'utf8')) as { state: string; imageId?: string; sourceNode: string }) : undefined);

describe('fluxer ami bake on the local stack', () => {
  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '1', '--json');
    expect(up.code, up.stderr).toBe(0);
    const doc = JSON.parse(up.stdout) as { endpoint: string; workers: Array<{ instanceId: string }> };
    endpoint = doc.endpoint;
    node = doc.workers[0]!.instanceId;
    // A promoted release, as after `fluxer runtime publish --promote` (--base would publish the local build).
    expect((await aws(['ssm', 'put-parameter', '--name', '/fluxer/local/runtime-release', '--type', 'String', '--value', '0.1.0-local'])).code).toBe(0);
  }, 180_000);

  afterAll(() => tearDownLocalStack(() => fluxer('local', 'down'), localDir, project), 60_000);

  it('--from NODE --wait: image and snapshot tagged, the node READY again after its reboot, the prepare touched only its root', async () => {
    const root = join(localDir, 'nodes', node, 'root');
    const hostMachineId = existsSync('/etc/machine-id') ? readFileSync('/etc/machine-id', 'utf8') : null;
    for (const d of ['run/fluxer', 'var/log/fluxer', 'var/cache/fluxer/pip', 'etc', 'var/lib/cloud/instances/x']) mkdirSync(join(root, d), { recursive: true });
    for (const f of ['run/fluxer/marker', 'var/log/fluxer/old.log', 'var/cache/fluxer/pip/blob', 'var/lib/cloud/instances/x/done']) writeFileSync(join(root, f), 'x');
    writeFileSync(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
    const before = await status(node);
    expect(before.state).toBe('READY');

    const r = await fluxer('ami', 'bake', '--from', node, '--name', 'bake-ok-1', '--stack', 'local', '--wait', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { imageId: string; name: string; state: string; snapshots: string[]; sourceNode: string; cleaned: unknown; source: { state: string } };
    expect(doc).toMatchObject({ name: 'bake-ok-1', state: 'available', sourceNode: node, cleaned: null, source: { state: 'READY' } });
    expect(doc.snapshots.length).toBeGreaterThan(0);

    const image = (await imagesNamed('bake-ok-1'))[0]!;
    expect(image.ImageId).toBe(doc.imageId);
    expect(tagsOf(image.Tags)).toMatchObject({ 'fluxer:managed': 'true', 'fluxer:stack': 'local', 'fluxer:role': 'ami', 'fluxer:source-node': node, 'fluxer:model': 'tiny', 'fluxer:release': 'local-base', Name: 'bake-ok-1' });
    const snaps = JSON.parse((await aws(['ec2', 'describe-snapshots', '--snapshot-ids', ...doc.snapshots])).stdout).Snapshots as Array<{ Tags?: Array<{ Key: string; Value: string }> }>;
    for (const s of snaps) expect(tagsOf(s.Tags)).toMatchObject({ 'fluxer:managed': 'true', 'fluxer:stack': 'local', 'fluxer:role': 'ami', 'fluxer:source-node': node, Name: 'bake-ok-1' });
    expect(journal('bake-ok-1')).toMatchObject({ state: 'available', imageId: doc.imageId });

    // Rebooted: a new worker process, READY, taking jobs.
    const after = await status(node);
    expect(after.state).toBe('READY');
    expect(after.pid).not.toBe(before.pid);
    expect(readFileSync(join(localDir, 'region.log'), 'utf8')).toMatch(new RegExp(`${node}: restart \\(instance rebooted\\)`));

    // Cleared in the node's root, nothing of the host's.
    for (const f of ['run/fluxer/marker', 'var/log/fluxer/old.log', 'var/cache/fluxer/pip', 'var/lib/cloud/instances']) expect(existsSync(join(root, f)), f).toBe(false);
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect(existsSync('/etc/machine-id') ? readFileSync('/etc/machine-id', 'utf8') : null).toBe(hostMachineId);
    expect(r.stderr).toContain('Preparing');
  }, 240_000);

  it('weights on the root volume are refused without --include-weights, naming the folder and size; nothing is changed', async () => {
    const models = join(localDir, 'nodes', node, 'root', 'var/cache/fluxer/models/tiny');
    mkdirSync(models, { recursive: true });
    writeFileSync(join(models, 'weights.safetensors'), Buffer.alloc(3 * 1024 * 1024));
    const r = await fluxer('ami', 'bake', '--from', node, '--name', 'bake-weights-1', '--stack', 'local', '--wait', '--yes', '--json');
    rmSync(join(localDir, 'nodes', node, 'root', 'var/cache/fluxer/models'), { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('WeightsOnRootVolume');
    expect(r.stderr).toMatch(/var\/cache\/fluxer\/models \(3\.0 MiB\)/);
    expect(await imagesNamed('bake-weights-1')).toEqual([]);
    expect(journal('bake-weights-1')).toBeUndefined();
    expect((await status(node)).state).toBe('READY');
  }, 120_000);

  it('an image that goes failed is cleaned up: no image, no snapshot, exit 1 saying what was cleaned', async () => {
    await setStandinImageHolds(endpoint, [{ namePrefix: 'bake-failed-', holdMs: 0, outcome: 'failed', reason: 'the snapshot could not be completed' }]);
    const r = await fluxer('ami', 'bake', '--from', node, '--name', 'bake-failed-1', '--stack', 'local', '--no-reboot', '--wait', '--yes');
    expect(r.code, r.stderr).toBe(1);
    const imageId = /deregistered (ami-[0-9a-f]+)/.exec(r.stderr)?.[1];
    expect(imageId, r.stderr).toBeDefined();
    expect(r.stderr).toMatch(/the image failed: the snapshot could not be completed; cleaned up: deregistered ami-[0-9a-f]+ and deleted snap-[0-9a-f]+/);
    expect(await imagesNamed('bake-failed-1')).toEqual([]);
    expect(await snapshotsOf('bake-failed-1', [imageId!])).toEqual([]);
    expect(journal('bake-failed-1')?.state).toBe('cleaned');
    // --no-reboot: the runtime was restarted instead, and serves again.
    await expect.poll(async () => (await status(node)).state, { timeout: 60_000, interval: 500 }).toBe('READY');
  }, 180_000);

  it('an image still pending when --timeout passes is cleaned up the same way', async () => {
    await setStandinImageHolds(endpoint, [{ namePrefix: 'bake-slow-', holdMs: 1e9 }]);
    const r = await fluxer('ami', 'bake', '--from', node, '--name', 'bake-slow-1', '--stack', 'local', '--timeout', '5s', '--wait', '--yes', '--json');
    expect(r.code, r.stderr).toBe(1);
    // --json: the one document on stdout says what was cleaned; the error is on stderr.
    const doc = JSON.parse(r.stdout) as { imageId: string; state: string; cleaned: { images: string[]; snapshots: string[] } };
    expect(doc.state).toBe('cleaned');
    expect(doc.cleaned.images).toEqual([doc.imageId]);
    expect(doc.cleaned.snapshots.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/Error: Bake bake-slow-1: the image was still pending after 5s \(--timeout\); cleaned up: deregistered (ami-[0-9a-f]+) and deleted snap-/);
    const imageId = doc.imageId;
    expect(await imagesNamed('bake-slow-1')).toEqual([]);
    expect(await snapshotsOf('bake-slow-1', [imageId])).toEqual([]);
    expect(journal('bake-slow-1')?.state).toBe('cleaned');
  }, 180_000);

  it('a bake killed after CreateImage is found again by --resume NAME and completes', async () => {
    await setStandinImageHolds(endpoint, [{ namePrefix: 'bake-killed-', holdMs: 15_000 }]);
    const child = spawn(process.execPath, [BIN, 'ami', 'bake', '--from', node, '--name', 'bake-killed-1', '--stack', 'local', '--wait', '--yes'], { cwd: project, env, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal === 'SIGKILL' ? 137 : _code)));
    await expect.poll(() => journal('bake-killed-1')?.state, { timeout: 120_000, interval: 100 }).toBe('waiting');
    child.kill('SIGKILL');
    expect(await exited).toBe(137);
    const imageId = journal('bake-killed-1')!.imageId!;

    const r = await fluxer('ami', 'bake', '--resume', 'bake-killed-1', '--stack', 'local', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ imageId, name: 'bake-killed-1', state: 'available' });
    expect(r.stderr).toContain(`Resuming bake bake-killed-1: ${imageId}`);
    expect(journal('bake-killed-1')?.state).toBe('available');
    // The killed bake's reboot still happened: the node is READY.
    await expect.poll(async () => (await status(node)).state, { timeout: 60_000, interval: 500 }).toBe('READY');
  }, 240_000);

  async function builderOf(name: string): Promise<{ InstanceId: string; State: { Name: string } } | undefined> {
    const r = JSON.parse((await aws(['ec2', 'describe-instances', '--filters', `Name=tag:fluxer:bake,Values=${name}`])).stdout) as { Reservations: Array<{ Instances: Array<{ InstanceId: string; State: { Name: string } }> }> };
    return r.Reservations.flatMap((x) => x.Instances)[0];
  }

  it('--base: a builder from the Deep Learning AMI, selftest, baked, and the builder terminated', async () => {
    const r = await fluxer('ami', 'bake', '--base', '--name', 'bake-base-1', '--stack', 'local', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { imageId: string; state: string; sourceNode: string };
    expect(doc.state).toBe('available');
    const builder = await builderOf('bake-base-1');
    expect(builder?.InstanceId).toBe(doc.sourceNode);
    expect(builder?.State.Name).toBe('terminated');
    expect(r.stderr).toContain('fluxer-runtime selftest');
    const image = (await imagesNamed('bake-base-1'))[0]!;
    expect(tagsOf(image.Tags)).toMatchObject({ 'fluxer:role': 'ami', 'fluxer:source-node': doc.sourceNode, 'fluxer:base-ami': expect.stringMatching(/^ami-/) });
  }, 240_000);

  it('--base whose image fails: cleaned up, and the builder terminated all the same', async () => {
    await setStandinImageHolds(endpoint, [{ namePrefix: 'bake-base-fail-', holdMs: 0, outcome: 'failed', reason: 'no room' }]);
    const r = await fluxer('ami', 'bake', '--base', '--name', 'bake-base-fail-1', '--stack', 'local', '--yes');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/the image failed: no room; cleaned up/);
    const builder = await builderOf('bake-base-fail-1');
    expect(builder?.State.Name).toBe('terminated');
    expect(r.stderr).toContain(`Terminated the builder ${builder!.InstanceId}`);
    expect(await imagesNamed('bake-base-fail-1')).toEqual([]);
  }, 240_000);
  // Issue 14: a bake killed hard leaves its journal at `waiting` (SIGKILL writes nothing more). Once its
  // image is no longer pending, prune removes it as any other: deregistered, snapshots deleted, and the
  // entry — whose image this run removed — marked `cleaned`. Last in the file: --keep 0 prunes the
  // stack's other baked images too.
  it('a bake killed hard, then ami prune --keep 0 once its image is available: image and snapshots gone, the journal entry cleaned', async () => {
    // Pending long enough that the dry-run prune below surely runs while it is (6 s was not, on a slow machine).
    await setStandinImageHolds(endpoint, [{ namePrefix: 'bake-hardkill-', holdMs: 15_000 }]);
    const child = spawn(process.execPath, [BIN, 'ami', 'bake', '--from', node, '--name', 'bake-hardkill-1', '--stack', 'local', '--wait', '--yes'], { cwd: project, env, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal === 'SIGKILL' ? 137 : _code)));
    await expect.poll(() => journal('bake-hardkill-1')?.state, { timeout: 120_000, interval: 100 }).toBe('waiting');
    child.kill('SIGKILL');
    expect(await exited).toBe(137);
    const imageId = journal('bake-hardkill-1')!.imageId!;
    expect((await imagesNamed('bake-hardkill-1'))[0]?.State).toBe('pending');

    // While pending, a prune leaves it: a bake (this one, resumed) may still own it.
    const early = await fluxer('ami', 'prune', '--keep', '0', '--dry-run', '--stack', 'local', '--json');
    expect(early.code, early.stderr).toBe(0);
    expect((JSON.parse(early.stdout) as { deregistered: string[] }).deregistered).not.toContain(imageId);

    await expect.poll(async () => (await imagesNamed('bake-hardkill-1'))[0]?.State, { timeout: 60_000, interval: 500 }).toBe('available');
    const snapshots = await snapshotsOf('bake-hardkill-1', [imageId]);
    expect(snapshots.length).toBeGreaterThan(0);
    expect(journal('bake-hardkill-1')?.state).toBe('waiting');

    const r = await fluxer('ami', 'prune', '--keep', '0', '--yes', '--stack', 'local', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { deregistered: string[]; snapshotsDeleted: string[]; journalCleaned: string[]; failed: unknown[] };
    expect(doc.deregistered).toContain(imageId);
    expect(doc.failed).toEqual([]);
    expect(await imagesNamed('bake-hardkill-1')).toEqual([]);
    const left = JSON.parse((await aws(['ec2', 'describe-snapshots', '--owner-ids', 'self'])).stdout).Snapshots as Array<{ SnapshotId: string }>;
    expect(left.filter((x) => snapshots.includes(x.SnapshotId))).toEqual([]);
    expect(doc.journalCleaned).toContain('bake-hardkill-1');
    expect(journal('bake-hardkill-1')?.state).toBe('cleaned');
    // The killed bake's reboot still happened: the node is READY.
    await expect.poll(async () => (await status(node)).state, { timeout: 60_000, interval: 500 }).toBe('READY');
  }, 240_000);
});
