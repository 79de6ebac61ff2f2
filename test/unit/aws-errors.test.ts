// The one AWS error classifier: each kind of failure is recognised, and mapped once to an exit code
// and a hint. Errors are the SDK's own exception classes where the SDK models them; S3's bodiless
// HEAD answers and EC2's unmodelled codes are built the way the SDK builds them (name, $metadata,
// and the hidden $response).
import { NoSuchBucket, NoSuchKey, NotFound, S3ServiceException } from '@aws-sdk/client-s3';
import { QueueDoesNotExist } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import {
  awsErrorName,
  classifyAwsError,
  clockSkewMs,
  hasErrorCode,
  httpStatus,
  isClockSkew,
  isNotFound,
  isQueueMissing,
  isThrottling,
  regionRedirect,
  toFluxerError,
} from '../../src/aws/errors.js';
import { ExitCode } from '../../src/lib/errors.js';

const meta = (httpStatusCode: number) => ({ httpStatusCode, attempts: 1, totalRetryDelay: 0 });

/** An SDK service exception with the hidden raw response the SDK attaches. */
function awsError(name: string, status: number, opts: { message?: string; headers?: Record<string, string>; fields?: Record<string, unknown> } = {}) {
  const err = new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: meta(status), message: opts.message ?? name });
  Object.assign(err, opts.fields ?? {});
  Object.defineProperty(err, '$response', { value: { statusCode: status, headers: opts.headers ?? {} }, enumerable: false });
  return err;
}

describe('names and statuses', () => {
  it('reads the code from Code or name, and the status from $metadata', () => {
    expect(awsErrorName(awsError('InvalidAMIID.NotFound', 400))).toBe('InvalidAMIID.NotFound');
    expect(awsErrorName({ Code: 'AWS.SimpleQueueService.NonExistentQueue', name: 'Error' })).toBe('AWS.SimpleQueueService.NonExistentQueue');
    expect(awsErrorName('text')).toBe('');
    expect(httpStatus(awsError('SlowDown', 503))).toBe(503);
    expect(hasErrorCode(awsError('QueueDeletedRecently', 400), 'BucketAlreadyExists', 'QueueDeletedRecently')).toBe(true);
  });
});

describe('not found, per service', () => {
  it('knows each service\'s word for "missing"', () => {
    expect(isQueueMissing(new QueueDoesNotExist({ message: 'no queue', $metadata: meta(400) }))).toBe(true);
    expect(isQueueMissing({ name: 'AWS.SimpleQueueService.NonExistentQueue' })).toBe(true);
    expect(isNotFound(new NoSuchBucket({ message: 'x', $metadata: meta(404) }), 's3')).toBe(true);
    expect(isNotFound(new NoSuchKey({ message: 'x', $metadata: meta(404) }), 's3')).toBe(true);
    expect(isNotFound(new NotFound({ message: 'x', $metadata: meta(404) }), 's3')).toBe(true);
    expect(isNotFound(awsError('UnknownError', 404), 's3')).toBe(true);
    expect(isNotFound(awsError('NoSuchEntity', 404), 'iam')).toBe(true);
    expect(isNotFound(awsError('InvalidAMIID.NotFound', 400), 'ec2')).toBe(true);
    expect(isNotFound(awsError('InvalidInstanceID.NotFound', 400), 'ec2')).toBe(true);
    expect(isNotFound(awsError('ParameterNotFound', 400), 'ssm')).toBe(true);
    expect(isNotFound(awsError('NoSuchResourceException', 400), 'quotas')).toBe(true);
  });

  it('does not mistake other failures, or another service\'s word, for "missing"', () => {
    expect(isNotFound(awsError('AccessDenied', 403), 's3')).toBe(false);
    expect(isNotFound(awsError('InvalidAMIID.Malformed', 400), 'ec2')).toBe(false);
    expect(isNotFound(awsError('NoSuchEntity', 404), 'sqs')).toBe(false);
    expect(isQueueMissing(awsError('QueueDeletedRecently', 400))).toBe(false);
  });
});

describe('region redirect', () => {
  it('reads the bucket region from the 301 answer, header case as sent', () => {
    expect(regionRedirect(awsError('301', 301, { headers: { 'x-amz-bucket-region': 'eu-west-1' } }))).toEqual({ region: 'eu-west-1' });
    expect(regionRedirect(awsError('PermanentRedirect', 301, { headers: { 'X-Amz-Bucket-Region': 'ap-south-1' } }))).toEqual({ region: 'ap-south-1' });
    expect(regionRedirect(awsError('301', 301))).toEqual({ region: undefined });
    expect(regionRedirect(awsError('NotFound', 404))).toBeUndefined();
  });

  it('maps to exit 1 with a hint naming the region', () => {
    const e = toFluxerError(awsError('301', 301, { headers: { 'x-amz-bucket-region': 'eu-west-1' } }));
    expect(e.exitCode).toBe(ExitCode.Failed);
    expect(e.hint).toContain('eu-west-1');
  });
});

