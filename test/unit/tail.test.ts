// The tail state machine and its text, fed status documents the way a poll would see them. (The
// real runtime drives the same code in test/integration/generate-e2e.test.ts.)
import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../../src/core/jobs.js';
import { JobTracker, batchCounts, batchLine, progressBar, progressLine, tailJobs, type TailEvent } from '../../src/core/tail.js';
import type { S3Port } from '../../src/aws/s3.js';

const ID = '01a226b4-439a-707c-b2b3-4623f819bcce';
let tick = 0;
function doc(state: JobStatus['state'], extra: Partial<JobStatus> = {}): JobStatus {
  tick += 1;
  return { id: ID, state, attempt: 1, updatedAt: `2026-11-29T10:00:${String(tick).padStart(2, '0')}.000Z`, node: { instanceId: 'i-0abc' }, ...extra };
}
const progress = (image: number, step: number, count = 2, steps = 4) => ({ image, step, count, steps });

function feed(tracker: JobTracker, docs: JobStatus[]): string[] {
  const lines: string[] = [];
  docs.forEach((d, i) => {
    for (const e of tracker.observe(d, i * 100)) {
      const line = progressLine(e, tracker, i * 100);
      lines.push(line ?? `output ${(e as Extract<TailEvent, { kind: 'output' }>).key}`);
    }
  });
  return lines;
}

describe('JobTracker', () => {
  it('turns documents into ordered lines: states, progress, outputs', () => {
    const t = new JobTracker(ID);
    const lines = feed(t, [
      doc('queued', { node: undefined }),
      doc('running', { progress: progress(1, 0) }),
      doc('running', { progress: progress(1, 2) }),
      doc('running', { progress: progress(2, 1), outputs: ['p/jobs/x/image-0.png'] }),
      doc('succeeded', { progress: progress(2, 4), outputs: ['p/jobs/x/image-0.png', 'p/jobs/x/image-1.png'] }),
    ]);
    expect(lines).toEqual([
      'queued',
      'running  attempt 1  node i-0abc',
      'running  image 1/2 step 2/4  node i-0abc',
      'running  image 2/2 step 1/4  node i-0abc',
      'output p/jobs/x/image-0.png',
      'succeeded  2 images  in 0.3s  node i-0abc',
      'output p/jobs/x/image-1.png',
    ]);
    expect(t.done).toBe(true);
  });

  it('progress never goes back within an attempt, and an unchanged document adds nothing', () => {
    const t = new JobTracker(ID);
    const same = doc('running', { progress: progress(1, 3) });
    const lines = feed(t, [same, same, doc('running', { progress: progress(1, 2) }), doc('running', { progress: progress(1, 4) })]);
    expect(lines).toEqual(['running  attempt 1  node i-0abc', 'running  image 1/2 step 3/4  node i-0abc', 'running  image 1/2 step 4/4  node i-0abc']);
  });

  it('a document older than the last one seen is ignored', () => {
    const t = new JobTracker(ID);
    const older = doc('queued');
    const newer = doc('running');
    expect(feed(t, [newer, older])).toEqual(['running  attempt 1  node i-0abc']);
  });

  it('requeued is not terminal; the next attempt starts its progress again', () => {
    const t = new JobTracker(ID);
    const lines = feed(t, [
      doc('running', { progress: progress(1, 3) }),
      doc('requeued', { node: { instanceId: 'i-spot1' } }),
      doc('running', { attempt: 2, node: { instanceId: 'i-spot2' }, progress: progress(1, 1) }),
    ]);
    expect(lines).toEqual([
      'running  attempt 1  node i-0abc',
      'running  image 1/2 step 3/4  node i-0abc',
      'requeued  attempt 1 released by node i-spot1; waiting for another node',
      'running  attempt 2  node i-spot2',
      'running  image 1/2 step 1/4  node i-spot2',
    ]);
    expect(t.done).toBe(false);
  });

  it('failed, rejected, cancelled carry the reason', () => {
    const t = new JobTracker(ID);
    expect(feed(t, [doc('failed', { error: { type: 'OutOfMemory', message: 'CUDA out of memory' } })])).toEqual(['failed  OutOfMemory: CUDA out of memory']);
    expect(t.done).toBe(true);
  });

  it('ETA from the rate seen so far', () => {
    const t = new JobTracker(ID);
    t.observe(doc('running', { progress: progress(1, 1, 1, 10) }), 0);
    expect(t.etaMs(0)).toBeUndefined();
    t.observe(doc('running', { progress: progress(1, 3, 1, 10) }), 1000);
    // 2 steps per second, 7 left.
    expect(t.etaMs(1000)).toBe(3500);
    expect(progressBar(t, 1000, 10)).toBe('[███░░░░░░░] image 1/1 step 3/10  1.0s  ETA 3.5s  node i-0abc');
  });
});

