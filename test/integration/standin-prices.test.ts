// The price and placement stand-ins (test/support/standin-prices.ts) as a client nobody here wrote
// sees them: the AWS CLI parses each response with botocore's service model.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { VENV_BIN } from '../support/moto.js';
import { setStandinOnDemandPrices, setStandinPlacementScores, setStandinSpotPrices, standinGetProductsCalls } from '../../src/emulator/prices.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const accessKeyId = `AKPRICES${randomBytes(4).toString('hex').toUpperCase()}`;
const hour = 3_600_000;

async function awsCli(...args: string[]): Promise<any> {
  const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
  return JSON.parse(stdout);
}

describe('price and placement stand-ins', () => {
  const now = Date.now();
  beforeAll(async () => {
    await setStandinSpotPrices(endpoint, [
      ...['us-east-1a', 'us-east-1b', 'us-east-1c'].flatMap((az, i) => [
        { instanceType: 'g5.xlarge', az, price: 0.5 + i / 100, at: now - 10 * hour, accessKeyId },
        { instanceType: 'g5.xlarge', az, price: 0.4 + i / 100, at: now - 2 * hour, accessKeyId },
        { instanceType: 'g6.xlarge', az, price: 0.45 + i / 100, at: now - 5 * hour, accessKeyId },
      ]),
      { instanceType: 'g5.xlarge', az: 'us-east-1a', price: 0.9, at: now - hour, productDescription: 'Windows', accessKeyId },
    ]);
    await setStandinPlacementScores(endpoint, [
      { region: 'us-east-1', azId: 'use1-az1', score: 9, accessKeyId },
      { region: 'us-east-1', azId: 'use1-az2', score: 3, accessKeyId },
    ]);
    await setStandinOnDemandPrices(endpoint, [{ region: 'us-east-1', instanceType: 'g5.xlarge', price: 1.006, accessKeyId }]);
  });

  it('DescribeSpotPriceHistory: the price in force with StartTime=EndTime=now, Linux/UNIX only, in pages of 5', async () => {
    const at = new Date(now).toISOString();
    const base = ['ec2', 'describe-spot-price-history', '--instance-types', 'g5.xlarge', 'g6.xlarge', '--product-descriptions', 'Linux/UNIX', '--start-time', at, '--end-time', at];
    const firstPage = await awsCli(...base, '--no-paginate');
    expect(firstPage.SpotPriceHistory).toHaveLength(5);
    expect(firstPage.NextToken).toBeTruthy();
    const all = await awsCli(...base);
    expect(all.SpotPriceHistory).toHaveLength(6);
    const g5a = all.SpotPriceHistory.find((r: any) => r.InstanceType === 'g5.xlarge' && r.AvailabilityZone === 'us-east-1a');
    expect(g5a).toMatchObject({ ProductDescription: 'Linux/UNIX', SpotPrice: '0.400000' });
    expect(Math.abs(Date.parse(g5a.Timestamp) - (now - 2 * hour))).toBeLessThan(1000);
  });

  it('DescribeSpotPriceHistory: a range holds every change in it plus the one in force at its start, newest first', async () => {
    const rows = (await awsCli('ec2', 'describe-spot-price-history', '--instance-types', 'g5.xlarge', '--availability-zone', 'us-east-1b', '--product-descriptions', 'Linux/UNIX', '--start-time', new Date(now - 5 * hour).toISOString())).SpotPriceHistory;
    expect(rows.map((r: any) => r.SpotPrice)).toEqual(['0.410000', '0.510000']);
  });

  it('DescribeSpotPriceHistory: a request no entry is for goes on to moto', async () => {
    const { stdout } = await run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', 'ec2', 'describe-spot-price-history', '--instance-types', 'g5.xlarge', '--no-paginate'], {
      env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'AKNOBODYSEEDED', AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
    });
    const rows = JSON.parse(stdout).SpotPriceHistory;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r: any) => Number(r.SpotPrice) < 0.001)).toBe(true);
  });

  it('GetSpotPlacementScores: scores per AZ id, or per region', async () => {
    const perAz = await awsCli('ec2', 'get-spot-placement-scores', '--instance-types', 'g5.xlarge', 'g6.xlarge', 'g6e.xlarge', '--target-capacity', '1', '--single-availability-zone', '--region-names', 'us-east-1');
    expect(perAz.SpotPlacementScores).toEqual([
      { Region: 'us-east-1', AvailabilityZoneId: 'use1-az1', Score: 9 },
      { Region: 'us-east-1', AvailabilityZoneId: 'use1-az2', Score: 3 },
    ]);
    const perRegion = await awsCli('ec2', 'get-spot-placement-scores', '--instance-types', 'g5.xlarge', 'g6.xlarge', 'g6e.xlarge', '--target-capacity', '1', '--region-names', 'us-east-1');
    expect(perRegion.SpotPlacementScores).toEqual([{ Region: 'us-east-1', Score: 9 }]);
  });

  it('Pricing GetProducts: TERM_MATCH filters pick the one Linux, shared, no-software, used-capacity document', async () => {
    const before = await standinGetProductsCalls(endpoint, accessKeyId);
    const filters = [['regionCode', 'us-east-1'], ['instanceType', 'g5.xlarge'], ['operatingSystem', 'Linux'], ['tenancy', 'Shared'], ['preInstalledSw', 'NA'], ['capacitystatus', 'Used'], ['marketoption', 'OnDemand']].map(([f, v]) => `Type=TERM_MATCH,Field=${f},Value=${v}`);
    const out = await awsCli('pricing', 'get-products', '--service-code', 'AmazonEC2', '--filters', ...filters);
    expect(out.PriceList).toHaveLength(1);
    const doc = JSON.parse(out.PriceList[0]);
    expect(doc.product.attributes).toMatchObject({ instanceType: 'g5.xlarge', regionCode: 'us-east-1', operatingSystem: 'Linux' });
    const term = Object.values(doc.terms.OnDemand)[0] as any;
    expect((Object.values(term.priceDimensions)[0] as any).pricePerUnit.USD).toBe('1.0060000000');
    // Loose filters get the look-alikes too, paged.
    const loose = await awsCli('pricing', 'get-products', '--service-code', 'AmazonEC2', '--filters', 'Type=TERM_MATCH,Field=instanceType,Value=g5.xlarge', '--max-results', '2', '--no-paginate');
    expect(loose.PriceList).toHaveLength(2);
    expect(loose.NextToken).toBeTruthy();
    expect(await standinGetProductsCalls(endpoint, accessKeyId)).toBe(before + 2);
  });
});
