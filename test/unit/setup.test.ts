// Paths of `ensureStackResources` that moto cannot produce (a bucket name owned by another account:
// moto's S3 is not partitioned by account). The port is a small stand-in that answers as S3 does.
import { describe, expect, it } from 'vitest';
import type { S3Port } from '../../src/aws/s3.js';
import type { SqsPort } from '../../src/aws/sqs.js';
import { FluxerError } from '../../src/lib/errors.js';
import { ensureStackResources } from '../../src/core/setup.js';
import { dlqNameFor } from '../../src/core/stack-resources.js';

const settings = { region: 'eu-west-1', queueName: 'q', bucket: 'taken', prefix: 'fluxer/', jobRetentionDays: 30, nodeRetentionDays: 90, visibilityTimeout: 300 };

function sqsWithQueues(): SqsPort {
  const attrs = (name: string) => ({ QueueArn: `arn:aws:sqs:eu-west-1:1:${name}` });
  return {
    getQueueUrl: async ({ QueueName }: { QueueName: string }) => ({ QueueUrl: `https://sqs/${QueueName}`, $metadata: {} }),
    getQueueAttributes: async ({ QueueUrl }: { QueueUrl: string }) => ({ Attributes: attrs(QueueUrl.split('/').pop()!), $metadata: {} }),
    createQueue: async () => ({ $metadata: {} }),
    setQueueAttributes: async () => ({ $metadata: {} }),
    listQueueTags: async () => ({ Tags: {}, $metadata: {} }),
    tagQueue: async () => ({ $metadata: {} }),
  } as unknown as SqsPort;
}

function awsError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

describe('ensureStackResources: bucket owned by someone else', () => {
  it('CreateBucket answering BucketAlreadyExists is a clear error naming the bucket and what to do', async () => {
    const calls: string[] = [];
    const s3 = {
      headBucket: async () => {
        throw awsError('NotFound', 404);
      },
      createBucket: async (input: { CreateBucketConfiguration?: { LocationConstraint?: string } }) => {
        calls.push(`create ${input.CreateBucketConfiguration?.LocationConstraint}`);
        throw awsError('BucketAlreadyExists', 409);
      },
    } as unknown as S3Port;
    const err = await ensureStackResources({ sqs: sqsWithQueues(), s3 }, settings, 'prod').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FluxerError);
    expect((err as FluxerError).code).toBe('BucketAlreadyExists');
    expect((err as FluxerError).message).toContain('"taken" is already taken by another AWS account');
    expect((err as FluxerError).hint).toContain('Choose another name');
    // Outside us-east-1 the location constraint is sent.
    expect(calls).toEqual(['create eu-west-1']);
  });

  it('HeadBucket answering 403 (exists, not ours) fails the same way before anything is written', async () => {
    const s3 = {
      headBucket: async () => {
        throw awsError('Forbidden', 403);
      },
    } as unknown as S3Port;
    const err = await ensureStackResources({ sqs: sqsWithQueues(), s3 }, settings, 'prod').catch((e: unknown) => e);
    expect((err as FluxerError).code).toBe('BucketAlreadyExists');
  });

  it('a bucket in another region (S3 redirects HeadBucket) names both regions', async () => {
    const s3 = {
      headBucket: async () => {
        throw Object.assign(awsError('PermanentRedirect', 301), { $response: { headers: { 'x-amz-bucket-region': 'ap-south-1' } } });
      },
    } as unknown as S3Port;
    const err = await ensureStackResources({ sqs: sqsWithQueues(), s3 }, settings, 'prod').catch((e: unknown) => e);
    expect((err as FluxerError).code).toBe('BucketRegionMismatch');
    expect((err as FluxerError).message).toBe('Bucket taken exists in ap-south-1, but the stack\'s region is eu-west-1');
  });

  it('names the dead-letter queue <queue>-dlq', () => {
    expect(dlqNameFor('fluxer-prod-jobs')).toBe('fluxer-prod-jobs-dlq');
  });
});
