// The Service Quotas stand-in: moto knows only `vpc` quotas, so EC2's spot vCPU quotas (and any a test
// sets) come from a table the tests fill through the control API (POST/DELETE/GET /_standin/quotas).
// GetServiceQuota and GetAWSDefaultServiceQuota answer from it; the server routes them here.
import type { SignedScope } from './standin.js';

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

export class QuotaTable {
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

export type JsonHandler = (body: Record<string, unknown>, scope: SignedScope, quotas: QuotaTable) => { status: number; body: unknown; errorType?: string } | undefined;

/**
 * GetServiceQuota (the account's applied value) and GetAWSDefaultServiceQuota (AWS's default) share
 * one shape: https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html
 * and API_GetAWSDefaultServiceQuota.html. A default carries no account in its ARN and no applied level.
 */
export function quotaHandler(kind: 'applied' | 'default'): JsonHandler {
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

/** From a test file (a different process than the one running the stand-in): set quota values. */
export async function setStandinQuotas(endpoint: string, entries: QuotaEntry[]): Promise<void> {
  const res = await fetch(`${endpoint}/_standin/quotas`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(entries) });
  if (!res.ok) throw new Error(`emulator: setting quotas failed: ${res.status} ${await res.text()}`);
}
