// The job queue as an operator sees it: depth numbers (`fluxer queue stats`) and moving parked jobs from
// the dead-letter queue back to the job queue (`fluxer queue redrive`).
import { isUnsupportedOperation } from '../aws/errors.js';
import type { SqsPort } from '../aws/sqs.js';
import { FluxerError, InterruptedError } from '../lib/errors.js';
import { dlqNameFor, queueUrlFor } from './stack-resources.js';

type Message = NonNullable<Awaited<ReturnType<SqsPort['receiveMessage']>>['Messages']>[number];
type MessageAttributeValue = NonNullable<Message['MessageAttributes']>[string];

export interface QueueRef {
  name: string;
  url: string;
  arn: string;
}

export interface QueueStats {
  queue: QueueRef & { visible: number; inFlight: number; delayed: number };
  deadLetter: (QueueRef & { visible: number; inFlight: number }) | null;
  /** Always null today: see OLDEST_AGE_NOTE. */
  oldestMessageAgeSeconds: number | null;
  notes: string[];
}

/**
 * SQS reports no message age through its own API; CloudWatch's ApproximateAgeOfOldestMessage is the
 * only honest source. Peeking (receive with VisibilityTimeout 0) would bump every message's receive
 * count and push jobs toward the dead-letter queue, so fluxer does not do it.
 */
export function oldestAgeNote(queueName: string, region: string): string {
  return (
    'oldest message age: n/a — SQS publishes it only to CloudWatch (ApproximateAgeOfOldestMessage, 1-minute periods): ' +
    `aws cloudwatch get-metric-statistics --region ${region} --namespace AWS/SQS --metric-name ApproximateAgeOfOldestMessage ` +
    `--dimensions Name=QueueName,Value=${queueName} --statistics Maximum --period 60 --start-time $(date -u -d '-5 min' +%FT%TZ) --end-time $(date -u +%FT%TZ)`
  );
}

async function requireQueue(sqs: SqsPort, name: string): Promise<string> {
  const url = await queueUrlFor(sqs, name);
  if (!url) {
    throw new FluxerError(`Queue ${name} does not exist`, { code: 'QueueDoesNotExist', hint: 'Create it with `fluxer setup`, or check the stack\'s queue name and region.' });
  }
  return url;
}

async function attributes(sqs: SqsPort, url: string): Promise<Record<string, string | undefined>> {
  return (await sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['All'] })).Attributes ?? {};
}

const count = (v: string | undefined) => Number(v ?? 0);

export async function queueStats(sqs: SqsPort, queueName: string, region: string): Promise<QueueStats> {
  const url = await requireQueue(sqs, queueName);
  const dlqName = dlqNameFor(queueName);
  const [main, dlqUrl] = await Promise.all([attributes(sqs, url), queueUrlFor(sqs, dlqName)]);
  const dlq = dlqUrl ? await attributes(sqs, dlqUrl) : undefined;
  const notes = [oldestAgeNote(queueName, region)];
  if (!dlqUrl) notes.push(`dead-letter queue ${dlqName} does not exist: run \`fluxer setup\` so failing jobs stop looping`);
  return {
    queue: {
      name: queueName,
      url,
      arn: main.QueueArn ?? '',
      visible: count(main.ApproximateNumberOfMessages),
      inFlight: count(main.ApproximateNumberOfMessagesNotVisible),
      delayed: count(main.ApproximateNumberOfMessagesDelayed),
    },
    deadLetter: dlqUrl && dlq ? { name: dlqName, url: dlqUrl, arn: dlq.QueueArn ?? '', visible: count(dlq.ApproximateNumberOfMessages), inFlight: count(dlq.ApproximateNumberOfMessagesNotVisible) } : null,
    oldestMessageAgeSeconds: null,
    notes,
  };
}

/**
 * Remembers DLQ messages that were sent to the job queue but not yet deleted from the DLQ, across runs,
 * so a retry after a crash (or a failed DeleteMessageBatch) deletes them instead of sending them twice.
 */
export interface RedriveJournal {
  has(dlqMessageId: string): boolean;
  add(dlqMessageIds: string[]): void;
  remove(dlqMessageIds: string[]): void;
}

export function memoryJournal(): RedriveJournal {
  const ids = new Set<string>();
  return { has: (id) => ids.has(id), add: (list) => list.forEach((id) => ids.add(id)), remove: (list) => list.forEach((id) => ids.delete(id)) };
}

