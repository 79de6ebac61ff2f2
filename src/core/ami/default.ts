// The stack's default AMI: SSM `/fluxer/<stack>/ami` in the nodes' region, so every operator of the
// stack (and every machine) launches from the same image; `ami: latest` resolves to it first.
// Written with DataType aws:ec2:image, so a launch template can name it as `resolve:ssm:<name>`.
// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import type { SsmPort } from '../../aws/ssm.js';
import { hasErrorCode, isNotFound } from '../../aws/errors.js';
import { UsageError } from '../../lib/errors.js';
import { defaultAmiParameter, readDefaultAmi, resolveAmi } from '../launch/spec.js';

export const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

type Ports = { ec2: Pick<Ec2Port, 'describeImages'>; ssm: Pick<SsmPort, 'getParameter' | 'putParameter' | 'deleteParameter'> };

export interface ImageSummary {
  imageId: string;
  name: string | null;
  state: string;
}

export interface DefaultAmi {
  parameter: string;
  /** The parameter's value; null when it is not set. */
  value: string | null;
  /** The image it names, as EC2 describes it now (null: not set, or not found in the region). */
  image: ImageSummary | null;
  /** What `ami: latest` resolves to now, and how. */
  latest: (ImageSummary & { source: string }) | null;
}

async function describe(ec2: Ports['ec2'], id: string): Promise<Sdk.Image | undefined> {
  try {
    // A filter: a deregistered or unknown id is simply absent (ImageIds would fail the call).
    return (await ec2.describeImages({ Filters: [{ Name: 'image-id', Values: [id] }], IncludeDeprecated: true })).Images?.[0];
  } catch (err) {
    if (isNotFound(err, 'ec2') || hasErrorCode(err, 'InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable')) return undefined;
    throw err;
  }
}

const summary = (i: Sdk.Image): ImageSummary => ({ imageId: i.ImageId!, name: i.Name ?? null, state: i.State ?? 'unknown' });

export async function showDefaultAmi(ports: Ports, stack: string): Promise<DefaultAmi> {
  const value = (await readDefaultAmi(ports.ssm, stack)) ?? null;
  const image = value ? await describe(ports.ec2, value) : undefined;
  const latest = await resolveAmi(ports, stack, 'latest');
  return {
    parameter: defaultAmiParameter(stack),
    value,
    image: image?.ImageId ? summary(image) : null,
    latest: latest ? { imageId: latest.imageId, name: latest.name ?? null, state: latest.state ?? 'unknown', source: latest.source } : null,
  };
}

/** Sets the default after checking the image exists in the region and is available (else exit 2, naming it). */
export async function setDefaultAmi(ports: Ports, stack: string, imageId: string, region: string): Promise<ImageSummary> {
  const image = await describe(ports.ec2, imageId);
  if (!image?.ImageId) {
    throw new UsageError(`AMI ${imageId} not found in ${region}: the default was not changed`, { code: 'AmiNotFound', hint: `AMIs are regional: use one in ${region} (\`fluxer ami list\` shows the stack's).` });
  }
  if (image.State !== 'available') {
    throw new UsageError(`AMI ${imageId} is ${image.State ?? 'not available'}${image.StateReason?.Message ? ` (${image.StateReason.Message})` : ''}, not available: the default was not changed`, {
      code: 'AmiNotAvailable',
      hint: image.State === 'pending' ? 'Wait until it is available (`fluxer ami list`), then set it again.' : 'Choose an available AMI: `fluxer ami list`.',
    });
  }
  await ports.ssm.putParameter({ Name: defaultAmiParameter(stack), Value: imageId, Type: 'String', DataType: 'aws:ec2:image', Overwrite: true, Description: `fluxer: the AMI new nodes of stack ${stack} launch from (fluxer ami default)` });
  return summary(image);
}

/** Removes the parameter; true when there was one. */
export async function clearDefaultAmi(ports: Ports, stack: string): Promise<boolean> {
  try {
    await ports.ssm.deleteParameter({ Name: defaultAmiParameter(stack) });
    return true;
  } catch (err) {
    if (isNotFound(err, 'ssm') || hasErrorCode(err, 'ParameterNotFound')) return false;
    throw err;
  }
}
