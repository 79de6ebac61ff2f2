// `fluxer runtime exec -- COMMAND...`: one command on the selected nodes over SSM, as the runtime's
// user; its stdout, stderr and exit code come back whole (past SSM's inline limits, from S3).
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { interrupted, nodesFailure, openSession, TARGET_OPTIONS } from '../../cli/remote.js';
import { runOnNodes } from '../../core/remote/run.js';
import { execScript } from '../../core/remote/scripts.js';
import { parseTargets, type TargetFlags } from '../../core/remote/targets.js';
import { ExitCode, UsageError } from '../../lib/errors.js';

interface ExecOpts extends TargetFlags {
  timeout: number;
}

export default defineCommand<ExecOpts>({
  name: 'exec',
  description:
    'Runs COMMAND on each selected node over SSM (AWS-RunShellScript), as the runtime\'s user (ubuntu on a real\n' +
    'node), each argument passed exactly as given (single-quoted for the shell: spaces, quotes, $ and ; arrive as\n' +
    'typed). Put `--` before the command. Prints its stdout and stderr (several nodes: each line prefixed with the\n' +
    "node id) and exits 1 when it failed on any node (the node's exit code is `exitCode` in --json). Output past\n" +
    "SSM's inline limits (24,000 / 8,000 characters) is read whole from the stack's bucket. --all and --launch-id\n" +
    'need --yes when not interactive. See docs/runtime-ops.md.',
  args: [{ name: 'COMMAND', description: 'the command and its arguments (after --)', required: true, variadic: true }],
  options: [
    ...TARGET_OPTIONS,
    { flags: '--timeout <duration>', description: 'how long the command may run on the node (then it is stopped)', parse: durationFlag('--timeout', { minMs: 1000, maxMs: 48 * 3_600_000 }), default: 600_000, defaultLabel: '10m' },
  ],
  examples: ["fluxer runtime exec --node i-0123456789abcdef0 -- nvidia-smi", "fluxer runtime exec --all --yes -- df -h /opt", "fluxer runtime exec --node i-0123456789abcdef0 --json -- sh -c 'journalctl -u fluxer-runtime -n 50'"],
  async handler(ctx, args, opts) {
    if (args.length === 0) throw new UsageError('Give the command to run after --', { hint: 'e.g. `fluxer runtime exec --node i-0123456789abcdef0 -- uptime`' });
    const selection = parseTargets(opts, 'exec');
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    const many = selection.kind !== 'nodes';
    if (many) requireConfirmable(confirmCtx, `Running a command on ${selection.kind === 'all' ? 'every node (--all)' : 'every node of a launch (--launch-id)'}`);
    const session = await openSession(ctx, opts, 'exec', selection);
    if (!session) return;
    if (many && !(await confirmAction(confirmCtx, `Run \`${args.join(' ')}\` on ${session.ids.length} node(s)?`, 'Running a command on many nodes'))) {
      ctx.out.info('Nothing was run.');
      return ExitCode.Failed;
    }
    const timeoutS = Math.ceil(opts.timeout / 1000);
    const results = await runOnNodes(session.ports, ctx.clock, {
      instanceIds: session.ids,
      script: execScript(args),
      comment: `fluxer runtime exec: ${args.join(' ')}`,
      executionTimeoutSeconds: timeoutS,
      // Delivery, the run itself, and the agent's report.
      waitMs: opts.timeout + 60_000,
      ...session.settings,
    }).catch((err) => interrupted(ctx, err, 'the command'));
    const nodes = results.map((r) => ({ instanceId: r.instanceId, ok: r.ok, error: r.error, status: r.status, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, agent: r.agent, commandId: r.commandId, ...(r.outputSource ? { outputSource: r.outputSource } : {}) }));
    const failure = nodesFailure(results, 'exec');
    if (ctx.out.json) return ctx.out.resultOrFailure({ nodes }, () => '', failure);
    for (const r of results) {
      if (results.length === 1) {
        ctx.out.raw(r.stdout);
        if (r.stderr) ctx.io.stderr.write(r.stderr);
      } else {
        ctx.out.raw(prefixed(r.instanceId, r.stdout));
        ctx.io.stderr.write(prefixed(r.instanceId, r.stderr));
      }
    }
    if (failure) throw failure;
    return ExitCode.Ok;
  },
});

function prefixed(id: string, text: string): string {
  if (text === '') return '';
  return text.replace(/\n$/, '').split('\n').map((l) => `${id}: ${l}\n`).join('');
}
