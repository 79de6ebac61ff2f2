// The one place that reads AWS errors. Everything else asks here — "is this a missing queue?", "which
// region did S3 redirect to?", "is the clock off?" — instead of sniffing `err.name` itself, and
// toFluxerError maps each kind of failure once to an exit code and a hint.
import { CapacityError, CredentialsError, ExitCode, FluxerError } from '../lib/errors.js';
import { formatDuration } from '../lib/duration.js';

/** The SDK's service exception, as far as fluxer reads it (the SDK types are not imported here). */
interface AwsErrorShape {
  name?: string;
  /** Query-protocol services (SQS's old API, EC2) sometimes carry the code here. */
  Code?: string;
  code?: string;
  message?: string;
  /** S3's RequestTimeTooSkewed body: the server's time and the time the request was signed with. */
  ServerTime?: string;
  RequestTime?: string;
  $metadata?: { httpStatusCode?: number };
  /** The raw HTTP response (a hidden field the SDK adds to every service exception). */
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

const shape = (err: unknown): AwsErrorShape => (err && typeof err === 'object' ? (err as AwsErrorShape) : {});

/** The error's AWS code ("QueueDoesNotExist", "InvalidAMIID.NotFound"), or "" for a non-AWS value. */
export function awsErrorName(err: unknown): string {
  const e = shape(err);
  return e.Code ?? e.name ?? '';
}

export function httpStatus(err: unknown): number | undefined {
  const e = shape(err);
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

/** Whether the error is one of these codes: for the answers one call documents (QueueDeletedRecently …). */
export function hasErrorCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes(awsErrorName(err));
}

function header(err: unknown, name: string): string | undefined {
  const headers = shape(err).$response?.headers ?? {};
  return headers[name] ?? headers[name.toLowerCase()] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

export type AwsService = 'sqs' | 's3' | 'iam' | 'ec2' | 'ssm' | 'quotas';

const NOT_FOUND: Record<AwsService, (name: string, status: number | undefined) => boolean> = {
  sqs: (n) => n === 'QueueDoesNotExist' || n === 'AWS.SimpleQueueService.NonExistentQueue',
  // HEAD and GET of a missing key or bucket: the name when there is a body, else only the status.
  s3: (n, status) => n === 'NoSuchBucket' || n === 'NoSuchKey' || n === 'NotFound' || status === 404,
  iam: (n) => n === 'NoSuchEntity' || n === 'NoSuchEntityException',
  // EC2 names every missing thing InvalidX.NotFound (InvalidAMIID.NotFound, InvalidInstanceID.NotFound …).
  ec2: (n) => /^Invalid[A-Za-z]+\.NotFound$/.test(n) || n === 'InvalidLaunchTemplateName.NotFoundException' || n === 'InvalidLaunchTemplateId.NotFound',
  ssm: (n) => n === 'ParameterNotFound' || n === 'ParameterVersionNotFound' || n === 'InvocationDoesNotExist' || n === 'InvalidDocument',
  quotas: (n) => n === 'NoSuchResourceException',
};

/** "The thing asked for does not exist", in the words of that service. */
export function isNotFound(err: unknown, service: AwsService): boolean {
  return NOT_FOUND[service](awsErrorName(err), httpStatus(err));
}

export const isQueueMissing = (err: unknown): boolean => isNotFound(err, 'sqs');

/**
 * A launch naming an instance profile created moments ago: IAM is eventually consistent, and EC2
 * answers InvalidParameterValue "Invalid IAM Instance Profile name/ARN" until the profile propagates
 * (usually seconds). Worth retrying for a while; any other InvalidParameterValue is not.
 */
export function isInstanceProfilePropagating(err: unknown): boolean {
  return awsErrorName(err) === 'InvalidParameterValue' && /Invalid IAM Instance Profile/i.test(shape(err).message ?? '');
}

/** A create that lost a race: another run (a second `fluxer setup`) made the same resource first. */
export function isAlreadyExists(err: unknown): boolean {
  return hasErrorCode(err, 'EntityAlreadyExists', 'InvalidGroup.Duplicate', 'QueueAlreadyExists', 'BucketAlreadyOwnedByYou', 'AlreadyExists', 'AlreadyExistsFault', 'InvalidLaunchTemplateName.AlreadyExistsException');
}

/**
 * AddRoleToInstanceProfile on a profile that already holds a role (a profile holds one): IAM answers
 * LimitExceeded "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".
 */
export function isProfileFull(err: unknown): boolean {
  return awsErrorName(err) === 'LimitExceeded' && /InstanceSessionsPerInstanceProfile/i.test(shape(err).message ?? '');
}

/**
 * EC2's answer to a call made with `DryRun: true` that would have succeeded: DryRunOperation ("Request
 * would have succeeded, but DryRun flag is set"). A dry run that would fail answers the real error
 * (UnauthorizedOperation, InvalidInstanceID.NotFound …) instead.
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
 */
export function isDryRunOperation(err: unknown): boolean {
  return awsErrorName(err) === 'DryRunOperation';
}

/**
 * GetCommandInvocation (or ListCommandInvocations) asked right after SendCommand: the invocation is
 * not created yet on AWS's side ("InvocationDoesNotExist"), which means "not yet", not "failed".
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
 */
export function isInvocationDoesNotExist(err: unknown): boolean {
  return awsErrorName(err) === 'InvocationDoesNotExist';
}

/**
 * SendCommand naming a node that is not a managed instance (not registered, terminated) or whose
 * agent is offline: "InvalidInstanceId". The send fails as a whole, so the nodes are checked first.
 */
export function isInvalidInstanceId(err: unknown): boolean {
  return awsErrorName(err) === 'InvalidInstanceId';
}

/**
 * AbortMultipartUpload (or UploadPart) of an upload that is no longer there: completed or aborted by
 * another call in the meantime. For an abort, the wanted end state.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html
 */
export function isNoSuchUpload(err: unknown): boolean {
  return awsErrorName(err) === 'NoSuchUpload';
}

/**
 * StartInstanceRefresh while one runs: "InstanceRefreshInProgress" (the SDK names the exception
 * InstanceRefreshInProgressFault). Not a failure for `fleet roll`: it follows the one that runs.
 * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html
 */
export function isInstanceRefreshInProgress(err: unknown): boolean {
  return hasErrorCode(err, 'InstanceRefreshInProgress', 'InstanceRefreshInProgressFault');
}

/** A conditional GET whose object did not change (If-None-Match matched). */
export function isNotModified(err: unknown): boolean {
  return httpStatus(err) === 304 || awsErrorName(err) === 'NotModified';
}

/**
 * S3 asked in the wrong region answers 301 (HeadBucket: no body) with the bucket's region in the
 * `x-amz-bucket-region` header. Returns the redirect (region undefined when the header is absent), or
 * undefined when this is no redirect.
 */
export function regionRedirect(err: unknown): { region: string | undefined } | undefined {
  if (httpStatus(err) !== 301 && awsErrorName(err) !== 'PermanentRedirect') return undefined;
  return { region: header(err, 'x-amz-bucket-region') };
}

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

/** Names that mean "who you are" is not accepted. */
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'AuthFailure',
  'InvalidAccessKeyId',
]);

