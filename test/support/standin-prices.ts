// Stand-ins for the price APIs moto lacks (moto: DescribeSpotPriceHistory answers 0.00001 for every
// pool whatever the times, filters or paging; GetSpotPlacementScores and Pricing are 500). Each answer
// follows the AWS API reference's shape, and the tests read them back with the real AWS CLI:
//   EC2 DescribeSpotPriceHistory  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSpotPriceHistory.html
//   EC2 GetSpotPlacementScores    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetSpotPlacementScores.html
//   Pricing GetProducts           https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
//     (PriceList documents: https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/reading-an-offer.html)
// Values come from tables the tests set, scoped by access key id and region like the quota table; a
// request whose scope has no entry goes on to moto (EC2) or gets an empty price list (Pricing).
import { randomUUID } from 'node:crypto';

export interface SpotPriceEntry {
  instanceType: string;
  az: string;
  price: number;
  /** ISO-8601: when this price came into force. */
  at: string;
  productDescription?: string;
  region?: string;
  accessKeyId?: string;
}

export interface PlacementScoreEntry {
  region: string;
  azId: string;
  score: number;
  accessKeyId?: string;
}

export interface OnDemandEntry {
  region: string;
  instanceType: string;
  price: number;
  accessKeyId?: string;
}

export interface Scope {
  accessKeyId?: string;
  region?: string;
}

export interface Answer {
  status: number;
  body: string;
  contentType: string;
  errorType?: string;
}

const inScope = (e: { accessKeyId?: string; region?: string }, s: Scope) =>
  (e.accessKeyId === undefined || e.accessKeyId === s.accessKeyId) && (e.region === undefined || e.region === s.region);

/** EC2 returns at most 1,000 rows a page; the stand-in pages by 5 unless MaxResults says otherwise, so paging is exercised. */
const DEFAULT_PAGE = 5;

const xmlEscape = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function ec2Xml(action: string, inner: string): Answer {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId>${inner}</${action}Response>`;
  return { status: 200, body, contentType: 'text/xml;charset=UTF-8' };
}

function ec2Error(code: string, message: string, status = 400): Answer {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
  return { status, body, contentType: 'text/xml;charset=UTF-8' };
}

/** `Prefix.1`, `Prefix.2`, … of an EC2 query request. */
function listParam(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.${i}`); i++) out.push(params.get(`${prefix}.${i}`)!);
  return out;
}

export class PriceStandin {
  private spot: SpotPriceEntry[] = [];
  private scores: PlacementScoreEntry[] = [];
  private onDemand: OnDemandEntry[] = [];
  /** Requests answered, by operation: tests check what was (not) called, e.g. a cached price. */
  readonly calls: Record<string, number> = {};

  control(path: string, method: string, body: unknown, accessKeyId: string | undefined): unknown {
    const list = (Array.isArray(body) ? body : body ? [body] : []) as never[];
    const keep = <T extends { accessKeyId?: string }>(rows: T[]) => (accessKeyId === undefined ? [] : rows.filter((r) => r.accessKeyId !== accessKeyId));
    if (path === '/_standin/spot-prices') {
      if (method === 'POST') this.spot.push(...(list as SpotPriceEntry[]));
      if (method === 'DELETE') this.spot = keep(this.spot);
      return { spotPrices: this.spot.length };
    }
    if (path === '/_standin/placement-scores') {
      if (method === 'POST') this.scores.push(...(list as PlacementScoreEntry[]));
      if (method === 'DELETE') this.scores = keep(this.scores);
      return { placementScores: this.scores.length };
    }
    if (path === '/_standin/on-demand') {
      if (method === 'POST') this.onDemand.push(...(list as OnDemandEntry[]));
      if (method === 'DELETE') this.onDemand = keep(this.onDemand);
      return { onDemand: this.onDemand.length };
    }
    if (path === '/_standin/calls') return this.calls;
    return undefined;
  }

  /** An EC2 query-protocol request (form body): an answer, or undefined to pass it on to moto. */
  query(params: URLSearchParams, scope: Scope): Answer | undefined {
    const action = params.get('Action');
    if (action === 'DescribeSpotPriceHistory') return this.describeSpotPriceHistory(params, scope);
    if (action === 'GetSpotPlacementScores') return this.getSpotPlacementScores(params, scope);
    return undefined;
  }

