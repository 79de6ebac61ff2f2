// Redrive paths moto cannot exercise: SQS's own StartMessageMoveTask (moto lacks it) and telling
// "this API does not exist here" apart from a real failure. The port is a small stand-in answering
// with the shapes of the SQS API reference.
import { describe, expect, it } from 'vitest';
import type { SqsPort } from '../../src/aws/sqs.js';
import { FluxerError } from '../../src/lib/errors.js';
import { isUnsupportedOperation } from '../../src/aws/errors.js';
import { redrive, type RedrivePlan } from '../../src/core/queue.js';

const plan: RedrivePlan = {
  source: { name: 'q-dlq', url: 'https://sqs/q-dlq', arn: 'arn:aws:sqs:us-east-1:1:q-dlq' },
  destination: { name: 'q', url: 'https://sqs/q', arn: 'arn:aws:sqs:us-east-1:1:q' },
  before: 40,
  inFlight: 0,
};

function moveTaskPort(statuses: Array<{ Status: string; moved: number; FailureReason?: string }>, calls: string[]): SqsPort {
  return {
    startMessageMoveTask: async (input: { SourceArn: string; DestinationArn?: string }) => {
      calls.push(`start ${input.SourceArn} -> ${input.DestinationArn}`);
      return { TaskHandle: 'task-1', $metadata: {} };
    },
    listMessageMoveTasks: async () => {
      const s = statuses.shift()!;
      return { Results: [{ TaskHandle: 'task-1', Status: s.Status, ApproximateNumberOfMessagesMoved: s.moved, FailureReason: s.FailureReason }], $metadata: {} };
    },
    receiveMessage: async () => {
      calls.push('receive');
      return { Messages: [], $metadata: {} };
    },
  } as unknown as SqsPort;
}

describe('redrive with StartMessageMoveTask', () => {
  it('starts a task from the DLQ to the job queue and waits until it completes, reporting progress', async () => {
    const calls: string[] = [];
    const progress: number[] = [];
    const sleeps: number[] = [];
    const port = moveTaskPort([{ Status: 'RUNNING', moved: 10 }, { Status: 'RUNNING', moved: 30 }, { Status: 'COMPLETED', moved: 40 }], calls);
    const r = await redrive(port, plan, { sleep: async (ms) => void sleeps.push(ms), onProgress: (n) => progress.push(n) });
    expect(r).toMatchObject({ method: 'message-move-task', taskHandle: 'task-1', moved: 40 });
    expect(calls).toEqual(['start arn:aws:sqs:us-east-1:1:q-dlq -> arn:aws:sqs:us-east-1:1:q']);
    expect(progress).toEqual([10, 30, 40]);
    expect(sleeps).toEqual([2000, 2000]);
  });

  it('a failed task is an error with SQS\'s reason', async () => {
    const port = moveTaskPort([{ Status: 'FAILED', moved: 3, FailureReason: 'AccessDenied on the destination' }], []);
    const err = await redrive(port, plan, { sleep: async () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FluxerError);
    expect((err as Error).message).toContain('AccessDenied on the destination');
  });

  it('--max skips the task API (it has no count limit) and moves by hand', async () => {
    const calls: string[] = [];
    const r = await redrive(moveTaskPort([], calls), plan, { max: 5, sleep: async () => {} });
    expect(r.method).toBe('receive-send-delete');
    expect(calls).toEqual(['receive']);
  });
});

describe('isUnsupportedOperation', () => {
  const err = (name: string, status: number, message = name) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  it('an HTML 500 page (moto) or an unknown-operation name means "fall back"', () => {
    expect(isUnsupportedOperation(err('SyntaxError', 500, 'Unexpected token \'<\', "<!doctype "... is not valid JSON'))).toBe(true);
    expect(isUnsupportedOperation(err('UnsupportedOperation', 400))).toBe(true);
    expect(isUnsupportedOperation(err('InvalidAction', 400))).toBe(true);
  });
  it('a real AWS failure is not hidden behind the fallback', () => {
    expect(isUnsupportedOperation(err('AccessDenied', 403))).toBe(false);
    expect(isUnsupportedOperation(err('InternalError', 500))).toBe(false);
    expect(isUnsupportedOperation(err('InvalidParameterValue', 400))).toBe(false);
  });
});
