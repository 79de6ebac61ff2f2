// Termination lifecycle hooks, as Auto Scaling runs them, where moto stores hooks but never waits on
// them (and answers CompleteLifecycleAction with HTTP 500). Registered in server.ts; row in test/README.md.
//
//   lifecycle hooks       https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html
//   CompleteLifecycleAction https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html
//   RecordLifecycleActionHeartbeat https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html
//   DeleteAutoScalingGroup (ForceDelete) https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteAutoScalingGroup.html
//   target lifecycle state in IMDS https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html
//
// When a group with an `autoscaling:EC2_INSTANCE_TERMINATING` hook removes an instance — a scale-in
// (SetDesiredCapacity, UpdateAutoScalingGroup with a lower DesiredCapacity), TerminateInstanceInAutoScalingGroup,
// an instance refresh (autoscaling.ts terminates through `terminate` here) — the instance is held in
// Terminating:Wait: EC2 keeps it running, DescribeAutoScalingGroups and DescribeAutoScalingInstances say
// Terminating:Wait, and its IMDS (imds.ts) serves `autoscaling/target-lifecycle-state` = Terminated. It
// terminates on CompleteLifecycleAction (CONTINUE or ABANDON: for a terminating hook both terminate), or when
// the hook's HeartbeatTimeout passes with no RecordLifecycleActionHeartbeat (each one restarts the timeout: "If you
// need more time, record the lifecycle action heartbeat to keep the instance in a wait state", the API reference
// above), or when its global timeout passes whatever the heartbeats: min(48 h, 100 × HeartbeatTimeout)
// (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html, GlobalTimeout), which
// DescribeLifecycleHooks answers here too (moto says 172800 for every hook).
//
// How, with moto as it is: a held instance is put in moto's Standby (EnterStandby, decrementing the desired
// capacity for a scale-in, not for a termination that keeps it), which takes it out of moto's capacity count
// so moto neither terminates it nor counts it; the answers say Terminating:Wait for it; once released it is
// terminated in moto (TerminateInstanceInAutoScalingGroup, not decrementing again). Scale-in picks instances
// as moto does (its order, skipping those protected from scale in: moto honours SetInstanceProtection there).
// Not done: launch hooks, notification targets, Terminating:Proceed.
// The calls to moto and the XML answers are in lifecycle-hooks-query.ts.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeDir, TARGET_LIFECYCLE_FILE } from '../lib/local-nodes.js';
import { esc, fail, motoAutoScaling, ok, tag, type Auth, type Hook } from './lifecycle-hooks-query.js';
import type { ForwardingModule, Upstream } from './server.js';

interface Held {
  instanceId: string;
  group: string;
  hook: string;
  token: string;
  timeoutMs: number;
  /** Date.now() at which the global timeout ends the wait, heartbeats or not. */
  globalEndsAt: number;
  timer: NodeJS.Timeout;
  auth: Auth;
  /** Its scale-in protection as the caller set it: moto holds it protected, so its own scale-in never picks it. */
  wasProtected: boolean;
}

const MAX_GLOBAL_TIMEOUT_S = 172_800;
const globalTimeoutOf = (heartbeatTimeout: number) => Math.min(MAX_GLOBAL_TIMEOUT_S, 100 * heartbeatTimeout);

export interface LifecycleHooks extends ForwardingModule {
  /** Removes an instance from its group as AWS would: held in Terminating:Wait when the group has a terminating hook. */
  terminate(auth: Auth, instanceId: string, decrement: boolean): Promise<void>;
}

