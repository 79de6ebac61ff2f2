import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import {
  checkRegions,
  combineOutcomes,
  evaluateQuota,
  evaluateUserData,
  outcomeFromError,
  runChecks,
  summarize,
  type Check,
} from '../../src/core/doctor.js';
import { quotaNeeds, spotQuotaFor } from '../../src/core/launch/quota.js';

describe('instance family → spot vCPU quota code', () => {
  it.each([
    ['g5.xlarge', 'L-3819A6DF'],
    ['g6e.12xlarge', 'L-3819A6DF'],
    ['g4dn.xlarge', 'L-3819A6DF'],
    ['gr6.4xlarge', 'L-3819A6DF'],
    ['vt1.3xlarge', 'L-3819A6DF'],
    ['p3.2xlarge', 'L-7212CCBC'],
    ['p4d.24xlarge', 'L-7212CCBC'],
    ['p5.48xlarge', 'L-C4BD4855'],
    ['p5en.48xlarge', 'L-C4BD4855'],
    ['f1.2xlarge', 'L-88CF9481'],
    ['m5.large', 'L-34B43A08'],
    ['c7gn.xlarge', 'L-34B43A08'],
    ['t3.micro', 'L-34B43A08'],
    ['im4gn.large', 'L-34B43A08'],
    ['inf2.xlarge', 'L-B5D1601B'],
    ['trn1.2xlarge', 'L-6B0D517C'],
    ['x2iedn.xlarge', 'L-E3A00192'],
  ])('%s counts against %s', (type, code) => {
    expect(spotQuotaFor(type)?.code).toBe(code);
  });

  it('types never sold as spot have no quota', () => {
    expect(spotQuotaFor('mac2.metal')).toBeUndefined();
    expect(spotQuotaFor('u-6tb1.metal')).toBeUndefined();
  });
});

describe('quota math', () => {
  it('one node needs the vCPUs of the largest type under each quota', () => {
    const { needs, unquoted } = quotaNeeds(new Map([['g5.xlarge', 4], ['g6e.2xlarge', 8], ['p4d.24xlarge', 96], ['mac2.metal', 12]]));
    expect(needs.map((n) => [n.quota.code, n.vcpusPerNode, n.largestType])).toEqual([
      ['L-3819A6DF', 8, 'g6e.2xlarge'],
      ['L-7212CCBC', 96, 'p4d.24xlarge'],
    ]);
    expect(unquoted).toEqual(['mac2.metal']);
  });

  const need = quotaNeeds(new Map([['g5.xlarge', 4]])).needs[0]!;

  it('fails below one node, with the quota code and how to raise it', () => {
    const o = evaluateQuota(need, 0, 'us-east-1');
    expect(o.status).toBe('fail');
    expect(o.detail).toContain('L-3819A6DF');
    expect(o.detail).toContain('room for 0 nodes');
    expect(o.hint).toContain('--quota-code L-3819A6DF --desired-value 8 --region us-east-1');
  });

  it('warns below two nodes, ok from two nodes up', () => {
    expect(evaluateQuota(need, 4, 'us-east-1').status).toBe('warn');
    expect(evaluateQuota(need, 7, 'us-east-1').status).toBe('warn');
    const ok = evaluateQuota(need, 8, 'us-east-1');
    expect(ok.status).toBe('ok');
    expect(ok.detail).toContain('room for 2 nodes');
    expect(ok.hint).toBeUndefined();
  });
});

