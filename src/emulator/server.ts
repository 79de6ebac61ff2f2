// The local region's AWS emulator: a small loopback HTTP server in front of moto that answers the few AWS
// operations moto lacks (listed in test/README.md, "Stand-ins", and docs/local.md) and passes every other
// request through to moto unchanged. One component for both users: `fluxer local up` runs it (src/region.ts)
// and the test harness starts it (test/support/global-setup.ts), so the tests exercise what users run.
// The CLI does not know it is there: it is just the stack's endpoint.
//
// Served here:
//   ServiceQuotas.GetServiceQuota, ServiceQuotas.GetAWSDefaultServiceQuota  (AWS JSON 1.1, by X-Amz-Target)
//     moto knows only `vpc` quotas; EC2 spot vCPU quotas come from a table the tests set.
//   EC2 RunInstances capacity errors and ClientToken idempotency, the Deep Learning AMI's public SSM
//     parameter: src/emulator/ec2.ts (its own control API is listed there).
//   EC2 DescribeSpotPriceHistory, GetSpotPlacementScores and Pricing GetProducts: standin-prices.ts
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
import { ssmStandin } from './ssm.js';

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

/** Whether a module may want this request (only those are buffered; everything else streams through). */
function moduleMayServe(req: IncomingMessage): boolean {
  return /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') || String(req.headers['x-amz-target'] ?? '').startsWith('AmazonSSM.') || (req.url ?? '').startsWith('/_standin/ec2') || (req.url ?? '').startsWith('/_standin/capacity') || (req.url ?? '').startsWith('/_standin/images');
}
import { pricesStandin } from './prices.js';
import type { StandinModule } from './prices.js';

export interface QuotaEntry {
  serviceCode: string;
  quotaCode: string;
  value: number;
  /** Only this region (from the request's SigV4 credential scope); all regions when omitted. */
  region?: string;
  /**
   * Only requests signed with this access key id; any when omitted. Test files that run in parallel
   * use their own access key id so their quota values never meet.
   */
  accessKeyId?: string;
  quotaName?: string;
  /** "applied" (GetServiceQuota, the default) or "default" (GetAWSDefaultServiceQuota: AWS's default value). */
  kind?: 'applied' | 'default';
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

/** Names as AWS reports them (QuotaName), for realistic responses. */
const KNOWN_QUOTA_NAMES: Record<string, string> = {
  'ec2/L-3819A6DF': 'All G and VT Spot Instance Requests',
  'ec2/L-7212CCBC': 'All P4, P3 and P2 Spot Instance Requests',
  'ec2/L-C4BD4855': 'All P5 Spot Instance Requests',
  'ec2/L-88CF9481': 'All F Spot Instance Requests',
  'ec2/L-34B43A08': 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests',
  'ec2/L-E3A00192': 'All X Spot Instance Requests',
  'ec2/L-B5D1601B': 'All Inf Spot Instance Requests',
  'ec2/L-85EED4F7': 'All DL Spot Instance Requests',
  'ec2/L-6B0D517C': 'All Trn Spot Instance Requests',
};
const SERVICE_NAMES: Record<string, string> = { ec2: 'Amazon Elastic Compute Cloud (Amazon EC2)' };
/** moto's default account; the ARN in the response carries it as AWS's would carry yours. */
const ACCOUNT_ID = '123456789012';

export interface SignedScope {
  accessKeyId?: string;
  region?: string;
}

/** Access key id and region from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request`. */
function signedScope(req: IncomingMessage): SignedScope {
  const m = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(req.headers.authorization ?? '');
  return m ? { accessKeyId: m[1], region: m[2] } : {};
}

class QuotaTable {
  private entries: QuotaEntry[] = [];

  set(list: QuotaEntry[]): void {
    for (const e of list) {
      if (typeof e.serviceCode !== 'string' || typeof e.quotaCode !== 'string' || typeof e.value !== 'number') {
        throw new Error('a quota entry needs serviceCode, quotaCode and a numeric value');
      }
      // A later entry for the same scope replaces the earlier one.
      this.entries = this.entries.filter(
        (x) => !(x.serviceCode === e.serviceCode && x.quotaCode === e.quotaCode && x.region === e.region && x.accessKeyId === e.accessKeyId && (x.kind ?? 'applied') === (e.kind ?? 'applied')),
      );
      this.entries.push(e);
    }
  }

