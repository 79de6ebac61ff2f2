// `fluxer doctor` as a library: independent checks of what a stack needs before nodes can run —
// credentials, region, spot vCPU quota, queue + DLQ, bucket, AMI, instance profile, user data —
// each ending as one ok / warn / fail row with a hint. Checks run concurrently, each under its own
// timeout, and a check that throws becomes a failed row: one failure never hides the others.
import type { AwsClients } from '../aws/factory.js';
import type { Ec2Port } from '../aws/ec2.js';
import type { SqsPort } from '../aws/sqs.js';
import type { Clock } from '../lib/clock.js';
import { hasErrorCode, isNotFound, isPermissionDenied, regionRedirect, toFluxerError } from '../aws/errors.js';
import type { ResolvedConfig } from '../config/loader.js';
import type { StackSettings } from '../config/schema.js';
import { checkNodeRole, checkNodeSecurityGroup } from './doctor-node.js';
import { checkNodeLocations } from './doctor-nodes.js';
import { defaultAmiParameter, resolveAmi } from './launch/spec.js';
import { quotaIncreaseCommand, quotaNeeds, readQuotaValue, type QuotaNeed } from './launch/quota.js';
import { queueUrlFor } from './stack-resources.js';
import { stackFilters } from './tags.js';
import { formatBytes } from './userdata/payload.js';
import { renderUserData } from './userdata/render.js';
import { stackVariables } from './userdata/variables.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckRow {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  hint: string | null;
}

export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
  hint?: string;
}

export interface Check {
  id: string;
  title: string;
  run(): Promise<CheckOutcome>;
}

/** The AWS clients doctor uses; `AwsClients` from the factory fits. */
export type DoctorPorts = Pick<AwsClients, 'sts' | 'sqs' | 's3' | 'ec2' | 'quotas' | 'iam' | 'ssm'>;

export interface DoctorReport {
  stack: string;
  region: string;
  /** Where nodes run: spotRegion, else region. */
  nodeRegion: string;
  /** The endpoint in use when it is not AWS itself, else null. */
  endpoint: string | null;
  checks: CheckRow[];
  ok: boolean;
}

// ---------------------------------------------------------------------------------------------
// Regions

/** Regions AWS runs today. A well-formed name not listed here may be a region newer than fluxer. */
export const KNOWN_REGIONS: ReadonlySet<string> = new Set([
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
  'af-south-1',
  'ap-east-1', 'ap-east-2', 'ap-south-1', 'ap-south-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
  'ca-central-1', 'ca-west-1',
  'eu-central-1', 'eu-central-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-south-1', 'eu-south-2', 'eu-north-1',
  'il-central-1', 'me-south-1', 'me-central-1', 'mx-central-1', 'sa-east-1',
  'us-gov-east-1', 'us-gov-west-1', 'cn-north-1', 'cn-northwest-1',
]);

export function checkRegions(settings: Pick<StackSettings, 'region' | 'spotRegion'>): CheckOutcome {
  const named: Array<[string, string]> = [['region', settings.region]];
  if (settings.spotRegion) named.push(['spotRegion', settings.spotRegion]);
  const unknown = named.filter(([, r]) => !KNOWN_REGIONS.has(r));
  const where = settings.spotRegion && settings.spotRegion !== settings.region
    ? `queue and bucket in ${settings.region}, nodes in ${settings.spotRegion}`
    : `queue, bucket and nodes in ${settings.region}`;
  if (unknown.length) {
    return {
      status: 'warn',
      detail: `${unknown.map(([k, r]) => `${k} "${r}"`).join(' and ')} is not a region fluxer knows (${where})`,
      hint: 'Check the spelling against `aws ec2 describe-regions --all-regions`; a region newer than this fluxer is fine.',
    };
  }
  return { status: 'ok', detail: where };
}

// ---------------------------------------------------------------------------------------------
// Spot vCPU quotas

/**
 * A quota below one node's vCPUs means no node can start: fail. Below two nodes' worth, one node
 * runs but an interrupted node cannot be replaced while its successor starts: warn.
 */
