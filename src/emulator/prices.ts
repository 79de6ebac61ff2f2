// Stand-ins for prices and placement (test/README.md, "Stand-ins"), registered by server.ts:
//   EC2 DescribeSpotPriceHistory (query protocol)  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSpotPriceHistory.html
//   EC2 GetSpotPlacementScores (query protocol)    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetSpotPlacementScores.html
//   Pricing GetProducts (AWS JSON 1.1)             https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
// moto's spot history is one fake row per AZ (0.00001, 2006) that ignores time, filters and paging;
// it has no placement scores and no Pricing backend. A request whose access key id no entry matches
// goes on to moto unchanged, so files that never seed a table see moto as before. The Price List
// documents GetProducts answers with are built in price-list.ts.
import { createHash, randomUUID } from 'node:crypto';
import { priceListDocument, storagePriceListDocument } from './price-list.js';

export interface SpotPriceEntry {
  instanceType: string;
  az: string;
  /** USD per hour. */
  price: number;
  /** When this price came into force: ISO-8601 or ms since the epoch. */
  at: string | number;
  productDescription?: string;
  accessKeyId?: string;
  region?: string;
}

export interface PlacementScoreEntry {
  region: string;
  azId: string;
  score: number;
  accessKeyId?: string;
}

export interface OnDemandEntry {
  region: string;
  /** An instance type's hourly price; or, with `volumeApiName` (gp3), an EBS storage price per GB-month. */
  instanceType?: string;
  volumeApiName?: string;
  price: number;
  accessKeyId?: string;
}

export interface Scope {
  accessKeyId?: string;
  region?: string;
}

export type JsonAnswer = { status: number; body: unknown; errorType?: string } | undefined;
export type Answer = { status: number; contentType: string; body: string; headers?: Record<string, string> } | undefined;

export interface StandinModule {
  /** Control API under /_standin/: an answer, or undefined when the path is not this module's. */
  control(method: string, url: URL, body: string): Answer;
  /** EC2 query-protocol actions (form field Action). */
  ec2: Record<string, (params: URLSearchParams, scope: Scope) => Answer>;
  /** AWS JSON 1.1 operations by X-Amz-Target: status and the body as an object; undefined passes to moto. */
  json: Record<string, (body: Record<string, unknown>, scope: Scope) => JsonAnswer>;
  /** Sees every EC2 query action and JSON target (answered here or passed to moto). */
  seen?(action: string, scope: Scope): void;
}

/** Rows per DescribeSpotPriceHistory page when the request sets no MaxResults: small, so clients page. */
export const DEFAULT_SPOT_PAGE = 5;
const DEFAULT_PRICING_PAGE = 100;
const EC2_NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

const keyMatches = (e: { accessKeyId?: string }, scope: Scope) => e.accessKeyId === undefined || e.accessKeyId === scope.accessKeyId;
const regionMatches = (e: { region?: string }, scope: Scope) => e.region === undefined || scope.region === undefined || e.region === scope.region;
const list = (params: URLSearchParams, name: string) => [...params.entries()].filter(([k]) => new RegExp(`^${name}\\.\\d+$`).test(k)).map(([, v]) => v);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const json = (status: number, body: unknown): Answer => ({ status, contentType: 'application/json', body: JSON.stringify(body) });
const xml = (action: string, inner: string): Answer => ({
  status: 200,
  contentType: 'text/xml;charset=UTF-8',
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NS}"><requestId>${randomUUID()}</requestId>${inner}</${action}Response>`,
});
const ec2Error = (status: number, code: string, message: string): Answer => ({
  status,
  contentType: 'text/xml;charset=UTF-8',
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
});
const toMs = (at: string | number) => (typeof at === 'number' ? at : Date.parse(at));
/** Page tokens are opaque to clients; this one carries the offset and a digest of the query it belongs to. */
const digest = (query: string) => createHash('sha1').update(query).digest('hex').slice(0, 12);
const token = (offset: number, query: string) => Buffer.from(`${offset}:${digest(query)}`).toString('base64url');
/** The offset a token carries, or undefined when it is not a token of this query. */
function offsetOf(tok: string | undefined, query: string): number | undefined {
  if (!tok) return 0;
  const [n, d] = Buffer.from(tok, 'base64url').toString('utf8').split(':');
  return d === digest(query) && /^\d+$/.test(n ?? '') ? Number(n) : undefined;
}

