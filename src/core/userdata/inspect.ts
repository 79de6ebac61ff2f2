// The checks `fluxer userdata render` makes, on user data that was rendered (or written) elsewhere:
// plain, gzip, or base64 of either, as EC2 would receive it.
import { findSecrets, type SecretFinding } from '../secrets.js';
import { USER_DATA_LIMIT, base64Length, decodeBase64File, formatWarning, gunzip, gzipDeterministic, isGzip, largestParts, type Part } from './payload.js';

export type UserDataEncoding = 'plain' | 'gzip' | 'base64' | 'base64+gzip';

export interface UserDataInspection {
  encoding: UserDataEncoding;
  /** Bytes EC2 counts against the limit: after base64 decoding, before gunzip. */
  bytes: number;
  limit: number;
  gzip: boolean;
  /** Size of the script itself (after gunzip). */
  plainBytes: number;
  /** Gzipped size: the file's own when gzipped, else what gzip would make of it. */
  gzippedBytes: number;
  base64Bytes: number;
  fits: boolean;
  secrets: SecretFinding[];
  /** Largest parts of the script, when it does not fit. */
  largestParts: Part[];
  warnings: string[];
}

export class UnreadableUserData extends Error {}

export function inspectUserData(file: Uint8Array): UserDataInspection {
  const decoded = decodeBase64File(file);
  const base64 = decoded !== undefined && (isGzip(decoded) || looksLikeText(decoded));
  const payload = base64 ? decoded! : Buffer.from(file);
  const gzip = isGzip(payload);
  let plain: Buffer;
  try {
    plain = gzip ? gunzip(payload) : payload;
  } catch (err) {
    throw new UnreadableUserData(`gzip data is corrupt: ${(err as Error).message}`);
  }
  const text = plain.toString('utf8');
  const fits = payload.length <= USER_DATA_LIMIT;
  const warnings: string[] = [];
  const format = formatWarning(text);
  if (format) warnings.push(format);
  return {
    encoding: base64 ? (gzip ? 'base64+gzip' : 'base64') : gzip ? 'gzip' : 'plain',
    bytes: payload.length,
    limit: USER_DATA_LIMIT,
    gzip,
    plainBytes: plain.length,
    gzippedBytes: gzip ? payload.length : gzipDeterministic(plain).length,
    base64Bytes: base64Length(payload.length),
    fits,
    secrets: findSecrets(text),
    largestParts: fits ? [] : largestParts(text),
    warnings,
  };
}

/** Decoded base64 that is readable text (a plain script), as opposed to a plain script that merely
 * happens to be valid base64 (a one-word file). */
function looksLikeText(data: Buffer): boolean {
  const text = data.toString('utf8');
  return !text.includes('\uFFFD') && formatWarning(text) === undefined;
}
