// `fluxer runtime deploy` on the local stack with two nodes (`local up --workers 2`), as a user runs
// it: bin/fluxer builds and publishes a candidate, the emulator's SSM executor runs install-release.sh
// in each node's root (download from moto's S3, SHA256SUMS, a venv over the stack's environment,
// offline pip install, switch), the node agent restarts the worker on the new release. Then a release
// whose runtime cannot load its model: the first node goes FAILED, is switched back and READY on its
// previous release, the second is never touched, nothing is promoted.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { tearDownLocalStack } from '../support/local-stack.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-local-deploy-'));
const localDir = join(project, '.fluxer', 'local');
// An empty wheelhouse: the stack's environment (the nodes' base Python) already holds the dependencies.
const requirements = join(project, 'empty-requirements.txt');
writeFileSync(requirements, '');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1', FLUXER_RELEASE_REQUIREMENTS: requirements };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 280_000 });
let endpoint = '';
let nodeIds: string[] = [];
let good = '';

interface DeployDoc {
  release: string;
  promoted: boolean;
  nodes: Array<{ instanceId: string; ok: boolean; status: string; error: string | null; from: string | null; to: string | null; seconds: number | null }>;
}

function aws(args: string[]): Promise<{ code: number; stdout: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout })));
}
const promotedRelease = async () => (await aws(['ssm', 'get-parameter', '--name', '/fluxer/local/runtime-release', '--query', 'Parameter.Value', '--output', 'text'])).stdout.trim();
async function statusAll(): Promise<Array<{ instanceId: string; ok: boolean; state: string | null; release: string | null }>> {
  const r = await fluxer('runtime', 'status', '--stack', 'local', '--all', '--json');
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { nodes: Array<{ instanceId: string; ok: boolean; state: string | null; release: string | null }> }).nodes;
}
const nodeBase = (id: string) => join(localDir, 'nodes', id, 'root', 'opt', 'fluxer');

/** What a pip install into the project's environment would change: its site-packages and bin listings and their mtimes. */
function venvFingerprint(): string {
  const lib = join(VENV_BIN, '..', 'lib');
  const site = join(lib, readdirSync(lib).find((d) => d.startsWith('python'))!, 'site-packages');
  return JSON.stringify([site, VENV_BIN].map((d) => [statSync(d).mtimeMs, readdirSync(d).sort()]));
}

