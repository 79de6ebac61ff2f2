// S3: job status documents, images, node records, releases, model weights. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-s3';

export interface S3Port {
  headBucket(input: Sdk.HeadBucketCommandInput): Promise<Sdk.HeadBucketCommandOutput>;
  getPublicAccessBlock(input: Sdk.GetPublicAccessBlockCommandInput): Promise<Sdk.GetPublicAccessBlockCommandOutput>;
  createBucket(input: Sdk.CreateBucketCommandInput): Promise<Sdk.CreateBucketCommandOutput>;
  putPublicAccessBlock(input: Sdk.PutPublicAccessBlockCommandInput): Promise<Sdk.PutPublicAccessBlockCommandOutput>;
  getBucketEncryption(input: Sdk.GetBucketEncryptionCommandInput): Promise<Sdk.GetBucketEncryptionCommandOutput>;
  putBucketEncryption(input: Sdk.PutBucketEncryptionCommandInput): Promise<Sdk.PutBucketEncryptionCommandOutput>;
  getBucketLifecycleConfiguration(input: Sdk.GetBucketLifecycleConfigurationCommandInput): Promise<Sdk.GetBucketLifecycleConfigurationCommandOutput>;
  putBucketLifecycleConfiguration(input: Sdk.PutBucketLifecycleConfigurationCommandInput): Promise<Sdk.PutBucketLifecycleConfigurationCommandOutput>;
  getBucketTagging(input: Sdk.GetBucketTaggingCommandInput): Promise<Sdk.GetBucketTaggingCommandOutput>;
  putBucketTagging(input: Sdk.PutBucketTaggingCommandInput): Promise<Sdk.PutBucketTaggingCommandOutput>;
  // Jobs (generate, jobs *): status documents, images, cancel markers, node records.
  putObject(input: Sdk.PutObjectCommandInput): Promise<Sdk.PutObjectCommandOutput>;
  getObject(input: Sdk.GetObjectCommandInput): Promise<Sdk.GetObjectCommandOutput>;
  /** Withdrawing a queued status whose message was not sent: always with IfMatch (the ETag written). */
  deleteObject(input: Sdk.DeleteObjectCommandInput): Promise<Sdk.DeleteObjectCommandOutput>;
  listObjectsV2(input: Sdk.ListObjectsV2CommandInput): Promise<Sdk.ListObjectsV2CommandOutput>;
  /** ListObjectsV2 plus the response's `Date` header: S3's own clock, to compare with LastModified. */
  listObjectsV2Dated(input: Sdk.ListObjectsV2CommandInput): Promise<Sdk.ListObjectsV2CommandOutput & { serverDate?: Date }>;
  /** GetObject plus the response's `Date` header (S3's clock, to compare with LastModified). */
  getObjectDated(input: Sdk.GetObjectCommandInput): Promise<Sdk.GetObjectCommandOutput & { serverDate?: Date }>;
  // Model weights (models push): whether a file is already there (size and `sha256` metadata), and
  // multipart uploads for large files, with their clean-up.
  headObject(input: Sdk.HeadObjectCommandInput): Promise<Sdk.HeadObjectCommandOutput>;
  createMultipartUpload(input: Sdk.CreateMultipartUploadCommandInput): Promise<Sdk.CreateMultipartUploadCommandOutput>;
  uploadPart(input: Sdk.UploadPartCommandInput): Promise<Sdk.UploadPartCommandOutput>;
  completeMultipartUpload(input: Sdk.CompleteMultipartUploadCommandInput): Promise<Sdk.CompleteMultipartUploadCommandOutput>;
  abortMultipartUpload(input: Sdk.AbortMultipartUploadCommandInput): Promise<Sdk.AbortMultipartUploadCommandOutput>;
  listMultipartUploads(input: Sdk.ListMultipartUploadsCommandInput): Promise<Sdk.ListMultipartUploadsCommandOutput>;
}

export function createS3Port(client: Sdk.S3Client, sdk: typeof Sdk): S3Port {
  return {
    headBucket: (input) => client.send(new sdk.HeadBucketCommand(input)),
    getPublicAccessBlock: (input) => client.send(new sdk.GetPublicAccessBlockCommand(input)),
    createBucket: (input) => client.send(new sdk.CreateBucketCommand(input)),
    putPublicAccessBlock: (input) => client.send(new sdk.PutPublicAccessBlockCommand(input)),
    getBucketEncryption: (input) => client.send(new sdk.GetBucketEncryptionCommand(input)),
    putBucketEncryption: (input) => client.send(new sdk.PutBucketEncryptionCommand(input)),
    getBucketLifecycleConfiguration: (input) => client.send(new sdk.GetBucketLifecycleConfigurationCommand(input)),
    putBucketLifecycleConfiguration: (input) => client.send(new sdk.PutBucketLifecycleConfigurationCommand(input)),
    getBucketTagging: (input) => client.send(new sdk.GetBucketTaggingCommand(input)),
    putBucketTagging: (input) => client.send(new sdk.PutBucketTaggingCommand(input)),
    putObject: (input) => client.send(new sdk.PutObjectCommand(input)),
    getObject: (input) => client.send(new sdk.GetObjectCommand(input)),
    deleteObject: (input) => client.send(new sdk.DeleteObjectCommand(input)),
    listObjectsV2: (input) => client.send(new sdk.ListObjectsV2Command(input)),
    listObjectsV2Dated: (input) => sendDated(client, new sdk.ListObjectsV2Command(input)),
    getObjectDated: (input) => sendDated(client, new sdk.GetObjectCommand(input)),
    headObject: (input) => client.send(new sdk.HeadObjectCommand(input)),
    createMultipartUpload: (input) => client.send(new sdk.CreateMultipartUploadCommand(input)),
    uploadPart: (input) => client.send(new sdk.UploadPartCommand(input)),
    completeMultipartUpload: (input) => client.send(new sdk.CompleteMultipartUploadCommand(input)),
    abortMultipartUpload: (input) => client.send(new sdk.AbortMultipartUploadCommand(input)),
    listMultipartUploads: (input) => client.send(new sdk.ListMultipartUploadsCommand(input)),
  };
}

/** Sends a command and keeps the response's `Date` header: S3's own clock at the time of the answer. */
async function sendDated<O extends object>(
  client: Sdk.S3Client,
  command: { middlewareStack: { add: (mw: never, opts: { step: 'deserialize'; name: string }) => void } },
): Promise<O & { serverDate?: Date }> {
  let serverDate: Date | undefined;
  const middleware = (next: (args: unknown) => Promise<{ response: unknown }>) => async (args: unknown) => {
    const result = await next(args);
    const date = (result.response as { headers?: Record<string, string> }).headers?.date;
    const ms = date ? Date.parse(date) : NaN;
    if (Number.isFinite(ms)) serverDate = new Date(ms);
    return result;
  };
  command.middlewareStack.add(middleware as never, { step: 'deserialize', name: 'fluxerServerDate' });
  const out = (await client.send(command as never)) as O;
  return { ...out, serverDate };
}