describe('batch view', () => {
  it('counts jobs by outcome', () => {
    const ts = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'requeued'].map((s) => {
      const t = new JobTracker(ID);
      t.observe(doc(s as JobStatus['state']), 0);
      return t;
    });
    ts.push(new JobTracker(ID));
    const c = batchCounts(ts);
    expect(c).toEqual({ total: 7, queued: 3, running: 1, succeeded: 1, failed: 2 });
    expect(batchLine(c)).toBe('3/7 done  1 running  3 queued  2 failed');
  });
});

describe('tailJobs loop', () => {
  function fakeS3(docs: JobStatus[]): S3Port {
    let i = 0;
    return {
      getObject: async () => {
        const d = docs[Math.min(i++, docs.length - 1)]!;
        return { ETag: `"${i}"`, Body: { transformToString: async () => JSON.stringify(d) } };
      },
    } as unknown as S3Port;
  }
  const clock = () => {
    let now = 0;
    return { now: () => now, sleep: async (ms: number) => void (now += ms) };
  };

  it('stops when every job is terminal', async () => {
    const events: string[] = [];
    const r = await tailJobs([ID], {
      s3: fakeS3([doc('queued'), doc('running'), doc('succeeded', { outputs: ['k'] })]),
      loc: { bucket: 'b', prefix: '' },
      clock: clock(),
      signal: new AbortController().signal,
      onEvent: (_t, e) => events.push(e.kind === 'output' ? 'output' : e.kind === 'state' ? e.state : 'progress'),
    });
    expect(r.outcome).toBe('done');
    expect(events).toEqual(['queued', 'running', 'succeeded', 'output']);
  });

  it('the status the caller wrote (generate: queued) is the first event, even when the first poll already finds the job running', async () => {
    const events: string[] = [];
    const r = await tailJobs([ID], {
      s3: fakeS3([doc('running'), doc('succeeded')]),
      loc: { bucket: 'b', prefix: '' },
      clock: clock(),
      signal: new AbortController().signal,
      initial: new Map([[ID, doc('queued')]]),
      onEvent: (_t, e) => events.push(e.kind === 'state' ? e.state : e.kind),
    });
    expect(r.outcome).toBe('done');
    expect(events).toEqual(['queued', 'running', 'succeeded']);
  });

  it('times out while the job is still running, on the injected clock', async () => {
    const c = clock();
    const r = await tailJobs([ID], { s3: fakeS3([doc('running')]), loc: { bucket: 'b', prefix: '' }, clock: c, signal: new AbortController().signal, timeoutMs: 2000, onEvent: () => {} });
    expect(r.outcome).toBe('timeout');
    expect(c.now()).toBe(2000);
  });

  it('a failed read is retried on the next round; failures that persist end the wait with the error', async () => {
    let calls = 0;
    const flaky = {
      getObject: async () => {
        calls += 1;
        if (calls === 2) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return { ETag: `"${calls}"`, Body: { transformToString: async () => JSON.stringify(calls < 3 ? doc('running') : doc('succeeded')) } };
      },
    } as unknown as S3Port;
    const ok = await tailJobs([ID], { s3: flaky, loc: { bucket: 'b', prefix: '' }, clock: clock(), signal: new AbortController().signal, onEvent: () => {} });
    expect(ok.outcome).toBe('done');
    const down = { getObject: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' })) } as unknown as S3Port;
    await expect(tailJobs([ID], { s3: down, loc: { bucket: 'b', prefix: '' }, clock: clock(), signal: new AbortController().signal, onEvent: () => {}, maxConsecutiveFailures: 3 })).rejects.toThrow('ECONNREFUSED');
  });

  it('transient failures (5xx, throttling, dropped connections) are ridden out for the grace, then end the wait', async () => {
    // The fault suite saw `--wait` exit 1 on a run of S3 500s and hung-up sockets while the job went on.
    let calls = 0;
    const stormy = {
      getObject: async () => {
        calls += 1;
        if (calls <= 20) throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
        return { ETag: '"x"', Body: { transformToString: async () => JSON.stringify(doc('succeeded')) } };
      },
    } as unknown as S3Port;
    const ok = await tailJobs([ID], { s3: stormy, loc: { bucket: 'b', prefix: '' }, clock: clock(), signal: new AbortController().signal, onEvent: () => {} });
    expect(ok.outcome).toBe('done');
    const down = { getObject: async () => Promise.reject(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })) } as unknown as S3Port;
    const c = clock();
    await expect(tailJobs([ID], { s3: down, loc: { bucket: 'b', prefix: '' }, clock: c, signal: new AbortController().signal, onEvent: () => {}, transientGraceMs: 10_000 })).rejects.toThrow('socket hang up');
    expect(c.now()).toBeGreaterThanOrEqual(10_000);
  });

  it('an abort (Ctrl-C) ends the wait as interrupted', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await tailJobs([ID], { s3: fakeS3([doc('running')]), loc: { bucket: 'b', prefix: '' }, clock: clock(), signal: ac.signal, onEvent: () => {} });
    expect(r.outcome).toBe('interrupted');
  });
});
