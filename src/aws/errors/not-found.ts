// "The thing asked for does not exist", in the words of each service.
import { awsErrorName, httpStatus } from './shape.js';

export type AwsService = 'sqs' | 's3' | 'iam' | 'ec2' | 'ssm' | 'quotas';

export const NOT_FOUND: Record<AwsService, (name: string, status: number | undefined) => boolean> = {
  sqs: (n) => n === 'QueueDoesNotExist' || n === 'AWS.SimpleQueueService.NonExistentQueue',
  // HEAD and GET of a missing key or bucket: the name when there is a body, else only the status.
  s3: (n, status) => n === 'NoSuchBucket' || n === 'NoSuchKey' || n === 'NotFound' || status === 404,
  iam: (n) => n === 'NoSuchEntity' || n === 'NoSuchEntityException',
  // EC2 names every missing thing InvalidX.NotFound (InvalidAMIID.NotFound, InvalidInstanceID.NotFound …).
  ec2: (n) => /^Invalid[A-Za-z]+\.NotFound$/.test(n) || n === 'InvalidLaunchTemplateName.NotFoundException' || n === 'InvalidLaunchTemplateId.NotFound',
  ssm: (n) => n === 'ParameterNotFound' || n === 'ParameterVersionNotFound' || n === 'InvocationDoesNotExist' || n === 'InvalidDocument',
  quotas: (n) => n === 'NoSuchResourceException',
};

/** "The thing asked for does not exist", in the words of that service. */
export function isNotFound(err: unknown, service: AwsService): boolean {
  return NOT_FOUND[service](awsErrorName(err), httpStatus(err));
}

export const isQueueMissing = (err: unknown): boolean => isNotFound(err, 'sqs');
