// The AWS stand-in (test/support/aws-standin.ts) as clients see it: EC2 quota values in AWS's own
// response shapes, read by a client nobody here wrote (the AWS CLI), and everything else passed to
// moto byte for byte.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand, NoSuchResourceException, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { setStandinQuotas } from '../../src/emulator/server.js';
import { VENV_BIN } from '../support/moto.js';

const endpoint = inject('awsEndpoint');
const run = promisify(execFile);
const accessKeyId = `AKSTANDIN${randomBytes(4).toString('hex').toUpperCase()}`;
const credentials = { accessKeyId, secretAccessKey: 'testing' };

function awsCli(region: string, ...args: string[]) {
  return run(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, '--region', region, '--output', 'json', ...args], {
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' },
  });
}

describe('AWS stand-in', () => {
  it('serves GetServiceQuota for EC2 codes in the AWS response shape, per region and access key', async () => {
    await setStandinQuotas(endpoint, [
      { serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 96, accessKeyId },
      { serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value: 8, accessKeyId, region: 'eu-west-1' },
    ]);
    const { stdout } = await awsCli('us-east-1', 'service-quotas', 'get-service-quota', '--service-code', 'ec2', '--quota-code', 'L-3819A6DF');
    expect(JSON.parse(stdout).Quota).toMatchObject({
      ServiceCode: 'ec2',
      QuotaCode: 'L-3819A6DF',
      QuotaName: 'All G and VT Spot Instance Requests',
      QuotaArn: 'arn:aws:servicequotas:us-east-1:123456789012:ec2/L-3819A6DF',
      Value: 96,
      Unit: 'None',
      Adjustable: true,
      GlobalQuota: false,
    });
    const sdk = new ServiceQuotasClient({ region: 'eu-west-1', endpoint, credentials, maxAttempts: 1 });
    expect((await sdk.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-3819A6DF' }))).Quota?.Value).toBe(8);
    // Another access key (another test file, another "account") does not see these values.
    const other = new ServiceQuotasClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'AKOTHER', secretAccessKey: 'x' }, maxAttempts: 1 });
    await expect(other.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-3819A6DF' }))).rejects.toBeInstanceOf(NoSuchResourceException);
  });

  it('serves GetAWSDefaultServiceQuota (which moto answers with HTTP 500) from "default" entries', async () => {
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-7212CCBC', value: 0, kind: 'default', accessKeyId }]);
    const sdk = new ServiceQuotasClient({ region: 'us-west-2', endpoint, credentials, maxAttempts: 1 });
    const out = await sdk.send(new GetAWSDefaultServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-7212CCBC' }));
    expect(out.Quota).toMatchObject({ QuotaArn: 'arn:aws:servicequotas:us-west-2::ec2/L-7212CCBC', QuotaName: 'All P4, P3 and P2 Spot Instance Requests', Value: 0 });
    // A default value is not an applied one.
    await expect(sdk.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-7212CCBC' }))).rejects.toBeInstanceOf(NoSuchResourceException);
  });

  it('an unknown EC2 quota code is NoSuchResourceException (HTTP 400), as AWS answers it', async () => {
    const sdk = new ServiceQuotasClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
    const err = await sdk.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-00000000' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoSuchResourceException);
    expect((err as NoSuchResourceException).$metadata.httpStatusCode).toBe(400);
    expect((err as Error).message).toContain('L-00000000');
  });

  it('clearing one access key\'s entries leaves the others', async () => {
    await setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-34B43A08', value: 5, accessKeyId }]);
    const res = await fetch(`${endpoint}/_standin/quotas?accessKeyId=${accessKeyId}`, { method: 'DELETE' });
    const left = ((await res.json()) as { quotas: Array<{ accessKeyId?: string }> }).quotas;
    expect(left.some((q) => q.accessKeyId === accessKeyId)).toBe(false);
  });

  it('passes everything else to moto unchanged: method, path, headers, body, and the streamed answer', async () => {
    const s3 = new S3Client({ region: 'us-east-1', endpoint, credentials, forcePathStyle: true, maxAttempts: 1 });
    const bucket = `standin-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(3 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    // A client nobody here wrote, through the stand-in to moto.
    const { stdout } = await awsCli('us-east-1', 's3api', 'head-object', '--bucket', bucket, '--key', 'big.bin');
    expect(JSON.parse(stdout).ContentLength).toBe(body.length);
    // moto's own Service Quotas (vpc) still answers: the stand-in only adds what moto lacks.
    const quotas = new ServiceQuotasClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
    const vpc = await quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'vpc', QuotaCode: 'L-F678F1CE' }));
    expect(vpc.Quota).toMatchObject({ QuotaName: 'VPCs per Region', Value: 5 });
  });
});
