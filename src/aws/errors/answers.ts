// The single answers one call documents, each named once: a create that lost a race, an instance
// profile still propagating, a dry run that would have succeeded, an invocation not created yet,
// S3's region redirect, an API that is not there …
import { awsErrorName, hasErrorCode, header, httpStatus, shape } from './shape.js';

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

/** The API is not there (moto answers 500 with an HTML page; others say so by name). */
export function isUnsupportedOperation(err: unknown): boolean {
  const name = awsErrorName(err);
  if (['UnsupportedOperation', 'InvalidAction', 'UnknownOperationException', 'UnknownOperation', 'NotImplemented'].includes(name)) return true;
  const status = httpStatus(err);
  return (status === 500 || status === 501) && (name === 'SyntaxError' || /Deserialization error|not valid JSON/i.test(shape(err).message ?? ''));
}
