// Issue 8 item 1: the tracker orders documents by the writer's `seq`, falling back to attempt,
// state rank and progress; it never compares timestamps written by different machines.
import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../../src/core/jobs.js';
import { queuedStatus } from '../../src/core/jobs.js';
import { JobTracker } from '../../src/core/tail.js';

const ID = '01a226b4-439a-707c-b2b3-4623f819bcce';
const NODE_T0 = Date.parse('2026-11-29T10:00:00.000Z');
const at = (ms: number) => new Date(ms).toISOString();
const progress = (image: number, step: number) => ({ image, step, count: 1, steps: 4 });

function nodeDoc(state: JobStatus['state'], offsetS: number, extra: Partial<JobStatus> = {}): JobStatus {
  return { id: ID, state, attempt: 1, updatedAt: at(NODE_T0 + offsetS * 1000), ...extra };
}

for (const skewMin of [10, -10]) {
  for (const withSeq of [true, false]) {
    it(`a CLI clock ${skewMin > 0 ? 'ahead' : 'behind'} by 10 min still ends on succeeded (${withSeq ? 'with' : 'without'} seq)`, () => {
      const submittedAt = at(NODE_T0 + skewMin * 60_000);
      const queued = { ...queuedStatus({ id: ID, model: 'flux-schnell', steps: 4, count: 1, submittedAt }) };
      expect(queued.seq).toBe(0);
      if (!withSeq) delete queued.seq;
      const s = (n: number) => (withSeq ? { seq: n } : {});
      const t = new JobTracker(ID);
      const states: string[] = [];
      const docs = [
        queued,
        nodeDoc('running', 1, { ...s(1), progress: progress(1, 1) }),
        nodeDoc('running', 2, { ...s(2), progress: progress(1, 3) }),
        nodeDoc('succeeded', 3, { ...s(3), progress: progress(1, 4), outputs: ['p/jobs/x/image-0.png'] }),
      ];
      docs.forEach((d, i) => t.observe(d, i).forEach((e) => e.kind === 'state' && states.push(e.state)));
      expect(states).toEqual(['queued', 'running', 'succeeded']);
      expect(t.done).toBe(true);
    });
  }
}

describe('JobTracker ordering', () => {
  it('a document with a lower seq is dropped even when its updatedAt is later', () => {
    const t = new JobTracker(ID);
    t.observe(nodeDoc('running', 0, { seq: 5, progress: progress(1, 2) }), 0);
    expect(t.observe(nodeDoc('queued', 600, { seq: 0 }), 1)).toEqual([]);
    expect(t.state).toBe('running');
  });

  it('a higher seq wins even when its clock says it is older (another node, earlier clock)', () => {
    const t = new JobTracker(ID);
    t.observe(nodeDoc('requeued', 600, { seq: 4 }), 0);
    const events = t.observe(nodeDoc('running', -600, { seq: 5, attempt: 2 }), 1);
    expect(events.map((e) => e.kind)).toContain('state');
    expect(t.state).toBe('running');
  });

  it('without seq: a lower attempt, state rank or progress is dropped', () => {
    const t = new JobTracker(ID);
    t.observe(nodeDoc('running', 0, { attempt: 2, progress: progress(1, 3) }), 0);
    expect(t.observe(nodeDoc('requeued', 900, { attempt: 1 }), 1)).toEqual([]);
    expect(t.observe(nodeDoc('queued', 900, { attempt: 2 }), 2)).toEqual([]);
    expect(t.observe(nodeDoc('running', 900, { attempt: 2, progress: progress(1, 2) }), 3)).toEqual([]);
    expect(t.state).toBe('running');
    expect(t.observe(nodeDoc('succeeded', -900, { attempt: 2 }), 4).map((e) => e.kind)).toEqual(['state']);
  });
});
