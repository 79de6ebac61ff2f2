// Doctor's checks of the stack's own resources — region, spot vCPU quota, queue + DLQ, bucket, AMI,
// instance profile — each answering one CheckOutcome (what nodes run as: doctor-node.ts; where live
// nodes write: doctor-nodes.ts; the user data: doctor-userdata.ts).
import type { Ec2Port } from '../aws/ec2.js';
import { hasErrorCode, isNotFound, isPermissionDenied, regionRedirect, toFluxerError } from '../aws/errors.js';
import type { StackSettings } from '../config/schema.js';
import type { DoctorPorts } from './doctor.js';
import { combineOutcomes, outcomeFromError, type CheckOutcome } from './doctor-run.js';
import { defaultAmiParameter, resolveAmi } from './launch/spec.js';
import { quotaIncreaseCommand, quotaNeeds, readQuotaValue, type QuotaNeed } from './launch/quota.js';
import { queueUrlFor } from './stack-resources.js';

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

/** The SDK types instance type names as a closed union; the config holds plain strings. */
type InstanceTypeNames = NonNullable<Parameters<Ec2Port['describeInstanceTypes']>[0]['InstanceTypes']>;

export async function checkSpotQuota(ports: DoctorPorts, instanceTypes: string[], region: string): Promise<CheckOutcome> {
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

export async function checkQueue(ports: DoctorPorts, queueName: string, region: string): Promise<CheckOutcome> {
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

export async function checkBucket(ports: DoctorPorts, stack: string, bucket: string | undefined, region: string): Promise<CheckOutcome> {
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

export async function checkAmi(ports: DoctorPorts, stack: string, ami: string, region: string): Promise<CheckOutcome> {
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

export async function checkInstanceProfile(ports: DoctorPorts, name: string): Promise<CheckOutcome> {
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
