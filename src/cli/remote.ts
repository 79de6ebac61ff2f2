// What the `fluxer runtime …` commands over SSM share on the terminal side: the target flags, opening
// the session (with the "no nodes" note), and the per-node failure that makes the CLI exit 1 after
// every node answered.
import type { Context } from './context.js';
import type { OptionSpec } from './command.js';
import { openRemoteSession, type RemoteSession } from '../core/remote/session.js';
import { parseTargets, type TargetFlags, type TargetSelection } from '../core/remote/targets.js';
import { FluxerError, InterruptedError } from '../lib/errors.js';

export const TARGET_OPTIONS: OptionSpec[] = [
  { flags: '--node <id>', description: 'a node (instance id) of the stack; repeat for more', repeatable: true },
  { flags: '--launch-id <id>', description: 'the running nodes of one `fluxer spot launch`' },
  { flags: '--all', description: "every running node of the stack" },
];

/** Parses the target flags (exit 2 before any call), then resolves them; undefined when no node runs. */
export async function openSession(ctx: Context, flags: TargetFlags, command: string, selection: TargetSelection = parseTargets(flags, command)): Promise<RemoteSession | undefined> {
  const config = ctx.config();
  const session = await openRemoteSession(ctx.aws(), config, selection, ctx.signal);
  if (session.ids.length === 0) {
    const what = selection.kind === 'launch' ? `of launch ${selection.launchId}` : `of stack "${config.stack}"`;
    ctx.out.result({ nodes: [] }, () => '');
    ctx.out.info(`No running nodes ${what} in ${session.region}. \`fluxer spot list\` shows the stack's nodes.`);
    return undefined;
  }
  return session;
}

/** Exit 1 naming each node that failed and why (printed after the others' results). */
export function nodesFailure(rows: ReadonlyArray<{ instanceId: string; ok: boolean; error: string | null }>, what: string): FluxerError | undefined {
  const failed = rows.filter((r) => !r.ok);
  if (failed.length === 0) return undefined;
  return new FluxerError(`${what} failed on ${failed.length} of ${rows.length} node(s): ${failed.map((r) => `${r.instanceId}: ${r.error ?? 'failed'}`).join('; ')}`, {
    code: 'NodeCommandFailed',
    hint: 'An offline node (SSM agent ConnectionLost) is not sent to: check it with `fluxer spot list`; `fluxer runtime logs --node ID` shows a runtime\'s log.',
  });
}

/** Ctrl-C during a wait: exit 130, saying the command may still run on the nodes. */
export function interrupted(ctx: Context, err: unknown, what: string): never {
  if (ctx.signal.aborted) throw new InterruptedError(`Stopped waiting for ${what}`, { hint: 'What reached the nodes keeps running there: check with `fluxer runtime status --all`.' });
  throw err;
}

/** "1h2m" style uptime from seconds, or null. */
export function uptimeText(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined) return null;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}
