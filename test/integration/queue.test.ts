// `fluxer queue stats|redrive` against moto. Queues are made by `fluxer setup` with unique names.
import { mkdtempSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as sdk from '@aws-sdk/client-sqs';
import { describe, expect, inject, it } from 'vitest';
import { createSqsPort, type SqsPort } from '../../src/aws/sqs.js';
import { planRedrive, redrive, REDRIVE_COUNT_ATTRIBUTE, ORIGINAL_ID_ATTRIBUTE } from '../../src/core/queue.js';
import { fileJournal, redriveJournalPath } from '../../src/core/redrive-journal.js';
import { runCli, testEnv } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const endpoint = inject('motoEndpoint');
const client = new sdk.SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });

async function stackWithQueues() {
  const queue = `it-queue-${randomBytes(4).toString('hex')}`;
  const env = testEnv({ FLUXER_QUEUE_NAME: queue, FLUXER_BUCKET: `${queue}-bkt`, XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'fluxer-state-')) });
  const r = await runCli(['setup', '--endpoint-url', endpoint, '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  const [main, dlq] = JSON.parse(r.stdout).resources as Array<{ url: string }>;
  const cli = (...args: string[]) => runCli([...args, '--endpoint-url', endpoint], { env });
  return { queue, env, url: main!.url, dlqUrl: dlq!.url, cli };
}

async function sendMany(url: string, bodies: string[], extra: Partial<sdk.SendMessageBatchRequestEntry> = {}) {
  for (let i = 0; i < bodies.length; i += 10) {
    const entries = bodies.slice(i, i + 10).map((b, j) => ({ Id: `e${j}`, MessageBody: b, ...extra }));
    const r = await client.send(new sdk.SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
    expect(r.Failed ?? []).toEqual([]);
  }
}

async function depth(url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes: a = {} } = await client.send(new sdk.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  return { visible: Number(a.ApproximateNumberOfMessages), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible) };
}

async function drain(url: string): Promise<sdk.Message[]> {
  const all: sdk.Message[] = [];
  for (;;) {
    const { Messages = [] } = await client.send(
      new sdk.ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300, MessageAttributeNames: ['All'] }),
    );
    if (!Messages.length) return all;
    all.push(...Messages);
  }
}

