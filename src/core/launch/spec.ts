// The launch specification: everything a GPU node is launched with except where (pool) and how it is
// bought (market options, added by `spot launch`; an Auto Scaling mixed-instances group rejects
// templates that carry them). One source of truth, shared with the fleet's launch template later.
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import type { SsmPort } from '../../aws/ssm.js';
import { hasErrorCode, isNotFound } from '../../aws/errors.js';
import type { StackSettings } from '../../config/schema.js';
import { UsageError } from '../../lib/errors.js';
import { newestImageFirst } from '../ami/images.js';
import { findNodeSecurityGroup, resolveNodeVpc } from '../node-identity.js';
import { TAG_LAUNCH_ID, fluxerTags, stackFilters } from '../tags.js';

/**
 * AWS's Deep Learning AMI (NVIDIA driver, Ubuntu 22.04), by its public SSM parameter:
 * https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html
 */
export const DLAMI_PARAMETER = '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id';

/** The stack's default AMI, shared by every operator of the stack: set by `fluxer ami default`, read by "latest". */
export function defaultAmiParameter(stack: string): string {
  return `/fluxer/${stack}/ami`;
}

export interface ResolvedAmi {
  imageId: string;
  /** How "latest" (or the id) was resolved, for the plan and doctor. */
  source: string;
  name?: string;
  rootDeviceName: string;
  state?: string;
}

type AmiPorts = { ec2: Pick<Ec2Port, 'describeImages'>; ssm: Pick<SsmPort, 'getParameter'> };

async function parameter(ssm: Pick<SsmPort, 'getParameter'>, name: string): Promise<string | undefined> {
  try {
    return (await ssm.getParameter({ Name: name })).Parameter?.Value || undefined;
  } catch (err) {
    if (isNotFound(err, 'ssm') || hasErrorCode(err, 'ParameterNotFound')) return undefined;
    throw err;
  }
}

async function describeImage(ec2: Pick<Ec2Port, 'describeImages'>, id: string): Promise<Sdk.Image | undefined> {
  try {
    return (await ec2.describeImages({ ImageIds: [id] })).Images?.[0];
  } catch (err) {
    if (isNotFound(err, 'ec2') || hasErrorCode(err, 'InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable')) return undefined;
    throw err;
  }
}

/** The AMI id the stack's default parameter holds, or undefined when it is not set. */
export function readDefaultAmi(ssm: Pick<SsmPort, 'getParameter'>, stack: string): Promise<string | undefined> {
  return parameter(ssm, defaultAmiParameter(stack));
}

/**
 * "latest" means, in this order: the stack's default AMI (SSM /fluxer/<stack>/ami, set by
 * `ami default`), the newest available AMI fluxer baked for the stack, AWS's Deep Learning AMI.
 * An explicit id is described as it is. Undefined when nothing resolves (the caller says what to set).
 */
export async function resolveAmi(ports: AmiPorts, stack: string, ami: string): Promise<ResolvedAmi | undefined> {
  const found = async (id: string | undefined, source: string): Promise<ResolvedAmi | undefined> => {
    if (!id) return undefined;
    const image = await describeImage(ports.ec2, id);
    if (!image?.ImageId) return undefined;
    return { imageId: image.ImageId, source, rootDeviceName: image.RootDeviceName ?? '/dev/sda1', ...(image.Name ? { name: image.Name } : {}), ...(image.State ? { state: image.State } : {}) };
  };
  if (ami !== 'latest') return found(ami, 'the stack\'s "ami"');
  const byDefault = await found(await readDefaultAmi(ports.ssm, stack), `SSM ${defaultAmiParameter(stack)}`);
  if (byDefault) return byDefault;
  const baked = (await ports.ec2.describeImages({ Owners: ['self'], Filters: [...stackFilters(stack, 'ami'), { Name: 'state', Values: ['available'] }] })).Images ?? [];
  const newest = [...baked].sort(newestImageFirst)[0];
  if (newest?.ImageId) {
    return { imageId: newest.ImageId, source: `newest AMI baked for stack "${stack}"`, rootDeviceName: newest.RootDeviceName ?? '/dev/sda1', ...(newest.Name ? { name: newest.Name } : {}), ...(newest.State ? { state: newest.State } : {}) };
  }
  return found(await parameter(ports.ssm, DLAMI_PARAMETER), `Deep Learning AMI (SSM ${DLAMI_PARAMETER})`);
}

export function amiMissingError(stack: string, ami: string, region: string): UsageError {
  return new UsageError(ami === 'latest' ? `"ami" is "latest", but no AMI resolves for stack "${stack}" in ${region} (SSM ${defaultAmiParameter(stack)}, baked AMI, Deep Learning AMI)` : `AMI ${ami} not found in ${region}`, {
    code: 'AmiNotFound',
    hint: `Set "ami" for stack "${stack}" to an AMI id in ${region} (AMIs are regional), pass --ami ID, or set the stack's default: \`fluxer ami default AMI\`.`,
  });
}

export interface NodeNetwork {
  vpcId: string;
  securityGroupIds: string[];
}

/** The node security group `fluxer setup` made in the nodes' VPC (or the stack's configured groups). */
export async function resolveNodeNetwork(ec2: Pick<Ec2Port, 'describeSubnets' | 'describeVpcs' | 'describeSecurityGroups'>, settings: Pick<StackSettings, 'subnets' | 'securityGroups'>, stack: string, region: string): Promise<NodeNetwork> {
  const vpcId = await resolveNodeVpc(ec2, settings, region);
  if (settings.securityGroups.length) return { vpcId, securityGroupIds: [...settings.securityGroups] };
  const group = await findNodeSecurityGroup(ec2, vpcId, stack);
  if (!group?.GroupId) {
    throw new UsageError(`Stack "${stack}" has no node security group in ${vpcId} (${region})`, { code: 'NodeSecurityGroupMissing', hint: 'Run `fluxer setup` to create it.' });
  }
  return { vpcId, securityGroupIds: [group.GroupId] };
}

export interface LaunchSpecInput {
  stack: string;
  launchId: string;
  ami: ResolvedAmi;
  volumeSize: number;
  instanceProfile: string;
  securityGroupIds: string[];
  /** Rendered, size-checked and secret-scanned user data (the bytes EC2 gets, before base64). */
  userData: Uint8Array;
}

/** The RunInstances fields every node shares (no market options, no pool, no count, no token). */
export type LaunchSpec = Omit<Sdk.RunInstancesCommandInput, 'MinCount' | 'MaxCount' | 'InstanceType' | 'SubnetId' | 'ClientToken' | 'InstanceMarketOptions' | 'DryRun'>;

export function buildLaunchSpec(input: LaunchSpecInput): LaunchSpec {
  const tags = fluxerTags(input.stack, 'gpu-node', `fluxer-${input.stack}-node`, { [TAG_LAUNCH_ID]: input.launchId });
  return {
    ImageId: input.ami.imageId,
    IamInstanceProfile: { Name: input.instanceProfile },
    SecurityGroupIds: input.securityGroupIds,
    // IMDSv2 only, one hop: a container on the node cannot reach the node's credentials.
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
    // A node powers itself off (dead-man's switch); off means gone, never a stopped instance still billed for EBS.
    InstanceInitiatedShutdownBehavior: 'terminate',
    BlockDeviceMappings: [{ DeviceName: input.ami.rootDeviceName, Ebs: { VolumeSize: input.volumeSize, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
    UserData: Buffer.from(input.userData).toString('base64'),
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
  };
}
