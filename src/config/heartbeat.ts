// The runtime's lease rule, mirrored so the CLI refuses what a node would refuse at start
// (gpu-runtime/fluxer_runtime/config.py): a heartbeat interval times 2 above the visibility timeout
// means one late beat lets the message reappear under a running job, and another node takes it.
import { UsageError } from '../lib/errors.js';
import { describeSource, type ResolvedConfig } from './loader.js';

/** The runtime's own defaults when its env file leaves a key out. */
export const RUNTIME_DEFAULT_HEARTBEAT_SECONDS = 30;
export const RUNTIME_DEFAULT_VISIBILITY_SECONDS = 300;

/** Exactly the runtime's test: `heartbeat * 2 > visibility` (equal is allowed). */
export function heartbeatTooSlow(heartbeatSeconds: number, visibilitySeconds: number): boolean {
  return heartbeatSeconds * 2 > visibilitySeconds;
}

export interface LeaseValue {
  /** e.g. "heartbeatSeconds" or "FLUXER_HEARTBEAT_SECONDS". */
  key: string;
  value: number;
  /** Where it came from, e.g. "default", "--var heartbeat_seconds". */
  source: string;
}

/** The refusal, naming both keys, their values and sources, and the two ways out. */
export function heartbeatError(heartbeat: LeaseValue, visibility: LeaseValue): UsageError {
  return new UsageError(
    `${heartbeat.key}=${heartbeat.value} (${heartbeat.source}) times 2 exceeds ${visibility.key}=${visibility.value} (${visibility.source}): ` +
      "the runtime's heartbeat could not keep a job's message invisible, and nodes refuse to start with these values",
    {
      code: 'HeartbeatTooSlow',
      hint: `Set ${heartbeat.key} to at most ${visibility.value / 2}, or ${visibility.key} to at least ${heartbeat.value * 2}.`,
    },
  );
}

/** For `config show`: the stack's heartbeatSeconds against its visibilityTimeout. */
export function checkStackHeartbeat(config: ResolvedConfig): void {
  const { heartbeatSeconds, visibilityTimeout } = config.settings;
  if (!heartbeatTooSlow(heartbeatSeconds, visibilityTimeout)) return;
  throw heartbeatError(
    { key: 'heartbeatSeconds', value: heartbeatSeconds, source: describeSource(config.sources.heartbeatSeconds) },
    { key: 'visibilityTimeout', value: visibilityTimeout, source: describeSource(config.sources.visibilityTimeout) },
  );
}
