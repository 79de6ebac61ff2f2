// What kind of failure an error is, and the one mapping of each kind to an exit code and a hint.
import { CapacityError, CredentialsError, ExitCode, FluxerError } from '../../lib/errors.js';
import { formatDuration } from '../../lib/duration.js';
import { CREDENTIAL_ERRORS, PERMISSION_ERRORS } from './access.js';
import { regionRedirect } from './answers.js';
import { CAPACITY_ERRORS } from './capacity.js';
import { isNotFound, NOT_FOUND, type AwsService } from './not-found.js';
import { awsErrorName, hasErrorCode, httpStatus, shape } from './shape.js';
import { clockSkewMs, isClockSkew, isThrottling } from './transient.js';

export type AwsErrorKind = 'unreachable' | 'clock-skew' | 'credentials' | 'permission' | 'capacity' | 'throttling' | 'region-redirect' | 'not-found' | 'aws' | 'other';

export interface AwsErrorInfo {
  kind: AwsErrorKind;
  /** The AWS code, or the JavaScript error's name. */
  name: string;
  status: number | undefined;
  message: string;
  /** region-redirect: the bucket's region, when S3 said. */
  bucketRegion?: string;
  /** clock-skew: AWS's clock minus this machine's, when measurable. */
  skewMs?: number;
}

/** What kind of failure this is. `nowMs` (the local clock now) lets a clock skew be measured. */
export function classifyAwsError(err: unknown, nowMs?: number): AwsErrorInfo {
  const e = shape(err);
  const name = awsErrorName(err) || 'Error';
  const base = { name, status: httpStatus(err), message: e.message || name };
  if (e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(base.message)) return { ...base, kind: 'unreachable' };
  if (isClockSkew(err, nowMs)) return { ...base, kind: 'clock-skew', skewMs: clockSkewMs(err, nowMs) };
  if (CREDENTIAL_ERRORS.has(name)) return { ...base, kind: 'credentials' };
  if (PERMISSION_ERRORS.has(name)) return { ...base, kind: 'permission' };
  if (CAPACITY_ERRORS.has(name)) return { ...base, kind: 'capacity' };
  if (!('$metadata' in e)) return { ...base, kind: 'other' };
  if (isThrottling(err)) return { ...base, kind: 'throttling' };
  const redirect = regionRedirect(err);
  if (redirect) return { ...base, kind: 'region-redirect', bucketRegion: redirect.region };
  if ((Object.keys(NOT_FOUND) as AwsService[]).some((s) => s !== 's3' && isNotFound(err, s)) || hasErrorCode(err, 'NoSuchBucket', 'NoSuchKey')) {
    return { ...base, kind: 'not-found' };
  }
  return { ...base, kind: 'aws' };
}

const PERMISSION_HINT = 'Your identity lacks a permission for this call: docs/setup.md ("Permissions") lists what each command needs.';
const SESSION_EXPIRED_HINT = 'Your session expired: refresh it (e.g. `aws sso login`) and retry.';
const QUEUE_MISSING_HINT = 'Create the queue with `fluxer setup`, or check the stack\'s queue name and region.';

/** Hints for single codes; a kind's own hint (below) applies when the code has none. */
const HINTS: Record<string, string> = {
  CredentialsProviderError: 'Configure credentials: `aws configure`, AWS_PROFILE or `--profile NAME`.',
  ExpiredToken: SESSION_EXPIRED_HINT,
  ExpiredTokenException: SESSION_EXPIRED_HINT,
  InvalidClientTokenId: 'The access key is not valid for this account/region: check `aws sts get-caller-identity`.',
  UnrecognizedClientException: 'The access key is not valid: check `aws sts get-caller-identity`.',
  SignatureDoesNotMatch: 'The secret key does not match the access key: check your credentials.',
  InvalidSignatureException: 'The secret key does not match the access key: check your credentials.',
  UnauthorizedOperation: 'Your identity lacks an EC2 permission: the message names the action to allow.',
  InsufficientInstanceCapacity: 'AWS has no spot capacity for this type in this zone now: try other zones or types.',
  VcpuLimitExceeded: 'Raise the vCPU quota L-3819A6DF ("All G and VT Spot Instance Requests") in Service Quotas.',
  MaxSpotInstanceCountExceeded: 'Raise the spot quota L-3819A6DF in Service Quotas, or terminate idle nodes.',
  'AWS.SimpleQueueService.NonExistentQueue': QUEUE_MISSING_HINT,
  QueueDoesNotExist: QUEUE_MISSING_HINT,
  NoSuchBucket: 'Create the bucket with `fluxer setup`, or check the stack\'s bucket name.',
};

function permissionHint(message: string): string {
  // IAM's wording: "... is not authorized to perform: sqs:SendMessage on resource: ..."
  const action = /not authorized to perform:? ([A-Za-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1];
  return action ? `Your identity may not call ${action}: allow it in its IAM policy (docs/setup.md, "Permissions", lists what each command needs).` : PERMISSION_HINT;
}

function skewHint(skewMs: number | undefined): string {
  const fix = 'sync it (NTP, e.g. `sudo timedatectl set-ntp true` or `sudo chronyc makestep`) and retry';
  if (skewMs === undefined) return `This machine's clock is too far from AWS's for a request signature to be accepted: ${fix}.`;
  const way = skewMs > 0 ? 'behind' : 'ahead of';
  return `This machine's clock is ${formatDuration(Math.abs(skewMs))} ${way} AWS's (from the response's time); AWS accepts at most about 5 minutes: ${fix}.`;
}

/** The one mapping of a failure kind to an exit code and a hint. */
function hintFor(info: AwsErrorInfo): string | undefined {
  switch (info.kind) {
    case 'clock-skew':
      return skewHint(info.skewMs);
    case 'permission':
      return info.name === 'UnauthorizedOperation' ? HINTS.UnauthorizedOperation : permissionHint(info.message);
    case 'throttling':
      return 'AWS is throttling requests: wait a moment and retry.';
    case 'region-redirect':
      return `The bucket is in ${info.bucketRegion ?? 'another region'}: set the stack's "region" to the bucket's, or use a bucket in this region.`;
    default:
      return HINTS[info.name];
  }
}

/** Turns any thrown value into a FluxerError with an exit code and, where we know one, a hint. */
export function toFluxerError(err: unknown, opts: { nowMs?: number } = {}): FluxerError {
  if (err instanceof FluxerError) return err;
  if (!err || typeof err !== 'object') return new FluxerError(String(err), { code: 'InternalError' });
  const info = classifyAwsError(err, opts.nowMs);
  const hint = hintFor(info);
  switch (info.kind) {
    case 'unreachable':
      return new FluxerError(`Could not connect to the AWS endpoint: ${info.message}`, {
        code: 'EndpointUnreachable',
        hint: 'Check --endpoint-url / AWS_ENDPOINT_URL, or start the local stack with `fluxer local up`.',
        cause: err,
      });
    case 'clock-skew':
    case 'credentials':
    case 'permission':
      return new CredentialsError(info.message, { code: info.name, hint, cause: err });
    case 'capacity':
      return new CapacityError(info.message, { code: info.name, hint, cause: err });
    case 'other':
      return new FluxerError(info.message, { code: info.name === 'Error' ? 'InternalError' : info.name, cause: err });
    default:
      return new FluxerError(`${info.name}: ${info.message}`, { exitCode: ExitCode.Failed, code: info.name, hint, cause: err });
  }
}
