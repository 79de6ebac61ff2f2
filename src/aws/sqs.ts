// SQS: the job queue and its dead-letter queue. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-sqs';

export interface SqsPort {
  getQueueUrl(input: Sdk.GetQueueUrlCommandInput): Promise<Sdk.GetQueueUrlCommandOutput>;
  getQueueAttributes(input: Sdk.GetQueueAttributesCommandInput): Promise<Sdk.GetQueueAttributesCommandOutput>;
}

export function createSqsPort(client: Sdk.SQSClient, sdk: typeof Sdk): SqsPort {
  return {
    getQueueUrl: (input) => client.send(new sdk.GetQueueUrlCommand(input)),
    getQueueAttributes: (input) => client.send(new sdk.GetQueueAttributesCommand(input)),
  };
}
