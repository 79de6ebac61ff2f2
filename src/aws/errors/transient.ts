// Worth trying again: throttling, a 5xx or a dropped connection; and a clock too far from AWS's for
// a signature to be accepted.
import { awsErrorName, header, httpStatus, shape } from './shape.js';

const THROTTLING = new Set([
  'RequestLimitExceeded', // EC2
  'ThrottlingException', // JSON services (SSM, Service Quotas, STS …)
  'Throttling', // query services (IAM, SQS's old API)
  'SlowDown', // S3
  'RequestThrottled', // SQS
  'RequestThrottledException',
  'TooManyRequestsException',
  'ThrottledException',
  'EC2ThrottledException',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
]);

export function isThrottling(err: unknown): boolean {
  return THROTTLING.has(awsErrorName(err)) || httpStatus(err) === 429;
}

const NETWORK = /ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up|TimeoutError|RequestTimeout|NetworkingError/i;

/**
 * Worth trying again later: throttling, a 5xx, or the connection failing under the request (reset,
 * timed out, hung up). The SDK has already retried a few times when a caller sees one.
 */
export function isTransient(err: unknown): boolean {
  if (isThrottling(err)) return true;
  const status = httpStatus(err);
  if (status !== undefined && status >= 500) return true;
  const e = shape(err);
  return NETWORK.test(`${awsErrorName(err)} ${e.code ?? ''} ${e.message ?? ''}`);
}

/** AWS refuses a signature more than 5 minutes (15 for some services) off; the SDK corrects from 4. */
const SKEW_THRESHOLD_MS = 4 * 60_000;
/** Always about the clock, whatever the measured difference. */
const SKEW_ERRORS = new Set(['RequestTimeTooSkewed', 'RequestExpired', 'RequestInTheFuture']);
/** About the clock only when the clock is measurably off (else a wrong key or an expired signature). */
const MAYBE_SKEW_ERRORS = new Set(['SignatureDoesNotMatch', 'InvalidSignatureException', 'AuthFailure', 'AccessDeniedException']);

/**
 * How far AWS's clock is ahead of this machine's (negative: behind), in ms, when the error tells:
 * S3's ServerTime − RequestTime, else the response's Date header − `nowMs` (the local clock when the
 * answer arrived). Undefined when neither is available.
 */
export function clockSkewMs(err: unknown, nowMs: number | undefined): number | undefined {
  const e = shape(err);
  const server = Date.parse(e.ServerTime ?? '');
  const request = Date.parse(e.RequestTime ?? '');
  if (Number.isFinite(server) && Number.isFinite(request)) return server - request;
  const date = Date.parse(header(err, 'date') ?? '');
  if (Number.isFinite(date) && nowMs !== undefined) return date - nowMs;
  return undefined;
}

export function isClockSkew(err: unknown, nowMs?: number): boolean {
  const name = awsErrorName(err);
  if (SKEW_ERRORS.has(name)) return true;
  if (!MAYBE_SKEW_ERRORS.has(name)) return false;
  if (/signature expired|request has expired/i.test(shape(err).message ?? '')) return true;
  const skew = clockSkewMs(err, nowMs);
  return skew !== undefined && Math.abs(skew) >= SKEW_THRESHOLD_MS;
}
