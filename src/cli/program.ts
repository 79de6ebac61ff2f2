// The commander tree: global flags, every registered command, help text. Only commands that work
// are registered (src/commands/index.ts).
import { Command, CommanderError, Option } from 'commander';
import { NOUNS, TOP_LEVEL, type CommandEntry } from '../commands/index.js';
import type { CommandSpec } from './command.js';
import { createContext, type ContextDeps, type GlobalOptions } from './context.js';
import { ExitCode, FluxerError, UsageError } from '../lib/errors.js';
import { exitCodeTable } from './output.js';
import { fluxerVersion } from '../lib/paths.js';
import { reflow } from './reflow.js';

export interface ProgramRun {
  program: Command;
  /** The exit code the handler returned, once a command ran. */
  exitCode(): number | undefined;
}

/** Global flags that take a value: their value is never a command name. */
const GLOBAL_FLAGS_WITH_VALUE = new Set(['--stack', '--profile', '--region', '--endpoint-url', '--config']);

/**
 * The command words of argv (`generate`, `jobs tail`), read the way commander will read them, so
 * only the named command's module is loaded. `fluxer help jobs tail` names `jobs tail`.
 */
export function commandWords(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 3; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token.startsWith('-')) {
      if (GLOBAL_FLAGS_WITH_VALUE.has(token)) i++;
      // A command's own flags come after its words, and then we have what we need.
      continue;
    }
    words.push(token);
  }
  return words[0] === 'help' ? words.slice(1) : words.slice(0, 2);
}

export async function buildProgram(deps: ContextDeps, argv: string[] = []): Promise<ProgramRun> {
  let code: number | undefined;
  const program = new Command('fluxer')
    .description('Run a FLUX / SDXL image-generation service on AWS EC2 spot GPU nodes.')
    .version(fluxerVersion(), '-V, --version', 'print the version')
    .option('--stack <name>', 'named set of settings from the config (env FLUXER_STACK)')
    .option('--profile <name>', 'AWS profile (env AWS_PROFILE)')
    .option('--region <region>', 'AWS region (env AWS_REGION)')
    .option('--endpoint-url <url>', 'AWS-compatible endpoint for all services (env AWS_ENDPOINT_URL)')
    .option('--config <file>', 'config file to use instead of the nearest fluxer.config.json')
    .option('--json', 'print one JSON document on stdout')
    .option('-y, --yes', 'answer yes to confirmations (required when not interactive)')
    .option('--no-color', 'no colors or spinners (also NO_COLOR, CI)')
    .option('--debug', 'verbose logs and stack traces on stderr')
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void deps.io.stdout.write(s),
      writeErr: (s) => void deps.io.stderr.write(s),
      // Errors are printed by main() in fluxer's own format.
      outputError: () => {},
    })
    .addHelpText(
      'after',
      `\nExit codes:\n${exitCodeTable()}\n\nRun \`fluxer <command> --help\` for a command's flags. Docs: README.md, docs/.`,
    );

  const [first, second] = commandWords(argv);
  // Every command appears in help by name and summary; only the one argv names is loaded in full.
  const attach = async (parent: Command, entry: CommandEntry, named: boolean) => {
    const cmd = parent.command(entry.name).summary(entry.summary).description(entry.summary);
    if (!named) {
      // Unreachable when commandWords reads argv as commander does; fail loudly rather than do nothing.
      cmd.allowUnknownOption().allowExcessArguments().action(() => {
        throw new Error(`internal: command "${entry.name}" ran without being loaded (argv: ${argv.join(' ')})`);
      });
      return;
    }
    const spec = await loadSpec(entry, parent.name() === 'fluxer' ? entry.name : `${parent.name()} ${entry.name}`);
    if (spec.description) cmd.description(reflow(spec.description));
    for (const arg of spec.args ?? []) {
      const label = `${arg.name}${arg.variadic ? '...' : ''}`;
      cmd.argument(arg.required ? `<${label}>` : `[${label}]`, arg.description);
    }
    for (const o of spec.options ?? []) {
      const option = new Option(o.flags, o.description);
      if (o.choices) option.choices(o.choices);
      if (o.parse) option.argParser(o.parse as (value: string, previous: unknown) => unknown);
      else if (o.repeatable) option.argParser((v: string, prev: unknown) => [...((prev as string[] | undefined) ?? []), v]);
      if (o.default !== undefined) option.default(o.default, o.defaultLabel);
      cmd.addOption(option);
    }
    if (spec.examples?.length) cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}`);
    // Commander's own excess-argument error only counts them; ours names the first one.
    const takes = spec.args?.some((a) => a.variadic) ? Infinity : (spec.args?.length ?? 0);
    cmd.allowExcessArguments();
    cmd.action(async (...actionArgs: unknown[]) => {
      const self = actionArgs[actionArgs.length - 1] as Command;
      if (self.args.length > takes) {
        const usage = takes === 0 ? 'takes no arguments' : `takes ${takes} argument${takes === 1 ? '' : 's'}`;
        throw new UsageError(`Unexpected argument ${JSON.stringify(self.args[takes])}: fluxer ${commandPath(self)} ${usage}`, { hint: `Run \`fluxer ${commandPath(self)} --help\` for usage.` });
      }
      deps.onCommandStart?.();
      const globals = toGlobals(self.optsWithGlobals());
      const ctx = createContext(globals, deps);
      const positional = (self.processedArgs as unknown[]).flatMap((a) => (a === undefined ? [] : Array.isArray(a) ? a.map(String) : [String(a)]));
      try {
        const result = await spec.handler(ctx, positional, self.opts() as never);
        code = typeof result === 'number' ? result : ExitCode.Ok;
      } finally {
        // A request abandoned by a timeout or Ctrl-C must not keep the process alive.
        ctx.dispose();
      }
    });
  };

  for (const entry of TOP_LEVEL) await attach(program, entry, entry.name === first);
  for (const noun of NOUNS) {
    const group = program.command(noun.name).summary(noun.summary).description(noun.summary);
    group.showSuggestionAfterError(true);
    for (const entry of noun.commands) await attach(group, entry, noun.name === first && entry.name === second);
  }
  return { program, exitCode: () => code };
}

