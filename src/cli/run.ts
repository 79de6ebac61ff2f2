// The process-level wrapper used by bin/fluxer: real streams, real env, Ctrl-C → abort signal.
import { createRequire } from 'node:module';
import { main } from './main.js';

// For the build's code-cache warm-up (scripts/build.mjs), which runs --help with captured streams.
export { main };

export async function run(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    // A second Ctrl-C means "now": leave immediately with 130.
    if (interrupts > 1) process.exit(130);
    controller.abort(new Error('interrupted'));
  };
  // Installed when a command starts (help and --version never need it).
  const watchCtrlC = () => process.on('SIGINT', onSigint);
  // A closed pipe (`fluxer ... | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  try {
    return await main(argv, {
      io: { stdout: process.stdout, stderr: process.stderr, stdin: lazyStdin() },
      env: process.env,
      cwd: process.cwd(),
      signal: controller.signal,
      onCommandStart: watchCtrlC,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/**
 * process.stdin is costly to create (a stream over fd 0) and most commands never read it: answer
 * isTTY from the fd, and build the stream only when a prompt or `--batch -` actually reads.
 */
function lazyStdin(): NodeJS.ReadableStream & { isTTY?: boolean } {
  let tty: boolean | undefined;
  return new Proxy({} as NodeJS.ReadableStream & { isTTY?: boolean }, {
    get(_target, prop) {
      if (prop === 'isTTY') return (tty ??= (createRequire(import.meta.url)('node:tty') as typeof import('node:tty')).isatty(0));
      const value = Reflect.get(process.stdin, prop, process.stdin) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(process.stdin) : value;
    },
  });
}
