// The local node agent's decisions, apart from its loop (agent.ts): given moto's instances of the stack
// and what runs on this machine, what to do. Pure, on the time it is handed, so every rule is tested
// without processes.
//
// The rules (docs/local.md, "The node agent"):
//   - a running instance with no worker gets one (a worker is the instance's runtime process);
//   - a worker whose instance is no longer running (stopped, terminated, shutting down) is stopped
//     with SIGTERM, as an instance's shutdown stops its services: the runtime drains, jobs are released;
//   - a worker that died while its instance runs leaves the instance stopped (the instance is the
//     process: nothing else would tell EC2 it is gone);
//   - the runtime's power-off command ends its instance as the instance's shutdown behaviour says (EC2's
//     InstanceInitiatedShutdownBehavior: terminate, as every node fluxer launches has it, or stop); its
//     restart command restarts the worker;
//   - a spot notice past its time ends the instance as its action says (terminate or stop), as EC2 does;
//   - a terminated instance's registration is removed (SSM forgets it); its folder stays;
//   - a worker whose instance moto does not know (moto was restarted) is stopped and forgotten;
//   - a worker started with other settings than the stack's now (`local up --model ...`) is restarted.
import type { SpotNotice } from '../../lib/local-nodes.js';

export interface InstanceView {
  instanceId: string;
  /** EC2's state name: pending, running, stopping, stopped, shutting-down, terminated. */
  state: string;
}

export interface WorkerView {
  instanceId: string;
  /** 0: registered but no process (never started, or stopped with its instance). */
  pid: number;
  alive: boolean;
  /** The agent is stopping it (SIGTERM sent): not a death. */
  stopping: boolean;
  poweroffRequested: boolean;
  /** What an OS power-off does to its instance (read by the agent only once a power-off is requested); absent: stop. */
  shutdownBehavior?: 'stop' | 'terminate';
  restartRequested: boolean;
  /** Started with other settings than the stack's now (another model, a new queue): restarted. */
  stale?: boolean;
  notice?: SpotNotice;
}

export type AgentAction =
  | { kind: 'start'; instanceId: string }
  | { kind: 'stop-worker'; instanceId: string; pid: number; reason: string }
  | { kind: 'restart'; instanceId: string; pid: number }
  | { kind: 'stop-instance'; instanceId: string; reason: string }
  | { kind: 'terminate-instance'; instanceId: string; reason: string }
  | { kind: 'forget'; instanceId: string };

const RUNNING = new Set(['pending', 'running']);

export function reconcile(instances: readonly InstanceView[], workers: readonly WorkerView[], nowMs: number): AgentAction[] {
  const actions: AgentAction[] = [];
  const byId = new Map(workers.map((w) => [w.instanceId, w]));
  for (const inst of instances) {
    const w = byId.get(inst.instanceId);
    const id = inst.instanceId;
    if (!RUNNING.has(inst.state)) {
      if (w?.alive && !w.stopping) actions.push({ kind: 'stop-worker', instanceId: id, pid: w.pid, reason: `instance ${inst.state}` });
      if (inst.state === 'terminated' && w && !w.alive) actions.push({ kind: 'forget', instanceId: id });
      continue;
    }
    if (w?.notice && Date.parse(w.notice.time) <= nowMs) {
      const reason = `spot interruption (${w.notice.action}) at ${w.notice.time}`;
      actions.push(w.notice.action === 'terminate' ? { kind: 'terminate-instance', instanceId: id, reason } : { kind: 'stop-instance', instanceId: id, reason });
      continue;
    }
    if (w?.poweroffRequested) {
      // An Auto Scaling group replaces a node that terminated this way (moto does too): the loop the boot-failure breaker stops.
      const reason = 'the runtime powered the node off';
      actions.push(w.shutdownBehavior === 'terminate' ? { kind: 'terminate-instance', instanceId: id, reason: `${reason} (shutdown behaviour: terminate)` } : { kind: 'stop-instance', instanceId: id, reason });
      continue;
    }
    if (!w || w.pid === 0) {
      actions.push({ kind: 'start', instanceId: id });
      continue;
    }
    if (w.stopping) continue;
    if (w.alive && (w.restartRequested || w.stale)) {
      actions.push({ kind: 'restart', instanceId: id, pid: w.pid });
      continue;
    }
    // A worker that ended after a spot notice waits for the interruption itself, as a drained node does.
    if (!w.alive && !w.notice) actions.push({ kind: 'stop-instance', instanceId: id, reason: 'its runtime process is gone' });
  }
  // A node whose instance moto no longer has (a new moto after a crash): its worker has nothing to be.
  const known = new Set(instances.map((i) => i.instanceId));
  for (const w of workers) {
    if (known.has(w.instanceId)) continue;
    if (w.alive && !w.stopping) actions.push({ kind: 'stop-worker', instanceId: w.instanceId, pid: w.pid, reason: 'its instance does not exist' });
    else if (!w.alive && !w.stopping) actions.push({ kind: 'forget', instanceId: w.instanceId });
  }
  return actions;
}