describe('fluxer runtime deploy on the local stack (two nodes)', () => {
  const venvBefore = venvFingerprint();

  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '2', '--json');
    expect(up.code, up.stderr).toBe(0);
    const doc = JSON.parse(up.stdout) as { endpoint: string; workers: Array<{ instanceId: string }> };
    endpoint = doc.endpoint;
    nodeIds = doc.workers.map((w) => w.instanceId);
    expect(nodeIds).toHaveLength(2);
  }, 180_000);

  afterAll(() => tearDownLocalStack(() => fluxer('local', 'down'), localDir, project), 60_000);

  it('rolls both nodes onto the candidate, then promotes it; the project\'s environment is untouched', async () => {
    const dry = await fluxer('runtime', 'deploy', '--stack', 'local', '--from', join(REPO_ROOT, 'gpu-runtime'), '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { release: string; dryRun: boolean; nodes: Array<{ order: number; instanceId: string }> };
    expect(plan).toMatchObject({ dryRun: true, current: null, maxConcurrency: 1 });
    expect(plan.nodes.map((n) => n.instanceId).sort()).toEqual([...nodeIds].sort());
    expect(await promotedRelease()).toBe(''); // nothing promoted, nothing installed
    for (const id of nodeIds) expect(existsSync(join(nodeBase(id), 'releases', plan.release))).toBe(false);

    const r = await fluxer('runtime', 'deploy', '--stack', 'local', '--from', join(REPO_ROOT, 'gpu-runtime'), '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as DeployDoc;
    good = doc.release;
    expect(good).toMatch(/^\d[\w.]*-[0-9a-f]{12}$/);
    expect(doc.promoted).toBe(true);
    expect(doc.nodes.map((n) => [n.ok, n.status, n.from, n.to])).toEqual([
      [true, 'deployed', 'local-base', good],
      [true, 'deployed', 'local-base', good],
    ]);
    // One at a time, in order: the second node drained only after the first was READY.
    expect(r.stderr.indexOf(`${doc.nodes[1]!.instanceId}: draining`)).toBeGreaterThan(r.stderr.indexOf(`${doc.nodes[0]!.instanceId}: READY on ${good}`));
    expect((await statusAll()).map((n) => [n.ok, n.state, n.release])).toEqual([
      [true, 'READY', good],
      [true, 'READY', good],
    ]);
    expect(await promotedRelease()).toBe(good);
    for (const id of nodeIds) {
      expect(readFileSync(join(nodeBase(id), 'releases', good, '.installed'), 'utf8').trim()).toBe(good);
      expect(readlinkSync(join(nodeBase(id), 'current'))).toBe(`releases/${good}`);
    }
    expect(venvFingerprint()).toBe(venvBefore);
    const journal = JSON.parse(readFileSync((JSON.parse(r.stdout) as { journal: string }).journal, 'utf8')) as { outcome: string; promoted: boolean; rollout: { nodes: Array<{ phase: string }> } };
    expect(journal).toMatchObject({ outcome: 'finished', promoted: true, release: good });
    expect(journal.rollout.nodes.map((n) => n.phase)).toEqual(['deployed', 'deployed']);
  }, 300_000);

  it('a release that cannot load its model: the first node goes back to its release and READY, the second is untouched, nothing promoted, exit 1', async () => {
    expect(good).not.toBe('');
    const broken = mkdtempSync(join(tmpdir(), 'fluxer-broken-runtime-'));
    cpSync(join(REPO_ROOT, 'gpu-runtime'), broken, { recursive: true, dereference: true, filter: (p) => !/(\/tests|\/build|\.egg-info|__pycache__)$/.test(p) });
    // Imported when the model loads: the runtime starts, answers status, and goes FAILED.
    const tiny = join(broken, 'fluxer_runtime', 'tiny.py');
    writeFileSync(tiny, `${readFileSync(tiny, 'utf8')}\nraise RuntimeError("this release is broken on purpose")\n`);
    try {
      const r = await fluxer('runtime', 'deploy', '--stack', 'local', '--from', broken, '--yes', '--json', '--timeout', '2m');
      expect(r.code, r.stderr).toBe(1);
      const doc = JSON.parse(r.stdout) as DeployDoc;
      expect(doc.release).not.toBe(good);
      expect(doc.promoted).toBe(false);
      const [first, second] = doc.nodes.map((n) => n.instanceId) as [string, string];
      expect([first, second].sort()).toEqual([...nodeIds].sort());
      expect(doc.nodes[0]).toMatchObject({ ok: false, status: 'rolled-back', from: good, to: good });
      expect(doc.nodes[0]!.error).toMatch(/went FAILED: model load failed: this release is broken on purpose/);
      expect(doc.nodes[1]).toMatchObject({ ok: false, status: 'untouched', from: good, to: good, seconds: null });
      expect(r.stderr).toMatch(new RegExp(`Error: Deploy of ${doc.release} stopped at ${first}: .*went FAILED`));
      expect(await promotedRelease()).toBe(good);
      expect((await statusAll()).map((n) => [n.instanceId, n.ok, n.state, n.release]).sort()).toEqual([
        [first, true, 'READY', good],
        [second, true, 'READY', good],
      ].sort());
      expect(readlinkSync(join(nodeBase(first), 'current'))).toBe(`releases/${good}`);
      expect(existsSync(join(nodeBase(first), 'releases', doc.release, '.installed'))).toBe(true);
      expect(existsSync(join(nodeBase(second), 'releases', doc.release))).toBe(false);
      expect(venvFingerprint()).toBe(venvBefore);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  }, 300_000);
});
