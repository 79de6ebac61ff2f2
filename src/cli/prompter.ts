// Questions to a person. Prompts go to stderr (stdout stays clean for results) and are only asked
// when stdin and stdout are terminals; otherwise commands must be told with flags and --yes.
import { UsageError } from '../lib/errors.js';
import type { IOStreams } from './output.js';

export interface Prompter {
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
  input(message: string, opts?: { default?: string; validate?: (value: string) => string | true }): Promise<string>;
  select<T extends string>(message: string, choices: Array<{ value: T; name?: string; description?: string }>, defaultValue?: T): Promise<T>;
}

/** The real prompter: @inquirer/prompts, imported only when a question is actually asked. */
export function createInquirerPrompter(io: IOStreams): Prompter {
  const context = { input: io.stdin as NodeJS.ReadableStream, output: io.stderr as NodeJS.WritableStream, clearPromptOnDone: false };
  return {
    async confirm(message, defaultValue = false) {
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: defaultValue }, context);
    },
    async input(message, opts = {}) {
      const { input } = await import('@inquirer/prompts');
      return input({ message, default: opts.default, validate: opts.validate }, context);
    },
    async select(message, choices, defaultValue) {
      const { select } = await import('@inquirer/prompts');
      return select({ message, choices, default: defaultValue }, context);
    },
  };
}

/**
 * Guard for destructive or costly actions: --yes passes; a person is asked; anything else (a script,
 * CI, a pipe) is refused with exit 2 before anything is sent.
 */
export async function confirmAction(
  ctx: { yes: boolean; interactive: boolean; prompter: Prompter },
  question: string,
  what: string,
): Promise<boolean> {
  if (ctx.yes) return true;
  requireConfirmable(ctx, what);
  return ctx.prompter.confirm(question, false);
}

/**
 * The non-interactive half of confirmAction, for a command to call before its first AWS call: a
 * script without --yes is refused (exit 2) having sent nothing, not after a round of reads.
 */
export function requireConfirmable(ctx: { yes: boolean; interactive: boolean }, what: string): void {
  if (ctx.yes || ctx.interactive) return;
  throw new UsageError(`${what} needs --yes when not run interactively`, { code: 'ConfirmationRequired', hint: 'Re-run with --yes to confirm.' });
}
