// A loopback HTTP proxy in front of moto that a single test file starts for itself: it records every
// request that reaches it (a counting endpoint: "nothing was sent to AWS" is `requests.length === 0`)
// and lets the test answer chosen requests itself, before or after passing them on, to make real
// faults happen on the wire: an SQS call that fails, or one that arrived at the queue but whose
// answer never came back (the client sees a 500 after the message was enqueued).
// A test fixture only; nothing in src/ knows it exists. Unlike the shared stand-in
// (src/emulator/server.ts), its faults touch only the file that started it.
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** X-Amz-Target of JSON-protocol calls, e.g. "AmazonSQS.SendMessageBatch". */
  target?: string;
}

export interface ProxyReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

/** Return a reply to answer the request yourself; undefined passes it on unchanged. */
export type Intercept = (req: ProxiedRequest, forward: () => Promise<ProxyReply>) => Promise<ProxyReply | undefined> | ProxyReply | undefined;

export interface FaultProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  intercept: Intercept | undefined;
  stop(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** An AWS JSON-protocol error reply (SQS speaks AWS JSON 1.0). */
export function jsonError(status: number, type: string, message: string): ProxyReply {
  return {
    status,
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-query-error': `${type};Receiver` },
    body: JSON.stringify({ __type: `com.amazonaws.sqs#${type}`, message }),
  };
}

export async function startFaultProxy(opts: { upstream: string; intercept?: Intercept }): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream);
  const state: FaultProxy = { endpoint: '', requests: [], intercept: opts.intercept, stop: async () => {} };

  const forward = (req: ProxiedRequest) =>
    new Promise<ProxyReply>((resolve, reject) => {
      const up = request(
        { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.path, headers: req.headers },
        (res) => {
          readBody(res).then((body) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && k !== 'transfer-encoding') headers[k] = Array.isArray(v) ? v.join(', ') : v;
            headers['content-length'] = String(body.length);
            resolve({ status: res.statusCode ?? 502, headers, body });
          }, reject);
        },
      );
      up.on('error', reject);
      up.end(req.body);
    });

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const target = req.headers['x-amz-target'];
      const proxied: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, target: typeof target === 'string' ? target : undefined };
      state.requests.push(proxied);
      const reply = (await state.intercept?.(proxied, () => forward(proxied))) ?? (await forward(proxied));
      const out = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
      res.writeHead(reply.status, { ...reply.headers, 'content-length': String(out.length) });
      res.end(out);
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`fault-proxy: ${err.message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
