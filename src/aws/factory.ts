// The one place AWS SDK clients are made: one region/profile/endpoint resolution, one retry policy,
// one user agent. SDK modules are imported on first use so `fluxer --help` never loads them.
import type { Ec2Port } from './ec2.js';
import type { S3Port } from './s3.js';
import type { SqsPort } from './sqs.js';
import type { SsmPort } from './ssm.js';
import type { StsPort } from './sts.js';
import type { QuotasPort } from './quotas.js';
import type { PricingPort } from './pricing.js';
import type { IamPort } from './iam.js';
import type { CePort } from './ce.js';
import type { AutoScalingPort } from './autoscaling.js';
import type { CloudWatchPort } from './cloudwatch.js';

export interface AwsClientOptions {
  region: string;
  profile?: string;
  /** From --endpoint-url (wins over everything). */
  endpointFlag?: string;
  /** From the stack config / FLUXER_ENDPOINT_URL / AWS_ENDPOINT_URL (per-service variables win over it). */
  endpointConfig?: string;
  env: NodeJS.ProcessEnv;
  userAgent: string;
  /** Total attempts per call, retries included (standard mode: exponential backoff with jitter). */
  maxAttempts?: number;
  debug?: (message: string) => void;
}

export interface AwsClients {
  sts(): Promise<StsPort>;
  sqs(): Promise<SqsPort>;
  s3(): Promise<S3Port>;
  ec2(region?: string): Promise<Ec2Port>;
  ssm(region?: string): Promise<SsmPort>;
  quotas(region?: string): Promise<QuotasPort>;
  pricing(): Promise<PricingPort>;
  iam(): Promise<IamPort>;
  /** Cost Explorer (its endpoint is in us-east-1 whatever the stack's region). */
  ce(): Promise<CePort>;
  autoscaling(region?: string): Promise<AutoScalingPort>;
  cloudwatch(region?: string): Promise<CloudWatchPort>;
  /** The endpoint a service would use, or undefined for AWS itself (for messages and doctor). */
  endpointFor(serviceEnvName: string): string | undefined;
  /**
   * Ends requests still in flight and refuses new ones, so a call abandoned after a timeout (doctor's
   * per-check limit) does not keep the process alive waiting on a silent endpoint.
   */
  close(): void;
  readonly region: string;
}

/** The SDK's Node-version notice is about future SDK releases, not something a fluxer user can act on. */
function silenceSdkNodeVersionWarning(env: NodeJS.ProcessEnv): void {
  if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  }
  void env;
}

