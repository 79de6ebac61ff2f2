// How a command is declared: once, with its metadata, arguments, options and handler.
// The program (src/cli/program.ts) turns these into the commander tree; src/commands/index.ts
// lists them (with their summaries) and loads each only when a run names it.
import type { Context } from './context.js';
import type { ExitCode } from '../lib/errors.js';

export interface ArgSpec {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

export interface OptionSpec {
  /** commander syntax: '--out <file>', '--gzip', '--var <key=value>'. */
  flags: string;
  description: string;
  /** Turns the text into a value; throw UsageError (naming the flag) when it is not valid. */
  parse?: (value: string, previous: unknown) => unknown;
  /** Repeatable flag collected into an array. */
  repeatable?: boolean;
  default?: unknown;
  /** How help shows the default when the value itself reads badly (a duration in ms: "30s"). */
  defaultLabel?: string;
  /** Allowed values, shown in help and checked by commander. */
  choices?: readonly string[];
}

export interface CommandSpec<Opts = Record<string, unknown>> {
  /** Must equal its entry's name in src/commands/index.ts (which also holds its one-line summary). */
  name: string;
  /** Longer help text shown by `fluxer <noun> <verb> --help` (default: the summary). */
  description?: string;
  args?: ArgSpec[];
  options?: OptionSpec[];
  examples?: string[];
  /** Returns an exit code (0 when omitted). Throw FluxerError subclasses to fail. */
  handler: (ctx: Context, args: string[], opts: Opts) => Promise<ExitCode | number | void>;
}

export function defineCommand<Opts>(spec: CommandSpec<Opts>): CommandSpec<Opts> {
  return spec;
}