describe('throttling', () => {
  it.each(['RequestLimitExceeded', 'ThrottlingException', 'Throttling', 'SlowDown', 'RequestThrottled', 'TooManyRequestsException'])('%s is throttling (exit 1, wait and retry)', (name) => {
    const err = awsError(name, name === 'SlowDown' ? 503 : 400);
    expect(isThrottling(err)).toBe(true);
    const e = toFluxerError(err);
    expect(e.exitCode).toBe(ExitCode.Failed);
    expect(e.code).toBe(name);
    expect(e.hint).toMatch(/throttling.*retry/);
  });

  it('a 429 without a known name is throttling too; a 400 is not', () => {
    expect(isThrottling(awsError('Whatever', 429))).toBe(true);
    expect(isThrottling(awsError('InvalidParameterValue', 400))).toBe(false);
  });
});

describe('clock skew', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it('S3 RequestTimeTooSkewed: the amount from ServerTime and RequestTime in the body', () => {
    const err = awsError('RequestTimeTooSkewed', 403, { fields: { ServerTime: '2025-06-01T12:00:00Z', RequestTime: '2025-06-01T11:42:57Z' } });
    expect(clockSkewMs(err, undefined)).toBe(17 * 60_000 + 3_000);
    const e = toFluxerError(err, { nowMs: now });
    expect(e.exitCode).toBe(ExitCode.Credentials);
    expect(e.hint).toContain("clock is 17m3s behind AWS's");
  });

  it('SignatureDoesNotMatch with a far-off Date header is skew, and says by how much and which way', () => {
    const err = awsError('SignatureDoesNotMatch', 403, { headers: { date: new Date(now - 20 * 60_000).toUTCString() } });
    expect(isClockSkew(err, now)).toBe(true);
    expect(classifyAwsError(err, now)).toMatchObject({ kind: 'clock-skew', skewMs: -20 * 60_000 });
    expect(toFluxerError(err, { nowMs: now }).hint).toContain("clock is 20m ahead of AWS's");
  });

  it('SignatureDoesNotMatch with the clocks in step is a wrong secret key, not skew', () => {
    const err = awsError('SignatureDoesNotMatch', 403, { headers: { date: new Date(now + 2_000).toUTCString() } });
    expect(isClockSkew(err, now)).toBe(false);
    const e = toFluxerError(err, { nowMs: now });
    expect(e.exitCode).toBe(ExitCode.Credentials);
    expect(e.hint).toContain('secret key does not match');
  });

  it('InvalidSignatureException "Signature expired" is skew even when the amount is unknown', () => {
    const err = awsError('InvalidSignatureException', 400, { message: 'Signature expired: 20250601T114000Z is now earlier than 20250601T115500Z (20250601T120000Z - 5 min.)' });
    expect(isClockSkew(err)).toBe(true);
    const e = toFluxerError(err);
    expect(e.exitCode).toBe(ExitCode.Credentials);
    expect(e.hint).toMatch(/clock is too far from AWS's.*sync it/);
  });
});

describe('permissions and credentials', () => {
  it('AccessDenied names the action to allow when the message does', () => {
    const err = awsError('AccessDenied', 403, { message: 'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:123456789012:q' });
    const e = toFluxerError(err);
    expect(e.exitCode).toBe(ExitCode.Credentials);
    expect(e.hint).toContain('sqs:SendMessage');
    expect(classifyAwsError(err).kind).toBe('permission');
  });

  it('missing credentials (no $metadata: the SDK never reached AWS) and expired sessions are exit 4', () => {
    const missing = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    expect(toFluxerError(missing)).toMatchObject({ exitCode: ExitCode.Credentials, hint: expect.stringContaining('aws configure') });
    expect(toFluxerError(awsError('ExpiredToken', 400))).toMatchObject({ exitCode: ExitCode.Credentials, hint: expect.stringContaining('aws sso login') });
  });

  it('capacity is exit 5; any other AWS error is exit 1 with its name; a bug is InternalError', () => {
    expect(toFluxerError(awsError('InsufficientInstanceCapacity', 500)).exitCode).toBe(ExitCode.Capacity);
    expect(toFluxerError(awsError('InvalidParameterValue', 400))).toMatchObject({ exitCode: ExitCode.Failed, code: 'InvalidParameterValue', message: 'InvalidParameterValue: InvalidParameterValue' });
    expect(toFluxerError(new TypeError('x is undefined'))).toMatchObject({ exitCode: ExitCode.Failed, code: 'TypeError' });
    expect(toFluxerError(new Error('boom')).code).toBe('InternalError');
  });
});