  /** Clears every entry, or only those scoped to one access key id. */
  clear(accessKeyId?: string): void {
    this.entries = accessKeyId === undefined ? [] : this.entries.filter((e) => e.accessKeyId !== accessKeyId);
  }

  list(): QuotaEntry[] {
    return [...this.entries];
  }

  /** The most specific entry wins: access key + region, then access key, then region, then neither. */
  find(kind: 'applied' | 'default', serviceCode: string, quotaCode: string, scope: SignedScope): QuotaEntry | undefined {
    const candidates = this.entries.filter(
      (e) =>
        (e.kind ?? 'applied') === kind &&
        e.serviceCode === serviceCode &&
        e.quotaCode === quotaCode &&
        (e.region === undefined || e.region === scope.region) &&
        (e.accessKeyId === undefined || e.accessKeyId === scope.accessKeyId),
    );
    const rank = (e: QuotaEntry) => (e.accessKeyId ? 2 : 0) + (e.region ? 1 : 0);
    return candidates.sort((a, b) => rank(b) - rank(a))[0];
  }

  /** Whether the table speaks for this service at all (else the request goes on to moto). */
  servesService(serviceCode: string): boolean {
    return this.entries.some((e) => e.serviceCode === serviceCode);
  }
}

type JsonHandler = (body: Record<string, unknown>, scope: SignedScope, quotas: QuotaTable) => { status: number; body: unknown; errorType?: string } | undefined;

/**
 * GetServiceQuota (the account's applied value) and GetAWSDefaultServiceQuota (AWS's default) share
 * one shape: https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html
 * and API_GetAWSDefaultServiceQuota.html. A default carries no account in its ARN and no applied level.
 */
function quotaHandler(kind: 'applied' | 'default'): JsonHandler {
  return (body, scope, quotas) => {
    const serviceCode = String(body.ServiceCode ?? '');
    const quotaCode = String(body.QuotaCode ?? '');
    // moto answers `vpc` (and any service the tests never set) itself.
    if (serviceCode !== 'ec2' && !quotas.servesService(serviceCode)) return undefined;
    const entry = quotas.find(kind, serviceCode, quotaCode, scope);
    const region = scope.region ?? 'us-east-1';
    if (!entry) {
      return {
        status: 400,
        errorType: 'NoSuchResourceException',
        body: { __type: 'NoSuchResourceException', Message: `The request failed because the specified quota ${quotaCode} of service ${serviceCode} does not exist in ${region}.` },
      };
    }
    return {
      status: 200,
      body: {
        Quota: {
          ServiceCode: serviceCode,
          ServiceName: SERVICE_NAMES[serviceCode] ?? serviceCode,
          QuotaArn: `arn:aws:servicequotas:${region}:${kind === 'applied' ? ACCOUNT_ID : ''}:${serviceCode}/${quotaCode}`,
          QuotaCode: quotaCode,
          QuotaName: entry.quotaName ?? KNOWN_QUOTA_NAMES[`${serviceCode}/${quotaCode}`] ?? quotaCode,
          Value: entry.value,
          Unit: 'None',
          Adjustable: true,
          GlobalQuota: false,
          UsageMetric: {
            MetricNamespace: 'AWS/Usage',
            MetricName: 'ResourceCount',
            MetricDimensions: { Class: 'None', Resource: 'vCPU', Service: serviceCode.toUpperCase(), Type: 'Resource' },
            MetricStatisticRecommendation: 'Maximum',
          },
          ...(kind === 'applied' ? { QuotaAppliedAtLevel: 'ACCOUNT' } : {}),
        },
      },
    };
  };
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

/** From a test file (a different process than the one running the stand-in): set quota values. */
export async function setStandinQuotas(endpoint: string, entries: QuotaEntry[]): Promise<void> {
  const res = await fetch(`${endpoint}/_standin/quotas`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(entries) });
  if (!res.ok) throw new Error(`emulator: setting quotas failed: ${res.status} ${await res.text()}`);
}
