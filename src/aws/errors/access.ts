// Who you are (credentials) and what you may do (permissions), as AWS names each refusal.
import { awsErrorName } from './shape.js';

/** Names that mean "who you are" is not accepted. */
export const CREDENTIAL_ERRORS = new Set([
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
export const PERMISSION_ERRORS = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Client.UnauthorizedOperation', 'AuthorizationError', 'Forbidden']);

export function isPermissionDenied(err: unknown): boolean {
  return PERMISSION_ERRORS.has(awsErrorName(err));
}
