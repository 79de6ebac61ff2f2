// Typed errors and the exit-code table: the one source of truth for how fluxer fails.
// Commands throw these; the entry point turns them into a message, a hint and an exit code.

export const ExitCode = {
  Ok: 0,
  Failed: 1,
  Usage: 2,
  Credentials: 4,
  Capacity: 5,
  Pending: 8,
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Documented meaning of each exit code (README and `fluxer --help` footer are generated from it). */
export const EXIT_CODE_MEANINGS: ReadonlyArray<[ExitCode, string]> = [
  [ExitCode.Ok, 'success'],
  [ExitCode.Failed, 'the operation failed (AWS error, job failed)'],
  [ExitCode.Usage, 'usage or validation error: bad flag, bad input, bad config — nothing was sent to AWS'],
  [ExitCode.Credentials, 'credentials or permission problem'],
  [ExitCode.Capacity, 'quota or capacity exhausted'],
  [ExitCode.Pending, 'still pending: --wait timed out while the job or resource is still in progress'],
  [ExitCode.Interrupted, 'interrupted by the user (Ctrl-C); what was submitted keeps running'],
];

export class FluxerError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  /** Stable machine-readable code for `--json` errors, e.g. "UsageError", "QueueNotFound". */
  readonly code: string;

  constructor(message: string, opts: { exitCode?: ExitCode; hint?: string; code?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? ExitCode.Failed;
    this.hint = opts.hint;
    this.code = opts.code ?? this.name;
  }
}

/** The user's to fix: bad flag, value, config or input. Nothing was sent to AWS. Exit 2. */
export class UsageError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Usage, code: opts.code ?? 'UsageError' });
  }
}

export class CredentialsError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Credentials, code: opts.code ?? 'CredentialsError' });
  }
}

export class CapacityError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Capacity, code: opts.code ?? 'CapacityError' });
  }
}

export class PendingError extends FluxerError {
  constructor(message: string, opts: { hint?: string; code?: string } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Pending, code: opts.code ?? 'StillPending' });
  }
}

export class InterruptedError extends FluxerError {
  constructor(message: string, opts: { hint?: string } = {}) {
    super(message, { ...opts, exitCode: ExitCode.Interrupted, code: 'Interrupted' });
  }
}