export function evaluateQuota(need: QuotaNeed, quotaValue: number, region: string): CheckOutcome {
  const nodes = need.vcpusPerNode > 0 ? Math.floor(quotaValue / need.vcpusPerNode) : 0;
  const detail =
    `${need.quota.code} (${need.quota.name}) in ${region}: ${formatVcpus(quotaValue)}; ` +
    `one node needs ${formatVcpus(need.vcpusPerNode)} (${need.largestType}), room for ${nodes} node${nodes === 1 ? '' : 's'}`;
  const desired = need.vcpusPerNode * 2;
  const hint =
    `Request at least ${desired} vCPUs (two nodes) for ${need.quota.code} in Service Quotas: ` +
    quotaIncreaseCommand(need.quota.code, desired, region);
  if (quotaValue < need.vcpusPerNode) return { status: 'fail', detail, hint };
  if (quotaValue < desired) return { status: 'warn', detail, hint };
  return { status: 'ok', detail };
}

function formatVcpus(n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)} vCPU${n === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Combining rows

const SEVERITY: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

export function worstStatus(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((worst, s) => (SEVERITY[s] > SEVERITY[worst] ? s : worst), 'ok');
}

/** Several outcomes in one row (one per quota code): the worst status, every detail, the hints that matter. */
export function combineOutcomes(outcomes: CheckOutcome[]): CheckOutcome {
  const status = worstStatus(outcomes.map((o) => o.status));
  const hints = outcomes.filter((o) => o.status !== 'ok' && o.hint).map((o) => o.hint!);
  return { status, detail: outcomes.map((o) => o.detail).join('; '), ...(hints.length ? { hint: hints.join(' ') } : {}) };
}

/** A thrown error as a failed row: AWS error names carry the hint that says what to do. */
export function outcomeFromError(err: unknown, context?: string, nowMs?: number): CheckOutcome {
  const e = toFluxerError(err, { nowMs });
  return { status: 'fail', detail: context ? `${context}: ${e.message}` : e.message, ...(e.hint ? { hint: e.hint } : {}) };
}

export function toRow(check: Pick<Check, 'id' | 'title'>, outcome: CheckOutcome): CheckRow {
  return { id: check.id, title: check.title, status: outcome.status, detail: outcome.detail, hint: outcome.hint ?? null };
}

export function summarize(rows: CheckRow[]): { ok: number; warn: number; fail: number } {
  return {
    ok: rows.filter((r) => r.status === 'ok').length,
    warn: rows.filter((r) => r.status === 'warn').length,
    fail: rows.filter((r) => r.status === 'fail').length,
  };
}

/** Runs every check at once, each under its own timeout; rows come back in the checks' order. */
export async function runChecks(checks: Check[], opts: { timeoutMs: number; clock: Clock; signal?: AbortSignal }): Promise<CheckRow[]> {
  const timers = checks.map(() => new AbortController());
  // Ctrl-C ends the whole run (exit 130), not just one row; one listener for all checks.
  let onAbort: () => void = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    onAbort = () => {
      for (const t of timers) t.abort();
      reject(opts.signal?.reason);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const rows = checks.map(async (check, i): Promise<CheckRow> => {
    const timer = timers[i]!;
    const timeout = opts.clock.sleep(opts.timeoutMs, timer.signal).then(
      (): CheckOutcome => ({
        status: 'fail',
        detail: `no answer within ${opts.timeoutMs / 1000}s`,
        hint: 'Check the network path to the AWS endpoint, or raise --timeout.',
      }),
      // The timer was cancelled because the check finished: this side of the race must never win.
      () => never(),
    );
    try {
      return toRow(check, await Promise.race([check.run().catch((err: unknown) => outcomeFromError(err, undefined, opts.clock.now())), timeout]));
    } finally {
      timer.abort();
    }
  });
  try {
    return await Promise.race([Promise.all(rows), interrupted]);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** A promise that never settles: the losing side of a race whose timer was cancelled. */
function never(): Promise<CheckOutcome> {
  return new Promise<CheckOutcome>(() => {});
}

// ---------------------------------------------------------------------------------------------
// The checks

export interface DoctorInput {
  stack: string;
  settings: StackSettings;
  ports: DoctorPorts;
  /** Renders the stack's user data and checks its size; omitted when rendering is not available. */
  userData?: () => Promise<CheckOutcome>;
}

export function buildChecks(input: DoctorInput): Check[] {
  const { settings, ports, stack } = input;
  const nodeRegion = settings.spotRegion ?? settings.region;
  const checks: Check[] = [
    {
      id: 'credentials',
      title: 'AWS credentials',
      async run() {
        const id = await (await ports.sts()).getCallerIdentity();
        return { status: 'ok', detail: `account ${id.account}, ${id.arn}` };
      },
    },
    { id: 'region', title: 'Region', run: async () => checkRegions(settings) },
    { id: 'spot-quota', title: 'Spot vCPU quota', run: () => checkSpotQuota(ports, settings.instanceTypes, nodeRegion) },
    { id: 'queue', title: 'Job queue and dead-letter queue', run: () => checkQueue(ports, settings.queueName, settings.region) },
    { id: 'bucket', title: 'Results bucket', run: () => checkBucket(ports, stack, settings.bucket, settings.region) },
    { id: 'ami', title: 'Node AMI', run: () => checkAmi(ports, stack, settings.ami, nodeRegion) },
    { id: 'instance-profile', title: 'Instance profile', run: () => checkInstanceProfile(ports, settings.instanceProfile) },
    { id: 'node-role', title: 'Node role', run: () => checkNodeRole(ports, settings, stack) },
    { id: 'node-security-group', title: 'Node security group', run: () => checkNodeSecurityGroup(ports, settings, stack) },
    { id: 'node-locations', title: 'Where live nodes write', run: () => checkNodeLocations(ports, settings) },
  ];
  if (input.userData) checks.push({ id: 'userdata', title: 'User data', run: input.userData });
  return checks;
}

/** The SDK types instance type names as a closed union; the config holds plain strings. */
type InstanceTypeNames = NonNullable<Parameters<Ec2Port['describeInstanceTypes']>[0]['InstanceTypes']>;

async function checkSpotQuota(ports: DoctorPorts, instanceTypes: string[], region: string): Promise<CheckOutcome> {
  const ec2 = await ports.ec2(region);
  let described;
  try {
    described = await ec2.describeInstanceTypes({ InstanceTypes: instanceTypes as InstanceTypeNames });
  } catch (err) {
    if (hasErrorCode(err, 'InvalidInstanceType')) {
      return { status: 'fail', detail: `instance types ${instanceTypes.join(', ')}: ${(err as Error).message}`, hint: 'Fix "instanceTypes" in the stack\'s config: `aws ec2 describe-instance-types` lists the valid names.' };
    }
    throw err;
  }
  const vcpus = new Map<string, number>();
  for (const t of described.InstanceTypes ?? []) if (t.InstanceType) vcpus.set(t.InstanceType, t.VCpuInfo?.DefaultVCpus ?? 0);
  const missing = instanceTypes.filter((t) => !vcpus.has(t));
  if (missing.length) {
    return { status: 'fail', detail: `${missing.join(', ')} not offered in ${region}`, hint: 'Fix "instanceTypes" in the stack\'s config, or pick a spotRegion that offers them.' };
  }
  const { needs, unquoted } = quotaNeeds(vcpus);
  const quotas = await ports.quotas(region);
  const outcomes = await Promise.all(
    needs.map(async (need): Promise<CheckOutcome> => {
      const input = { QuotaCode: need.quota.code };
      try {
        return evaluateQuota(need, await readQuotaValue(quotas, input.QuotaCode), region);
      } catch (err) {
        // Not knowing the quota is not a blocker: the launch itself will say if it is too low.
        if (isNotFound(err, 'quotas')) {
          return { status: 'warn', detail: `${need.quota.code} (${need.quota.name}) not found in ${region}`, hint: `Look it up in the Service Quotas console (EC2, ${region}); the launch fails with MaxSpotInstanceCountExceeded if it is too low.` };
        }
        const failed = outcomeFromError(err, need.quota.code);
        return toFluxerError(err).exitCode === 4 ? { ...failed, status: 'warn' } : failed;
      }
    }),
  );
  if (unquoted.length) outcomes.push({ status: 'warn', detail: `no spot quota known for ${unquoted.join(', ')}`, hint: 'These types may not be available as spot instances; check "instanceTypes".' });
  return combineOutcomes(outcomes);
}

async function checkQueue(ports: DoctorPorts, queueName: string, region: string): Promise<CheckOutcome> {
  const sqs = await ports.sqs();
  const url = await queueUrlFor(sqs, queueName);
  if (!url) return { status: 'fail', detail: `queue "${queueName}" not found in ${region}`, hint: 'Create it (and its dead-letter queue) with `fluxer setup`.' };
  const attrs = (await sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] })).Attributes ?? {};
  if (!attrs.RedrivePolicy) {
    return { status: 'warn', detail: `queue "${queueName}" has no dead-letter queue: a job that keeps failing is retried forever`, hint: 'Add one with `fluxer setup`.' };
  }
  let policy: { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
  try {
    policy = JSON.parse(attrs.RedrivePolicy) as typeof policy;
  } catch {
    return { status: 'warn', detail: `queue "${queueName}" has an unreadable RedrivePolicy`, hint: 'Reset it with `fluxer setup`.' };
  }
  const arn = policy.deadLetterTargetArn ?? '';
  const [, , , , account, dlqName] = arn.split(':');
  if (!dlqName) return { status: 'warn', detail: `queue "${queueName}" has a RedrivePolicy without a target`, hint: 'Reset it with `fluxer setup`.' };
  if (!(await queueUrlFor(sqs, dlqName, account || undefined))) {
    return { status: 'fail', detail: `queue "${queueName}" sends failed jobs to "${dlqName}", which does not exist`, hint: 'Create it with `fluxer setup`.' };
  }
  return { status: 'ok', detail: `"${queueName}" → dead-letter queue "${dlqName}" after ${policy.maxReceiveCount ?? '?'} receives` };
}

const PUBLIC_ACCESS_SETTINGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

async function checkBucket(ports: DoctorPorts, stack: string, bucket: string | undefined, region: string): Promise<CheckOutcome> {
  if (!bucket) {
    return { status: 'fail', detail: `no bucket set for stack "${stack}"`, hint: `Set "bucket" for stack "${stack}" in fluxer.config.json (or FLUXER_BUCKET), then run \`fluxer setup\`.` };
  }
  const s3 = await ports.s3();
  try {
    await s3.headBucket({ Bucket: bucket });
  } catch (err) {
    if (isNotFound(err, 's3')) return { status: 'fail', detail: `bucket "${bucket}" does not exist`, hint: 'Create it with `fluxer setup`.' };
    if (isPermissionDenied(err)) {
      return { status: 'fail', detail: `bucket "${bucket}" exists but is not yours to use (403)`, hint: 'Bucket names are global: pick another "bucket", or grant this identity s3:ListBucket on it.' };
    }
    // HeadBucket in the wrong region answers 301 with the bucket's region in a header (no body).
    const redirect = regionRedirect(err);
    if (redirect) {
      return { status: 'fail', detail: `bucket "${bucket}" is in ${redirect.region ?? 'another region'}, not ${region}`, hint: 'Keep the bucket in the stack\'s region: set "region" to the bucket\'s, or use a bucket in this region.' };
    }
    throw err;
  }
  let config: Partial<Record<(typeof PUBLIC_ACCESS_SETTINGS)[number], boolean>> = {};
  try {
    config = (await s3.getPublicAccessBlock({ Bucket: bucket })).PublicAccessBlockConfiguration ?? {};
  } catch (err) {
    if (!hasErrorCode(err, 'NoSuchPublicAccessBlockConfiguration')) throw err;
  }
  const open = PUBLIC_ACCESS_SETTINGS.filter((k) => config[k] !== true);
  if (open.length) {
    return {
      status: 'warn',
      detail: `bucket "${bucket}" does not block public access (${open.join(', ')} not set)`,
      hint: `Block it: aws s3api put-public-access-block --bucket ${bucket} --public-access-block-configuration ${PUBLIC_ACCESS_SETTINGS.map((k) => `${k}=true`).join(',')}`,
    };
  }
  return { status: 'ok', detail: `"${bucket}" exists and blocks public access` };
}

async function checkAmi(ports: DoctorPorts, stack: string, ami: string, region: string): Promise<CheckOutcome> {
  const ec2 = await ports.ec2(region);
  const setAmiHint = `Set "ami" for stack "${stack}" to an AMI id in ${region} (e.g. a Deep Learning AMI) in fluxer.config.json, or FLUXER_AMI.`;
  if (ami === 'latest') {
    // One meaning of "latest" everywhere: the launch specification's resolver.
    const resolved = await resolveAmi({ ec2, ssm: await ports.ssm(region) }, stack, ami);
    if (!resolved) return { status: 'warn', detail: `"ami" is "latest", but neither ${defaultAmiParameter(stack)}, an AMI baked for stack "${stack}", nor the Deep Learning AMI resolves in ${region}`, hint: setAmiHint };
    return { status: 'ok', detail: `latest for stack "${stack}": ${resolved.imageId} in ${region} (${resolved.name ?? 'unnamed'}; ${resolved.source})` };
  }
  let image;
  try {
    image = (await ec2.describeImages({ ImageIds: [ami] })).Images?.[0];
  } catch (err) {
    // A malformed or unavailable id is as good as missing here: the row says which AMI to set.
    if (!isNotFound(err, 'ec2') && !hasErrorCode(err, 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable')) throw err;
  }
  if (!image) return { status: 'fail', detail: `AMI ${ami} not found in ${region}`, hint: `AMIs are regional: ${setAmiHint}` };
  if (image.State !== 'available') {
    return { status: image.State === 'pending' ? 'warn' : 'fail', detail: `AMI ${ami} is ${image.State ?? 'in an unknown state'}`, hint: image.State === 'pending' ? 'Wait until it is available.' : setAmiHint };
  }
  return { status: 'ok', detail: `${ami} (${image.Name ?? 'unnamed'}) is available in ${region}` };
}

async function checkInstanceProfile(ports: DoctorPorts, name: string): Promise<CheckOutcome> {
  const iam = await ports.iam();
  let profile;
  try {
    profile = (await iam.getInstanceProfile({ InstanceProfileName: name })).InstanceProfile;
  } catch (err) {
    if (!isNotFound(err, 'iam')) throw err;
  }
  const createHint =
    `Create it with a role the nodes run as (SSM managed-instance access, plus the queue and bucket): ` +
    `aws iam create-instance-profile --instance-profile-name ${name} && aws iam add-role-to-instance-profile --instance-profile-name ${name} --role-name ROLE; or set "instanceProfile".`;
  if (!profile) return { status: 'fail', detail: `instance profile "${name}" not found`, hint: createHint };
  const roles = (profile.Roles ?? []).map((r) => r.RoleName).filter(Boolean);
  if (!roles.length) {
    return { status: 'warn', detail: `instance profile "${name}" has no role: nodes would have no AWS credentials`, hint: `aws iam add-role-to-instance-profile --instance-profile-name ${name} --role-name ROLE` };
  }
  return { status: 'ok', detail: `"${name}" with role ${roles.join(', ')}` };
}

export interface UserDataSize {
  template: string;
  bytes: number;
  limit: number;
  gzip: boolean;
  gzippedBytes: number;
  warnings: string[];
  /** The queue does not exist yet, so a stand-in URL of the same shape was measured. */
  assumedQueueUrl: boolean;
}

export function evaluateUserData(size: UserDataSize): CheckOutcome {
  const measured = size.gzip
    ? `${formatBytes(size.bytes)} plain, ${formatBytes(size.gzippedBytes)} gzipped (sent gzipped)`
    : `${formatBytes(size.bytes)}`;
  const detail = `template ${size.template}: ${measured} of EC2's ${formatBytes(size.limit)} limit${size.assumedQueueUrl ? ' (queue URL assumed: the queue does not exist yet)' : ''}`;
  if (size.warnings.length) return { status: 'warn', detail: `${detail}; ${size.warnings.join('; ')}`, hint: 'Run `fluxer userdata render` to see the output.' };
  return { status: 'ok', detail };
}

/** The stack's user data rendered as a launch would render it, measured against EC2's limit. */
export function userDataCheck(opts: { config: ResolvedConfig; templatesDir: string; cwd: string; sqs: () => Promise<SqsPort> }): () => Promise<CheckOutcome> {
  return async () => {
    const { settings } = opts.config;
    let assumedQueueUrl = false;
    const rendered = await renderUserData({
      templateRef: settings.template,
      templateRefLabel: 'template setting',
      templatesDir: opts.templatesDir,
      cwd: opts.cwd,
      stackValues: stackVariables(opts.config),
      vars: {},
      forceGzip: false,
      stackHints: { region: settings.region, queueName: settings.queueName },
      // The size must not depend on the queue check: a missing queue is measured with a URL of the same shape.
      resolveQueueUrl: async () => {
        const url = await queueUrlFor(await opts.sqs(), settings.queueName);
        if (url) return { value: url, source: `SQS GetQueueUrl ${settings.queueName}` };
        assumedQueueUrl = true;
        return { value: `https://sqs.${settings.region}.amazonaws.com/000000000000/${settings.queueName}`, source: 'assumed (queue not found)' };
      },
    });
    return evaluateUserData({
      template: rendered.template.name,
      bytes: rendered.bytes,
      limit: rendered.limit,
      gzip: rendered.gzip,
      gzippedBytes: rendered.gzippedBytes,
      warnings: rendered.warnings,
      assumedQueueUrl,
    });
  };
}

export async function runDoctor(input: DoctorInput & { endpoint: string | undefined; timeoutMs: number; clock: Clock; signal?: AbortSignal }): Promise<DoctorReport> {
  const checks = await runChecks(buildChecks(input), input);
  return {
    stack: input.stack,
    region: input.settings.region,
    nodeRegion: input.settings.spotRegion ?? input.settings.region,
    endpoint: input.endpoint ?? null,
    checks,
    ok: checks.every((c) => c.status !== 'fail'),
  };
}
