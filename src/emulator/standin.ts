// What a stand-in module (src/emulator/<area>.ts) is handed by the server and what it implements:
// the buffered request with its signer's scope, moto as an Upstream, and the ForwardingModule contract.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request as a stand-in module (src/emulator/<area>.ts) sees it: buffered, with its signer's scope. */
export interface StandinRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  scope: SignedScope;
  /** Query-protocol (EC2) parameters, when the body is form-encoded. */
  form?: URLSearchParams;
  /** X-Amz-Target, for JSON protocols. */
  target?: string;
}

/** Sends a request to moto as given; the answer is buffered. */
export type Upstream = (req: { method: string; path: string; headers: IncomingMessage['headers']; body: Buffer }) => Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>;

/** Answers a request itself (true), or leaves it to the next module and then moto (false). */
export interface ForwardingModule {
  handle(req: StandinRequest, res: ServerResponse, upstream: Upstream): Promise<boolean>;
  /** The emulator stops (e.g. end what the module started). */
  stop?(): void;
}

export interface SignedScope {
  accessKeyId?: string;
  region?: string;
}

/** Access key id and region from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request`. */
export function signedScope(req: IncomingMessage): SignedScope {
  const m = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(req.headers.authorization ?? '');
  return m ? { accessKeyId: m[1], region: m[2] } : {};
}
