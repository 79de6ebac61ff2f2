// `fluxer spot prices` against moto behind the stand-in (test/support/standin-prices.ts): seeded
// spot series (in pages of 5), Pricing documents, placement scores; the on-demand cache.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';
import { setStandinOnDemandPrices, setStandinPlacementScores, setStandinSpotPrices, standinGetProductsCalls, standinRequests } from '../../src/emulator/prices.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const accessKeyId = `AKSPOTPRICES${randomBytes(4).toString('hex').toUpperCase()}`;
const hour = 3_600_000;
const AZS = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

const cwd = mkdtempSync(join(tmpdir(), 'fluxer-spot-prices-'));
const stateHome = mkdtempSync(join(tmpdir(), 'fluxer-spot-prices-state-'));
writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'sp', stacks: { sp: { region: 'us-east-1', bucket: `sp-${randomBytes(4).toString('hex')}`, instanceTypes: ['g5.xlarge', 'g6.xlarge'] } } }));
const env = testEnv({ AWS_ACCESS_KEY_ID: accessKeyId, XDG_STATE_HOME: stateHome });
const prices = (...args: string[]) => runCli(['spot', 'prices', '--endpoint-url', endpoint, ...args], { cwd, env });

let azIds: Record<string, string> = {};

describe('fluxer spot prices', () => {
  const now = Date.now();
  beforeAll(async () => {
    const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', 'ec2', 'describe-availability-zones'], {
      env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
    });
    azIds = Object.fromEntries(JSON.parse(stdout).AvailabilityZones.map((z: any) => [z.ZoneName, z.ZoneId]));
    await setStandinSpotPrices(endpoint, [
      // g5: dearer earlier, the price in force two hours ago; g6: one change each, cheaper in 1c.
      ...AZS.flatMap((az, i) => [
        { instanceType: 'g5.xlarge', az, price: 0.52 + i / 100, at: now - 30 * hour, accessKeyId },
        { instanceType: 'g5.xlarge', az, price: 0.6 + i / 100, at: now - 20 * hour, accessKeyId },
        { instanceType: 'g5.xlarge', az, price: 0.4 + i / 100, at: now - 2 * hour, accessKeyId },
        { instanceType: 'g6.xlarge', az, price: 0.45 - i / 10, at: now - 50 * hour, accessKeyId },
      ]),
      // Not Linux: never the price shown.
      { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.01, at: now - hour, productDescription: 'Windows', accessKeyId },
    ]);
    await setStandinOnDemandPrices(endpoint, [
      { region: 'us-east-1', instanceType: 'g5.xlarge', price: 1.006, accessKeyId },
      { region: 'us-east-1', instanceType: 'g6.xlarge', price: 0.8048, accessKeyId },
    ]);
    await setStandinPlacementScores(endpoint, [
      { region: 'us-east-1', azId: azIds['us-east-1a']!, score: 9, accessKeyId },
      { region: 'us-east-1', azId: azIds['us-east-1b']!, score: 2, accessKeyId },
    ]);
  });

  it('ranks pools cheapest first with spot, on-demand, savings, GPU and scores; a second run reads on-demand from the cache', async () => {
    const calls0 = await standinGetProductsCalls(endpoint, accessKeyId);
    const r = await prices('--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.region).toBe('us-east-1');
    const priced = doc.rows.filter((x: any) => x.spotPrice !== null);
    // Six pools: more than one page of five.
    expect(priced.map((x: any) => [x.instanceType, x.az, x.spotPrice])).toEqual([
      ['g6.xlarge', 'us-east-1c', 0.25],
      ['g6.xlarge', 'us-east-1b', 0.35],
      ['g5.xlarge', 'us-east-1a', 0.4],
      ['g5.xlarge', 'us-east-1b', 0.41],
      ['g5.xlarge', 'us-east-1c', 0.42],
      ['g6.xlarge', 'us-east-1a', 0.45],
    ]);
    const g5a = priced[2];
    expect(g5a).toMatchObject({ onDemandPrice: 1.006, savings: { fraction: 0.6024, usdPerHour: 0.606 }, vcpus: 4, score: 9 });
    expect(g5a.gpu).toMatchObject({ count: 1, memoryMiB: expect.any(Number) });
    expect(g5a.gpu.name).toMatch(/A10G/);
    expect(priced[3].score).toBe(2);
    expect(priced[4].score).toBeNull();
    expect(typeof g5a.offered).toBe('boolean');
    expect(await standinGetProductsCalls(endpoint, accessKeyId)).toBe(calls0 + 2);
    expect(readdirSync(join(stateHome, 'fluxer', 'cache')).some((f) => f.startsWith('on-demand-us-east-1-'))).toBe(true);

    const again = await prices('--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).rows[2].onDemandPrice).toBe(1.006);
    expect(await standinGetProductsCalls(endpoint, accessKeyId)).toBe(calls0 + 2);
  });

  it('--history gives each pool its series over the window, oldest first, with the price in force at its start', async () => {
    const r = await prices('--type', 'g5.xlarge', '--history', '1d', '--json');
    expect(r.code, r.stderr).toBe(0);
    const row = JSON.parse(r.stdout).rows.find((x: any) => x.az === 'us-east-1b');
    expect(row.history.map((p: any) => p.price)).toEqual([0.53, 0.61, 0.41]);
    expect(Date.parse(row.history[0].at)).toBeLessThan(now - 24 * hour);
  });

  it('prints a table on a terminal with a sparkline per row under --history, and tab-separated rows when piped', async () => {
    const tty = await runCli(['spot', 'prices', '--endpoint-url', endpoint, '--type', 'g5.xlarge', '--history', '2d'], { cwd, env, tty: true });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/HISTORY/);
    expect(tty.stdout).toMatch(/[▁▂▃▄▅▆▇█]{24}/);
    const piped = await prices('--type', 'g5.xlarge');
    expect(piped.stdout.split('\n')[1]!.split('\t').slice(0, 3)).toEqual(['g5.xlarge', 'us-east-1a', '$0.4000']);
  });

  it('without a Pricing backend or placement scores (moto alone) the rows still come, with notes saying what is null and why', async () => {
    const bare = testEnv({ AWS_ACCESS_KEY_ID: `AKBARE${randomBytes(4).toString('hex').toUpperCase()}`, XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'fluxer-spot-bare-')) });
    const r = await runCli(['spot', 'prices', '--endpoint-url', endpoint, '--type', 'g5.xlarge', '--json'], { cwd, env: bare });
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout).rows;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((x: any) => x.onDemandPrice === null && x.savings === null && x.score === null)).toBe(true);
    expect(r.stderr).toMatch(/Note: on-demand prices unavailable/);
    expect(r.stderr).toMatch(/Note: placement scores/);
  });

  it('rejects a bad --history and an unknown type with exit 2, naming the flag', async () => {
    const sentBefore = (await standinRequests(endpoint, accessKeyId)).length;
    for (const bad of ['30m', '91d', 'soon']) {
      const r = await prices('--history', bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--history .*(between 1h and 90d|not a duration)/);
    }
    expect(await standinRequests(endpoint, accessKeyId)).toHaveLength(sentBefore);
    const before = (await standinRequests(endpoint, accessKeyId)).length;
    const r = await prices('--type', 'g5.nosuch');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--type.*g5\.nosuch/);
    // Checking the type is the one call sent.
    expect((await standinRequests(endpoint, accessKeyId)).slice(before)).toEqual(['DescribeInstanceTypes']);
  });
});
