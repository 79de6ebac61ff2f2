// The entry point's body: parse, run one command, turn any error into a message and an exit code.
// Never calls process.exit(): bin/fluxer sets process.exitCode from the returned number.
import { CommanderError } from 'commander';
import { systemClock } from '../lib/clock.js';
import { ExitCode, InterruptedError } from '../lib/errors.js';
import type { ContextDeps } from './context.js';
import { Output, colorAllowed } from './output.js';
import { buildProgram, fromCommanderError } from './program.js';

export async function main(argv: string[], deps: ContextDeps): Promise<number> {
  try {
    // Inside the try: building the tree loads the named command's module, which can fail.
    const { program, exitCode } = await buildProgram(deps, argv);
    if (argv.length === 0) {
      deps.io.stdout.write(program.helpInformation() + '\n');
      return ExitCode.Ok;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode() ?? ExitCode.Ok;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // --help, --version, or a bare noun such as `fluxer userdata` (commander shows its help).
      if (thrown.exitCode === 0 || thrown.code === 'commander.help' || thrown.code === 'commander.helpDisplayed' || thrown.code === 'commander.version') {
        return ExitCode.Ok;
      }
      if (thrown.code === 'commander.executeSubCommandAsync' || thrown.code === 'commander.missingMandatoryOptionValue') {
        // fall through to the generic mapping below
      }
      const usage = fromCommanderError(thrown);
      if (usage) {
        errorOutput(argv, deps).error(usage);
        return usage.exitCode;
      }
    }
    if (deps.signal?.aborted && !(thrown instanceof InterruptedError)) {
      const interrupted = new InterruptedError('Interrupted', { hint: 'Anything already submitted keeps running.' });
      errorOutput(argv, deps).error(interrupted);
      return interrupted.exitCode;
    }
    // Loaded on a failure only (startup is a budget). The local clock at the failure lets a clock-skew
    // hint say how far it is from AWS's.
    const { toFluxerError } = await import('../aws/errors.js');
    const error = toFluxerError(thrown, { nowMs: (deps.clock ?? systemClock).now() });
    errorOutput(argv, deps).error(error);
    return error.exitCode;
  }
}

/** Errors can happen before global flags are parsed, so read --json/--debug/--no-color from argv. */
function errorOutput(argv: string[], deps: ContextDeps): Output {
  const before = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'));
  return new Output(deps.io, {
    json: before.includes('--json'),
    debug: before.includes('--debug'),
    color: colorAllowed(deps.env, before.includes('--no-color')),
  });
}
