// S3: job status documents, images, node records. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-s3';

export interface S3Port {
  headBucket(input: Sdk.HeadBucketCommandInput): Promise<Sdk.HeadBucketCommandOutput>;
  getPublicAccessBlock(input: Sdk.GetPublicAccessBlockCommandInput): Promise<Sdk.GetPublicAccessBlockCommandOutput>;
}

export function createS3Port(client: Sdk.S3Client, sdk: typeof Sdk): S3Port {
  return {
    headBucket: (input) => client.send(new sdk.HeadBucketCommand(input)),
    getPublicAccessBlock: (input) => client.send(new sdk.GetPublicAccessBlockCommand(input)),
  };
}