/** The first DLQ MessageId a job had, carried along every redrive (for tracing and consumer dedupe). */
export const ORIGINAL_ID_ATTRIBUTE = 'fluxer-original-message-id';
export const REDRIVE_COUNT_ATTRIBUTE = 'fluxer-redrive-count';
/** SQS allows at most 10 message attributes; a message that already has 10 is moved without ours. */
const MAX_MESSAGE_ATTRIBUTES = 10;

export type RedriveMethod = 'message-move-task' | 'receive-send-delete';

export interface RedriveOptions {
  /** Move at most this many (forces receive-send-delete: StartMessageMoveTask has no count limit). */
  max?: number;
  /** The journal for this DLQ (default: in memory, i.e. no protection across runs). */
  journal?: (source: QueueRef) => RedriveJournal;
  signal?: AbortSignal;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  onProgress?: (moved: number, method: RedriveMethod) => void;
  /** How long a received DLQ message stays hidden while it is sent and deleted. */
  visibilityTimeout?: number;
}

export interface RedriveResult extends RedrivePlan {
  method: RedriveMethod | null;
  moved: number;
  /** Sent by an earlier, interrupted run: deleted from the DLQ now, not sent again. */
  alreadyMoved: number;
  /** Could not be sent (still in the DLQ, visible again after the visibility timeout). */
  failed: Array<{ messageId: string; reason: string }>;
  /** Sent but not yet deleted from the DLQ (the journal keeps them; a re-run deletes them). */
  undeleted: number;
  taskHandle?: string;
}

export interface RedrivePlan {
  source: QueueRef;
  destination: QueueRef;
  /** DLQ depth now (approximate, as SQS reports it): visible messages. */
  before: number;
  /** DLQ messages received by someone and not yet deleted or visible again. */
  inFlight: number;
}

/** Reads only: both queues and how many messages wait in the DLQ. */
export async function planRedrive(sqs: SqsPort, queueName: string): Promise<RedrivePlan> {
  const dlqName = dlqNameFor(queueName);
  const [url, dlqUrl] = await Promise.all([requireQueue(sqs, queueName), requireQueue(sqs, dlqName)]);
  const [main, dlq] = await Promise.all([attributes(sqs, url), attributes(sqs, dlqUrl)]);
  return {
    source: { name: dlqName, url: dlqUrl, arn: dlq.QueueArn ?? '' },
    destination: { name: queueName, url, arn: main.QueueArn ?? '' },
    before: count(dlq.ApproximateNumberOfMessages),
    inFlight: count(dlq.ApproximateNumberOfMessagesNotVisible),
  };
}

/**
 * Moves the DLQ's messages back to the job queue: SQS's own StartMessageMoveTask where it exists (and no
 * --max is asked for), else receive → SendMessageBatch → DeleteMessageBatch, 10 at a time. A message is
 * deleted from the DLQ only after the job queue accepted it, and its id is journaled between the two
 * calls, so an interrupted run loses nothing and its retry does not send it again.
 */
export async function redrive(sqs: SqsPort, plan: RedrivePlan, opts: RedriveOptions): Promise<RedriveResult> {
  const result: RedriveResult = { ...plan, method: null, moved: 0, alreadyMoved: 0, failed: [], undeleted: 0 };
  if (opts.max === undefined && plan.before > 0) {
    try {
      return await moveTask(sqs, result, opts);
    } catch (err) {
      if (!isUnsupportedOperation(err)) throw err;
      // Emulators (moto) and some partitions lack the move-task API: do it by hand, just as safely.
    }
  }
  // Even with an approximate depth of 0, a journal left by an interrupted run may need finishing.
  return receiveSendDelete(sqs, result, opts);
}

async function moveTask(sqs: SqsPort, result: RedriveResult, opts: RedriveOptions): Promise<RedriveResult> {
  const { TaskHandle } = await sqs.startMessageMoveTask({ SourceArn: result.source.arn, DestinationArn: result.destination.arn });
  result.method = 'message-move-task';
  result.taskHandle = TaskHandle;
  for (;;) {
    const { Results } = await sqs.listMessageMoveTasks({ SourceArn: result.source.arn, MaxResults: 1 });
    const task = Results?.find((t) => t.TaskHandle === TaskHandle) ?? Results?.[0];
    result.moved = task?.ApproximateNumberOfMessagesMoved ?? result.moved;
    opts.onProgress?.(result.moved, 'message-move-task');
    if (task && task.Status !== 'RUNNING' && task.Status !== 'CANCELLING') {
      if (task.Status === 'FAILED') throw new FluxerError(`The message move task failed: ${task.FailureReason ?? 'no reason given'}`, { code: 'MessageMoveTaskFailed' });
      return result;
    }
    if (opts.signal?.aborted) {
      throw new InterruptedError('Stopped waiting; the move task keeps running in SQS', {
        hint: `Follow it with \`aws sqs list-message-move-tasks --source-arn ${result.source.arn}\`.`,
      });
    }
    await opts.sleep(2000, opts.signal).catch(() => undefined);
  }
}

