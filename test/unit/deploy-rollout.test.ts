// The rolling deploy's plan and state (src/core/deploy/rollout.ts) and its runner (run.ts) with fake
// node steps on a fake clock: order, concurrency, stop on the first failure, rollback, promotion only
// after all; and the pieces of the SSM side that are pure (the install command, its output).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { advance, failed, isFinished, mayPromote, newRollout, nodeSeconds, rolledBack, startNext, succeeded } from '../../src/core/deploy/rollout.js';
import { runRollout } from '../../src/core/deploy/run.js';
import { installCommand, parseInstallOutput, type DeploySteps, type StepOutcome } from '../../src/core/deploy/steps.js';
import { whereNodesAre } from '../../src/core/deploy/journal.js';
import type { Clock } from '../../src/lib/clock.js';

const ids = ['i-01', 'i-02', 'i-03', 'i-04', 'i-05'];

describe('rollout state', () => {
  it('starts nodes in order, at most N at a time, the next as a slot frees', () => {
    const s = newRollout('r2', ids, 2, { 'i-01': 'r1' });
    expect(startNext(s, 0)).toEqual(['i-01', 'i-02']);
    expect(startNext(s, 1)).toEqual([]);
    advance(s, 'i-02', 'waiting');
    succeeded(s, 'i-02', 10);
    expect(startNext(s, 10)).toEqual(['i-03']);
    expect(s.nodes[0]).toMatchObject({ phase: 'draining', from: 'r1', startedAtMs: 0 });
    expect(nodeSeconds(s.nodes[1]!)).toBe(0);
    expect(isFinished(s)).toBe(false);
  });

  it('the first failure stops new starts; the failed node is rolled back; nothing is promoted', () => {
    const s = newRollout('r2', ids, 2);
    startNext(s, 0);
    failed(s, 'i-02', 'went FAILED');
    expect(startNext(s, 1)).toEqual([]);
    advance(s, 'i-01', 'waiting');
    succeeded(s, 'i-01', 2); // in flight when i-02 failed: it finishes
    expect(() => failed(s, 'i-01', 'later')).toThrow(/cannot fail from deployed/);
    expect(s.stoppedBy).toEqual({ instanceId: 'i-02', error: 'went FAILED' });
    expect(isFinished(s)).toBe(false);
    rolledBack(s, 'i-02', 3, null);
    expect(isFinished(s)).toBe(true);
    expect(mayPromote(s)).toBe(false);
    expect(s.nodes.map((n) => n.phase)).toEqual(['deployed', 'rolled-back', 'pending', 'pending', 'pending']);
  });

  it('promotes only when every node is deployed', () => {
    const s = newRollout('r2', ['i-01', 'i-02'], 1);
    for (const id of ['i-01', 'i-02']) {
      expect(mayPromote(s)).toBe(false);
      expect(startNext(s, 0)).toEqual([id]);
      advance(s, id, 'installing');
      advance(s, id, 'restarting', { from: 'r1', on: 'r2' });
      advance(s, id, 'waiting');
      succeeded(s, id, 5);
    }
    expect(isFinished(s)).toBe(true);
    expect(mayPromote(s)).toBe(true);
    expect(mayPromote(newRollout('r2', [], 1))).toBe(false);
  });

  it('a failed switch back is its own outcome, naming both errors; bad transitions throw', () => {
    const s = newRollout('r2', ['i-01'], 1, { 'i-01': 'r1' });
    startNext(s, 0);
    expect(() => succeeded(s, 'i-01', 1)).toThrow(/cannot succeed from draining/);
    failed(s, 'i-01', 'not READY within 10m');
    rolledBack(s, 'i-01', 1, 'switch to r1: exited with 4');
    expect(s.nodes[0]).toMatchObject({ phase: 'rollback-failed', on: null, error: 'not READY within 10m; the switch back failed: switch to r1: exited with 4' });
    expect(() => newRollout('r', ids, 0)).toThrow(/maxConcurrency/);
  });
});

/** A clock whose sleeps resolve at once and move time on. */
function fakeClock(): Clock {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
}

