// What every `fluxer runtime …` command over SSM starts with: the selected nodes resolved against the
// stack (refusals by name, exit 2, before anything is sent), the SSM and S3 ports in the nodes'
// region, and where SSM writes the whole output (the stack's bucket, <prefix>ssm-output/).
import type { AwsClients } from '../../aws/factory.js';
import type { StackSettings } from '../../config/schema.js';
import type { NodeInstance } from '../nodes/instances.js';
import type { RemotePorts, RemoteSettings } from './runtime.js';
import { refusedTargetsError, resolveTargets, type TargetSelection } from './targets.js';

/** Under the stack's prefix; the node role may write here (src/core/node-policy.ts). */
export const SSM_OUTPUT_PREFIX = 'ssm-output/';

export interface RemoteSession {
  targets: NodeInstance[];
  ids: string[];
  region: string;
  ports: RemotePorts;
  settings: RemoteSettings;
}

export async function openRemoteSession(
  aws: AwsClients,
  config: { settings: Pick<StackSettings, 'region' | 'spotRegion' | 'bucket' | 'prefix'>; stack: string },
  selection: TargetSelection,
  signal?: AbortSignal,
): Promise<RemoteSession> {
  const { settings, stack } = config;
  const region = settings.spotRegion ?? settings.region;
  const ec2 = await aws.ec2(region);
  const { targets, refused } = await resolveTargets(ec2, stack, selection);
  if (refused.length) throw refusedTargetsError(refused);
  const [ssm, s3] = await Promise.all([aws.ssm(region), settings.bucket ? aws.s3() : Promise.resolve(undefined)]);
  const notRunning = Object.fromEntries(targets.filter((t) => t.state !== 'running').map((t) => [t.instanceId, t.state]));
  return {
    targets,
    ids: targets.map((t) => t.instanceId),
    region,
    ports: { ssm, ...(s3 ? { s3 } : {}) },
    settings: {
      ...(settings.bucket ? { output: { bucket: settings.bucket, keyPrefix: `${settings.prefix}${SSM_OUTPUT_PREFIX}` } } : {}),
      ...(Object.keys(notRunning).length ? { notRunning } : {}),
      ...(signal ? { signal } : {}),
    },
  };
}
