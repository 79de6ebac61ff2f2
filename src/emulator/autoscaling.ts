// Instance refresh, as Auto Scaling runs it, where moto has none (StartInstanceRefresh and
// DescribeInstanceRefreshes answer HTTP 500 there). Registered in server.ts; row in test/README.md.
//
//   StartInstanceRefresh      https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html
//   DescribeInstanceRefreshes https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeInstanceRefreshes.html
//   CancelInstanceRefresh     https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html
//
// What a refresh does here (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html),
// driven against moto's own group every 300 ms:
//   - the instances to replace: with SkipMatching, those not launched from the template's default version
//     (the EC2 tag aws:ec2launchtemplate:version, which AWS puts on every instance launched from a template:
//     moto's group answers the template's default version for every instance); else all of them;
//   - MaxHealthyPercentage above 100 launches replacements first (desired raised, within MaxSize);
//   - an old instance is terminated (TerminateInstanceInAutoScalingGroup, decrementing) only while the
//     group keeps MinHealthyPercentage of its desired capacity in service without it;
//   - ScaleInProtectedInstances: Refresh (default) replaces protected instances too, Ignore skips them,
//     Wait waits until their protection is removed (StatusReason says so);
//   - a terminated instance goes through the group's termination lifecycle hook (lifecycle-hooks.ts): the
//     refresh is Successful once the replaced instances are gone, their Terminating:Wait included;
//   - PercentageComplete and InstancesToUpdate as AWS reports them; Successful at the end; a one-hour wait on
//     protected instances fails it, as on AWS.
// Only one refresh per group at a time (InstanceRefreshInProgress). No checkpoints, warmup or rollback.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ForwardingModule, StandinRequest, Upstream } from './server.js';

const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
const TICK_MS = 300;
const PROTECTED_WAIT_LIMIT_MS = 3_600_000;

interface Refresh {
  id: string;
  group: string;
  status: 'Pending' | 'InProgress' | 'Successful' | 'Failed' | 'Cancelling' | 'Cancelled';
  reason: string;
  start: number;
  end?: number;
  prefs: { minHealthy: number; maxHealthy: number; skipMatching: boolean; protectedInstances: 'Refresh' | 'Ignore' | 'Wait' };
  /** Fixed when it starts: the instances it replaces. */
  toReplace?: string[];
  replaced: Set<string>;
  desiredAtStart?: number;
  waitingSince?: number;
  auth: { authorization: string; host: string | undefined };
}

interface GroupView {
  desired: number;
  max: number;
  templateId: string | undefined;
  instances: Array<{ id: string; state: string; protected: boolean }>;
}

