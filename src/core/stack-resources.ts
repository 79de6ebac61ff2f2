// The names and lookups of a stack's own resources (its queue, dead-letter queue and bucket), shared
// by setup, doctor, generate, jobs and queue, so each resolves them the same way.
import { isQueueMissing } from '../aws/errors.js';
import type { SqsPort } from '../aws/sqs.js';
import type { StackSettings } from '../config/schema.js';
import { UsageError } from '../lib/errors.js';
import type { JobLocation } from './jobs.js';

export function dlqNameFor(queueName: string): string {
  return `${queueName}-dlq`;
}

/** The queue's URL, or undefined when it does not exist. `ownerAccount`: a queue of another account. */
export async function queueUrlFor(sqs: Pick<SqsPort, 'getQueueUrl'>, name: string, ownerAccount?: string): Promise<string | undefined> {
  try {
    return (await sqs.getQueueUrl({ QueueName: name, ...(ownerAccount ? { QueueOwnerAWSAccountId: ownerAccount } : {}) })).QueueUrl;
  } catch (err) {
    if (isQueueMissing(err)) return undefined;
    throw err;
  }
}

/** The bucket is required by setup and every job command; anything else in the settings has a default. */
export function requireBucket(settings: Pick<StackSettings, 'bucket'>, stack: string): string {
  if (!settings.bucket) {
    throw new UsageError(`The stack "${stack}" has no bucket configured (setting "bucket")`, {
      code: 'BucketNotConfigured',
      hint: `Set "stacks.${stack}.bucket" in fluxer.config.json (\`fluxer init --stack ${stack} --bucket NAME --force\`), or FLUXER_BUCKET=NAME.`,
    });
  }
  return settings.bucket;
}

/** Where the stack's jobs live in S3: its bucket (required) and prefix. */
export function jobLocation(config: { settings: Pick<StackSettings, 'bucket' | 'prefix'>; stack: string }): JobLocation {
  return { bucket: requireBucket(config.settings, config.stack), prefix: config.settings.prefix };
}