  private count(op: string): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
  }

  private describeSpotPriceHistory(params: URLSearchParams, scope: Scope): Answer | undefined {
    const rows = this.spot.filter((e) => inScope(e, scope));
    if (!rows.length) return undefined;
    this.count('DescribeSpotPriceHistory');
    const types = listParam(params, 'InstanceType');
    const products = listParam(params, 'ProductDescription');
    const az = params.get('AvailabilityZone');
    const start = params.has('StartTime') ? Date.parse(params.get('StartTime')!) : undefined;
    const end = params.has('EndTime') ? Date.parse(params.get('EndTime')!) : Date.now();
    const matching = rows.filter(
      (e) => (!types.length || types.includes(e.instanceType)) && (!products.length || products.includes(e.productDescription ?? 'Linux/UNIX')) && (!az || e.az === az),
    );
    // Per pool: the changes within [start, end], and the price in force at start (the last change before it).
    const byPool = new Map<string, SpotPriceEntry[]>();
    for (const e of matching) {
      const key = `${e.instanceType}\t${e.az}\t${e.productDescription ?? 'Linux/UNIX'}`;
      byPool.set(key, [...(byPool.get(key) ?? []), e]);
    }
    const selected: SpotPriceEntry[] = [];
    for (const pool of byPool.values()) {
      const sorted = pool.filter((e) => Date.parse(e.at) <= end).sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
      for (const e of sorted) {
        const t = Date.parse(e.at);
        if (start === undefined || t >= start) selected.push(e);
        else {
          selected.push(e);
          break;
        }
      }
    }
    // Newest first, as EC2 lists them; a stable order so NextToken (an offset) pages deterministically.
    selected.sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || a.instanceType.localeCompare(b.instanceType) || a.az.localeCompare(b.az));
    const pageSize = params.has('MaxResults') ? Number(params.get('MaxResults')) : DEFAULT_PAGE;
    const offset = params.has('NextToken') ? Number(Buffer.from(params.get('NextToken')!, 'base64url').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0) return ec2Error('InvalidNextToken', 'The specified token is invalid.');
    const page = selected.slice(offset, offset + pageSize);
    const next = offset + pageSize < selected.length ? Buffer.from(String(offset + pageSize)).toString('base64url') : '';
    const items = page
      .map(
        (e) =>
          `<item><availabilityZone>${e.az}</availabilityZone><instanceType>${e.instanceType}</instanceType><productDescription>${xmlEscape(e.productDescription ?? 'Linux/UNIX')}</productDescription>` +
          `<spotPrice>${e.price.toFixed(6)}</spotPrice><timestamp>${new Date(e.at).toISOString()}</timestamp></item>`,
      )
      .join('');
    return ec2Xml('DescribeSpotPriceHistory', `<spotPriceHistorySet>${items}</spotPriceHistorySet><nextToken>${next}</nextToken>`);
  }

  private getSpotPlacementScores(params: URLSearchParams, scope: Scope): Answer | undefined {
    const rows = this.scores.filter((e) => e.accessKeyId === undefined || e.accessKeyId === scope.accessKeyId);
    if (!rows.length) return undefined;
    this.count('GetSpotPlacementScores');
    const target = Number(params.get('TargetCapacity'));
    if (!Number.isInteger(target) || target < 1 || target > 2_000_000_000) return ec2Error('InvalidParameterValue', 'TargetCapacity must be between 1 and 2000000000.');
    const regions = listParam(params, 'RegionName');
    const single = params.get('SingleAvailabilityZone') === 'true';
    const chosen = rows.filter((e) => !regions.length || regions.includes(e.region));
    const items = single
      ? chosen.map((e) => `<item><region>${e.region}</region><availabilityZoneId>${e.azId}</availabilityZoneId><score>${e.score}</score></item>`)
      : [...new Set(chosen.map((e) => e.region))].map((r) => `<item><region>${r}</region><score>${Math.max(...chosen.filter((e) => e.region === r).map((e) => e.score))}</score></item>`);
    return ec2Xml('GetSpotPlacementScores', `<spotPlacementScoreSet>${items.join('')}</spotPlacementScoreSet>`);
  }

  /** Pricing GetProducts (AWS JSON 1.1, `AWSPriceListService.GetProducts`). */
  getProducts(body: Record<string, unknown>, scope: Scope): Answer {
    this.count('GetProducts');
    const filters = (body.Filters as Array<{ Type: string; Field: string; Value: string }> | undefined) ?? [];
    if (body.ServiceCode !== 'AmazonEC2') return jsonAnswer(200, { FormatVersion: 'aws_v1', PriceList: [] });
    const docs = this.onDemand
      .filter((e) => e.accessKeyId === undefined || e.accessKeyId === scope.accessKeyId)
      .flatMap((e) => productVariants(e))
      .filter((d) => filters.every((f) => f.Type !== 'TERM_MATCH' || d.product.attributes[f.Field] === f.Value));
    const pageSize = typeof body.MaxResults === 'number' ? body.MaxResults : 100;
    const offset = typeof body.NextToken === 'string' ? Number(Buffer.from(body.NextToken, 'base64url').toString()) : 0;
    const page = docs.slice(offset, offset + pageSize);
    const next = offset + pageSize < docs.length ? Buffer.from(String(offset + pageSize)).toString('base64url') : undefined;
    return jsonAnswer(200, { FormatVersion: 'aws_v1', PriceList: page.map((d) => JSON.stringify(d)), ...(next ? { NextToken: next } : {}) });
  }
}