async function receiveSendDelete(sqs: SqsPort, result: RedriveResult, opts: RedriveOptions): Promise<RedriveResult> {
  result.method = 'receive-send-delete';
  const journal = opts.journal?.(result.source) ?? memoryJournal();
  const movedThisRun = new Set<string>();
  const limit = opts.max ?? Number.POSITIVE_INFINITY;
  while (result.moved < limit && !opts.signal?.aborted) {
    const { Messages = [] } = await sqs.receiveMessage({
      QueueUrl: result.source.url,
      MaxNumberOfMessages: Math.min(10, limit - result.moved),
      // Long polling (1 s) asks every SQS server; short polling may answer "empty" with messages left.
      WaitTimeSeconds: 1,
      VisibilityTimeout: opts.visibilityTimeout ?? 120,
      MessageAttributeNames: ['All'],
    });
    if (Messages.length === 0) break;

    // Already sent by an interrupted run: only the delete is missing.
    const sentBefore = Messages.filter((m) => journal.has(m.MessageId!));
    // Sent by this very run, failed again on the job queue and parked again: leave it, or we would loop.
    const bounced = Messages.filter((m) => !journal.has(m.MessageId!) && movedThisRun.has(originalId(m)));
    const toSend = Messages.filter((m) => !sentBefore.includes(m) && !bounced.includes(m));

    const sent: Message[] = [];
    if (toSend.length) {
      const byEntry = new Map(toSend.map((m, i) => [`m${i}`, m]));
      const { Successful = [], Failed = [] } = await sqs.sendMessageBatch({
        QueueUrl: result.destination.url,
        Entries: [...byEntry].map(([Id, m]) => ({ Id, MessageBody: m.Body!, MessageAttributes: redriveAttributes(m) })),
      });
      for (const s of Successful) sent.push(byEntry.get(s.Id!)!);
      for (const f of Failed) result.failed.push({ messageId: byEntry.get(f.Id!)!.MessageId!, reason: `${f.Code}: ${f.Message ?? ''}`.trim() });
      // Written before the delete: from here on a crash cannot cause a second send.
      journal.add(sent.map((m) => m.MessageId!));
      for (const m of sent) movedThisRun.add(originalId(m));
    }

    const toDelete = [...sent, ...sentBefore];
    if (toDelete.length) {
      const byEntry = new Map(toDelete.map((m, i) => [`d${i}`, m]));
      const { Successful = [], Failed = [] } = await sqs.deleteMessageBatch({
        QueueUrl: result.source.url,
        Entries: [...byEntry].map(([Id, m]) => ({ Id, ReceiptHandle: m.ReceiptHandle! })),
      });
      journal.remove(Successful.map((s) => byEntry.get(s.Id!)!.MessageId!));
      result.undeleted += Failed.length;
    }
    result.moved += sent.length;
    result.alreadyMoved += sentBefore.length;
    opts.onProgress?.(result.moved, 'receive-send-delete');
    if (sent.length === 0 && sentBefore.length === 0) break; // nothing but bounced or failed messages left
  }
  if (opts.signal?.aborted) {
    throw new InterruptedError(`Interrupted after moving ${result.moved} message(s)`, {
      hint: 'Run `fluxer queue redrive` again to move the rest: nothing was lost, and nothing already moved is sent twice.',
    });
  }
  return result;
}

function originalId(m: Message): string {
  return m.MessageAttributes?.[ORIGINAL_ID_ATTRIBUTE]?.StringValue ?? m.MessageId!;
}

/** The message's own attributes, plus where it came from and how many times it was redriven. */
function redriveAttributes(m: Message): Record<string, MessageAttributeValue> {
  const own = { ...(m.MessageAttributes ?? {}) };
  const times = Number(own[REDRIVE_COUNT_ATTRIBUTE]?.StringValue ?? 0) + 1;
  const ours: Record<string, MessageAttributeValue> = {
    [ORIGINAL_ID_ATTRIBUTE]: { DataType: 'String', StringValue: originalId(m) },
    [REDRIVE_COUNT_ATTRIBUTE]: { DataType: 'Number', StringValue: String(times) },
  };
  const merged = { ...own, ...ours };
  return Object.keys(merged).length <= MAX_MESSAGE_ATTRIBUTES ? merged : own;
}
