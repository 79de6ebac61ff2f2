// Drives a rollout (rollout.ts) with a node's steps (steps.ts): the next nodes start as slots free
// up, a failure stops new starts and switches that node back while the ones in flight finish, and
// every change is handed to `onChange` (the journal, the progress line).
import type { Clock } from '../../lib/clock.js';
import { advance, failed, isFinished, rolledBack, startNext, succeeded, type RolloutState } from './rollout.js';
import type { DeploySteps } from './steps.js';

export async function runRollout(state: RolloutState, steps: DeploySteps, clock: Clock, onChange: (state: RolloutState, message: string) => void): Promise<RolloutState> {
  const running = new Map<string, Promise<void>>();
  const runNode = async (id: string): Promise<void> => {
    const outcome = await steps.deploy(id, {
      installing: () => (advance(state, id, 'installing'), onChange(state, `${id}: installing ${state.release}`)),
      restarting: (from) => (advance(state, id, 'restarting', { from, on: state.release }), onChange(state, `${id}: restarting (was on ${from ?? 'none'})`)),
      waiting: () => (advance(state, id, 'waiting'), onChange(state, `${id}: waiting until READY on ${state.release}`)),
    });
    if (outcome.ok) {
      succeeded(state, id, clock.now());
      onChange(state, `${id}: READY on ${state.release}`);
      return;
    }
    const n = state.nodes.find((x) => x.instanceId === id)!;
    if (outcome.from !== null) n.from = outcome.from;
    failed(state, id, outcome.error);
    onChange(state, `${id}: failed (${outcome.error}); ${outcome.switched ? `switching back to ${n.from ?? 'its previous release'}` : 'resuming it'}`);
    const rollbackError = await steps.rollback(id, outcome);
    rolledBack(state, id, clock.now(), rollbackError);
    onChange(state, rollbackError ? `${id}: the switch back failed: ${rollbackError}` : `${id}: back on ${n.from ?? 'its previous release'}, READY`);
  };
  // A step that throws (Ctrl-C, an AWS error) ends the rollout as it is; the journal holds where each node got.
  let thrown: { err: unknown } | undefined;
  for (;;) {
    for (const id of startNext(state, clock.now())) {
      onChange(state, `${id}: draining`);
      running.set(id, runNode(id).then(() => undefined, (err: unknown) => void (thrown ??= { err })).finally(() => running.delete(id)));
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
    if (thrown) throw thrown.err;
  }
  if (!isFinished(state)) throw new Error('rollout ended with nodes in flight');
  return state;
}
