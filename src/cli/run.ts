// The process-level wrapper used by bin/fluxer: real streams, real env, Ctrl-C → abort signal.
import { isatty } from 'node:tty';
import { main } from './main.js';

export async function run(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    // A second Ctrl-C means "now": leave immediately with 130.
    if (interrupts > 1) process.exit(130);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
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
  const tty = isatty(0);
  return new Proxy({} as NodeJS.ReadableStream & { isTTY?: boolean }, {
    get(_target, prop) {
      if (prop === 'isTTY') return tty;
      const value = Reflect.get(process.stdin, prop, process.stdin) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(process.stdin) : value;
    },
  });
}
