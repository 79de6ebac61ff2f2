// A seeded fault proxy between fluxer (CLI and runtime) and moto: every request is forwarded
// unchanged, except that while the proxy is armed a seeded draw turns some of them into faults a
// real region produces — a 5xx, throttling, added latency, or a dropped connection (before the
// request reaches the server, or after it took effect, so the client never learns that it did).
// Same seed, same sequence of draws: the schedule replays, though the processes' interleaving may
// not. Faults are counted by kind and service; nothing is injected while the proxy is disarmed.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ProxyFault = '5xx' | 'throttle' | 'latency' | 'drop-before' | 'drop-after';
export type FaultRates = Partial<Record<ProxyFault, number>>;

export interface FaultProxy {
  endpoint: string;
  armed: boolean;
  /** Faults injected so far, by kind and by `<service>:<kind>`. */
  counts: Record<string, number>;
  requests: number;
  stop(): Promise<void>;
}

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The service a SigV4 request is for, from its credential scope (…/us-east-1/sqs/aws4_request). */
export function serviceOf(req: IncomingMessage): string {
  const auth = String(req.headers.authorization ?? '');
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(auth)?.[1] ?? 'other';
}

// Error bodies in each protocol's shape, so the SDKs classify them as they would AWS's own:
// S3 REST-XML (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) and SQS
// AWS JSON 1.0 with the query-compatible error header
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html).
function faultResponse(service: string, kind: '5xx' | 'throttle'): { status: number; headers: Record<string, string>; body: string } {
  if (service === 's3') {
    const [status, code, message] = kind === '5xx' ? [500, 'InternalError', 'We encountered an internal error. Please try again.'] : [503, 'SlowDown', 'Please reduce your request rate.'];
    return { status, headers: { 'content-type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULTPROXY</RequestId></Error>` };
  }
  const [status, code, fault] = kind === '5xx' ? [500, 'InternalError', 'Receiver'] : [400, 'RequestThrottled', 'Sender'];
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': `${code};${fault}` },
    body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message: kind === '5xx' ? 'Internal error' : 'Rate exceeded' }),
  };
}

const ORDER: ProxyFault[] = ['5xx', 'throttle', 'latency', 'drop-before', 'drop-after'];

export async function startFaultProxy(opts: { upstream: string; seed: number; rates: FaultRates; maxLatencyMs?: number }): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream);
  const random = seededRandom(opts.seed);
  const counts: Record<string, number> = {};
  const proxy: FaultProxy = { endpoint: '', armed: false, counts, requests: 0, stop: async () => {} };

  const draw = (): { fault?: ProxyFault; latencyMs: number } => {
    const r = random();
    const latencyMs = Math.round(random() * (opts.maxLatencyMs ?? 1500));
    let acc = 0;
    for (const kind of ORDER) {
      acc += opts.rates[kind] ?? 0;
      if (r < acc) return { fault: kind, latencyMs };
    }
    return { latencyMs };
  };

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse, dropAfter: boolean) => {
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        if (dropAfter) {
          // The server acted on the request; the client sees a reset connection.
          upRes.resume();
          upRes.on('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.socket?.destroy());
    up.end(body);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      proxy.requests += 1;
      const body = Buffer.concat(chunks);
      const { fault, latencyMs } = proxy.armed ? draw() : { fault: undefined, latencyMs: 0 };
      if (!fault) return forward(req, body, res, false);
      const service = serviceOf(req);
      counts[fault] = (counts[fault] ?? 0) + 1;
      counts[`${service}:${fault}`] = (counts[`${service}:${fault}`] ?? 0) + 1;
      switch (fault) {
        case 'latency':
          setTimeout(() => forward(req, body, res, false), latencyMs);
          return;
        case 'drop-before':
          res.socket?.destroy();
          return;
        case 'drop-after':
          forward(req, body, res, true);
          return;
        default: {
          const answer = faultResponse(service, fault);
          res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
          res.end(answer.body);
        }
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