function describeSpotPriceHistory(table: SpotPriceEntry[]) {
  return (params: URLSearchParams, scope: Scope): Answer => {
    const mine = table.filter((e) => keyMatches(e, scope) && regionMatches(e, scope));
    if (!mine.length) return undefined;
    const types = list(params, 'InstanceType');
    const products = list(params, 'ProductDescription');
    const az = params.get('AvailabilityZone') ?? undefined;
    const now = Date.now();
    const end = params.get('EndTime') ? Date.parse(params.get('EndTime')!) : now;
    const start = params.get('StartTime') ? Date.parse(params.get('StartTime')!) : end - 90 * 86_400_000;
    if (Number.isNaN(start) || Number.isNaN(end) || start > end) return ec2Error(400, 'InvalidParameterValue', 'StartTime must be at or before EndTime.');
    const max = Number(params.get('MaxResults') ?? DEFAULT_SPOT_PAGE);
    if (!Number.isInteger(max) || max < 5 || max > 1000) return ec2Error(400, 'InvalidParameterValue', 'MaxResults must be between 5 and 1000.');
    const pools = new Map<string, SpotPriceEntry[]>();
    for (const e of mine) {
      const product = e.productDescription ?? 'Linux/UNIX';
      if (types.length && !types.includes(e.instanceType)) continue;
      if (products.length && !products.includes(product)) continue;
      if (az && e.az !== az) continue;
      const k = `${e.instanceType}\t${e.az}\t${product}`;
      pools.set(k, [...(pools.get(k) ?? []), e]);
    }
    // Per pool: every change in [start, end], and the one in force at start (the last at or before it).
    const rows: SpotPriceEntry[] = [];
    for (const entries of pools.values()) {
      const sorted = entries.filter((e) => toMs(e.at) <= end).sort((a, b) => toMs(a.at) - toMs(b.at));
      const inForce = sorted.filter((e) => toMs(e.at) <= start).pop();
      rows.push(...sorted.filter((e) => toMs(e.at) > start || e === inForce));
    }
    rows.sort((a, b) => toMs(b.at) - toMs(a.at) || a.instanceType.localeCompare(b.instanceType) || a.az.localeCompare(b.az));
    const query = JSON.stringify([types, products, az, start, end]);
    const offset = offsetOf(params.get('NextToken') ?? undefined, query);
    if (offset === undefined) return ec2Error(400, 'InvalidNextToken', 'The specified NextToken is not valid.');
    const page = rows.slice(offset, offset + max);
    const next = offset + max < rows.length ? token(offset + max, query) : '';
    const items = page
      .map(
        (e) =>
          `<item><instanceType>${esc(e.instanceType)}</instanceType><productDescription>${esc(e.productDescription ?? 'Linux/UNIX')}</productDescription>` +
          `<spotPrice>${e.price.toFixed(6)}</spotPrice><timestamp>${new Date(toMs(e.at)).toISOString()}</timestamp><availabilityZone>${esc(e.az)}</availabilityZone></item>`,
      )
      .join('');
    return xml('DescribeSpotPriceHistory', `<spotPriceHistorySet>${items}</spotPriceHistorySet><nextToken>${next}</nextToken>`);
  };
}

