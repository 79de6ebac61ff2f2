// Turns anything thrown into a FluxerError: AWS error names become exit codes and hints.
import { CapacityError, CredentialsError, FluxerError } from '../lib/errors.js';

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
