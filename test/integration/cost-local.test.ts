// `fluxer cost report` on the local stack after real jobs: one node (`local up --workers 1`) runs
// three jobs through its real runtime; once its record is written (a drain writes it at once), the
// report's images and busy seconds are what the worker did, priced with the local region's sample
// prices. As a user runs it: bin/fluxer, moto, the emulator, the node agent, a runtime.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';
import { tearDownLocalStack } from '../support/local-stack.js';
import { expectCostReport, parseCsv } from '../support/cost-schema.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-cost-local-'));
const localDir = join(project, '.fluxer', 'local');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 150_000 });
let endpoint = '';
let node = '';

function aws(args: string[]): Promise<{ code: number; stdout: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout })));
}
async function s3Json<T>(key: string): Promise<T | undefined> {
  const r = await aws(['s3', 'cp', `s3://fluxer-local/fluxer/${key}`, '-']);
  return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
}
interface Status {
  state: string;
  outputs?: string[];
  timings?: { startedAt?: string; finishedAt?: string };
}

describe('fluxer cost report on the local stack', () => {
  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '1', '--json');
    expect(up.code, up.stderr).toBe(0);
    const doc = JSON.parse(up.stdout) as { endpoint: string; workers: Array<{ instanceId: string }> };
    endpoint = doc.endpoint;
    node = doc.workers[0]!.instanceId;
  }, 180_000);

  afterAll(() => tearDownLocalStack(() => fluxer('local', 'down'), localDir, project), 60_000);

  it("after real jobs: the report's images and busy seconds are the worker's; --json validates, --csv parses", async () => {
    const ids: string[] = [];
    for (const count of ['1', '2', '1']) {
      const r = await fluxer('generate', 'a lighthouse', '--stack', 'local', '--count', count, '--json');
      expect(r.code, r.stderr).toBe(0);
      ids.push((JSON.parse(r.stdout) as { id: string }).id);
    }
    for (const id of ids) await expect.poll(async () => (await s3Json<Status>(`jobs/${id}/status.json`))?.state, { timeout: 90_000, interval: 300 }).toBe('succeeded');
    const statuses = await Promise.all(ids.map(async (id) => (await s3Json<Status>(`jobs/${id}/status.json`))!));
    const images = statuses.reduce((a, s) => a + (s.outputs?.length ?? 0), 0);
    expect(images).toBe(4);
    // A drain is a state change: the runtime writes its record at once, counts included.
    const d = await fluxer('runtime', 'drain', '--stack', 'local', '--node', node, '--json');
    expect(d.code, d.stderr).toBe(0);
    await expect.poll(async () => (await s3Json<{ state: string }>(`nodes/${node}.json`))?.state, { timeout: 30_000, interval: 300 }).toBe('DRAINING');
    const record = (await s3Json<{ imagesDone: number; busySeconds: number; jobs: { succeeded: number } }>(`nodes/${node}.json`))!;
    expect(record.imagesDone).toBe(images);

    const r = await fluxer('cost', 'report', '--stack', 'local', '--since', '1d', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = expectCostReport(JSON.parse(r.stdout));
    const n = doc.nodes.find((x: { instanceId: string }) => x.instanceId === node);
    expect(n).toMatchObject({ images: images, hasRecord: true, endSource: 'running', startSource: 'node-record' });
    expect(n.busySeconds).toBeCloseTo(record.busySeconds, 3);
    // Busy time is each job's start to its last image: within the jobs' own start-to-finish times.
    const jobSeconds = statuses.reduce((a, s) => a + (Date.parse(s.timings!.finishedAt!) - Date.parse(s.timings!.startedAt!)) / 1000, 0);
    expect(n.busySeconds).toBeGreaterThan(0);
    expect(n.busySeconds).toBeLessThanOrEqual(jobSeconds + 0.5);
    expect(doc.totals.images).toBe(images);
    expect(doc.totals.jobs.succeeded).toBe(record.jobs.succeeded);
    expect(doc.totals.successRate).toBe(1);
    expect(doc.totals.generationSeconds.count).toBe(images);
    // Priced with the local region's sample prices (docs/local.md): spot, on-demand and gp3.
    expect(n.compute).toBeGreaterThan(0);
    expect(doc.unpriced).toEqual([]);
    expect(doc.totals.onDemandCost).toBeGreaterThan(doc.totals.computeCost);
    expect(doc.inputs.gp3PerGbMonth).toEqual({ price: 0.08, source: 'pricing' });

    const csv = await fluxer('cost', 'report', '--stack', 'local', '--since', '1d', '--by', 'node', '--csv');
    expect(csv.code, csv.stderr).toBe(0);
    const rows = parseCsv(csv.stdout);
    expect(rows.find((x) => x[0] === 'node' && x[1] === node)![4]).toBe(String(images));
    expect(rows.find((x) => x[0] === 'total')).toBeDefined();
  }, 240_000);
});
