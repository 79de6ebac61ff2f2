// `fluxer runtime logs`: the runtime's JSON log lines from the selected nodes over SSM
// (`fluxer-runtime logs`), pretty on a terminal, JSON lines when piped; --follow continues from the
// runtime's cursor with a new command every 2 s until Ctrl-C.
import { defineCommand } from '../../cli/command.js';
import { durationFlag, integerFlag } from '../../cli/parse.js';
import type { Context } from '../../cli/context.js';
import { interrupted, nodesFailure, openSession, TARGET_OPTIONS } from '../../cli/remote.js';
import { logsArgs, parseLogs, runtimeCall, type LogsAnswer } from '../../core/remote/runtime.js';
import type { TargetFlags } from '../../core/remote/targets.js';
import { ExitCode } from '../../lib/errors.js';

interface LogsOpts extends TargetFlags {
  since?: number;
  lines?: number;
  follow?: boolean;
}

const FOLLOW_INTERVAL_MS = 2000;

export default defineCommand<LogsOpts>({
  name: 'logs',
  description:
    "Prints the runtime's log (its JSON lines, oldest first) from each selected node over SSM. On a terminal: time,\n" +
    'level, message and fields; piped: the JSON lines as the runtime wrote them, each with "instanceId" added; --json\n' +
    '(without --follow): one document {nodes: [{instanceId, ok, error, lines, cursor}]}. Several nodes: each line\n' +
    "prefixed with the node id. --follow keeps polling (a new command every 2 s, from the runtime's cursor) until\n" +
    "Ctrl-C, then exits 0. Output past SSM's inline limits is read whole from the stack's bucket. See docs/runtime-ops.md.",
  options: [
    ...TARGET_OPTIONS,
    { flags: '--since <duration>', description: 'only lines of this last span (e.g. 10m, 1h)', parse: durationFlag('--since', { minMs: 1000, maxMs: 30 * 24 * 3_600_000 }) },
    { flags: '--lines <n>', description: 'at most the last N lines per node', parse: integerFlag('--lines', 1, 100_000) },
    { flags: '-f, --follow', description: 'keep printing new lines until Ctrl-C' },
  ],
  examples: ['fluxer runtime logs --node i-0123456789abcdef0 --since 10m', 'fluxer runtime logs --all --lines 50 | jq -r .msg', 'fluxer runtime logs --node i-0123456789abcdef0 --follow'],
  async handler(ctx, _args, opts) {
    const session = await openSession(ctx, opts, 'logs');
    if (!session) return;
    const since = opts.since === undefined ? undefined : Math.ceil(opts.since / 1000);
    // Nodes asked the same (no cursor yet, or the same one) share one SendCommand.
    const fetchLogs = async (ids: string[], cursors: Map<string, string | null>) => {
      const groups = new Map<string, string[]>();
      for (const id of ids) {
        const args = JSON.stringify(logsArgs({ ...(since !== undefined ? { sinceSeconds: since } : {}), ...(opts.lines !== undefined ? { lines: opts.lines } : {}), cursor: cursors.get(id) ?? null }));
        groups.set(args, [...(groups.get(args) ?? []), id]);
      }
      const answers = (await Promise.all([...groups].map(([args, group]) => runtimeCall(session.ports, ctx.clock, group, JSON.parse(args) as string[], { ...session.settings, waitMs: 60_000 })))).flat().map(parseLogs);
      return ids.map((id) => answers.find((a) => a.instanceId === id)!);
    };
    const many = session.ids.length > 1;
    const cursors = new Map<string, string | null>();
    if (!opts.follow) {
      const answers = await fetchLogs(session.ids, cursors).catch((err) => interrupted(ctx, err, 'the logs'));
      if (ctx.out.json) return ctx.out.resultOrFailure({ nodes: answers.map(({ agent: _a, ...a }) => a) }, () => '', nodesFailure(answers, 'logs'));
      for (const a of answers) printLines(ctx, a, many);
      const failure = nodesFailure(answers, 'logs');
      if (failure) throw failure;
      return ExitCode.Ok;
    }
    // Follow: each round prints what is new since the last cursor; a failing node is reported once a round.
    for (;;) {
      let answers: LogsAnswer[];
      try {
        answers = await fetchLogs(session.ids, cursors);
      } catch (err) {
        if (ctx.signal.aborted) return ExitCode.Ok;
        throw err;
      }
      for (const a of answers) {
        if (a.ok || a.lines.length) printLines(ctx, a, many);
        if (!a.ok) ctx.out.warn(`${a.instanceId}: ${a.error ?? 'failed'}`);
        if (a.cursor) cursors.set(a.instanceId, a.cursor);
      }
      try {
        await ctx.clock.sleep(FOLLOW_INTERVAL_MS, ctx.signal);
      } catch {
        if (ctx.signal.aborted) return ExitCode.Ok;
        throw new Error('follow interrupted');
      }
    }
  },
});

function printLines(ctx: Context, a: LogsAnswer, many: boolean): void {
  const pretty = ctx.out.stdoutIsTTY && !ctx.out.json;
  for (const line of a.lines) {
    if (!pretty) {
      ctx.out.raw(`${typeof line === 'string' ? JSON.stringify({ instanceId: a.instanceId, text: line }) : JSON.stringify({ instanceId: a.instanceId, ...line })}\n`);
      continue;
    }
    ctx.out.raw(`${many ? `${ctx.out.out.dim(a.instanceId)} ` : ''}${prettyLine(ctx, line)}\n`);
  }
}

const LEVEL_COLORS: Record<string, 'red' | 'yellow' | 'cyan' | 'gray'> = { error: 'red', critical: 'red', warning: 'yellow', warn: 'yellow', info: 'cyan', debug: 'gray' };

/** `12:03:04.512 INFO  job started  job_id=0193… steps=4` */
export function prettyLine(ctx: Context, line: Record<string, unknown> | string): string {
  if (typeof line === 'string') return line;
  const { ts, level, msg, ...fields } = line as { ts?: unknown; level?: unknown; msg?: unknown };
  const time = typeof ts === 'string' ? (/T(\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)/.exec(ts)?.[1] ?? ts) : '';
  const lvl = String(level ?? '').toLowerCase();
  const color = LEVEL_COLORS[lvl];
  const levelText = lvl.toUpperCase().padEnd(5);
  const rest = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`);
  return [ctx.out.out.dim(time), color ? ctx.out.out[color](levelText) : levelText, String(msg ?? ''), ...(rest.length ? [ctx.out.out.dim(rest.join(' '))] : [])].filter((s) => s !== '').join('  ');
}
