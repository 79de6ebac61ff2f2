// `fluxer generate` when SendMessage fails on the wire. A fault proxy (test/support/fault-proxy.ts)
// stands between the CLI and moto and, chosen by prompt, either fails a SendMessageBatch call without
// passing it on, or passes it on (the messages are enqueued) and then answers 500, as a send that
// timed out after arriving; in that second case it first writes `running` for one job, as the node
// that already received it would. The CLI must then print one JSON document, leave no `queued`
// status for a job it did not send, and keep the `running` one (its delete is If-Match: 412).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { jsonError, startFaultProxy, type FaultProxy, type ProxiedRequest } from '../support/fault-proxy.js';

const moto = inject('motoEndpoint');
const cfg = { region: 'us-east-1', endpoint: moto, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 };
const s3 = new S3Client({ ...cfg, forcePathStyle: true });
const sqs = new SQSClient(cfg);
let proxy: FaultProxy;

beforeAll(async () => {
  proxy = await startFaultProxy({ upstream: moto });
});
afterAll(() => proxy.stop());

async function stack() {
  const suffix = randomBytes(4).toString('hex');
  // Its own stack name: setup names the node role after the stack, and files run setup in parallel.
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-gen-fail-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: `genfail-${suffix}`, stacks: { [`genfail-${suffix}`]: {} } }));
  const bucket = `gen-fail-bkt-${suffix}`;
  const env = testEnv({ FLUXER_QUEUE_NAME: `gen-fail-q-${suffix}`, FLUXER_BUCKET: bucket, FLUXER_MODEL: 'tiny', USER: 'tester' });
  const setup = await runCli(['setup', '--json', '--endpoint-url', moto], { env, cwd });
  expect(setup.code, setup.stderr).toBe(0);
  const queueUrl: string = JSON.parse(setup.stdout).resources.find((r: { type: string }) => r.type === 'queue').url;
  return {
    bucket,
    cwd,
    run: (argv: string[]) => runCli([...argv, '--endpoint-url', proxy.endpoint], { env, cwd }),
    async status(id: string): Promise<any> {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `fluxer/jobs/${id}/status.json` }));
        return JSON.parse(await out.Body!.transformToString());
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async depth(): Promise<number> {
      const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
      return Number(out.Attributes?.ApproximateNumberOfMessages);
    },
    /** What the node that received the message writes first. */
    markRunning: (id: string) =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: `fluxer/jobs/${id}/status.json`, Body: JSON.stringify({ id, state: 'running', attempt: 1, seq: 1 }) })),
  };
}

/** The jobs a send call carries: SendMessage (one) or SendMessageBatch (its entries). */
function jobsIn(req: ProxiedRequest): Array<{ id: string; prompt: string }> {
  const body = JSON.parse(req.body.toString('utf8')) as { MessageBody?: string; Entries?: Array<{ MessageBody: string }> };
  return (body.Entries ?? [{ MessageBody: body.MessageBody! }]).map((e) => JSON.parse(e.MessageBody));
}

const isSend = (req: ProxiedRequest) => req.target === 'AmazonSQS.SendMessageBatch' || req.target === 'AmazonSQS.SendMessage';

describe('generate when sends fail', () => {
  it('--batch --json: exactly one JSON document; unsent jobs leave no queued status; a job a node already took keeps its status', async () => {
    const s = await stack();
    let runningId: string | undefined;
    proxy.intercept = async (req, forward) => {
      if (!isSend(req)) return undefined;
      const jobs = jobsIn(req);
      if (jobs.some((j) => j.prompt.startsWith('drop'))) return jsonError(500, 'InternalError', 'We encountered an internal error. Please try again.');
      if (jobs.some((j) => j.prompt.startsWith('lost'))) {
        const reply = await forward();
        expect(reply.status).toBe(200);
        runningId = jobs[0]!.id;
        await s.markRunning(runningId);
        return jsonError(500, 'InternalError', 'the answer was lost after the messages were enqueued');
      }
      return undefined;
    };
    const lines = [...Array.from({ length: 10 }, (_, i) => `ok ${i}`), ...Array.from({ length: 10 }, (_, i) => `drop ${i}`), ...Array.from({ length: 3 }, (_, i) => `lost ${i}`)];
    writeFileSync(join(s.cwd, 'mixed.txt'), lines.join('\n'));
    const r = await s.run(['generate', '--batch', 'mixed.txt', '--json']);
    proxy.intercept = undefined;

    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout); // throws on two documents
    expect(doc.sent).toHaveLength(10);
    expect(doc.failed).toHaveLength(13);
    expect(doc.error).toMatchObject({ code: 'BatchPartiallySent', exitCode: 1 });
    expect(r.stderr).toContain('Error: 13 of 23 jobs could not be sent');

    for (const id of doc.sent) expect((await s.status(id))?.state).toBe('queued');
    const kept = doc.failed.filter((f: any) => f.status === 'kept');
    expect(kept.map((f: any) => f.id)).toEqual([runningId]);
    expect((await s.status(runningId!)).state).toBe('running');
    for (const f of doc.failed.filter((x: any) => x.id !== runningId)) {
      expect(f).toMatchObject({ code: 'InternalError', status: 'removed' });
      expect(await s.status(f.id)).toBeUndefined();
    }
    expect(r.stderr).toContain(`not sent: ${runningId}: InternalError`);
    // The 'lost' chunk did reach the queue: 10 ok + 3 lost.
    expect(await s.depth()).toBe(13);
  });

  it('one job whose SendMessage fails: exit 1, one error document, and its queued status is gone', async () => {
    const s = await stack();
    let id: string | undefined;
    proxy.intercept = (req) => {
      if (!isSend(req)) return undefined;
      id = jobsIn(req)[0]!.id;
      return jsonError(500, 'InternalError', 'We encountered an internal error. Please try again.');
    };
    const r = await s.run(['generate', 'a fox', '--json']);
    proxy.intercept = undefined;
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.message).toContain('its queued status was removed');
    expect(id).toBeDefined();
    expect(await s.status(id!)).toBeUndefined();
    expect(await s.depth()).toBe(0);
  });
});
