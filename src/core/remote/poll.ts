// Collecting a Run Command's invocations, as pure state on an injected clock (like JobTracker in
// src/core/tail.ts): the poll schedule (fast first, then backing off, never past the deadline) and
// each node's invocation status as ListCommandInvocations reports it. The engine (run.ts) does the I/O.
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListCommandInvocations.html

export interface BackoffOptions {
  /** The first wait after sending (a fast command is done within tens of ms on the local stack). */
  initialMs: number;
  factor: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 50, factor: 1.6, maxMs: 1000 };

export type PollStep = { kind: 'wait'; ms: number } | { kind: 'deadline' };

/**
 * When to poll next: 50 ms, 80, 128 … up to 1 s between polls, and never past the deadline: the last
 * wait ends at the deadline itself (one final poll there), and after that poll the answer is 'deadline'.
 */
export class PollSchedule {
  private delayMs: number;
  private readonly opts: BackoffOptions;
  readonly deadlineMs: number;

  constructor(deadlineMs: number, opts: BackoffOptions = DEFAULT_BACKOFF) {
    this.deadlineMs = deadlineMs;
    this.opts = opts;
    this.delayMs = opts.initialMs;
  }

  next(nowMs: number): PollStep {
    if (nowMs >= this.deadlineMs) return { kind: 'deadline' };
    const ms = Math.min(this.delayMs, this.deadlineMs - nowMs);
    this.delayMs = Math.min(this.opts.maxMs, this.delayMs * this.opts.factor);
    return { kind: 'wait', ms };
  }
}

/** Run Command's invocation statuses; these four are final (Cancelling is not). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);

export function isTerminalStatus(status: string | undefined): boolean {
  return status !== undefined && TERMINAL_STATUSES.has(status);
}

/** One node's invocation as ListCommandInvocations (Details: true) reports it. */
export interface InvocationView {
  instanceId: string;
  status: string;
  /** StatusDetails: Undeliverable, DeliveryTimedOut, ExecutionTimedOut, Terminated … */
  statusDetails?: string;
  /** The script's exit code; −1 when it never ran. */
  responseCode?: number;
  /** The plugin's inline output (stdout, then stderr after a marker), at most 2,500 characters. */
  output?: string;
  stdoutUrl?: string;
  stderrUrl?: string;
}

/**
 * The invocations of one command: every target starts pending; a list that does not (yet) name a
 * node, or an InvocationDoesNotExist right after sending, leaves it pending. A terminal status is kept.
 */
export class InvocationTracker {
  readonly commandId: string;
  private readonly views = new Map<string, InvocationView | undefined>();

  constructor(commandId: string, instanceIds: readonly string[]) {
    this.commandId = commandId;
    for (const id of instanceIds) this.views.set(id, undefined);
  }

  /** Takes one poll's invocations; returns the nodes that became terminal in it. */
  observe(invocations: readonly InvocationView[]): InvocationView[] {
    const finished: InvocationView[] = [];
    for (const inv of invocations) {
      if (!this.views.has(inv.instanceId)) continue;
      const prev = this.views.get(inv.instanceId);
      if (prev && isTerminalStatus(prev.status)) continue;
      this.views.set(inv.instanceId, inv);
      if (isTerminalStatus(inv.status)) finished.push(inv);
    }
    return finished;
  }

  get pending(): string[] {
    return [...this.views].filter(([, v]) => !v || !isTerminalStatus(v.status)).map(([id]) => id);
  }

  get done(): boolean {
    return this.pending.length === 0;
  }

  /** The last status seen for the node ('Pending' before any). */
  statusOf(instanceId: string): string {
    return this.views.get(instanceId)?.status ?? 'Pending';
  }
}
