// The local region's AWS emulator: a small loopback HTTP server in front of moto that answers the few AWS
// operations moto lacks (listed in test/README.md, "Stand-ins", and docs/local.md) and passes every other
// request through to moto unchanged. One component for both users: `fluxer local up` runs it (src/region.ts)
// and the test harness starts it (test/support/global-setup.ts), so the tests exercise what users run.
// The CLI does not know it is there: it is just the stack's endpoint.
//
// Served here:
//   ServiceQuotas.GetServiceQuota, ServiceQuotas.GetAWSDefaultServiceQuota  (AWS JSON 1.1, by X-Amz-Target)
//     moto knows only `vpc` quotas; EC2 spot vCPU quotas come from a table the tests set: src/emulator/quotas.ts
//   EC2 RunInstances capacity errors and ClientToken idempotency, the Deep Learning AMI's public SSM
//     parameter: src/emulator/ec2.ts (its own control API is listed there).
//   EC2 DescribeSpotPriceHistory, GetSpotPlacementScores and Pricing GetProducts: src/emulator/prices.ts
//   SSM Run Command that runs AWS-RunShellScript on the local nodes (SendCommand, GetCommandInvocation,
//     ListCommandInvocations, ListCommands, CancelCommand, DescribeInstanceInformation): src/emulator/ssm.ts
//   Auto Scaling instance refresh (StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh),
//     carried out against moto's group: src/emulator/autoscaling.ts
//   EC2 CreateLaunchTemplateVersion / DescribeLaunchTemplateVersions with user data (moto stores it so that
//     a launch from the version fails): src/emulator/launch-templates.ts
//
// Control API (not AWS):
//   POST   /_standin/quotas   body: QuotaEntry or QuotaEntry[]   → sets entries
//   DELETE /_standin/quotas[?accessKeyId=KEY]                    → clears the table (or one key's entries)
//   GET    /_standin/quotas                                      → the table, for debugging
//
// To add a stand-in: add a handler to HANDLERS keyed by X-Amz-Target (JSON protocols) or match on
// method/path in `route`, and add its row to test/README.md.
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autoscalingStandin } from './autoscaling.js';
import { ec2Standin } from './ec2.js';
import { imdsService } from './imds.js';
import { imagesStandin } from './images.js';
import { launchTemplatesStandin } from './launch-templates.js';
import { lifecycleHooksStandin } from './lifecycle-hooks.js';
import { pricesStandin } from './prices.js';
import type { StandinModule } from './prices.js';
import { QuotaTable, quotaHandler, type JsonHandler, type QuotaEntry } from './quotas.js';
import { ssmStandin } from './ssm.js';
import { signedScope, type ForwardingModule, type SignedScope, type StandinRequest, type Upstream } from './standin.js';

export type { ForwardingModule, SignedScope, StandinRequest, Upstream } from './standin.js';
export type { QuotaEntry } from './quotas.js';
export { setStandinQuotas } from './quotas.js';

/** Whether a module may want this request (only those are buffered; everything else streams through). */
function moduleMayServe(req: IncomingMessage): boolean {
  return /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') || String(req.headers['x-amz-target'] ?? '').startsWith('AmazonSSM.') || (req.url ?? '').startsWith('/_standin/ec2') || (req.url ?? '').startsWith('/_standin/capacity') || (req.url ?? '').startsWith('/_standin/images');
}

export interface AwsStandin {
  /** The URL clients use: the stand-in, which forwards what it does not serve to moto. */
  endpoint: string;
  upstream: string;
  /** The node folders the SSM executor and the nodes' IMDS read (src/lib/local-nodes.ts). */
  nodesDir: string;
  setQuotas(entries: QuotaEntry[]): void;
  clearQuotas(accessKeyId?: string): void;
  stop(): Promise<void>;
}

/** AWS JSON 1.1 operations served here, by X-Amz-Target. Returning undefined passes the request to moto. */
const HANDLERS: Record<string, JsonHandler> = {
  'ServiceQuotasV20190624.GetServiceQuota': quotaHandler('applied'),
  // moto answers this one with HTTP 500 for every service.
  'ServiceQuotasV20190624.GetAWSDefaultServiceQuota': quotaHandler('default'),
};

export interface EmulatorOptions {
  upstream: string;
  port?: number;
  /** The local region's node folders (src/lib/local-nodes.ts): the nodes' IMDS and SSM answer from here. */
  nodesDir?: string;
}