function getSpotPlacementScores(table: PlacementScoreEntry[]) {
  return (params: URLSearchParams, scope: Scope): Answer => {
    const mine = table.filter((e) => keyMatches(e, scope));
    if (!mine.length) return undefined;
    const regions = list(params, 'RegionName');
    const single = params.get('SingleAvailabilityZone') === 'true';
    const chosen = mine.filter((e) => !regions.length || regions.includes(e.region));
    let items: string;
    if (single) {
      items = chosen.map((e) => `<item><region>${esc(e.region)}</region><availabilityZoneId>${esc(e.azId)}</availabilityZoneId><score>${e.score}</score></item>`).join('');
    } else {
      // Per region: the best of its zones (a region can place a request wherever it fits).
      const best = new Map<string, number>();
      for (const e of chosen) best.set(e.region, Math.max(best.get(e.region) ?? 0, e.score));
      items = [...best].map(([r, s]) => `<item><region>${esc(r)}</region><score>${s}</score></item>`).join('');
    }
    return xml('GetSpotPlacementScores', `<spotPlacementScoreSet>${items}</spotPlacementScoreSet>`);
  };
}

function getProducts(table: OnDemandEntry[], calls: Map<string, number>) {
  return (body: Record<string, unknown>, scope: Scope): JsonAnswer => {
    const mine = table.filter((e) => keyMatches(e, scope));
    if (!mine.length) return undefined;
    calls.set(scope.accessKeyId ?? '', (calls.get(scope.accessKeyId ?? '') ?? 0) + 1);
    if (body.ServiceCode !== 'AmazonEC2') return { status: 200, body: { FormatVersion: 'aws_v1', PriceList: [] } };
    // Each seeded price comes with the look-alikes a careless filter would pick up instead.
    const storage = mine.filter((e) => e.volumeApiName).map((e) => ({ text: storagePriceListDocument({ region: e.region, volumeApiName: e.volumeApiName!, price: e.price }) }));
    const docs = mine.filter((e) => e.instanceType).flatMap((e) => [
      { e, o: {} },
      { e, o: { operatingSystem: 'Windows' }, f: 1.8 },
      { e, o: { tenancy: 'Dedicated' }, f: 1.1 },
      { e, o: { preInstalledSw: 'SQL Std' }, f: 2.2 },
      { e, o: { capacitystatus: 'UnusedCapacityReservation' }, f: 1 },
    ]).map(({ e, o, f }) => ({ text: priceListDocument({ region: e.region, instanceType: e.instanceType!, price: e.price * (f ?? 1), ...o }) })).concat(storage);
    const filters = (Array.isArray(body.Filters) ? body.Filters : []) as Array<{ Type?: string; Field?: string; Value?: string }>;
    const matched = docs.filter(({ text }) => {
      const doc = JSON.parse(text) as { product: { productFamily: string; attributes: Record<string, string> } };
      // productFamily is the product's own field in a Price List document, not one of its attributes.
      const value = (field: string) => (field === 'productFamily' ? doc.product.productFamily : doc.product.attributes[field]);
      return filters.every((f) => f.Type !== 'TERM_MATCH' || (f.Field === 'ServiceCode' ? f.Value === 'AmazonEC2' : value(f.Field ?? '') === f.Value));
    });
    const max = Number(body.MaxResults ?? DEFAULT_PRICING_PAGE);
    const query = JSON.stringify(filters);
    const offset = offsetOf(typeof body.NextToken === 'string' ? body.NextToken : undefined, query);
    if (offset === undefined) return { status: 400, errorType: 'InvalidNextTokenException', body: { __type: 'InvalidNextTokenException', Message: 'The pagination token is invalid.' } };
    const page = matched.slice(offset, offset + max).map((d) => d.text);
    const next = offset + max < matched.length ? token(offset + max, query) : undefined;
    return { status: 200, body: { FormatVersion: 'aws_v1', PriceList: page, ...(next ? { NextToken: next } : {}) } };
  };
}

