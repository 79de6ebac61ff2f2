// The fleet's launch template: its data from the one launch specification (src/core/launch/spec.ts),
// with the bootstrap's user data carrying the group's name (FLUXER_ASG_NAME) and, when pinned, the
// runtime release (FLUXER_RELEASE); and the drift between a template version and that data, field by field.
import { gunzipSync } from 'node:zlib';
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import type { SqsPort } from '../../aws/sqs.js';
import type { SsmPort } from '../../aws/ssm.js';
import type { ResolvedConfig } from '../../config/loader.js';
import { TEMPLATES_DIR } from '../../lib/paths.js';
import { amiMissingError, buildLaunchSpec, resolveAmi, resolveNodeNetwork, type ResolvedAmi } from '../launch/spec.js';
import type { Zone } from '../launch/pools.js';
import { launchZones } from '../launch/zones.js';
import { sameDocument } from '../node-policy.js';
import type { SetupChange } from '../setup.js';
import { renderUserData } from '../userdata/render.js';
import { stackVariables } from '../userdata/variables.js';
import { templateData } from './spec.js';

export interface FleetLaunchPorts {
  ec2: Pick<Ec2Port, 'describeImages' | 'describeSubnets' | 'describeVpcs' | 'describeSecurityGroups'>;
  ssm: Pick<SsmPort, 'getParameter'>;
  sqs: () => Promise<Pick<SqsPort, 'getQueueUrl'>>;
}

export interface FleetLaunch {
  data: Ec2.RequestLaunchTemplateData;
  ami: ResolvedAmi;
  release: string | undefined;
  zones: Zone[];
}

/** Renders and checks the user data first (a refusal is exit 2 before any AWS call), then resolves the AMI and network. */
export async function fleetLaunch(ports: FleetLaunchPorts, config: ResolvedConfig, opts: { cwd: string; groupName: string; ami: string; release: string | undefined; region: string }): Promise<FleetLaunch> {
  const { settings, stack } = config;
  const userData = await renderUserData({
    templateRef: settings.template,
    templateRefLabel: 'template setting',
    templatesDir: TEMPLATES_DIR,
    cwd: opts.cwd,
    stackValues: stackVariables(config),
    vars: { asg_name: opts.groupName, ...(opts.release ? { release: opts.release } : {}) },
    forceGzip: false,
    stackHints: { region: settings.region, queueName: settings.queueName },
    resolveQueueUrl: async () => {
      const { QueueUrl } = await (await ports.sqs()).getQueueUrl({ QueueName: settings.queueName });
      if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
      return { value: QueueUrl, source: `SQS GetQueueUrl ${settings.queueName}` };
    },
  });
  const ami = await resolveAmi(ports, stack, opts.ami);
  if (!ami) throw amiMissingError(stack, opts.ami, opts.region);
  const network = await resolveNodeNetwork(ports.ec2, settings, stack, opts.region);
  const zones = await launchZones(ports.ec2, settings.subnets, network.vpcId, opts.region);
  // The group's name is the nodes' launch id: `fluxer runtime … --launch-id <group>` selects the fleet.
  const spec = buildLaunchSpec({ stack, launchId: opts.groupName, ami, volumeSize: settings.volumeSize, instanceProfile: settings.instanceProfile, securityGroupIds: network.securityGroupIds, userData: userData.payload });
  return { data: templateData(spec, settings.instanceTypes[0]!), ami, release: opts.release, zones };
}

/** The user data as text (base64, maybe gzip), for reading what a version pins. */
export function userDataText(base64: string | undefined): string {
  if (!base64) return '';
  const bytes = Buffer.from(base64, 'base64');
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** The runtime release a template version pins (FLUXER_RELEASE in its env file), or undefined: the stack's promoted one. */
export function pinnedRelease(data: Pick<Ec2.ResponseLaunchTemplateData, 'UserData'> | undefined): string | undefined {
  return /^\s*FLUXER_RELEASE=(\S+)\s*$/m.exec(userDataText(data?.UserData))?.[1];
}

const FIELDS: Array<[keyof Ec2.RequestLaunchTemplateData, string]> = [
  ['ImageId', 'AMI'],
  ['InstanceType', 'instance type'],
  ['IamInstanceProfile', 'instance profile'],
  ['SecurityGroupIds', 'security groups'],
  ['MetadataOptions', 'metadata options'],
  ['InstanceInitiatedShutdownBehavior', 'shutdown behaviour'],
  ['BlockDeviceMappings', 'block devices'],
  ['TagSpecifications', 'tags'],
  ['KeyName', 'key pair'],
  ['InstanceMarketOptions', 'market options'],
];

/** What differs between a version's data and the desired data (empty: the version is current). */
export function templateChanges(current: Ec2.ResponseLaunchTemplateData | undefined, desired: Ec2.RequestLaunchTemplateData): SetupChange[] {
  const changes: SetupChange[] = [];
  const cur = (current ?? {}) as Record<string, unknown>;
  const want = desired as Record<string, unknown>;
  for (const [field, label] of FIELDS) {
    const a = normalize(field, cur[field]);
    const b = normalize(field, want[field]);
    if (!sameDocument(a ?? null, b ?? null)) changes.push({ setting: label, from: a === undefined ? null : JSON.stringify(a), to: b === undefined ? 'none' : JSON.stringify(b) });
  }
  const [ua, ub] = [userDataText(current?.UserData), userDataText(desired.UserData)];
  if (ua !== ub) changes.push({ setting: 'user data', from: ua ? `${Buffer.byteLength(ua)} bytes` : null, to: `${Buffer.byteLength(ub)} bytes (${firstDifference(ua, ub)})` });
  return changes;
}

/** AWS echoes defaults and orders lists its own way; compare what fluxer sets. */
function normalize(field: string, v: unknown): unknown {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return undefined;
  if (field === 'SecurityGroupIds') return [...(v as string[])].sort();
  if (field === 'IamInstanceProfile') return (v as { Name?: string; Arn?: string }).Name ?? (v as { Arn?: string }).Arn;
  if (field === 'MetadataOptions') {
    const m = v as Record<string, unknown>;
    return { HttpTokens: m.HttpTokens, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit, HttpEndpoint: m.HttpEndpoint };
  }
  if (field === 'TagSpecifications') {
    // The template's own tags are not launch data (moto copies them into its first version's data).
    return (v as Array<{ ResourceType?: string; Tags?: Array<{ Key?: string; Value?: string }> }>)
      .filter((t) => t.ResourceType !== 'launch-template')
      .map((t) => ({ ResourceType: t.ResourceType, Tags: [...(t.Tags ?? [])].map((x) => `${x.Key}=${x.Value}`).sort() }))
      .sort((x, y) => String(x.ResourceType).localeCompare(String(y.ResourceType)));
  }
  return v;
}

function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  const i = lb.findIndex((line, n) => line !== la[n]);
  return i < 0 ? 'lines removed' : `line ${i + 1}: ${lb[i]!.trim().slice(0, 80)}`;
}
