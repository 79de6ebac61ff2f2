// Stand-in for what `fluxer spot launch` needs and moto does not do (registered in server.ts):
//
//   EC2 RunInstances (query protocol: form-encoded POST, XML answers)
//     - capacity errors per pool (type × AZ), set by the tests, answered as EC2's XML error response:
//       https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
//       (InsufficientInstanceCapacity and the other Insufficient* codes are server errors, HTTP 500;
//       quota codes such as MaxSpotInstanceCountExceeded are client errors, HTTP 400)
//     - ClientToken idempotency (moto ignores it): the same token with the same parameters answers
//       with the same reservation; with other parameters, IdempotentParameterMismatch (HTTP 400).
//       https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
//     - AWS's count semantics: as many instances as capacity allows from MinCount up to MaxCount (moto
//       makes MinCount); a pool's `available` models one with room for fewer (a partial launch)
//     - an optional delay of the answer per pool (after moto made the instances), so a test can kill
//       the CLI while a launch call is in flight
//   SSM GetParameter (AWS JSON 1.1) for AWS's public Deep Learning AMI parameters
//     (/aws/service/deeplearning/...): moto has none. The value is a Deep Learning AMI moto itself
//     lists (owner 898082745236), so DescribeImages finds it; one is registered when moto has none.
//     https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html
//
// Control API (not AWS):
//   POST   /_standin/capacity  body: CapacityEntry or CapacityEntry[]
//   DELETE /_standin/capacity[?accessKeyId=KEY]
//   GET    /_standin/ec2/calls?accessKeyId=KEY   → {calls: {Action: count}} (EC2 query actions seen)
import { createHash, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ForwardingModule, StandinRequest, Upstream } from './server.js';

export interface CapacityEntry {
  instanceType: string;
  az: string;
  /** The EC2 error code to answer with; omitted with delayMs: no error, only the delay. */
  code?: string;
  message?: string;
  /** Answer this many times, then let the pool launch; forever when omitted. */
  times?: number;
  accessKeyId?: string;
  /** Forward to moto, then hold the answer this long (ms). */
  delayMs?: number;
  /** The pool has room for this many instances per call (fewer than MinCount: InsufficientInstanceCapacity). */
  available?: number;
}

const SERVER_ERROR_CODES = new Set(['InsufficientInstanceCapacity', 'InsufficientCapacity', 'InsufficientAddressCapacity', 'InsufficientHostCapacity', 'InsufficientReservedInstanceCapacity', 'Unavailable', 'InternalError']);
const DLAMI_OWNER = '898082745236';

function xml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/xml;charset=UTF-8', 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': randomUUID() });
  res.end(body);
}

