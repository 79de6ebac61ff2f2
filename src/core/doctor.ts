// `fluxer doctor` as a library: independent checks of what a stack needs before nodes can run —
// credentials, region, spot vCPU quota, queue + DLQ, bucket, AMI, instance profile, user data —
// each ending as one ok / warn / fail row with a hint. Checks run concurrently, each under its own
// timeout, and a check that throws becomes a failed row: one failure never hides the others.
//
// The runner and the row types: doctor-run.ts. The checks: doctor-checks.ts (the stack's resources),
// doctor-node.ts (what nodes run as), doctor-nodes.ts (where live nodes write), doctor-userdata.ts.
// This file wires them into one report and is what commands import.
import type { AwsClients } from '../aws/factory.js';
import type { Clock } from '../lib/clock.js';
import type { StackSettings } from '../config/schema.js';
import { checkAmi, checkBucket, checkInstanceProfile, checkQueue, checkRegions, checkSpotQuota } from './doctor-checks.js';
import { checkNodeRole, checkNodeSecurityGroup } from './doctor-node.js';
import { checkNodeLocations } from './doctor-nodes.js';
import { runChecks, type Check, type CheckOutcome, type CheckRow } from './doctor-run.js';

export { KNOWN_REGIONS, checkRegions, evaluateQuota } from './doctor-checks.js';
export { combineOutcomes, outcomeFromError, runChecks, summarize, toRow, worstStatus } from './doctor-run.js';
export type { Check, CheckOutcome, CheckRow, CheckStatus } from './doctor-run.js';
export { evaluateUserData, userDataCheck } from './doctor-userdata.js';
export type { UserDataSize } from './doctor-userdata.js';

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