const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The <member>s of a list whose members hold no list themselves (an instance's fields). */
function members(xml: string, list: string): string[] {
  const block = new RegExp(`<${list}>([\\s\\S]*?)</${list}>`).exec(xml)?.[1] ?? '';
  return [...block.matchAll(/<member>([\s\S]*?)<\/member>/g)].map((m) => m[1]!);
}

/** How a refresh removes an instance: through the lifecycle hooks (lifecycle-hooks.ts), so it waits in Terminating:Wait too. */
export type Terminate = (auth: { authorization: string; host: string | undefined }, instanceId: string, decrement: boolean) => Promise<void>;

export function autoscalingStandin(now: () => number = Date.now, terminate?: Terminate): ForwardingModule {
  const refreshes: Refresh[] = [];
  let timer: NodeJS.Timeout | undefined;
  let upstreamRef: Upstream | undefined;

  const call = async (r: Refresh, service: 'autoscaling' | 'ec2', params: Record<string, string>): Promise<string> => {
    const version = service === 'ec2' ? '2016-11-15' : '2011-01-01';
    const body = Buffer.from(new URLSearchParams({ Version: version, ...params }).toString());
    const authorization = r.auth.authorization.replace(/(Credential=[^/]+\/\d{8}\/[^/]+\/)[^/]+\//, `$1${service}/`);
    const answer = await upstreamRef!({ method: 'POST', path: '/', headers: { host: r.auth.host, authorization, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body });
    const text = answer.body.toString('utf8');
    if (answer.status >= 400) throw new Error(`${params.Action}: ${tag(text, 'Message') ?? answer.status}`);
    return text;
  };

  const readGroup = async (r: Refresh): Promise<GroupView | undefined> => {
    const xml = await call(r, 'autoscaling', { Action: 'DescribeAutoScalingGroups', 'AutoScalingGroupNames.member.1': r.group });
    // One group asked for: its XML is the whole answer (members nest, so no splitting on them).
    const group = xml.includes('<AutoScalingGroupName>') ? xml : undefined;
    if (!group) return undefined;
    return {
      desired: Number(tag(group, 'DesiredCapacity') ?? 0),
      max: Number(tag(group, 'MaxSize') ?? 0),
      templateId: tag(group, 'LaunchTemplateId'),
      instances: members(group, 'Instances').map((m) => ({ id: tag(m, 'InstanceId')!, state: tag(m, 'LifecycleState') ?? '', protected: tag(m, 'ProtectedFromScaleIn') === 'true' })),
    };
  };

  /** Each instance's template version, from the tag EC2 puts on instances launched from a template. */
  const launchedVersions = async (r: Refresh, ids: string[]): Promise<Map<string, string>> => {
    // One instance per call: moto's XML puts an instance's tags before its id, so no splitting is needed.
    const out = new Map<string, string>();
    for (const id of ids) {
      const xml = await call(r, 'ec2', { Action: 'DescribeInstances', 'InstanceId.1': id });
      const v = /<key>aws:ec2launchtemplate:version<\/key>\s*<value>([^<]*)<\/value>/.exec(xml)?.[1];
      if (v) out.set(id, v);
    }
    return out;
  };

  const defaultVersion = async (r: Refresh, templateId: string | undefined): Promise<string | undefined> => {
    if (!templateId) return undefined;
    const xml = await call(r, 'ec2', { Action: 'DescribeLaunchTemplates', 'LaunchTemplateId.1': templateId });
    return tag(xml, 'defaultVersionNumber');
  };

  const finish = (r: Refresh, status: Refresh['status'], reason: string) => Object.assign(r, { status, reason, end: now() });

  const step = async (r: Refresh): Promise<void> => {
    const g = await readGroup(r);
    if (!g) return void finish(r, 'Failed', `Auto Scaling group ${r.group} not found`);
    if (r.status === 'Cancelling') return void finish(r, 'Cancelled', 'Cancelled by the caller');
    if (!r.toReplace) {
      const live = g.instances.filter((i) => !i.state.startsWith('Terminating'));
      let ids = live.map((i) => i.id);
      if (r.prefs.skipMatching) {
        const [versions, want] = await Promise.all([launchedVersions(r, ids), defaultVersion(r, g.templateId)]);
        ids = ids.filter((id) => versions.get(id) !== want);
      }
      if (r.prefs.protectedInstances === 'Ignore') ids = ids.filter((id) => !live.find((i) => i.id === id)!.protected);
      r.toReplace = ids;
      r.desiredAtStart = g.desired;
      r.status = 'InProgress';
      r.reason = ids.length ? `Replacing ${ids.length} instance(s)` : 'No instance needs replacing';
    }
    const old = new Set(r.toReplace.filter((id) => !r.replaced.has(id)));
    for (const id of old) if (!g.instances.some((i) => i.id === id)) (r.replaced.add(id), old.delete(id));
    if (old.size === 0) {
      // As on AWS, a refresh ends once its old instances are gone, a termination lifecycle hook's wait included.
      if (r.toReplace.some((id) => g.instances.some((i) => i.id === id))) return void (r.reason = 'Waiting for replaced instances to terminate (lifecycle hook)');
      return void finish(r, 'Successful', 'The instance refresh succeeded');
    }
    const desired = r.desiredAtStart!;
    // Launch first, up to MaxHealthyPercentage of the desired capacity and never above MaxSize.
    const ceiling = Math.min(g.max, Math.max(desired, Math.floor((desired * r.prefs.maxHealthy) / 100)));
    const want = Math.min(ceiling, desired + old.size);
    if (g.desired < want) await call(r, 'autoscaling', { Action: 'SetDesiredCapacity', AutoScalingGroupName: r.group, DesiredCapacity: String(want) });
    const fresh = g.instances.filter((i) => !old.has(i.id) && i.state === 'InService').length;
    const floor = Math.ceil((desired * r.prefs.minHealthy) / 100);
    let inService = g.instances.filter((i) => i.state === 'InService').length;
    let waiting = false;
    for (const id of old) {
      const inst = g.instances.find((i) => i.id === id)!;
      if (inst.protected && r.prefs.protectedInstances === 'Wait') {
        waiting = true;
        continue;
      }
      // Terminating this one must leave MinHealthyPercentage in service (replacements count once in service).
      if (inService - 1 < floor || fresh === 0) break;
      const asAutoscaling = { ...r.auth, authorization: r.auth.authorization.replace(/(Credential=[^/]+\/\d{8}\/[^/]+\/)[^/]+\//, '$1autoscaling/') };
      if (terminate) await terminate(asAutoscaling, id, true);
      else await call(r, 'autoscaling', { Action: 'TerminateInstanceInAutoScalingGroup', InstanceId: id, ShouldDecrementDesiredCapacity: 'true' });
      r.replaced.add(id);
      inService--;
    }
    if (waiting) {
      r.waitingSince ??= now();
      r.reason = 'Waiting for instances with scale-in protection to be unprotected (ScaleInProtectedInstances: Wait)';
      if (now() - r.waitingSince > PROTECTED_WAIT_LIMIT_MS) finish(r, 'Failed', 'Instances protected from scale in were not unprotected within one hour');
    } else {
      r.waitingSince = undefined;
      r.reason = `Replacing ${old.size - (r.replaced.size - (r.toReplace.length - old.size))} instance(s)`;
    }
  };

  const tick = async () => {
    timer = undefined;
    for (const r of refreshes.filter((x) => x.status === 'Pending' || x.status === 'InProgress' || x.status === 'Cancelling')) {
      try {
        await step(r);
      } catch (err) {
        r.reason = `emulator: ${(err as Error).message}`;
      }
    }
    if (refreshes.some((x) => x.status === 'Pending' || x.status === 'InProgress' || x.status === 'Cancelling')) timer = setTimeout(() => void tick(), TICK_MS);
  };

  const active = (group: string) => refreshes.find((r) => r.group === group && ['Pending', 'InProgress', 'Cancelling'].includes(r.status));

  const view = (r: Refresh): string => {
    const total = r.toReplace?.length ?? 0;
    const left = r.toReplace ? r.toReplace.filter((id) => !r.replaced.has(id)).length : 0;
    const pct = r.status === 'Successful' ? 100 : total ? Math.floor(((total - left) * 100) / total) : 0;
    return (
      `<member><InstanceRefreshId>${r.id}</InstanceRefreshId><AutoScalingGroupName>${esc(r.group)}</AutoScalingGroupName><Status>${r.status}</Status>` +
      `<StatusReason>${esc(r.reason)}</StatusReason><StartTime>${new Date(r.start).toISOString()}</StartTime>${r.end ? `<EndTime>${new Date(r.end).toISOString()}</EndTime>` : ''}` +
      `<PercentageComplete>${pct}</PercentageComplete><InstancesToUpdate>${left}</InstancesToUpdate>` +
      `<Preferences><MinHealthyPercentage>${r.prefs.minHealthy}</MinHealthyPercentage><MaxHealthyPercentage>${r.prefs.maxHealthy}</MaxHealthyPercentage>` +
      `<SkipMatching>${r.prefs.skipMatching}</SkipMatching><ScaleInProtectedInstances>${r.prefs.protectedInstances}</ScaleInProtectedInstances></Preferences></member>`
    );
  };

  const send = (res: ServerResponse, status: number, xml: string) => {
    res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(xml), 'x-amzn-RequestId': randomUUID() }).end(xml);
  };
  const ok = (res: ServerResponse, action: string, result: string) =>
    send(res, 200, `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`);
  const fail = (res: ServerResponse, code: string, message: string) =>
    send(res, 400, `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);

  return {
    async handle(req: StandinRequest, res: ServerResponse, upstream: Upstream): Promise<boolean> {
      if (!req.form || !/Credential=[^/]+\/\d{8}\/[^/]+\/autoscaling\//.test(req.headers.authorization ?? '')) return false;
      const action = req.form.get('Action');
      const group = req.form.get('AutoScalingGroupName') ?? '';
      upstreamRef = upstream;
      if (action === 'StartInstanceRefresh') {
        const running = active(group);
        if (running) return fail(res, 'InstanceRefreshInProgress', `An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.`), true;
        const p = (k: string) => req.form!.get(`Preferences.${k}`);
        const r: Refresh = {
          id: randomUUID(), group, status: 'Pending', reason: 'Waiting to start', start: now(), replaced: new Set(),
          prefs: {
            minHealthy: Number(p('MinHealthyPercentage') ?? 90),
            maxHealthy: Number(p('MaxHealthyPercentage') ?? 100),
            skipMatching: p('SkipMatching') === 'true',
            protectedInstances: (p('ScaleInProtectedInstances') as Refresh['prefs']['protectedInstances'] | null) ?? 'Refresh',
          },
          auth: { authorization: req.headers.authorization ?? '', host: req.headers.host },
        };
        refreshes.push(r);
        timer ??= setTimeout(() => void tick(), TICK_MS);
        ok(res, action, `<InstanceRefreshId>${r.id}</InstanceRefreshId>`);
        return true;
      }
      if (action === 'DescribeInstanceRefreshes') {
        const ids = [...req.form.entries()].filter(([k]) => k.startsWith('InstanceRefreshIds.member.')).map(([, v]) => v);
        const found = refreshes.filter((r) => r.group === group && (!ids.length || ids.includes(r.id))).reverse();
        ok(res, action, `<InstanceRefreshes>${found.map(view).join('')}</InstanceRefreshes>`);
        return true;
      }
      if (action === 'CancelInstanceRefresh') {
        const running = active(group);
        if (!running) return fail(res, 'ActiveInstanceRefreshNotFound', 'No in progress or pending Instance Refresh found for this Auto Scaling group.'), true;
        running.status = 'Cancelling';
        ok(res, action, `<InstanceRefreshId>${running.id}</InstanceRefreshId>`);
        return true;
      }
      return false;
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