/** A module that fails to load (a broken install, a throw at import) is a plain failure, exit 1. */
async function loadSpec(entry: CommandEntry, words: string): Promise<CommandSpec<never>> {
  try {
    const spec = (await entry.load()).default;
    if (!spec || typeof spec.handler !== 'function') throw new Error('the module has no command as its default export');
    return spec;
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
    throw new FluxerError(`could not load the command \`fluxer ${words}\`: ${err instanceof Error ? err.message : String(err)}${cause}`, {
      code: 'CommandLoadFailed',
      hint: 'The installation looks broken: reinstall fluxer (`npm ci` in a checkout). --debug shows the stack.',
      cause: err,
    });
  }
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function toGlobals(o: Record<string, unknown>): GlobalOptions {
  return {
    stack: o.stack as string | undefined,
    profile: o.profile as string | undefined,
    region: o.region as string | undefined,
    endpointUrl: o.endpointUrl as string | undefined,
    config: o.config as string | undefined,
    json: Boolean(o.json),
    yes: Boolean(o.yes),
    color: o.color !== false,
    debug: Boolean(o.debug),
  };
}

/** Commander's own usage errors become fluxer UsageErrors (exit 2) with the suggestion as the hint. */
export function fromCommanderError(err: CommanderError): UsageError | undefined {
  if (err.exitCode === 0) return undefined;
  const [first, ...rest] = err.message.replace(/^error: /, '').split('\n');
  const suggestion = rest.join(' ').match(/\(Did you mean (.+)\?\)/);
  const text = first ?? err.message;
  return new UsageError(text.charAt(0).toUpperCase() + text.slice(1), {
    code: 'UsageError',
    hint: suggestion ? `Did you mean ${suggestion[1]}? Run \`fluxer --help\` for the command list.` : 'Run `fluxer --help` (or `fluxer <command> --help`) for usage.',
  });
}