describe('rows', () => {
  it('a row of several outcomes takes the worst status and keeps every detail', () => {
    const o = combineOutcomes([
      { status: 'ok', detail: 'a' },
      { status: 'fail', detail: 'b', hint: 'fix b' },
      { status: 'warn', detail: 'c', hint: 'fix c' },
    ]);
    expect(o).toEqual({ status: 'fail', detail: 'a; b; c', hint: 'fix b fix c' });
    expect(summarize([{ id: 'x', title: 'X', status: 'warn', detail: '', hint: null }])).toEqual({ ok: 0, warn: 1, fail: 0 });
  });

  it('AWS credential errors carry the hint that says what to do', () => {
    const expired = Object.assign(new Error('The security token included in the request is expired'), { name: 'ExpiredToken', $metadata: {} });
    expect(outcomeFromError(expired)).toMatchObject({ status: 'fail', hint: expect.stringContaining('aws sso login') });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(outcomeFromError(refused).hint).toContain('--endpoint-url');
  });

  it('regions: known names are ok, a spot region is named, unknown names warn', () => {
    expect(checkRegions({ region: 'us-east-1' })).toEqual({ status: 'ok', detail: 'queue, bucket and nodes in us-east-1' });
    expect(checkRegions({ region: 'us-east-1', spotRegion: 'us-west-2' }).detail).toBe('queue and bucket in us-east-1, nodes in us-west-2');
    expect(checkRegions({ region: 'us-east-1', spotRegion: 'us-nowhere-9' })).toMatchObject({ status: 'warn', detail: expect.stringContaining('spotRegion "us-nowhere-9"') });
  });

  it('user data: size against the limit; gzip and warnings are reported', () => {
    const base = { template: 'node-bootstrap', bytes: 3000, limit: 16384, gzip: false, gzippedBytes: 1200, warnings: [], assumedQueueUrl: false };
    expect(evaluateUserData(base)).toEqual({ status: 'ok', detail: 'template node-bootstrap: 3,000 bytes of EC2\'s 16,384 bytes limit' });
    expect(evaluateUserData({ ...base, bytes: 20000, gzip: true, gzippedBytes: 5000 }).detail).toContain('5,000 bytes gzipped (sent gzipped)');
    expect(evaluateUserData({ ...base, warnings: ['not valid YAML'] }).status).toBe('warn');
  });
});

describe('running checks', () => {
  it('checks run concurrently; a throw or a hang becomes a failed row and hides nothing', async () => {
    const started: string[] = [];
    // A barrier that opens only once every check has started: run one after another, the first
    // check would never see it open and would end as a timeout (bounded by timeoutMs), not ok.
    let open!: () => void;
    const allStarted = new Promise<void>((r) => (open = r));
    const check = (id: string, run: () => Promise<never> | Promise<{ status: 'ok'; detail: string }>): Check => ({
      id,
      title: id,
      run: () => {
        started.push(id);
        if (started.length === 4) open();
        return run();
      },
    });
    const t0 = Date.now();
    const rows = await runChecks(
      [
        check('waits-for-all', () => allStarted.then(() => ({ status: 'ok' as const, detail: 'all started' }))),
        check('hangs', () => new Promise<never>(() => {})),
        check('throws', () => Promise.reject(Object.assign(new Error('Queue does not exist'), { name: 'QueueDoesNotExist', $metadata: {} }))),
        check('ok', () => Promise.resolve({ status: 'ok' as const, detail: 'fine' })),
      ],
      { timeoutMs: 300, clock: systemClock },
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(started).toEqual(['waits-for-all', 'hangs', 'throws', 'ok']);
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      ['waits-for-all', 'ok'],
      ['hangs', 'fail'],
      ['throws', 'fail'],
      ['ok', 'ok'],
    ]);
    expect(rows[1]!.detail).toBe('no answer within 0.3s');
    expect(rows[2]!.hint).toContain('fluxer setup');
  });

  it('Ctrl-C ends the run instead of waiting for the slowest check', async () => {
    const controller = new AbortController();
    const run = runChecks([{ id: 'hangs', title: 'hangs', run: () => new Promise<never>(() => {}) }], { timeoutMs: 60_000, clock: systemClock, signal: controller.signal });
    controller.abort(new Error('interrupted'));
    await expect(run).rejects.toThrow('interrupted');
  });
});
