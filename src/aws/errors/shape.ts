// How an AWS error is read: its code, HTTP status and headers, whatever SDK client threw it.
/** The SDK's service exception, as far as fluxer reads it (the SDK types are not imported here). */
export interface AwsErrorShape {
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

export const shape = (err: unknown): AwsErrorShape => (err && typeof err === 'object' ? (err as AwsErrorShape) : {});

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

/** A response header, by name in any case. */
export function header(err: unknown, name: string): string | undefined {
  const headers = shape(err).$response?.headers ?? {};
  return headers[name] ?? headers[name.toLowerCase()] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}
