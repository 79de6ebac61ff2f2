// Typed errors and the exit-code table: the one source of truth for how fluxer fails.
// Commands throw these; the entry point turns them into a message, a hint and an exit code.

export const ExitCode = {
  Ok: 0,
  Failed: 1,
  Usage: 2,
  Credentials: 4,
  Capacity: 5,
  Pending: 8,
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Documented meaning of each exit code (README and `fluxer --help` footer are generated from it). */
export const EXIT_CODE_MEANINGS: ReadonlyArray<[ExitCode, string]> = [
  [ExitCode.Ok, 'success'],
  [ExitCode.Failed, 'the operation failed (AWS error, job failed)'],
  [ExitCode.Usage, 'usage or validation error: bad flag, bad input, bad config — nothing was sent to AWS'],
  [ExitCode.Credentials, 'credentials or permission problem'],
  [ExitCode.Capacity, 'quota or capacity exhausted'],
  [ExitCode.Pending, 'still pending: --wait timed out while the job or resource is still in progress'],
  [ExitCode.Interrupted, 'interrupted by the user (Ctrl-C); what was submitted keeps running'],
];

export class FluxerError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  /** Stable machine-readable code for `--json` errors, e.g. "UsageError", "QueueNotFound". */
  readonly code: string;

  constructor(message: string, opts: { exitCode?: ExitCode; hint?: string; code?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? ExitCode.Failed;
    this.hint = opts.hint;
    this.code = opts.code ?? this.name;
  }
}

/** The user's to fix: bad flag, value, config or input. Nothing was sent to AWS. Exit 2. */
export class UsageError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Usage, code: opts.code ?? 'UsageError' });
  }
}

export class CredentialsError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Credentials, code: opts.code ?? 'CredentialsError' });
  }
}

export class CapacityError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Capacity, code: opts.code ?? 'CapacityError' });
  }
}

export class PendingError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Pending, code: opts.code ?? 'StillPending' });
  }
}

export class InterruptedError extends FluxerError {
  constructor(message: string, opts: { hint?: string } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Interrupted, code: 'Interrupted' });
  }
}

/** Names of AWS errors that mean "who you are / what you may do" rather than "what went wrong". */
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'AuthFailure',
  'InvalidAccessKeyId',
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
]);

const CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'MaxSpotInstanceCountExceeded',
  'VcpuLimitExceeded',
  'SpotMaxPriceTooLow',
  'InstanceLimitExceeded',
]);

const HINTS: Record<string, string> = {
  CredentialsProviderError: 'Configure credentials: `aws configure`, AWS_PROFILE or `--profile NAME`.',
  ExpiredToken: 'Your session expired: refresh it (e.g. `aws sso login`) and retry.',
  ExpiredTokenException: 'Your session expired: refresh it (e.g. `aws sso login`) and retry.',
  InvalidClientTokenId: 'The access key is not valid for this account/region: check `aws sts get-caller-identity`.',
  UnrecognizedClientException: 'The access key is not valid: check `aws sts get-caller-identity`.',
  SignatureDoesNotMatch: 'The secret key does not match the access key: check your credentials.',
  AccessDenied: 'Your identity lacks a permission for this call: see docs/permissions in the README.',
  AccessDeniedException: 'Your identity lacks a permission for this call: see docs/permissions in the README.',
  UnauthorizedOperation: 'Your identity lacks an EC2 permission: the message names the action to allow.',
  InsufficientInstanceCapacity: 'AWS has no spot capacity for this type in this zone now: try other zones or types.',
  VcpuLimitExceeded: 'Raise the vCPU quota L-3819A6DF ("All G and VT Spot Instance Requests") in Service Quotas.',
  MaxSpotInstanceCountExceeded: 'Raise the spot quota L-3819A6DF in Service Quotas, or terminate idle nodes.',
  'AWS.SimpleQueueService.NonExistentQueue': 'Create the queue with `fluxer setup`, or check the stack\'s queue name and region.',
  QueueDoesNotExist: 'Create the queue with `fluxer setup`, or check the stack\'s queue name and region.',
  NoSuchBucket: 'Create the bucket with `fluxer setup`, or check the stack\'s bucket name.',
  ThrottlingException: 'AWS is throttling requests: wait a moment and retry.',
};

/** Turns any thrown value into a FluxerError with an exit code and, where we know one, a hint. */
export function toFluxerError(err: unknown): FluxerError {
  if (err instanceof FluxerError) return err;
  if (err && typeof err === 'object') {
    const e = err as { name?: string; message?: string; Code?: string; code?: string; $metadata?: unknown };
    const name = e.Code ?? e.name ?? 'Error';
    const message = e.message || name;
    if (e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) {
      return new FluxerError(`Could not connect to the AWS endpoint: ${message}`, {
        code: 'EndpointUnreachable',
        hint: 'Check --endpoint-url / AWS_ENDPOINT_URL, or start the local stack with `fluxer local up`.',
        cause: err,
      });
    }
    if (CREDENTIAL_ERRORS.has(name)) {
      return new CredentialsError(message, { code: name, hint: HINTS[name], cause: err });
    }
    if (CAPACITY_ERRORS.has(name)) {
      return new CapacityError(message, { code: name, hint: HINTS[name], cause: err });
    }
    if ('$metadata' in e) {
      return new FluxerError(`${name}: ${message}`, { code: name, hint: HINTS[name], cause: err });
    }
    return new FluxerError(message, { code: name === 'Error' ? 'InternalError' : name, cause: err });
  }
  return new FluxerError(String(err), { code: 'InternalError' });
}
