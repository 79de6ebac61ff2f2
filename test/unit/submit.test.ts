// Batch submission logic with in-memory ports: moto never reports `Failed` batch entries, so the
// retry-then-report path is driven here (the moto-backed paths are in test/commands/generate.test.ts).
import { describe, expect, it } from 'vitest';
import type { S3Port } from '../../src/aws/s3.js';
import type { SqsPort } from '../../src/aws/sqs.js';
import { createUuidV7 } from '../../src/core/ids.js';
import type { Job } from '../../src/core/job.js';
import { describePosition, submitBatch } from '../../src/core/submit.js';

const make = createUuidV7();
const jobs = (n: number): Job[] =>
  Array.from({ length: n }, (_, i) => ({
    version: 1, id: make(), prompt: `p${i}`, model: 'tiny', width: 64, height: 64, steps: 4, guidance: 3.5, seed: i, count: 1,
    output: { bucket: 'b', prefix: '' }, submittedAt: '2026-11-29T10:00:00.000Z',
  }));

function ports(failFirst: (body: Job, attempt: number) => { Code: string; SenderFault: boolean } | undefined) {
  const log: string[] = [];
  const attempts = new Map<string, number>();
  const s3 = {
    putObject: async (input: { Key: string }) => {
      log.push(`status ${input.Key.split('/')[1]}`);
      return { ETag: `"etag-${input.Key.split('/')[1]}"` };
    },
    deleteObject: async (input: { Key: string; IfMatch?: string }) => {
      // Only ever conditional on the ETag the put returned.
      expect(input.IfMatch).toBe(`"etag-${input.Key.split('/')[1]}"`);
      log.push(`withdraw ${input.Key.split('/')[1]}`);
      return {};
    },
  } as unknown as S3Port;
  const sqs = {
    sendMessageBatch: async (input: { Entries: Array<{ Id: string; MessageBody: string }> }) => {
      const Failed: unknown[] = [];
      for (const e of input.Entries) {
        const job = JSON.parse(e.MessageBody) as Job;
        const n = (attempts.get(job.id) ?? 0) + 1;
        attempts.set(job.id, n);
        const f = failFirst(job, n);
        if (f) Failed.push({ Id: e.Id, ...f, Message: 'nope' });
        else log.push(`send ${job.id}`);
      }
      return { Successful: [], Failed };
    },
  } as unknown as SqsPort;
  return { s3, sqs, log, attempts };
}

describe('submitBatch', () => {
  it('every job\'s status is written before its message is sent; chunks of at most 10', async () => {
    const js = jobs(25);
    const p = ports(() => undefined);
    const r = await submitBatch({ ...p, queueUrl: 'q', loc: { bucket: 'b', prefix: '' } }, js);
    expect(r).toEqual({ sent: js.map((j) => j.id), failed: [] });
    for (const j of js) expect(p.log.indexOf(`status ${j.id}`)).toBeLessThan(p.log.indexOf(`send ${j.id}`));
  });

  it('Failed entries are retried; sender faults are not; what never went through is reported', async () => {
    const js = jobs(12);
    const p = ports((job, attempt) => (job.seed === 3 && attempt === 1 ? { Code: 'InternalError', SenderFault: false } : job.seed === 7 ? { Code: 'InvalidMessageContents', SenderFault: true } : undefined));
    const r = await submitBatch({ ...p, queueUrl: 'q', loc: { bucket: 'b', prefix: '' }, sleep: async () => {} }, js);
    expect(r.sent).toEqual(js.filter((j) => j.seed !== 7).map((j) => j.id));
    expect(r.failed).toEqual([{ id: js[7]!.id, code: 'InvalidMessageContents', message: 'nope', status: 'removed' }]);
    expect(p.log.filter((l) => l.startsWith('withdraw'))).toEqual([`withdraw ${js[7]!.id}`]);
    expect(p.attempts.get(js[3]!.id)).toBe(2);
    expect(p.attempts.get(js[7]!.id)).toBe(1);
  });

  it('a service failure that persists is reported after the retries', async () => {
    const js = jobs(2);
    const p = ports((job) => (job.seed === 0 ? { Code: 'ServiceUnavailable', SenderFault: false } : undefined));
    const r = await submitBatch({ ...p, queueUrl: 'q', loc: { bucket: 'b', prefix: '' }, sleep: async () => {} }, js, { retries: 2 });
    expect(r.failed.map((f) => f.code)).toEqual(['ServiceUnavailable']);
    expect(p.attempts.get(js[0]!.id)).toBe(3);
  });
});

describe('queue position text', () => {
  it('says how many jobs are ahead and how many nodes are live', () => {
    expect(describePosition({ messagesAhead: 0, inFlight: 0, liveNodes: 2 })).toBe('Queue: no jobs ahead; 2 live nodes');
    expect(describePosition({ messagesAhead: 12, inFlight: 2, liveNodes: 1 })).toBe('Queue: ~12 jobs ahead, 2 running; 1 live node');
    expect(describePosition({ messagesAhead: 1, inFlight: 0, liveNodes: 0 })).toMatch(/^Queue: ~1 job ahead; no live nodes/);
  });
});
