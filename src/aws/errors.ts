// The one place that reads AWS errors. Everything else asks here — "is this a missing queue?", "which
// region did S3 redirect to?", "is the clock off?" — instead of sniffing `err.name` itself, and
// toFluxerError maps each kind of failure once to an exit code and a hint.
//
// Callers import this file; the readers live in src/aws/errors/, one family each: shape.ts (code,
// status, headers), not-found.ts, answers.ts (single answers one call documents), transient.ts
// (throttling, retryable, clock skew), access.ts (credentials, permissions), capacity.ts (launch
// failures) and classify.ts (the kind of a failure, and its exit code and hint).
export { awsErrorName, hasErrorCode, httpStatus } from './errors/shape.js';
export { isNotFound, isQueueMissing, type AwsService } from './errors/not-found.js';
export {
  isAlreadyExists,
  isDryRunOperation,
  isInstanceProfilePropagating,
  isInstanceRefreshInProgress,
  isInvalidInstanceId,
  isInvocationDoesNotExist,
  isNoSuchUpload,
  isNotModified,
  isProfileFull,
  isUnsupportedOperation,
  regionRedirect,
} from './errors/answers.js';
export { clockSkewMs, isClockSkew, isThrottling, isTransient } from './errors/transient.js';
export { isPermissionDenied } from './errors/access.js';
export { launchErrorCode, launchErrorMessage, launchFailureKind, type LaunchFailureKind } from './errors/capacity.js';
export { classifyAwsError, toFluxerError, type AwsErrorInfo, type AwsErrorKind } from './errors/classify.js';