/** Names that mean "what you may do" does not include this call. */
const PERMISSION_ERRORS = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Client.UnauthorizedOperation', 'AuthorizationError', 'Forbidden']);

const CAPACITY_ERRORS = new Set(['InsufficientInstanceCapacity', 'MaxSpotInstanceCountExceeded', 'VcpuLimitExceeded', 'SpotMaxPriceTooLow', 'InstanceLimitExceeded']);

/**
 * A pool (type × AZ) has no room now: another pool may (Karpenter's "unavailable offering" list,
 * less the quota codes, which no other pool of the same family fixes).
 */
const POOL_CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'UnfulfillableCapacity',
  'Unsupported',
  'InsufficientFreeAddressesInSubnet',
  'MaxFleetCountExceeded',
  'ReservationCapacityExceeded',
  'SpotMaxPriceTooLow',
]);
/** The account's spot vCPU quota is spent: trying other zones will not help. */
const SPOT_QUOTA_ERRORS = new Set(['MaxSpotInstanceCountExceeded', 'VcpuLimitExceeded', 'InstanceLimitExceeded']);

/** What a launch attempt's failure means: `error` is an exception or a CreateFleet `Errors` entry ({ErrorCode}). */
export type LaunchFailureKind = 'pool-capacity' | 'quota' | 'idempotency-mismatch' | 'other';

export function launchFailureKind(error: unknown): LaunchFailureKind {
  const code = launchErrorCode(error);
  if (POOL_CAPACITY_ERRORS.has(code)) return 'pool-capacity';
  if (SPOT_QUOTA_ERRORS.has(code)) return 'quota';
  if (code === 'IdempotentParameterMismatch') return 'idempotency-mismatch';
  return 'other';
}

/** The code of a launch failure in either shape: an SDK exception, or a fleet response's `{ErrorCode, ErrorMessage}`. */
export function launchErrorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'ErrorCode' in error) return String((error as { ErrorCode?: unknown }).ErrorCode ?? '');
  return awsErrorName(error);
}

export function launchErrorMessage(error: unknown): string {
  if (error && typeof error === 'object' && 'ErrorMessage' in error) return String((error as { ErrorMessage?: unknown }).ErrorMessage ?? '');
  return shape(error).message ?? String(error);
}

export function isPermissionDenied(err: unknown): boolean {
  return PERMISSION_ERRORS.has(awsErrorName(err));
}

/** The API is not there (moto answers 500 with an HTML page; others say so by name). */
export function isUnsupportedOperation(err: unknown): boolean {
  const name = awsErrorName(err);
  if (['UnsupportedOperation', 'InvalidAction', 'UnknownOperationException', 'UnknownOperation', 'NotImplemented'].includes(name)) return true;
  const status = httpStatus(err);
  return (status === 500 || status === 501) && (name === 'SyntaxError' || /Deserialization error|not valid JSON/i.test(shape(err).message ?? ''));
}

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