export function lifecycleHooksStandin(nodesDir: string): LifecycleHooks {
  const held = new Map<string, Held>();
  let upstreamRef: Upstream | undefined;
  const { call, terminatingHook, groupInstances, groupOf, forward } = motoAutoScaling(() => upstreamRef!);

  const setTarget = (instanceId: string, state: string | undefined) => {
    try {
      const dir = nodeDir(nodesDir, instanceId);
      if (state === undefined) return rmSync(join(dir, TARGET_LIFECYCLE_FILE), { force: true });
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, TARGET_LIFECYCLE_FILE), state);
    } catch {
      /* not a node folder id: nothing to serve */
    }
  };

  const release = async (h: Held, why: string): Promise<void> => {
    if (held.get(h.instanceId) !== h) return;
    clearTimeout(h.timer);
    held.delete(h.instanceId);
    try {
      await call(h.auth, { Action: 'TerminateInstanceInAutoScalingGroup', InstanceId: h.instanceId, ShouldDecrementDesiredCapacity: 'false' });
    } catch (err) {
      process.stderr.write(`emulator: lifecycle hook ${h.hook}: terminating ${h.instanceId} (${why}) failed: ${(err as Error).message}\n`);
    }
  };

  /** (Re)starts the heartbeat timeout, never past the global timeout. */
  const arm = (h: Held) => {
    clearTimeout(h.timer);
    const left = h.globalEndsAt - Date.now();
    h.timer = setTimeout(() => void release(h, left <= h.timeoutMs ? 'global timeout' : 'heartbeat timeout'), Math.max(0, Math.min(h.timeoutMs, left)));
    h.timer.unref?.();
  };

  const hold = async (auth: Auth, group: string, hook: Hook, instanceId: string, decrement: boolean) => {
    const wasProtected = (await groupInstances(auth, group)).find((i) => i.id === instanceId)?.protected ?? false;
    await call(auth, { Action: 'EnterStandby', AutoScalingGroupName: group, 'InstanceIds.member.1': instanceId, ShouldDecrementDesiredCapacity: String(decrement) });
    // moto's scale-in picks among all its instance states, Standby included, unless protected.
    await call(auth, { Action: 'SetInstanceProtection', AutoScalingGroupName: group, 'InstanceIds.member.1': instanceId, ProtectedFromScaleIn: 'true' });
    const h: Held = { instanceId, group, hook: hook.name, token: randomUUID(), timeoutMs: hook.heartbeatTimeout * 1000, globalEndsAt: Date.now() + globalTimeoutOf(hook.heartbeatTimeout) * 1000, timer: setTimeout(() => undefined, 0), auth, wasProtected };
    held.set(instanceId, h);
    arm(h);
    setTarget(instanceId, 'Terminated');
  };

  const terminate = async (auth: Auth, instanceId: string, decrement: boolean): Promise<void> => {
    if (held.has(instanceId)) return;
    const group = await groupOf(auth, instanceId);
    const hook = group ? await terminatingHook(auth, group) : undefined;
    if (!group || !hook) {
      await call(auth, { Action: 'TerminateInstanceInAutoScalingGroup', InstanceId: instanceId, ShouldDecrementDesiredCapacity: String(decrement) });
      return;
    }
    await hold(auth, group, hook, instanceId, decrement);
  };

  /**
   * A scale-in to `desired`: the instances moto would remove (its order, unprotected, in service) are held instead.
   * `decrement`: before moto lowers the desired capacity (a SetDesiredCapacity on its way); false once it has.
   */
  const scaleIn = async (auth: Auth, group: string, desired: number, decrement = true): Promise<void> => {
    const hook = await terminatingHook(auth, group);
    if (!hook) return;
    const live = (await groupInstances(auth, group)).filter((i) => i.state === 'InService' || i.state === 'Pending');
    const excess = live.length - desired;
    if (excess <= 0) return;
    for (const i of live.filter((x) => !x.protected).slice(0, excess)) await hold(auth, group, hook, i.id, decrement);
  };

  /**
   * A group above its desired capacity because its instances were protected (a scale-in could take none) goes on
   * down once protection is lifted, as Auto Scaling keeps working towards the desired capacity; moto only ever
   * acts when the capacity is set.
   */
  const settle = async (auth: Auth, group: string): Promise<void> => {
    const xml = await call(auth, { Action: 'DescribeAutoScalingGroups', 'AutoScalingGroupNames.member.1': group });
    const desired = Number(tag(xml, 'DesiredCapacity'));
    if (Number.isFinite(desired)) await scaleIn(auth, group, desired, false);
  };

  /** Answers moto gives with Standby for a held instance: Terminating:Wait, as AWS says. */
  const rewrite = (xml: string): string => {
    for (const id of held.keys()) {
      const at = xml.indexOf(`<InstanceId>${id}</InstanceId>`);
      if (at < 0) continue;
      const start = xml.lastIndexOf('<member>', at);
      const end = xml.indexOf('</member>', at);
      if (start < 0 || end < 0) continue;
      const member = xml
        .slice(start, end)
        .replace('<LifecycleState>Standby</LifecycleState>', '<LifecycleState>Terminating:Wait</LifecycleState>')
        .replace(/<ProtectedFromScaleIn>[^<]*<\/ProtectedFromScaleIn>/, `<ProtectedFromScaleIn>${held.get(id)!.wasProtected}</ProtectedFromScaleIn>`);
      xml = xml.slice(0, start) + member + xml.slice(end);
    }
    return xml;
  };

  return {
    terminate: async (auth, id, decrement) => terminate(auth, id, decrement),
    async handle(req, res, upstream) {
      if (!req.form || !/Credential=[^/]+\/\d{8}\/[^/]+\/autoscaling\//.test(req.headers.authorization ?? '')) return false;
      upstreamRef = upstream;
      const f = req.form;
      const action = f.get('Action');
      const auth: Auth = { authorization: req.headers.authorization ?? '', host: req.headers.host };
      const group = f.get('AutoScalingGroupName') ?? '';
      switch (action) {
        case 'SetDesiredCapacity':
        case 'UpdateAutoScalingGroup': {
          const desired = f.get('DesiredCapacity');
          if (desired !== null && group) await scaleIn(auth, group, Number(desired));
          return false;
        }
        case 'TerminateInstanceInAutoScalingGroup': {
          const id = f.get('InstanceId') ?? '';
          const inGroup = await groupOf(auth, id);
          if (!inGroup || !(await terminatingHook(auth, inGroup))) return false;
          const decrement = f.get('ShouldDecrementDesiredCapacity') === 'true';
          await terminate(auth, id, decrement);
          const activity = `<Activity><ActivityId>${randomUUID()}</ActivityId><AutoScalingGroupName>${esc(inGroup)}</AutoScalingGroupName><Description>Terminating EC2 instance: ${esc(id)}</Description><Cause>At ${new Date().toISOString()} instance ${esc(id)} was taken out of service in response to a user request${decrement ? ', shrinking the capacity' : ''}.</Cause><StartTime>${new Date().toISOString()}</StartTime><StatusCode>InProgress</StatusCode><Progress>0</Progress></Activity>`;
          ok(res, action, activity);
          return true;
        }
        case 'CompleteLifecycleAction':
        case 'RecordLifecycleActionHeartbeat': {
          const id = f.get('InstanceId');
          const token = f.get('LifecycleActionToken');
          const h = [...held.values()].find((x) => x.group === group && x.hook === f.get('LifecycleHookName') && (id ? x.instanceId === id : x.token === token));
          if (!h) return fail(res, 'ValidationError', `No active Lifecycle Action found with instance ID ${id ?? token}`), true;
          if (action === 'RecordLifecycleActionHeartbeat') arm(h);
          else {
            const result = f.get('LifecycleActionResult');
            if (result !== 'CONTINUE' && result !== 'ABANDON') return fail(res, 'ValidationError', 'LifecycleActionResult must be CONTINUE or ABANDON'), true;
            await release(h, `CompleteLifecycleAction ${result}`);
          }
          ok(res, action, '');
          return true;
        }
        case 'SetInstanceProtection': {
          // A held instance keeps moto's protection; what the caller sets is what the answers say.
          const ids = [...f.entries()].filter(([k]) => k.startsWith('InstanceIds.member.')).map(([, v]) => v);
          const mine = ids.filter((id) => held.has(id));
          const lifted = f.get('ProtectedFromScaleIn') === 'false';
          if (!mine.length && !lifted) return false;
          if (!mine.length) {
            await forward(req, res);
            if (group) await settle(auth, group);
            return true;
          }
          for (const id of mine) held.get(id)!.wasProtected = f.get('ProtectedFromScaleIn') === 'true';
          const rest = ids.filter((id) => !held.has(id));
          if (rest.length) {
            const params: Record<string, string> = { Action: 'SetInstanceProtection', AutoScalingGroupName: group, ProtectedFromScaleIn: f.get('ProtectedFromScaleIn') ?? 'false' };
            rest.forEach((id, n) => (params[`InstanceIds.member.${n + 1}`] = id));
            await call(auth, params);
            if (lifted) await settle(auth, group);
          }
          ok(res, action, '');
          return true;
        }
        case 'DeleteAutoScalingGroup': {
          // ForceDelete "deletes the group along with all instances associated with the group, without
          // waiting for all instances to be terminated" and its outstanding lifecycle actions
          // (API_DeleteAutoScalingGroup); moto leaves a held (Standby) instance running: end each first.
          if (f.get('ForceDelete') === 'true') for (const h of [...held.values()].filter((x) => x.group === group)) await release(h, 'group force-deleted');
          return false;
        }
        case 'DescribeLifecycleHooks':
          await forward(req, res, (xml) =>
            xml.replace(/<member>([\s\S]*?)<\/member>/g, (m: string, body: string) => {
              const heartbeat = Number(tag(body, 'HeartbeatTimeout'));
              return Number.isFinite(heartbeat) ? m.replace(/<GlobalTimeout>\d+<\/GlobalTimeout>/, `<GlobalTimeout>${globalTimeoutOf(heartbeat)}</GlobalTimeout>`) : m;
            }),
          );
          return true;
        case 'DescribeAutoScalingGroups':
        case 'DescribeAutoScalingInstances':
          if (!held.size) return false;
          await forward(req, res, rewrite);
          return true;
        default:
          return false;
      }
    },
    stop() {
      for (const h of held.values()) clearTimeout(h.timer);
      held.clear();
    },
  };
}
