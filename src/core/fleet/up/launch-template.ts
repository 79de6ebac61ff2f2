// `fleet up`'s launch template: made when missing; else a new default version when its data differs.
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { SetupChange } from '../../setup.js';
import { fluxerTags } from '../../tags.js';
import { templateChanges } from '../template.js';
import type { FleetResource, FleetUpInput, FleetUpPorts, Step } from './types.js';

export function planTemplate(ec2: FleetUpPorts['ec2'], input: FleetUpInput): Step {
  const name = input.templateName;
  const tpl = input.template;
  if (!tpl) {
    const changes: SetupChange[] = [
      { setting: 'launch template', from: null, to: `${name}: AMI ${input.desiredTemplate.ImageId}, IMDSv2 only, no key pair, no market options` },
      { setting: 'user data', from: null, to: `the bootstrap, FLUXER_ASG_NAME=${input.groupName}` },
    ];
    return {
      resource: { type: 'launch-template', name, action: 'would-create', changes },
      write: async () => {
        await ec2.createLaunchTemplate({
          LaunchTemplateName: name,
          VersionDescription: 'fluxer fleet up',
          LaunchTemplateData: input.desiredTemplate,
          TagSpecifications: [{ ResourceType: 'launch-template', Tags: fluxerTags(input.stack, 'launch-template', name) }],
        });
      },
    };
  }
  const changes = templateChanges(tpl.data, input.desiredTemplate);
  const resource: FleetResource = { type: 'launch-template', name, id: tpl.id, action: changes.length ? 'would-update' : 'unchanged', changes };
  if (!changes.length) return { resource };
  return {
    resource,
    // A new default version: new nodes launch with it; the running ones keep theirs until `fleet roll`.
    write: async () => void (await newDefaultVersion(ec2, tpl.id, input.desiredTemplate, 'fluxer fleet up')),
  };
}

/** Makes a version from the data and makes it the default (the one the group launches); returns its number. */
export async function newDefaultVersion(ec2: FleetUpPorts['ec2'], templateId: string, data: Ec2.RequestLaunchTemplateData, description: string): Promise<number> {
  const made = await ec2.createLaunchTemplateVersion({ LaunchTemplateId: templateId, VersionDescription: description, LaunchTemplateData: data });
  const version = made.LaunchTemplateVersion?.VersionNumber;
  if (version === undefined) throw new Error('CreateLaunchTemplateVersion returned no version number');
  await ec2.modifyLaunchTemplate({ LaunchTemplateId: templateId, DefaultVersion: String(version) });
  return version;
}