/** Steps that take `ms` of fake time each and fail where told; records what ran, and the most in flight. */
function fakeSteps(clock: Clock & { now(): number }, fail: Record<string, StepOutcome & { ok: false }> = {}) {
  const log: string[] = [];
  let inFlight = 0;
  let most = 0;
  const steps: DeploySteps = {
    async deploy(id, on) {
      inFlight++;
      most = Math.max(most, inFlight);
      log.push(`deploy ${id}`);
      await clock.sleep(1000);
      on.installing();
      await clock.sleep(1000);
      if (fail[id]) {
        inFlight--;
        return fail[id]!;
      }
      on.restarting('r1');
      on.waiting();
      await clock.sleep(1000);
      inFlight--;
      return { ok: true, from: 'r1' };
    },
    async rollback(id, outcome) {
      log.push(`rollback ${id} ${outcome.switched ? 'switch' : 'resume'}`);
      return null;
    },
  };
  return { steps, log, most: () => most };
}

describe('runRollout', () => {
  it('all succeed, one at a time in order: promotable, each timed', async () => {
    const clock = fakeClock();
    const f = fakeSteps(clock);
    const messages: string[] = [];
    const s = await runRollout(newRollout('r2', ids.slice(0, 3), 1), f.steps, clock, (_s, m) => messages.push(m));
    expect(f.log).toEqual(['deploy i-01', 'deploy i-02', 'deploy i-03']);
    expect(f.most()).toBe(1);
    expect(mayPromote(s)).toBe(true);
    expect(s.nodes.map((n) => [n.phase, n.from, n.on, nodeSeconds(n)])).toEqual([1, 2, 3].map(() => ['deployed', 'r1', 'r2', 3]));
    expect(messages.slice(0, 5)).toEqual(['i-01: draining', 'i-01: installing r2', 'i-01: restarting (was on r1)', 'i-01: waiting until READY on r2', 'i-01: READY on r2']);
  });

  it('N at a time; a failure stops the rest, rolls that node back, the ones in flight finish', async () => {
    const clock = fakeClock();
    const f = fakeSteps(clock, { 'i-03': { ok: false, error: 'went FAILED', switched: true, from: 'r1' } });
    const s = await runRollout(newRollout('r2', ids, 2), f.steps, clock, () => {});
    expect(f.most()).toBe(2);
    expect(f.log).toEqual(['deploy i-01', 'deploy i-02', 'deploy i-03', 'deploy i-04', 'rollback i-03 switch']);
    expect(s.nodes.map((n) => n.phase)).toEqual(['deployed', 'deployed', 'rolled-back', 'deployed', 'pending']);
    expect(s.nodes[2]).toMatchObject({ on: 'r1', error: 'went FAILED' });
    expect(s.stoppedBy).toEqual({ instanceId: 'i-03', error: 'went FAILED' });
    expect(mayPromote(s)).toBe(false);
    expect(whereNodesAre(s)).toBe('i-01: r2; i-02: r2; i-03: r1; i-04: r2; i-05: unknown');
  });

  it('a failure before the switch (drain refused) only resumes the node', async () => {
    const clock = fakeClock();
    const f = fakeSteps(clock, { 'i-01': { ok: false, error: 'drain: refused', switched: false, from: null } });
    const s = await runRollout(newRollout('r2', ids.slice(0, 2), 1, { 'i-01': 'r1', 'i-02': 'r1' }), f.steps, clock, () => {});
    expect(f.log).toEqual(['deploy i-01', 'rollback i-01 resume']);
    expect(s.nodes.map((n) => [n.phase, n.on])).toEqual([['rolled-back', 'r1'], ['pending', 'r1']]);
  });

  it('a step that throws (Ctrl-C) ends the run with the state as it was', async () => {
    const clock = fakeClock();
    const steps: DeploySteps = { deploy: async () => Promise.reject(new Error('aborted')), rollback: async () => null };
    const s = newRollout('r2', ids.slice(0, 2), 2);
    await expect(runRollout(s, steps, clock, () => {})).rejects.toThrow('aborted');
    expect(whereNodesAre(s)).toBe('i-01: unknown (stopped while draining; was unknown); i-02: unknown (stopped while draining; was unknown)');
  });
});

describe('install command', () => {
  it('runs the script with bash under sh, the release quoted, and says what it switched', () => {
    const script = 'echo "previous=old"; echo "current=$FLUXER_RELEASE switch=${FLUXER_SWITCH_ONLY:-0}"; echo \'quote\' >&2';
    const out = execFileSync('sh', ['-c', installCommand(script, "0.1.0-abc'd", { switchOnly: true })], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toBe("previous=old\ncurrent=0.1.0-abc'd switch=1\n");
    expect(parseInstallOutput('previous=\ncurrent=r2\n')).toEqual({ previous: null, current: 'r2' });
    expect(parseInstallOutput('previous=local-base\n')).toEqual({ previous: 'local-base', current: undefined });
    expect(parseInstallOutput('')).toEqual({ previous: undefined, current: undefined });
  });
});
