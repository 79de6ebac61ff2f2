// The process-level wrapper used by bin/fluxer: real streams, real env, Ctrl-C → abort signal.
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
      io: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
      env: process.env,
      cwd: process.cwd(),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
