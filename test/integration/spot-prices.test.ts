// `fluxer spot prices` against moto behind the price stand-ins (test/support/standin-prices.ts):
// realistic spot price series with paging, Pricing price-list documents with their neighbouring
// products, placement scores. The AWS CLI reads the same stand-in answers as a third-party client.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../support/moto.js';
import { runCli, testEnv } from '../support/cli.js';

const endpoint = inject('awsEndpoint');
const KEY = 'SPOTPRICES';
const AWS = join(REPO_ROOT, '.venv', 'bin', 'aws');
const HOUR = 3_600_000;

const control = async (path: string, method: string, body?: unknown) => {
  const res = await fetch(`${endpoint}/_standin/${path}${method === 'DELETE' ? `?accessKeyId=${KEY}` : ''}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
  return res.json() as Promise<Record<string, number>>;
};
const calls = async () => (await (await fetch(`${endpoint}/_standin/calls`)).json()) as Record<string, number>;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

beforeAll(async () => {
  // g5.xlarge: three AZs, its price in us-east-1b changed three times in the last week (12 rows in all
  // with the others: more than the stand-in's page of 5, so fluxer must follow NextToken).
  const spot = [
    { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.4512, at: iso(30 * HOUR) },
    { instanceType: 'g5.xlarge', az: 'us-east-1b', price: 0.52, at: iso(6 * 24 * HOUR) },
    { instanceType: 'g5.xlarge', az: 'us-east-1b', price: 0.47, at: iso(3 * 24 * HOUR) },
    { instanceType: 'g5.xlarge', az: 'us-east-1b', price: 0.4012, at: iso(2 * HOUR) },
    { instanceType: 'g5.xlarge', az: 'us-east-1c', price: 0.61, at: iso(10 * 24 * HOUR) },
    { instanceType: 'g6.xlarge', az: 'us-east-1a', price: 0.3921, at: iso(5 * HOUR) },
    { instanceType: 'g6.xlarge', az: 'us-east-1b', price: 0.4105, at: iso(50 * HOUR) },
    { instanceType: 'g6.xlarge', az: 'us-east-1b', price: 0.3, at: iso(-HOUR) }, // in the future: not yet in force
    { instanceType: 'g6e.xlarge', az: 'us-east-1a', price: 0.95, at: iso(20 * HOUR) },
    { instanceType: 'g6e.xlarge', az: 'us-east-1b', price: 0.79, at: iso(9 * HOUR) },
    { instanceType: 'g6e.xlarge', az: 'us-east-1b', price: 1.21, at: iso(40 * HOUR) },
    { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 1.9, at: iso(HOUR), productDescription: 'Windows' },
  ].map((e) => ({ ...e, accessKeyId: KEY }));
  await control('spot-prices', 'POST', spot);
  await control('on-demand', 'POST', [
    { region: 'us-east-1', instanceType: 'g5.xlarge', price: 1.006, accessKeyId: KEY },
    { region: 'us-east-1', instanceType: 'g6.xlarge', price: 0.8048, accessKeyId: KEY },
    { region: 'us-east-1', instanceType: 'g6e.xlarge', price: 1.861, accessKeyId: KEY },
    { region: 'eu-west-1', instanceType: 'g5.xlarge', price: 1.123, accessKeyId: KEY },
  ]);
  await control('placement-scores', 'POST', [
    { region: 'us-east-1', azId: 'use1-az6', score: 9, accessKeyId: KEY },
    { region: 'us-east-1', azId: 'use1-az1', score: 3, accessKeyId: KEY },
  ]);
});
afterAll(async () => {
  await Promise.all(['spot-prices', 'on-demand', 'placement-scores'].map((p) => control(p, 'DELETE')));
});

function prices(args: string[], stateDir = mkdtempSync(join(tmpdir(), 'fluxer-prices-state-'))) {
  return runCli(['spot', 'prices', '--endpoint-url', endpoint, '--region', 'us-east-1', ...args], { env: testEnv({ AWS_ACCESS_KEY_ID: KEY, XDG_STATE_HOME: stateDir }) });
}

describe('fluxer spot prices', () => {
  it('rows cheapest first: the price in force now (paged), on-demand from the right product, savings, GPU, vCPUs, offering, scores', async () => {
    const r = await prices(['--type', 'g5.xlarge', '--type', 'g6.xlarge', '--type', 'g6e.xlarge', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.region).toBe('us-east-1');
    const priced = doc.rows.filter((x: any) => x.spotPrice !== null);
    expect(priced.map((x: any) => [x.instanceType, x.az, x.spotPrice])).toEqual([
      ['g6.xlarge', 'us-east-1a', 0.3921],
      ['g5.xlarge', 'us-east-1b', 0.4012],
      ['g6.xlarge', 'us-east-1b', 0.4105],
      ['g5.xlarge', 'us-east-1a', 0.4512],
      ['g5.xlarge', 'us-east-1c', 0.61],
      ['g6e.xlarge', 'us-east-1b', 0.79],
      ['g6e.xlarge', 'us-east-1a', 0.95],
    ]);
    const g5b = doc.rows.find((x: any) => x.instanceType === 'g5.xlarge' && x.az === 'us-east-1b');
    // On-demand is the Linux/Shared/NA/Used product, not its Windows or SQL neighbours.
    expect(g5b).toMatchObject({ onDemandPrice: 1.006, savings: { fraction: 0.6012, perHour: 0.6048 }, vcpus: 4, offered: true, gpu: { name: 'NVIDIA A10G', count: 1, memoryMiB: 22888 } });
    // moto's us-east-1a/1b are use1-az6/use1-az1: each row carries its AZ's score.
    const byAz = Object.fromEntries(doc.rows.filter((x: any) => x.instanceType === 'g5.xlarge').map((x: any) => [x.az, x.score]));
    expect(byAz['us-east-1a']).toBe(9);
    expect(byAz['us-east-1b']).toBe(3);
    expect((await calls()).DescribeSpotPriceHistory).toBeGreaterThanOrEqual(2);
  });

  it('the on-demand price is asked once a day: a second run reads the cache; another endpoint does not', async () => {
    const state = mkdtempSync(join(tmpdir(), 'fluxer-prices-cache-'));
    const before = (await calls()).GetProducts ?? 0;
    expect((await prices(['--type', 'g5.xlarge', '--json'], state)).code).toBe(0);
    const afterFirst = (await calls()).GetProducts ?? 0;
    expect(afterFirst - before).toBe(1);
    const again = await prices(['--type', 'g5.xlarge', '--json'], state);
    expect(JSON.parse(again.stdout).rows[0].onDemandPrice).toBe(1.006);
    expect((await calls()).GetProducts).toBe(afterFirst);
    // The same state folder, another endpoint (the same server by another name): its own prices.
    const other = endpoint.replace('127.0.0.1', 'localhost');
    const elsewhere = await runCli(['spot', 'prices', '--endpoint-url', other, '--region', 'us-east-1', '--type', 'g5.xlarge', '--json'], { env: testEnv({ AWS_ACCESS_KEY_ID: KEY, XDG_STATE_HOME: state }) });
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect((await calls()).GetProducts).toBe(afterFirst + 1);
  });

  it('--history adds each pool\'s series (the price in force at the start, then every change) and a sparkline on a terminal', async () => {
    const r = await prices(['--type', 'g5.xlarge', '--history', '7d', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const g5b = JSON.parse(r.stdout).rows.find((x: any) => x.az === 'us-east-1b');
    expect(g5b.history.map((p: any) => p.price)).toEqual([0.52, 0.47, 0.4012]);
    // A pool whose last change is older than the window still has its price in force at the start.
    expect(JSON.parse(r.stdout).rows.find((x: any) => x.az === 'us-east-1c').history.map((p: any) => p.price)).toEqual([0.61]);
    const tty = await runCli(['spot', 'prices', '--endpoint-url', endpoint, '--region', 'us-east-1', '--type', 'g5.xlarge', '--history', '7d'], { tty: true, env: testEnv({ AWS_ACCESS_KEY_ID: KEY, XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'fx-')) }) });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/us-east-1b.*[▁▂▃▄▅▆▇█]{3}/);
  });

  it('bad input exits 2 naming the flag and range: --history out of range, a malformed or unknown type', async () => {
    const h = await prices(['--history', '100d']);
    expect(h.code).toBe(2);
    expect(h.stderr).toContain('--history "100d": must be between 1h and 90d');
    const m = await prices(['--type', 'G5 XL']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('--type "G5 XL"');
    const u = await prices(['--type', 'g5.enormous']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--type: .*g5\.enormous/);
  });

  it('the AWS CLI reads the stand-ins\' answers (EC2 XML and Pricing JSON as botocore models them)', async () => {
    const run = (...args: string[]) =>
      promisify(execFile)(AWS, [...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json'], {
        env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'x', HOME: '/nonexistent' },
      }).then((o) => JSON.parse(o.stdout));
    const [history, scores, products] = await Promise.all([
      run('ec2', 'describe-spot-price-history', '--instance-types', 'g5.xlarge', '--product-descriptions', 'Linux/UNIX', '--start-time', iso(0)),
      run('ec2', 'get-spot-placement-scores', '--instance-types', 'g5.xlarge', 'g6.xlarge', 'g6e.xlarge', '--target-capacity', '1', '--single-availability-zone', '--region-names', 'us-east-1'),
      run('pricing', 'get-products', '--service-code', 'AmazonEC2', '--filters', 'Type=TERM_MATCH,Field=instanceType,Value=g6e.xlarge', 'Type=TERM_MATCH,Field=operatingSystem,Value=Linux', 'Type=TERM_MATCH,Field=capacitystatus,Value=Used', 'Type=TERM_MATCH,Field=preInstalledSw,Value=NA'),
    ]);
    // The CLI follows NextToken itself: every pool's price in force, one row each.
    expect(history.SpotPriceHistory.map((h: any) => `${h.AvailabilityZone} ${h.SpotPrice}`).sort()).toEqual(['us-east-1a 0.451200', 'us-east-1b 0.401200', 'us-east-1c 0.610000']);
    expect(history.SpotPriceHistory[0]).toMatchObject({ InstanceType: 'g5.xlarge', ProductDescription: 'Linux/UNIX' });
    expect(scores.SpotPlacementScores).toEqual(expect.arrayContaining([{ Region: 'us-east-1', AvailabilityZoneId: 'use1-az6', Score: 9 }]));
    expect(products.PriceList).toHaveLength(1);
    expect(JSON.parse(products.PriceList[0]).product.attributes).toMatchObject({ instanceType: 'g6e.xlarge', regionCode: 'us-east-1', tenancy: 'Shared' });
  });
});
