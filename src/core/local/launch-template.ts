// What an instance of the local region takes from its launch template, which moto stores but applies
// nothing of: its shutdown behaviour (what EC2 does when the OS powers off) and the fleet's pinned idle
// times (the env-file lines the template's user data gives a real node). An instance launched from a
// template carries EC2's aws:ec2launchtemplate:id/version tags (Auto Scaling's members do).
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import { PIN_VARS, pinnedSettings } from '../fleet/pins.js';

export type LaunchTemplatePort = Pick<Ec2Port, 'describeLaunchTemplateVersions'>;

/** The instance's template version's data; undefined when it was not launched from one. */
export async function templateVersionData(ec2: LaunchTemplatePort, tags: Record<string, string> | undefined): Promise<Ec2.ResponseLaunchTemplateData | undefined> {
  const template = tags?.['aws:ec2launchtemplate:id'];
  const version = tags?.['aws:ec2launchtemplate:version'];
  if (!template || !version) return undefined;
  const versions = await ec2.describeLaunchTemplateVersions({ LaunchTemplateId: template, Versions: [version] });
  return versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
}

/** The idle times the version's user data pins, as the node's env-file lines (none pinned: {}). */
export function pinnedIdleEnv(data: Pick<Ec2.ResponseLaunchTemplateData, 'UserData'> | undefined): Record<string, string> {
  const pins = pinnedSettings(data);
  const env: Record<string, string> = {};
  if (pins.idleSeconds !== undefined) env[PIN_VARS.idleSeconds.line] = String(pins.idleSeconds);
  if (pins.surplusIdleSeconds !== undefined) env[PIN_VARS.surplusIdleSeconds.line] = String(pins.surplusIdleSeconds);
  return env;
}