export function createAwsClients(opts: AwsClientOptions): AwsClients {
  const cache = new Map<string, Promise<unknown>>();
  const endpointFor = (serviceEnvName: string): string | undefined =>
    opts.endpointFlag ?? nonEmpty(opts.env[`AWS_ENDPOINT_URL_${serviceEnvName}`]) ?? opts.endpointConfig;

  const baseConfig = (serviceEnvName: string, region: string) => {
    const endpoint = endpointFor(serviceEnvName);
    return {
      region,
      ...(opts.profile ? { profile: opts.profile } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(loopbackDummyCredentials(endpoint, opts) ?? envCredentials(opts) ?? {}),
      maxAttempts: opts.maxAttempts ?? (Number(opts.env.FLUXER_MAX_ATTEMPTS) || 3),
      retryMode: 'standard' as const,
      customUserAgent: opts.userAgent,
      ...(pools ? { requestHandler: { httpAgent: pools.http, httpsAgent: pools.https } } : {}),
    };
  };

  // One pair of connection pools for all of this factory's clients (what the SDK would make per
  // client: keep-alive, 50 sockets), so close() reaches every socket. Node's http modules load with
  // the first client, never for `fluxer --help`.
  let pools: ConnectionPools | undefined;
  const loadPools = async () => {
    pools ??= await closableConnectionPools();
  };

  function once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = cache.get(key) as Promise<T> | undefined;
    if (!p) {
      silenceSdkNodeVersionWarning(opts.env);
      opts.debug?.(`creating AWS client ${key}`);
      p = loadPools().then(make);
      cache.set(key, p);
    }
    return p;
  }

  return {
    region: opts.region,
    endpointFor,
    close: () => pools?.close(),
    sts: () =>
      once('sts', async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-sts'), import('./sts.js')]);
        return port.createStsPort(new sdk.STSClient(baseConfig('STS', opts.region)), sdk);
      }),
    sqs: () =>
      once('sqs', async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-sqs'), import('./sqs.js')]);
        return port.createSqsPort(new sdk.SQSClient(baseConfig('SQS', opts.region)), sdk);
      }),
    s3: () =>
      once('s3', async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-s3'), import('./s3.js')]);
        const config = baseConfig('S3', opts.region);
        // Custom endpoints (moto, MinIO) serve buckets by path, not by virtual host.
        return port.createS3Port(new sdk.S3Client({ ...config, forcePathStyle: 'endpoint' in config }), sdk);
      }),
    ec2: (region = opts.region) =>
      once(`ec2:${region}`, async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-ec2'), import('./ec2.js')]);
        return port.createEc2Port(new sdk.EC2Client(baseConfig('EC2', region)), sdk);
      }),
    ssm: (region = opts.region) =>
      once(`ssm:${region}`, async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-ssm'), import('./ssm.js')]);
        return port.createSsmPort(new sdk.SSMClient(baseConfig('SSM', region)), sdk);
      }),
    quotas: (region = opts.region) =>
      once(`quotas:${region}`, async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-service-quotas'), import('./quotas.js')]);
        return port.createQuotasPort(new sdk.ServiceQuotasClient(baseConfig('SERVICE_QUOTAS', region)), sdk);
      }),
    pricing: () =>
      once('pricing', async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-pricing'), import('./pricing.js')]);
        // The Pricing API lives in us-east-1 (and ap-south-1, eu-central-1) whatever the stack's region.
        return port.createPricingPort(new sdk.PricingClient(baseConfig('PRICING', 'us-east-1')), sdk);
      }),
    iam: () =>
      once('iam', async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-iam'), import('./iam.js')]);
        // IAM is global; its one endpoint is signed for us-east-1 (the stack's region would not matter).
        return port.createIamPort(new sdk.IAMClient(baseConfig('IAM', 'us-east-1')), sdk);
      }),
    ce: () =>
      once('ce', async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-cost-explorer'), import('./ce.js')]);
        // Cost Explorer's one endpoint (ce.us-east-1.amazonaws.com) serves every region's costs.
        return port.createCePort(new sdk.CostExplorerClient(baseConfig('COST_EXPLORER', 'us-east-1')), sdk);
      }),
    autoscaling: (region = opts.region) =>
      once(`autoscaling:${region}`, async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-auto-scaling'), import('./autoscaling.js')]);
        return port.createAutoScalingPort(new sdk.AutoScalingClient(baseConfig('AUTO_SCALING', region)), sdk);
      }),
    cloudwatch: (region = opts.region) =>
      once(`cloudwatch:${region}`, async () => {
        const [sdk, port] = await Promise.all([import('@aws-sdk/client-cloudwatch'), import('./cloudwatch.js')]);
        return port.createCloudWatchPort(new sdk.CloudWatchClient(baseConfig('CLOUDWATCH', region)), sdk);
      }),
  };
}

/**
 * The local stack (`fluxer local up`: moto on loopback) accepts any signature, and a machine that only
 * runs the local stack may have no AWS credentials at all. So for an endpoint on loopback, with no
 * profile chosen and no AWS_ACCESS_KEY_ID in the environment, sign with static dummy keys instead of
 * failing in the SDK's credential chain. Real credentials are never needed (or used) for it.
 */
function loopbackDummyCredentials(endpoint: string | undefined, opts: AwsClientOptions) {
  if (!endpoint || opts.profile || nonEmpty(opts.env.AWS_ACCESS_KEY_ID)) return undefined;
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return undefined;
  }
  const loopback = host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  return loopback ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } : undefined;
}

/**
 * Keys from the context's environment, as the SDK's own env provider would read them (it is skipped
 * when a profile is chosen, so this is too). The SDK reads process.env; a context built with another
 * env (tests running the CLI in-process) must sign with that env's keys, not the process's.
 */
function envCredentials(opts: AwsClientOptions) {
  const accessKeyId = nonEmpty(opts.env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(opts.env.AWS_SECRET_ACCESS_KEY);
  if (opts.profile || !accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = nonEmpty(opts.env.AWS_SESSION_TOKEN);
  return { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } };
}

interface ConnectionPools {
  http: import('node:http').Agent;
  https: import('node:https').Agent;
  close(): void;
}

async function closableConnectionPools(): Promise<ConnectionPools> {
  const [http, https] = await Promise.all([import('node:http'), import('node:https')]);
  let closed = false;
  // After close, a retry must fail at once rather than open a new connection that waits again.
  const refuseWhenClosed = <A extends import('node:http').Agent>(agent: A): A => {
    const agentWithCreate = agent as unknown as { createConnection: (options: unknown, callback: (err: Error | null) => void) => unknown };
    const create = agentWithCreate.createConnection.bind(agent);
    agentWithCreate.createConnection = (options, callback) => {
      if (!closed) return create(options, callback);
      callback(new Error('AWS clients closed: request abandoned'));
      return undefined;
    };
    return agent;
  };
  const pools = {
    http: refuseWhenClosed(new http.Agent({ keepAlive: true, maxSockets: 50 })),
    https: refuseWhenClosed(new https.Agent({ keepAlive: true, maxSockets: 50 })),
    close() {
      closed = true;
      pools.http.destroy();
      pools.https.destroy();
    },
  };
  return pools;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
