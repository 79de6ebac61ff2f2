// `fluxer setup`'s queues: the job queue and its dead-letter queue, created or corrected where they
// drifted (attributes, redrive policy, tags), read first so a second run changes nothing.
import { hasErrorCode } from '../aws/errors.js';
import type { SqsPort } from '../aws/sqs.js';
import { FluxerError } from '../lib/errors.js';
import type { SetupChange, SetupResource } from './setup.js';
import { queueUrlFor } from './stack-resources.js';

/**
 * A job received this many times is parked in the dead-letter queue instead of looping forever.
 * Receives count preemptions, drains and prefetch releases as well as failures
 * (docs/job-contract.md, "How many interruptions a job survives"), so it is sized for a few spot
 * interruptions in a row. An existing queue below it is drift; one above it was chosen and is kept.
 */
export const MAX_RECEIVE_COUNT = 10;

export interface QueueSpec {
  type: 'queue' | 'dead-letter-queue';
  name: string;
  attributes: Record<string, string>;
  redriveTo?: (ownArn: string | undefined) => string | undefined;
  dlqName?: string;
  tags: Record<string, string>;
  dryRun: boolean;
}

export async function ensureQueue(sqs: SqsPort, spec: QueueSpec): Promise<SetupResource> {
  const existingUrl = await queueUrlFor(sqs, spec.name);
  if (!existingUrl) {
    const attributes = { ...spec.attributes };
    const redriveArn = spec.redriveTo?.(undefined);
    if (redriveArn) attributes.RedrivePolicy = redrivePolicy(redriveArn);
    const changes: SetupChange[] = Object.entries(attributes).map(([setting, to]) => ({ setting, from: null, to }));
    // A dry run that would also create the DLQ has no ARN to show yet: name it instead.
    if (spec.redriveTo && !redriveArn) changes.push({ setting: 'RedrivePolicy', from: null, to: `${spec.dlqName} after ${MAX_RECEIVE_COUNT} receives` });
    if (spec.dryRun) return { type: spec.type, name: spec.name, action: 'would-create', changes };
    let url: string | undefined;
    try {
      url = (await sqs.createQueue({ QueueName: spec.name, Attributes: attributes, tags: spec.tags })).QueueUrl;
    } catch (err) {
      if (hasErrorCode(err, 'QueueDeletedRecently')) {
        throw new FluxerError(`Queue ${spec.name} was deleted less than 60 seconds ago; SQS does not allow re-creating it yet`, {
          code: 'QueueDeletedRecently',
          hint: 'Wait a minute and run `fluxer setup` again.',
          cause: err,
        });
      }
      throw err;
    }
    const arn = await queueArn(sqs, url!);
    return { type: spec.type, name: spec.name, url, arn, action: 'created', changes };
  }

  const current: Record<string, string | undefined> = (await sqs.getQueueAttributes({ QueueUrl: existingUrl, AttributeNames: ['All'] })).Attributes ?? {};
  const arn = current.QueueArn;
  const drift: Record<string, string> = {};
  const changes: SetupChange[] = [];
  for (const [key, want] of Object.entries(spec.attributes)) {
    if (current[key] !== want) {
      drift[key] = want;
      changes.push({ setting: key, from: current[key] ?? null, to: want });
    }
  }
  const redriveArn = spec.redriveTo?.(arn);
  if (redriveArn && !redriveMatches(current.RedrivePolicy, redriveArn)) {
    drift.RedrivePolicy = redrivePolicy(redriveArn, receivesOf(current.RedrivePolicy));
    changes.push({ setting: 'RedrivePolicy', from: current.RedrivePolicy ?? null, to: drift.RedrivePolicy });
  }
  const tags = (await sqs.listQueueTags({ QueueUrl: existingUrl })).Tags ?? {};
  const missingTags = Object.fromEntries(Object.entries(spec.tags).filter(([k, v]) => tags[k] !== v));
  for (const [k, v] of Object.entries(missingTags)) changes.push({ setting: `tag ${k}`, from: tags[k] ?? null, to: v });

  if (changes.length === 0) return { type: spec.type, name: spec.name, url: existingUrl, arn, action: 'unchanged', changes };
  if (spec.dryRun) return { type: spec.type, name: spec.name, url: existingUrl, arn, action: 'would-update', changes };
  if (Object.keys(drift).length) await sqs.setQueueAttributes({ QueueUrl: existingUrl, Attributes: drift });
  if (Object.keys(missingTags).length) await sqs.tagQueue({ QueueUrl: existingUrl, Tags: missingTags });
  return { type: spec.type, name: spec.name, url: existingUrl, arn, action: 'updated', changes };
}

async function queueArn(sqs: SqsPort, url: string): Promise<string | undefined> {
  return (await sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['QueueArn'] })).Attributes?.QueueArn;
}

/** A count above the default (the operator's choice) is kept when the policy is rewritten for its target. */
function redrivePolicy(dlqArn: string, currentReceives?: number): string {
  return JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: Math.max(MAX_RECEIVE_COUNT, currentReceives ?? 0) });
}

/** SQS echoes maxReceiveCount as a number or a string depending on the API version; compare values. */
function receivesOf(current: string | undefined): number | undefined {
  if (!current) return undefined;
  try {
    const n = Number((JSON.parse(current) as { maxReceiveCount?: number | string }).maxReceiveCount);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The policy points at the DLQ and redrives after at least MAX_RECEIVE_COUNT receives. */
function redriveMatches(current: string | undefined, dlqArn: string): boolean {
  if (!current) return false;
  try {
    const p = JSON.parse(current) as { deadLetterTargetArn?: string };
    return p.deadLetterTargetArn === dlqArn && (receivesOf(current) ?? 0) >= MAX_RECEIVE_COUNT;
  } catch {
    return false;
  }
}