export async function startAwsStandin(opts: EmulatorOptions): Promise<AwsStandin> {
  const upstream = new URL(opts.upstream);
  const nodesDir = opts.nodesDir ?? mkdtempSync(join(tmpdir(), 'fluxer-emulator-nodes-'));
  const imds = imdsService(nodesDir);
  const quotas = new QuotaTable();
  const agent = new Agent({ keepAlive: true });
  // Stand-ins kept in their own files (src/emulator/<area>.ts): one line each.
  const modules: StandinModule[] = [pricesStandin()];

  const sendJson = (res: ServerResponse, status: number, body: unknown, errorType?: string) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/x-amz-json-1.1',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
      ...(errorType ? { 'X-Amzn-ErrorType': errorType } : {}),
    });
    res.end(text);
  };

  const sendAnswer = (res: ServerResponse, a: NonNullable<ReturnType<StandinModule['control']>>) => {
    res.writeHead(a.status, { 'Content-Type': a.contentType, 'Content-Length': Buffer.byteLength(a.body), 'x-amzn-RequestId': randomUUID(), ...a.headers });
    res.end(a.body);
  };

  // A request's body is read once; later readers (and passThrough) get the same buffer.
  const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();
  const buffered = new WeakMap<IncomingMessage, Buffer>();
  const readBody = (req: IncomingMessage): Promise<Buffer> => {
    const known = bodies.get(req);
    if (known) return known;
    const read = readBodyOnce(req).then((b) => (buffered.set(req, b), b));
    bodies.set(req, read);
    return read;
  };
  const readBodyOnce = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  /** Forwards the request to moto as it came (method, path, headers, body) and streams the answer back. */
  const passThrough = (req: IncomingMessage, res: ServerResponse, given?: Buffer) => {
    const body = given ?? buffered.get(req);
    const upstreamReq = request(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`emulator: upstream ${opts.upstream} failed: ${err.message}`);
    });
    if (body) upstreamReq.end(body);
    else req.pipe(upstreamReq);
  };

  const upstreamCall: Upstream = (r) =>
    new Promise((resolve, reject) => {
      const headers = { ...r.headers, 'content-length': String(r.body.length) };
      const upstreamReq = request({ protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: r.method, path: r.path, headers, agent }, (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (c: Buffer) => chunks.push(c));
        upstreamRes.on('end', () => resolve({ status: upstreamRes.statusCode ?? 502, headers: upstreamRes.headers, body: Buffer.concat(chunks) }));
        upstreamRes.on('error', reject);
      });
      upstreamReq.on('error', reject);
      upstreamReq.end(r.body);
    });
  // Modules that need moto's answers (or to hold one back): asked first, with the buffered request.
  // Lifecycle hooks before instance refresh: a refresh's terminations wait in the hook too.
  const hooks = lifecycleHooksStandin(nodesDir);
  const forwarding: ForwardingModule[] = [ec2Standin(), imagesStandin(nodesDir), ssmStandin({ nodesDir }), hooks, autoscalingStandin(Date.now, hooks.terminate), launchTemplatesStandin()];

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (forwarding.length && moduleMayServe(req)) {
      const body = await readBody(req);
      const isForm = /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '');
      const target = typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : undefined;
      const sreq: StandinRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, scope: signedScope(req), ...(isForm ? { form: new URLSearchParams(body.toString('utf8')) } : {}), ...(target ? { target } : {}) };
      for (const m of forwarding) if (await m.handle(sreq, res, upstreamCall)) return;
      // Not theirs: on to the other stand-ins and moto (readBody answers from the buffer from here on).
    }
    if (path === '/_standin/quotas') {
      if (req.method === 'POST') {
        const parsed: unknown = JSON.parse((await readBody(req)).toString('utf8') || '[]');
        quotas.set(Array.isArray(parsed) ? (parsed as QuotaEntry[]) : [parsed as QuotaEntry]);
        return sendJson(res, 200, { quotas: quotas.list() });
      }
      if (req.method === 'DELETE') {
        quotas.clear(new URL(req.url ?? '/', 'http://standin').searchParams.get('accessKeyId') ?? undefined);
        return sendJson(res, 200, { quotas: quotas.list() });
      }
      return sendJson(res, 200, { quotas: quotas.list() });
    }
    if (path?.startsWith('/_standin/')) {
      const body = (await readBody(req)).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://standin');
      for (const m of modules) {
        const answer = m.control(req.method ?? 'GET', url, body);
        if (answer) return sendAnswer(res, answer);
      }
    }
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') for (const m of modules) m.seen?.(target, signedScope(req));
    // EC2's query protocol: a form-encoded POST naming its Action; only these are buffered.
    if (req.method === 'POST' && !target && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      const body = await readBody(req);
      const params = new URLSearchParams(body.toString('utf8'));
      const action = params.get('Action') ?? '';
      for (const m of modules) m.seen?.(action, signedScope(req));
      const ec2 = modules.find((m) => m.ec2[action])?.ec2[action];
      const answer = ec2?.(params, signedScope(req));
      return answer ? sendAnswer(res, answer) : passThrough(req, res, body);
    }
    const fromModule = typeof target === 'string' ? modules.find((m) => m.json[target])?.json[target] : undefined;
    const handler = typeof target === 'string' ? HANDLERS[target] ?? (fromModule && ((b: Record<string, unknown>, scope: SignedScope) => fromModule(b, scope))) : undefined;
    if (!handler) return passThrough(req, res);
    // Only JSON-protocol requests are buffered, and only the ones a handler might answer.
    const body = await readBody(req);
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return sendJson(res, 400, { __type: 'SerializationException', Message: 'request body is not JSON' }, 'SerializationException');
    }
    const answer = handler(parsed, signedScope(req), quotas);
    if (!answer) return passThrough(req, res, body);
    return sendJson(res, answer.status, answer.body, answer.errorType);
  };

  const server = createServer((req, res) => {
    if (imds.handle(req, res)) return;
    route(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`emulator: ${err.message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    upstream: opts.upstream,
    nodesDir,
    setQuotas: (entries) => quotas.set(entries),
    clearQuotas: (accessKeyId) => quotas.clear(accessKeyId),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const m of forwarding) m.stop?.();
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
