// `fluxer runtime status`: each selected node's runtime health, read over SSM (`fluxer-runtime status`).
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { interrupted, nodesFailure, openSession, TARGET_OPTIONS, uptimeText } from '../../cli/remote.js';
import { runtimeStatus, type StatusRow } from '../../core/remote/runtime.js';
import type { TargetFlags } from '../../core/remote/targets.js';

interface StatusOpts extends TargetFlags {
  timeout: number;
}

export default defineCommand<StatusOpts>({
  name: 'status',
  description:
    "Runs `fluxer-runtime status` on each selected node over SSM (one SendCommand for up to 50 nodes) and shows its\n" +
    'runtime state (with the reason), release, model, memory policy, running job and progress, counters, uptime, GPU\n' +
    "memory and the node's SSM agent status. A node whose agent is offline (ConnectionLost) is not sent to and is\n" +
    'reported with the reason, as is a runtime that is FAILED, STOPPED or not reachable: then the exit code is 1,\n' +
    'after every other node answered. See docs/runtime-ops.md.',
  options: [...TARGET_OPTIONS, { flags: '--timeout <duration>', description: 'how long to wait for the nodes to answer', parse: durationFlag('--timeout', { minMs: 5000, maxMs: 3_600_000 }), default: 60_000, defaultLabel: '1m' }],
  examples: ['fluxer runtime status --all', 'fluxer runtime status --node i-0123456789abcdef0 --json', 'fluxer runtime status --launch-id 0193a1b2'],
  async handler(ctx, _args, opts) {
    const session = await openSession(ctx, opts, 'status');
    if (!session) return;
    const rows = await runtimeStatus(session.ports, ctx.clock, session.ids, { ...session.settings, waitMs: opts.timeout }).catch((err) => interrupted(ctx, err, 'the status'));
    const nodes = rows.map(toJson);
    return ctx.out.resultOrFailure({ nodes }, () => ctx.out.table(HEADERS, rows.map(toCells)), nodesFailure(rows, 'runtime status'));
  },
});

const HEADERS = ['ID', 'STATE', 'RELEASE', 'MODEL', 'POLICY', 'JOB', 'JOBS OK/FAILED', 'IMAGES', 'UPTIME', 'GPU', 'AGENT'];

function toJson(r: StatusRow) {
  const h = r.health;
  return {
    instanceId: r.instanceId,
    ok: r.ok,
    error: r.error,
    agent: r.agent,
    state: h?.state ?? null,
    stateReason: h?.stateReason ?? null,
    release: h?.release ?? null,
    version: h?.version ?? null,
    model: h?.model ?? null,
    policy: h?.memoryPolicy ?? null,
    device: h?.device ?? null,
    job: h?.job ?? null,
    counters: h?.counters ?? null,
    pid: h?.pid ?? null,
    startedAt: h?.startedAt ?? null,
    uptimeSeconds: h?.uptimeSeconds ?? null,
    gpu: h?.gpu ?? null,
    pull: h?.pull ?? null,
    lastError: h?.lastError ?? null,
  };
}

function toCells(r: StatusRow): Array<string | number | null> {
  const h = r.health;
  // While PULLING, the weights' progress: bytes done of this start's total.
  const pulling = h?.state === 'PULLING' && h.pull?.bytesTotal ? ` ${gib(h.pull.bytesDone ?? 0)}/${gib(h.pull.bytesTotal)} GiB` : '';
  const state = h?.state ? `${h.state}${pulling}${h.stateReason ? ` (${h.stateReason})` : ''}` : `- (${r.error ?? 'no answer'})`;
  const job = h?.job ? `${h.job.id.slice(0, 8)} ${h.job.image ?? 1}/${h.job.count ?? 1} step ${h.job.step ?? 0}/${h.job.steps ?? '?'}` : null;
  const jobs = h?.counters?.jobs ? `${h.counters.jobs.succeeded ?? 0}/${h.counters.jobs.failed ?? 0}` : null;
  const gpu = h?.gpu?.name ? `${h.gpu.name}${h.gpu.memoryUsedBytes != null && h.gpu.memoryBytes ? ` ${gib(h.gpu.memoryUsedBytes)}/${gib(h.gpu.memoryBytes)} GiB` : ''}` : (h?.device ?? null);
  return [r.instanceId, state, h?.release ?? null, h?.model ?? null, h?.memoryPolicy ?? null, job, jobs, h?.counters?.imagesDone ?? null, uptimeText(h?.uptimeSeconds), gpu, r.agent ?? 'not registered'];
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1);
