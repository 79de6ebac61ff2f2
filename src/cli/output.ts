// Everything fluxer prints goes through here: results to stdout, the rest to stderr.
// Knows whether each stream is a terminal, so colors, spinners and pretty tables appear only there.
import { createRequire } from 'node:module';
import { Chalk, type ChalkInstance } from 'chalk';
import type CliTable from 'cli-table3';
import { EXIT_CODE_MEANINGS, ExitCode, type FluxerError } from '../lib/errors.js';

export interface WritableLike {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ReadableLike {
  isTTY?: boolean;
}

export interface IOStreams {
  stdout: WritableLike;
  stderr: WritableLike;
  stdin: ReadableLike;
}

export interface OutputOptions {
  json: boolean;
  /** false when --no-color, NO_COLOR or CI is set, or stderr/stdout is not a TTY. */
  color: boolean;
  debug: boolean;
}

export function colorAllowed(env: NodeJS.ProcessEnv, noColorFlag: boolean): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0') return false;
  if (env.TERM === 'dumb') return false;
  return true;
}

export interface LiveLine {
  readonly live: boolean;
  /** A line that stays; clears the redrawn line first. */
  line(text: string): void;
  /** Redraws the one in-place line (only when live). */
  draw(text: string): void;
  clear(): void;
}

export interface Spinner {
  update(text: string): void;
  stop(finalText?: string): void;
}

export class Output {
  readonly io: IOStreams;
  readonly opts: OutputOptions;
  /** Colors for stdout text (off when stdout is piped). */
  readonly out: ChalkInstance;
  /** Colors for stderr text (off when stderr is piped). */
  readonly err: ChalkInstance;

  constructor(io: IOStreams, opts: OutputOptions) {
    this.io = io;
    this.opts = opts;
    this.out = new Chalk({ level: opts.color && io.stdout.isTTY ? 1 : 0 });
    this.err = new Chalk({ level: opts.color && io.stderr.isTTY ? 1 : 0 });
  }

  get json(): boolean {
    return this.opts.json;
  }

  get stdoutIsTTY(): boolean {
    return Boolean(this.io.stdout.isTTY);
  }

  get stderrIsTTY(): boolean {
    return Boolean(this.io.stderr.isTTY);
  }

  /** Prompts are allowed only when a person can see and answer them. */
  get interactive(): boolean {
    return Boolean(this.io.stdin.isTTY && this.io.stdout.isTTY);
  }

  /** A command's result: under --json exactly one JSON document, else the human rendering. */
  result(data: unknown, human: () => string): void {
    if (this.opts.json) {
      this.io.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return;
    }
    const text = human();
    if (text !== '') this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /**
   * A result that may also be a failure (a job that finished but did not succeed): the result is
   * printed either way; the failure is then thrown (exit code, `Error:` and hint), except under
   * --json, where the result is the one document on stdout and the error goes to stderr only.
   */
  resultOrFailure(data: unknown, human: () => string, failure: FluxerError | undefined): number {
    this.result(data, human);
    if (!failure) return ExitCode.Ok;
    if (this.opts.json) {
      this.info(`Error: ${failure.message}`);
      if (failure.hint) this.info(`Hint: ${failure.hint}`);
      return failure.exitCode;
    }
    throw failure;
  }

  /**
   * One line of stderr redrawn in place (a progress bar), on a colour terminal only; elsewhere
   * `live` is false and callers write a line per change instead.
   */
  liveLine(): LiveLine {
    const live = this.stderrIsTTY && this.opts.color;
    let shown = false;
    const clear = () => {
      if (shown) this.io.stderr.write('\r\u001b[2K');
      shown = false;
    };
    return {
      live,
      line: (text) => {
        clear();
        this.info(text);
      },
      draw: (text) => {
        if (!live) return;
        this.io.stderr.write(`\r\u001b[2K${text}`);
        shown = true;
      },
      clear,
    };
  }

  /** Raw result text on stdout (file contents such as rendered user data). */
  raw(text: string | Uint8Array): void {
    this.io.stdout.write(text as string);
  }

  info(message: string): void {
    this.io.stderr.write(`${message}\n`);
  }

  success(message: string): void {
    this.io.stderr.write(`${this.err.green('✓')} ${message}\n`);
  }

  warn(message: string): void {
    this.io.stderr.write(`${this.err.yellow('Warning:')} ${message}\n`);
  }

  debug(message: string): void {
    if (this.opts.debug) this.io.stderr.write(`${this.err.dim(`[debug] ${message}`)}\n`);
  }

  /** Errors: `Error: <what>` then the hint; under --json the error document goes to stdout. */
  error(error: FluxerError): void {
    if (this.opts.json) {
      const doc = { error: { code: error.code, message: error.message, hint: error.hint ?? null, exitCode: error.exitCode } };
      this.io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    }
    this.io.stderr.write(`${this.err.red('Error:')} ${error.message}\n`);
    if (error.hint) this.io.stderr.write(`${this.err.dim('Hint:')} ${error.hint}\n`);
    if (this.opts.debug && error.stack) {
      this.io.stderr.write(`${this.err.dim(error.stack)}\n`);
      if (error.cause instanceof Error && error.cause.stack) this.io.stderr.write(`${this.err.dim(`Caused by: ${error.cause.stack}`)}\n`);
    }
  }

  /**
   * A table for stdout. On a terminal: cli-table3's aligned columns with a bold header, no borders.
   * Piped: tab-separated rows, no header decoration, so `cut -f` and `awk -F'\t'` work.
   */
  table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
    const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))));
    if (!this.stdoutIsTTY) {
      return [headers, ...cells].map((r) => r.join('\t')).join('\n');
    }
    const table = new (loadCliTable())({ head: headers.map((h) => this.out.bold(h)), chars: BORDERLESS, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } });
    table.push(...cells);
    return table
      .toString()
      .split('\n')
      .map((line) => line.trimEnd())
      .join('\n');
  }

  /** A spinner on stderr, only on a color-capable terminal; elsewhere a no-op (progress is logged instead). */
  async spinner(text: string): Promise<Spinner> {
    if (!this.stderrIsTTY || !this.opts.color || this.opts.json) {
      return { update() {}, stop: (finalText?: string) => finalText && this.info(finalText) };
    }
    const { default: ora } = await import('ora');
    const s = ora({ text, stream: this.io.stderr as NodeJS.WritableStream }).start();
    return {
      update: (t: string) => {
        s.text = t;
      },
      stop: (finalText?: string) => {
        if (finalText) s.succeed(finalText);
        else s.stop();
      },
    };
  }
}

/** No border lines: columns separated by two spaces, as gh and kubectl print them. */
const BORDERLESS: Partial<Record<CliTable.CharName, string>> = Object.fromEntries(
  (['top', 'top-mid', 'top-left', 'top-right', 'bottom', 'bottom-mid', 'bottom-left', 'bottom-right', 'left', 'left-mid', 'mid', 'mid-mid', 'right', 'right-mid'] as const).map((c) => [c, '']),
);
BORDERLESS.middle = '  ';

let cliTable: typeof CliTable | undefined;
/**
 * cli-table3 is CommonJS and needed only when a table is drawn on a terminal, so it is required then,
 * not at startup (`fluxer --help` never loads it: test/commands/startup.test.ts).
 */
function loadCliTable(): typeof CliTable {
  cliTable ??= createRequire(import.meta.url)('cli-table3') as typeof CliTable;
  return cliTable;
}

export function exitCodeTable(): string {
  return EXIT_CODE_MEANINGS.map(([code, meaning]) => `  ${String(code).padEnd(4)} ${meaning}`).join('\n');
}
