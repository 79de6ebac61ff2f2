// Runs the CLI in-process with captured stdout/stderr and chosen TTY flags, as wrangler's tests do,
// or as a child process (bin/fluxer), as a user runs it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Clock } from '../../src/lib/clock.js';
import { main } from '../../src/cli/main.js';
import type { Prompter } from '../../src/cli/prompter.js';
import { REPO_ROOT } from './moto.js';

export class Capture {
  text = '';
  isTTY: boolean;
  columns = 100;
  constructor(isTTY: boolean) {
    this.isTTY = isTTY;
  }
  /** Called after each write with all text so far: tests wait on a line instead of sleeping. */
  onWrite?: (text: string) => void;
  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    this.onWrite?.(this.text);
    return true;
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  tty?: boolean;
  prompter?: Prompter;
  clock?: Clock;
  signal?: AbortSignal;
  /** Sees stderr as it grows (all text so far), e.g. to resolve a waitForText. */
  onStderr?: (text: string) => void;
  /** Sees stdout as it grows (all text so far): a test of a command that follows waits on its output. */
  onStdout?: (text: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A clean environment: no real AWS credentials or config leak into tests. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.FLUXER_TEST_HOME ?? '/nonexistent-home',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    FLUXER_MAX_ATTEMPTS: '1',
    ...extra,
  };
}

export async function runCli(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const stdout = new Capture(opts.tty ?? false);
  const stderr = new Capture(opts.tty ?? false);
  stderr.onWrite = opts.onStderr;
  stdout.onWrite = opts.onStdout;
  const code = await main(argv, {
    io: { stdout, stderr, stdin: { isTTY: opts.tty ?? false } },
    env: opts.env ?? testEnv(),
    cwd: opts.cwd ?? REPO_ROOT,
    prompter: opts.prompter,
    clock: opts.clock,
    signal: opts.signal,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export const BIN = join(REPO_ROOT, 'bin', 'fluxer');

/** Runs bin/fluxer as a child process (requires `npm run build`; the test command builds first). */
export function runBin(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? testEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

// eslint-disable-next-line no-control-regex
export const ANSI_ESCAPE = /\u001b\[/;

/** Stderr watcher for runCli's onStderr: `seen(re)` resolves once the text matches, or rejects after ms. */
export function stderrWatch(ms = 20_000): { onStderr: (text: string) => void; seen: (re: RegExp) => Promise<void> } {
  let text = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  return {
    onStderr(t) {
      text = t;
      for (const w of waiters.splice(0)) (w.re.test(text) ? w.resolve() : waiters.push(w));
    },
    seen(re) {
      if (re.test(text)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stderr never matched ${re} within ${ms}ms; it was:\n${text}`)), ms);
        waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}