function jsonAnswer(status: number, body: unknown): Answer {
  return { status, body: JSON.stringify(body), contentType: 'application/x-amz-json-1.1' };
}

const REGION_NAMES: Record<string, string> = {
  'us-east-1': 'US East (N. Virginia)', 'us-west-2': 'US West (Oregon)', 'eu-west-1': 'EU (Ireland)', 'eu-north-1': 'EU (Stockholm)', 'eu-central-1': 'EU (Frankfurt)',
};

/**
 * One on-demand entry as the price list holds it: the Linux, shared-tenancy, no-software, used-capacity
 * product the CLI asks for, beside the neighbours a real list has for the same type (Windows, an unused
 * capacity reservation) at other prices, so a query missing a TERM_MATCH filter gets the wrong price.
 */
function productVariants(e: OnDemandEntry) {
  const variants: Array<[Record<string, string>, number]> = [
    [{ operatingSystem: 'Linux', capacitystatus: 'Used', licenseModel: 'No License required' }, e.price],
    [{ operatingSystem: 'Windows', capacitystatus: 'Used', licenseModel: 'No License required' }, e.price + 0.184],
    [{ operatingSystem: 'Linux', capacitystatus: 'UnusedCapacityReservation', licenseModel: 'No License required' }, e.price],
    [{ operatingSystem: 'Linux', capacitystatus: 'Used', licenseModel: 'No License required', preInstalledSw: 'SQL Std' }, e.price + 0.48],
  ];
  return variants.map(([attrs, price], i) => {
    const sku = `${e.instanceType.replace(/\W/g, '').toUpperCase()}${e.region.replace(/\W/g, '').toUpperCase()}${i}`.slice(0, 16);
    const term = `${sku}.JRTCKXETXF`;
    const rate = `${term}.6YS6EN2CT7`;
    return {
      product: {
        productFamily: 'Compute Instance',
        attributes: {
          servicecode: 'AmazonEC2', servicename: 'Amazon Elastic Compute Cloud', location: REGION_NAMES[e.region] ?? e.region, locationType: 'AWS Region',
          regionCode: e.region, instanceType: e.instanceType, instanceFamily: 'GPU instance', tenancy: 'Shared', preInstalledSw: 'NA',
          marketoption: 'OnDemand', usagetype: `BoxUsage:${e.instanceType}`, operation: 'RunInstances', ...attrs,
        } as Record<string, string>,
        sku,
      },
      serviceCode: 'AmazonEC2',
      terms: {
        OnDemand: {
          [term]: {
            priceDimensions: {
              [rate]: { unit: 'Hrs', endRange: 'Inf', description: `$${price.toFixed(3)} per On Demand ${attrs.operatingSystem} ${e.instanceType} Instance Hour`, appliesTo: [], rateCode: rate, beginRange: '0', pricePerUnit: { USD: price.toFixed(10) } },
            },
            sku, effectiveDate: '2026-11-01T00:00:00Z', offerTermCode: 'JRTCKXETXF', termAttributes: {},
          },
        },
      },
      version: '20261101000000',
      publicationDate: '2026-11-01T00:00:00Z',
    };
  });
}