const bodies = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${tag}-${i}` }));

describe('fluxer queue stats', () => {
  it('counts visible, in-flight, delayed and dead-lettered messages; age is n/a with the CloudWatch note', async () => {
    const s = await stackWithQueues();
    await sendMany(s.url, bodies(4, 'v'));
    await sendMany(s.url, bodies(1, 'd'), { DelaySeconds: 600 });
    await sendMany(s.dlqUrl, bodies(2, 'x'));
    await client.send(new sdk.ReceiveMessageCommand({ QueueUrl: s.url, MaxNumberOfMessages: 1, VisibilityTimeout: 600 }));

    const r = await s.cli('queue', 'stats', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.queue).toMatchObject({ name: s.queue, visible: 3, inFlight: 1, delayed: 1 });
    expect(doc.deadLetter).toMatchObject({ name: `${s.queue}-dlq`, visible: 2, inFlight: 0 });
    expect(doc.oldestMessageAgeSeconds).toBeNull();
    expect(doc.notes[0]).toContain('ApproximateAgeOfOldestMessage');

    const table = await s.cli('queue', 'stats');
    expect(table.stdout.split('\n')).toEqual(expect.arrayContaining(['METRIC\tVALUE', 'visible\t3', 'in flight\t1', 'delayed\t1', 'dead-letter\t2', 'oldest age\tn/a']));
    expect(table.stderr).toContain('aws cloudwatch get-metric-statistics');
  });

  it('a queue that does not exist: exit 1 with `fluxer setup` as the hint', async () => {
    const r = await runCli(['queue', 'stats', '--endpoint-url', endpoint], { env: testEnv({ FLUXER_QUEUE_NAME: 'it-queue-never-made' }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Queue it-queue-never-made does not exist');
    expect(r.stderr).toContain('fluxer setup');
  });
});

describe('fluxer queue redrive', () => {
  it('moves every DLQ message back exactly once, keeping body and attributes', async () => {
    const s = await stackWithQueues();
    const sent = bodies(25, 'r');
    await sendMany(s.dlqUrl, sent, { MessageAttributes: { origin: { DataType: 'String', StringValue: 'test' } } });

    const r = await s.cli('queue', 'redrive', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    // moto has no StartMessageMoveTask: the fallback did the work.
    expect(doc).toMatchObject({ method: 'receive-send-delete', before: 25, moved: 25, alreadyMoved: 0, failed: [], undeleted: 0 });
    expect(await depth(s.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(await depth(s.url)).toEqual({ visible: 25, inFlight: 0 });

    const moved = await drain(s.url);
    expect(moved.map((m) => m.Body).sort()).toEqual([...sent].sort());
    expect(moved.every((m) => m.MessageAttributes?.origin?.StringValue === 'test')).toBe(true);
    expect(moved.every((m) => m.MessageAttributes?.[REDRIVE_COUNT_ATTRIBUTE]?.StringValue === '1')).toBe(true);
    expect(new Set(moved.map((m) => m.MessageAttributes?.[ORIGINAL_ID_ATTRIBUTE]?.StringValue)).size).toBe(25);
  });

  it('refuses without --yes when not interactive: exit 2, nothing moved', async () => {
    const s = await stackWithQueues();
    await sendMany(s.dlqUrl, bodies(3, 'n'));
    const r = await s.cli('queue', 'redrive');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--yes');
    expect(await depth(s.dlqUrl)).toEqual({ visible: 3, inFlight: 0 });
    expect((await depth(s.url)).visible).toBe(0);
  });

  it('the refusal comes before any AWS call: a counting endpoint sees 0 requests (and --dry-run, which moves nothing, needs no --yes)', async () => {
    const s = await stackWithQueues();
    await sendMany(s.dlqUrl, bodies(2, 'c'));
    const counter = await startFaultProxy({ upstream: endpoint });
    try {
      const refused = await runCli(['queue', 'redrive', '--endpoint-url', counter.endpoint], { env: s.env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('needs --yes when not run interactively');
      expect(counter.requests).toHaveLength(0);

      const dry = await runCli(['queue', 'redrive', '--dry-run', '--endpoint-url', counter.endpoint], { env: s.env });
      expect(dry.code, dry.stderr).toBe(0);
      expect(counter.requests.length).toBeGreaterThan(0);
      expect(await depth(s.dlqUrl)).toEqual({ visible: 2, inFlight: 0 });
    } finally {
      await counter.stop();
    }
  });

  it('--dry-run says how many would move; --max moves only that many', async () => {
    const s = await stackWithQueues();
    await sendMany(s.dlqUrl, bodies(15, 'm'));
    const dry = await s.cli('queue', 'redrive', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`Would move about 15 message(s) from ${s.queue}-dlq to ${s.queue}`);
    expect((await depth(s.dlqUrl)).visible).toBe(15);

    const some = await s.cli('queue', 'redrive', '--max', '12', '--yes');
    expect(some.code, some.stderr).toBe(0);
    expect(some.stdout).toContain('Moved 12 message(s)');
    expect(await depth(s.dlqUrl)).toEqual({ visible: 3, inFlight: 0 });
    expect((await depth(s.url)).visible).toBe(12);

    const bad = await s.cli('queue', 'redrive', '--max', '0', '--yes');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max "0": must be an integer from 1 to 1000000');
  });

  it('a run that dies between send and delete is finished by the next run without sending twice', async () => {
    const s = await stackWithQueues();
    await sendMany(s.dlqUrl, bodies(7, 'c'));
    const real = createSqsPort(client, sdk);
    // The real port, except that deleting from the DLQ fails once (a crash or a lost connection there).
    let failDelete = true;
    const flaky: SqsPort = {
      ...real,
      deleteMessageBatch: async (input) => {
        if (failDelete) {
          failDelete = false;
          throw new Error('connection reset');
        }
        return real.deleteMessageBatch(input);
      },
    };
    const state = mkdtempSync(join(tmpdir(), 'fluxer-state-'));
    const journal = (src: { url: string; name: string }) => fileJournal(redriveJournalPath({ XDG_STATE_HOME: state }, src.url, src.name));
    const sleep = async () => {};

    const plan = await planRedrive(flaky, s.queue);
    await expect(redrive(flaky, plan, { journal, sleep, visibilityTimeout: 1 })).rejects.toThrow('connection reset');
    expect((await depth(s.url)).visible).toBe(7);
    expect(readdirSync(join(state, 'fluxer', 'redrive'))).toHaveLength(1);

    // the half-moved messages become visible again once their 1 s visibility runs out (an event: polled, bounded)
    const hidden = async () => Number((await real.getQueueAttributes({ QueueUrl: s.dlqUrl, AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] })).Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    for (const end = Date.now() + 10_000; (await hidden()) > 0; ) {
      if (Date.now() > end) throw new Error('the DLQ messages never became visible again');
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await redrive(flaky, await planRedrive(flaky, s.queue), { journal, sleep, visibilityTimeout: 1 });
    expect(second).toMatchObject({ moved: 0, alreadyMoved: 7 });
    expect(await depth(s.url)).toEqual({ visible: 7, inFlight: 0 });
    expect(await depth(s.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    // Finished: the journal is gone.
    expect(existsSync(redriveJournalPath({ XDG_STATE_HOME: state }, plan.source.url, plan.source.name))).toBe(false);
  });

  it('on a terminal it asks first; "no" moves nothing (exit 1)', async () => {
    const s = await stackWithQueues();
    await sendMany(s.dlqUrl, bodies(2, 'i'));
    const asked: string[] = [];
    const prompter = {
      confirm: async (message: string) => (asked.push(message), false),
      input: async () => '',
      select: async () => '' as never,
    };
    const r = await runCli(['queue', 'redrive', '--endpoint-url', endpoint], { env: s.env, tty: true, prompter });
    expect(r.code).toBe(1);
    expect(asked).toEqual([`Move about 2 message(s) from ${s.queue}-dlq back to ${s.queue}?`]);
    expect((await depth(s.dlqUrl)).visible).toBe(2);
  });

  it('an empty DLQ: nothing to do, no question asked (a script still needs --yes: it is refused before looking)', async () => {
    const s = await stackWithQueues();
    const r = await s.cli('queue', 'redrive', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Nothing to redrive');
    const asked = () => Promise.reject(new Error('no question should be asked for an empty DLQ'));
    const person = await runCli(['queue', 'redrive', '--endpoint-url', endpoint], { env: s.env, tty: true, prompter: { confirm: asked, input: asked, select: asked } as never });
    expect(person.code, person.stderr).toBe(0);
    expect(person.stdout).toContain('Nothing to redrive');
  });
});
