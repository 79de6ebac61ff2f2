// The local node agent's rules (src/core/local/reconcile.ts), one case per rule, as the agent sees the
// region on one pass: moto's instances of the stack and the workers on this machine.
import { describe, expect, it } from 'vitest';
import { isStale, workerEnv, type RegionSettings } from '../../src/core/local/agent.js';
import { reconcile, type WorkerView } from '../../src/core/local/reconcile.js';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const worker = (instanceId: string, w: Partial<WorkerView> = {}): WorkerView => ({ instanceId, pid: 100, alive: true, stopping: false, poweroffRequested: false, restartRequested: false, ...w });

describe('reconcile: what the node agent does on one pass', () => {
  it('a running instance with no worker, or a registered one with none yet, gets a worker; a healthy one is left alone', () => {
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }, { instanceId: 'i-2', state: 'pending' }, { instanceId: 'i-3', state: 'running' }], [worker('i-2', { pid: 0, alive: false }), worker('i-3')], NOW)).toEqual([
      { kind: 'start', instanceId: 'i-1' },
      { kind: 'start', instanceId: 'i-2' },
    ]);
  });

  it('an instance that stopped or is terminating has its worker stopped (SIGTERM), once', () => {
    const actions = reconcile([{ instanceId: 'i-1', state: 'stopping' }, { instanceId: 'i-2', state: 'shutting-down' }, { instanceId: 'i-3', state: 'terminated' }], [worker('i-1'), worker('i-2', { pid: 7 }), worker('i-3', { stopping: true })], NOW);
    expect(actions).toEqual([
      { kind: 'stop-worker', instanceId: 'i-1', pid: 100, reason: 'instance stopping' },
      { kind: 'stop-worker', instanceId: 'i-2', pid: 7, reason: 'instance shutting-down' },
    ]);
  });

  it('a worker that died while its instance runs stops the instance; a terminated instance with a dead worker is forgotten', () => {
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }, { instanceId: 'i-2', state: 'terminated' }], [worker('i-1', { alive: false }), worker('i-2', { alive: false })], NOW)).toEqual([
      { kind: 'stop-instance', instanceId: 'i-1', reason: 'its runtime process is gone' },
      { kind: 'forget', instanceId: 'i-2' },
    ]);
  });

  it("the runtime's power-off stops its instance; its restart request, or new settings, restart the worker", () => {
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }, { instanceId: 'i-2', state: 'running' }, { instanceId: 'i-3', state: 'running' }], [worker('i-1', { poweroffRequested: true }), worker('i-2', { restartRequested: true }), worker('i-3', { stale: true, pid: 9 })], NOW)).toEqual([
      { kind: 'stop-instance', instanceId: 'i-1', reason: 'the runtime powered the node off' },
      { kind: 'restart', instanceId: 'i-2', pid: 100 },
      { kind: 'restart', instanceId: 'i-3', pid: 9 },
    ]);
  });

  it("a power-off ends the instance as its shutdown behaviour says: terminated (what fluxer's nodes ask for), else stopped", () => {
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }, { instanceId: 'i-2', state: 'running' }], [worker('i-1', { poweroffRequested: true, shutdownBehavior: 'terminate' }), worker('i-2', { poweroffRequested: true, shutdownBehavior: 'stop' })], NOW)).toEqual([
      { kind: 'terminate-instance', instanceId: 'i-1', reason: 'the runtime powered the node off (shutdown behaviour: terminate)' },
      { kind: 'stop-instance', instanceId: 'i-2', reason: 'the runtime powered the node off' },
    ]);
  });

  it('a spot notice: nothing until its time (a drained worker that exited waits too), then terminate or stop as its action says', () => {
    const soon = { action: 'terminate', time: '2026-12-03T12:00:05Z' };
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }], [worker('i-1', { alive: false, notice: soon })], NOW)).toEqual([]);
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }], [worker('i-1', { notice: soon })], NOW + 5_000)).toEqual([
      { kind: 'terminate-instance', instanceId: 'i-1', reason: 'spot interruption (terminate) at 2026-12-03T12:00:05Z' },
    ]);
    expect(reconcile([{ instanceId: 'i-1', state: 'running' }], [worker('i-1', { notice: { action: 'stop', time: '2026-12-03T11:59:00Z' } })], NOW)[0]).toMatchObject({ kind: 'stop-instance' });
  });

  it('a worker whose instance moto no longer has (moto restarted) is stopped, then forgotten', () => {
    expect(reconcile([], [worker('i-gone'), worker('i-dead', { alive: false }), worker('i-going', { stopping: true })], NOW)).toEqual([
      { kind: 'stop-worker', instanceId: 'i-gone', pid: 100, reason: 'its instance does not exist' },
      { kind: 'forget', instanceId: 'i-dead' },
    ]);
  });
});

describe('isStale: a worker started with other settings than the stack has now', () => {
  const settings: RegionSettings = { stack: 'local', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', queueUrl: 'http://q', bucket: 'b', prefix: 'fluxer/', model: 'tiny', modelDir: null, device: 'cpu', visibilitySeconds: 60, runtimeBin: '/venv/bin/fluxer-runtime' };
  const startedWith = (s: RegionSettings) => ({ env: workerEnv(s, 'i-1', '/root', {}) as Record<string, string> });

  it('is not stale with the settings it was started with, --node-env overriding the stack\'s own included (no restart loop)', () => {
    expect(isStale(startedWith(settings), settings)).toBe(false);
    const overridden = { ...settings, nodeEnv: { FLUXER_MODEL: 'sdxl', FLUXER_MODEL_DIR: '/models', FLUXER_IDLE_SECONDS: '30' } };
    expect(isStale(startedWith(overridden), overridden)).toBe(false);
  });

  it('is stale once the stack or its --node-env changes', () => {
    expect(isStale(startedWith(settings), { ...settings, model: 'sdxl' })).toBe(true);
    expect(isStale(startedWith(settings), { ...settings, nodeEnv: { FLUXER_IDLE_SECONDS: '30' } })).toBe(true);
    const overridden = { ...settings, nodeEnv: { FLUXER_MODEL: 'sdxl' } };
    expect(isStale(startedWith(overridden), settings)).toBe(true);
  });
});