function ec2Error(res: ServerResponse, code: string, message: string): void {
  const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  xml(res, SERVER_ERROR_CODES.has(code) ? 500 : 400, `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escape(code)}</Code><Message>${escape(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': randomUUID() });
  res.end(text);
}

async function readControl(req: StandinRequest): Promise<unknown> {
  return JSON.parse(req.body.toString('utf8') || '[]') as unknown;
}

/** Sends one EC2 query action to moto, signed as the incoming request was (moto reads the region from it). */
async function ec2Query(upstream: Upstream, req: StandinRequest, params: Record<string, string>): Promise<string> {
  const body = Buffer.from(new URLSearchParams({ Version: '2016-11-15', ...params }).toString());
  // moto routes by the credential scope's service and reads the region from it: sign "as EC2" in the caller's region.
  const authorization = (req.headers.authorization ?? '').replace(/(Credential=[^/]+\/\d{8}\/[^/]+\/)[^/]+\//, '$1ec2/');
  const headers = { host: req.headers.host, authorization, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const answer = await upstream({ method: 'POST', path: '/', headers, body });
  return answer.body.toString('utf8');
}

export function ec2Standin(): ForwardingModule {
  let capacity: CapacityEntry[] = [];
  const calls = new Map<string, Map<string, number>>();
  const tokens = new Map<string, { params: string; status: number; body: Buffer; headers: Record<string, string> }>();

  const azOf = async (upstream: Upstream, req: StandinRequest, form: URLSearchParams): Promise<string | undefined> => {
    const placed = form.get('Placement.AvailabilityZone');
    if (placed) return placed;
    const subnet = form.get('SubnetId');
    if (!subnet) return undefined;
    const text = await ec2Query(upstream, req, { Action: 'DescribeSubnets', 'SubnetId.1': subnet });
    return /<availabilityZone>([^<]+)<\/availabilityZone>/.exec(text)?.[1];
  };

  const runInstances = async (req: StandinRequest, res: ServerResponse, upstream: Upstream, form: URLSearchParams): Promise<boolean> => {
    const key = req.scope.accessKeyId;
    const token = form.get('ClientToken');
    const params = [...form.entries()].filter(([k]) => k !== 'ClientToken').sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join('&');
    const tokenKey = token ? `${key}|${req.scope.region}|${token}` : undefined;
    const seen = tokenKey ? tokens.get(tokenKey) : undefined;
    if (seen && form.get('DryRun') !== 'true') {
      if (seen.params !== createHash('sha256').update(params).digest('hex')) {
        ec2Error(res, 'IdempotentParameterMismatch', `The client token '${token}' was already used with different parameters.`);
        return true;
      }
      res.writeHead(seen.status, seen.headers);
      res.end(seen.body);
      return true;
    }
    const type = form.get('InstanceType') ?? '';
    const az = await azOf(upstream, req, form);
    const entry = capacity.find((e) => e.instanceType === type && e.az === az && (e.accessKeyId === undefined || e.accessKeyId === key));
    if (entry?.code && form.get('DryRun') !== 'true') {
      if (entry.times !== undefined && --entry.times <= 0) capacity = capacity.filter((e) => e !== entry);
      ec2Error(res, entry.code, entry.message ?? `We currently do not have sufficient ${type} capacity in the Availability Zone you requested (${az}). Our system will be working on provisioning additional capacity.`);
      return true;
    }
    // AWS launches as many as capacity allows, from MinCount up to MaxCount; moto launches MinCount.
    // `available` on the pool's entry models a pool with room for fewer than asked (a partial launch).
    const forwarded = new URLSearchParams(form);
    const max = Number(form.get('MaxCount') ?? '1');
    const room = entry?.available !== undefined ? Math.min(max, entry.available) : max;
    if (entry?.available !== undefined && room < Number(form.get('MinCount') ?? '1')) {
      ec2Error(res, 'InsufficientInstanceCapacity', `There is not enough capacity to fulfill your request for ${type} in ${az}.`);
      return true;
    }
    forwarded.set('MinCount', String(room));
    forwarded.set('MaxCount', String(room));
    const answer = await upstream({ method: req.method, path: req.path, headers: req.headers, body: Buffer.from(forwarded.toString()) });
    const headers = Object.fromEntries(Object.entries(answer.headers).filter(([k, v]) => typeof v === 'string' && !['transfer-encoding', 'connection', 'content-length'].includes(k))) as Record<string, string>;
    headers['content-length'] = String(answer.body.length);
    if (tokenKey && answer.status === 200) tokens.set(tokenKey, { params: createHash('sha256').update(params).digest('hex'), status: answer.status, body: answer.body, headers });
    // unref: a held answer never keeps the test run alive after its client is gone.
    if (entry?.delayMs) await new Promise((r) => setTimeout(r, entry.delayMs).unref());
    res.writeHead(answer.status, headers);
    res.end(answer.body);
    return true;
  };

  const deepLearningAmi = async (req: StandinRequest, res: ServerResponse, upstream: Upstream, name: string): Promise<void> => {
    const listed = await ec2Query(upstream, req, { Action: 'DescribeImages', 'Owner.1': DLAMI_OWNER, 'Filter.1.Name': 'name', 'Filter.1.Value.1': 'Deep Learning AMI Ubuntu*' });
    let imageId = /<imageId>([^<]+)<\/imageId>/.exec(listed)?.[1];
    if (!imageId) {
      const made = await ec2Query(upstream, req, { Action: 'RegisterImage', Name: 'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)', RootDeviceName: '/dev/sda1', Architecture: 'x86_64', 'BlockDeviceMapping.1.DeviceName': '/dev/sda1', 'BlockDeviceMapping.1.Ebs.VolumeSize': '75' });
      imageId = /<imageId>([^<]+)<\/imageId>/.exec(made)?.[1];
    }
    const region = req.scope.region ?? 'us-east-1';
    // https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html
    json(res, 200, { Parameter: { Name: name, Type: 'String', Value: imageId, Version: 1, LastModifiedDate: Math.floor(Date.now() / 1000), ARN: `arn:aws:ssm:${region}::parameter${name}`, DataType: 'aws:ec2:image' } });
  };

  return {
    async handle(req, res, upstream) {
      const url = new URL(req.path, 'http://standin');
      if (url.pathname === '/_standin/capacity') {
        if (req.method === 'POST') {
          const parsed = await readControl(req);
          capacity.push(...(Array.isArray(parsed) ? (parsed as CapacityEntry[]) : [parsed as CapacityEntry]));
        } else if (req.method === 'DELETE') {
          const key = url.searchParams.get('accessKeyId');
          capacity = key ? capacity.filter((e) => e.accessKeyId !== key) : [];
        }
        json(res, 200, { capacity });
        return true;
      }
      if (url.pathname === '/_standin/ec2/calls') {
        const key = url.searchParams.get('accessKeyId') ?? '';
        json(res, 200, { calls: Object.fromEntries(calls.get(key) ?? []) });
        return true;
      }
      if (req.target === 'AmazonSSM.GetParameter') {
        const name = String((JSON.parse(req.body.toString('utf8') || '{}') as { Name?: string }).Name ?? '');
        if (!name.startsWith('/aws/service/deeplearning/')) return false;
        await deepLearningAmi(req, res, upstream, name);
        return true;
      }
      const action = req.form?.get('Action');
      if (!action || !req.form) return false;
      const key = req.scope.accessKeyId ?? '';
      const mine = calls.get(key) ?? new Map<string, number>();
      mine.set(action, (mine.get(action) ?? 0) + 1);
      calls.set(key, mine);
      if (action === 'RunInstances') return runInstances(req, res, upstream, req.form);
      return false;
    },
  };
}

/** From a test file: set capacity entries. */
export async function setStandinCapacity(endpoint: string, entries: CapacityEntry[]): Promise<void> {
  const res = await fetch(`${endpoint}/_standin/capacity`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(entries) });
  if (!res.ok) throw new Error(`emulator: setting capacity failed: ${res.status} ${await res.text()}`);
}

/** From a test file: EC2 query actions seen for one access key id. */
export async function standinEc2Calls(endpoint: string, accessKeyId: string): Promise<Record<string, number>> {
  const res = await fetch(`${endpoint}/_standin/ec2/calls?accessKeyId=${encodeURIComponent(accessKeyId)}`);
  return ((await res.json()) as { calls: Record<string, number> }).calls;
}