export function pricesStandin(): StandinModule {
  let spot: SpotPriceEntry[] = [];
  let scores: PlacementScoreEntry[] = [];
  let onDemand: OnDemandEntry[] = [];
  const calls = new Map<string, number>();
  // The AWS operations each access key id sent, in order: a test can check what was (not) sent.
  const requests = new Map<string, string[]>();
  const parse = <T>(body: string): T[] => {
    const v: unknown = JSON.parse(body || '[]');
    return (Array.isArray(v) ? v : [v]) as T[];
  };
  return {
    control(method, url, body) {
      const key = url.searchParams.get('accessKeyId') ?? undefined;
      const drop = <T extends { accessKeyId?: string }>(t: T[]) => (key === undefined ? [] : t.filter((e) => e.accessKeyId !== key));
      switch (url.pathname) {
        case '/_standin/spot-prices':
          if (method === 'POST') spot = [...spot, ...parse<SpotPriceEntry>(body)];
          if (method === 'DELETE') spot = drop(spot);
          return json(200, { entries: spot });
        case '/_standin/placement-scores':
          if (method === 'POST') scores = [...scores, ...parse<PlacementScoreEntry>(body)];
          if (method === 'DELETE') scores = drop(scores);
          return json(200, { entries: scores });
        case '/_standin/on-demand':
          if (method === 'POST') onDemand = [...onDemand, ...parse<OnDemandEntry>(body)];
          if (method === 'DELETE') {
            onDemand = drop(onDemand);
            if (key === undefined) calls.clear();
            else calls.delete(key);
          }
          // getProductsCalls: GetProducts requests answered, for the access key asked about (or all).
          return json(200, { entries: onDemand, getProductsCalls: key === undefined ? [...calls.values()].reduce((a, b) => a + b, 0) : calls.get(key) ?? 0 });
        case '/_standin/requests':
          if (method === 'DELETE') requests.delete(key ?? '');
          return json(200, { actions: requests.get(key ?? '') ?? [] });
        default:
          return undefined;
      }
    },
    ec2: { DescribeSpotPriceHistory: (p, s) => describeSpotPriceHistory(spot)(p, s), GetSpotPlacementScores: (p, s) => getSpotPlacementScores(scores)(p, s) },
    json: { 'AWSPriceListService.GetProducts': (b, s) => getProducts(onDemand, calls)(b, s) },
    seen(action, scope) {
      const k = scope.accessKeyId ?? '';
      requests.set(k, [...(requests.get(k) ?? []), action].slice(-1000));
    },
  };
}

async function post(endpoint: string, path: string, entries: unknown[]): Promise<void> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(entries) });
  if (!res.ok) throw new Error(`emulator: POST ${path} failed: ${res.status} ${await res.text()}`);
}

/** From a test file: seed spot price changes (the stand-in's DescribeSpotPriceHistory). */
export const setStandinSpotPrices = (endpoint: string, entries: SpotPriceEntry[]) => post(endpoint, '/_standin/spot-prices', entries);
export const setStandinPlacementScores = (endpoint: string, entries: PlacementScoreEntry[]) => post(endpoint, '/_standin/placement-scores', entries);
export const setStandinOnDemandPrices = (endpoint: string, entries: OnDemandEntry[]) => post(endpoint, '/_standin/on-demand', entries);
/** GetProducts calls answered for this access key id. */
export async function standinGetProductsCalls(endpoint: string, accessKeyId: string): Promise<number> {
  const res = await fetch(`${endpoint}/_standin/on-demand?accessKeyId=${encodeURIComponent(accessKeyId)}`);
  return ((await res.json()) as { getProductsCalls: number }).getProductsCalls;
}

/** The EC2 actions and JSON targets requests signed with this access key id sent, in order (the last 1000). */
export async function standinRequests(endpoint: string, accessKeyId: string): Promise<string[]> {
  const res = await fetch(`${endpoint}/_standin/requests?accessKeyId=${encodeURIComponent(accessKeyId)}`);
  return ((await res.json()) as { actions: string[] }).actions;
}
