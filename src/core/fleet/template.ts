// The fleet's launch template: its data from the one launch specification (src/core/launch/spec.ts),
// with the bootstrap's user data carrying the group's name (FLUXER_ASG_NAME) and, when pinned, the
// runtime release (FLUXER_RELEASE) and idle times (FLUXER_IDLE_SECONDS, FLUXER_SURPLUS_IDLE_SECONDS);
// and the drift between a template version and that data, field by field.
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import type { SqsPort } from '../../aws/sqs.js';
import type { SsmPort } from '../../aws/ssm.js';
import type { ResolvedConfig } from '../../config/loader.js';
import { UsageError } from '../../lib/errors.js';
import { TEMPLATES_DIR } from '../../lib/paths.js';
import { amiMissingError, buildLaunchSpec, resolveAmi, resolveNodeNetwork, type ResolvedAmi } from '../launch/spec.js';
import type { Zone } from '../launch/pools.js';
import { launchZones } from '../launch/zones.js';
import { sameDocument } from '../node-policy.js';
import type { SetupChange } from '../setup.js';
import { renderUserData } from '../userdata/render.js';
import { stackVariables } from '../userdata/variables.js';
import { PIN_VARS, userDataText, type FleetPins } from './pins.js';
import { templateData } from './spec.js';

export { pinnedRelease, pinnedSettings, userDataText, type FleetPins } from './pins.js';

export interface FleetLaunchPorts {
  ec2: Pick<Ec2Port, 'describeImages' | 'describeSubnets' | 'describeVpcs' | 'describeSecurityGroups'>;
  ssm: Pick<SsmPort, 'getParameter'>;
  sqs: () => Promise<Pick<SqsPort, 'getQueueUrl'>>;
}

export interface FleetLaunch {
  data: Ec2.RequestLaunchTemplateData;
  ami: ResolvedAmi;
  release: string | undefined;
  pins: FleetPins;
  zones: Zone[];
}

/** Renders and checks the user data first (a refusal is exit 2 before any AWS call), then resolves the AMI and network. */
export async function fleetLaunch(ports: FleetLaunchPorts, config: ResolvedConfig, opts: { cwd: string; groupName: string; ami: string; pins: FleetPins; region: string }): Promise<FleetLaunch> {
  const { settings, stack } = config;
  const pinVars: Record<string, string> = {};
  for (const [key, { variable }] of Object.entries(PIN_VARS)) {
    const value = opts.pins[key as keyof FleetPins];
    if (value !== undefined) pinVars[variable] = String(value);
  }
  const userData = await renderUserData({
    templateRef: settings.template,
    templateRefLabel: 'template setting',
    templatesDir: TEMPLATES_DIR,
    cwd: opts.cwd,
    stackValues: stackVariables(config),
    vars: { asg_name: opts.groupName, ...pinVars },
    forceGzip: false,
    stackHints: { region: settings.region, queueName: settings.queueName },
    resolveQueueUrl: async () => {
      const { QueueUrl } = await (await ports.sqs()).getQueueUrl({ QueueName: settings.queueName });
      if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
      return { value: QueueUrl, source: `SQS GetQueueUrl ${settings.queueName}` };
    },
  });
  // A pin the stack's own template does not write would do nothing on the nodes: refused, not warned about.
  for (const [key, { variable, line }] of Object.entries(PIN_VARS)) {
    if (pinVars[variable] !== undefined && userData.warnings.some((w) => w.startsWith(`--var ${variable} `))) {
      throw new UsageError(`template ${userData.template.name} does not use {{ ${variable} }}, so the nodes would not get ${line} (${key})`, {
        code: 'TemplateLacksPin', hint: `Add the line ${line}={{ ${variable} | default "" }} to its /etc/fluxer/runtime.env, as templates/node-bootstrap.yaml has it.`,
      });
    }
  }
  const ami = await resolveAmi(ports, stack, opts.ami);
  if (!ami) throw amiMissingError(stack, opts.ami, opts.region);
  const network = await resolveNodeNetwork(ports.ec2, settings, stack, opts.region);
  const zones = await launchZones(ports.ec2, settings.subnets, network.vpcId, opts.region);
  // The group's name is the nodes' launch id: `fluxer runtime … --launch-id <group>` selects the fleet.
  const spec = buildLaunchSpec({ stack, launchId: opts.groupName, ami, volumeSize: settings.volumeSize, instanceProfile: settings.instanceProfile, securityGroupIds: network.securityGroupIds, userData: userData.payload });
  return { data: templateData(spec, settings.instanceTypes[0]!), ami, release: opts.pins.release, pins: opts.pins, zones };
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
