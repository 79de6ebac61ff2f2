// The runtime's lease rule applied to what a node will actually read: the rendered user data's
// FLUXER_HEARTBEAT_SECONDS and FLUXER_VISIBILITY_SECONDS lines (whatever template, --var or default
// produced them), with the runtime's own defaults for a key the template leaves out.
import {
  RUNTIME_DEFAULT_HEARTBEAT_SECONDS,
  RUNTIME_DEFAULT_VISIBILITY_SECONDS,
  heartbeatError,
  heartbeatTooSlow,
} from '../../config/heartbeat.js';
import type { VariableValue } from './variables.js';

const HEARTBEAT = 'FLUXER_HEARTBEAT_SECONDS';
const VISIBILITY = 'FLUXER_VISIBILITY_SECONDS';

/** The last `KEY=value` line for key (the runtime's env file reader keeps the last one), unquoted. */
function envValue(text: string, key: string): string | undefined {
  let found: string | undefined;
  for (const m of text.matchAll(new RegExp(`^\\s*(?:export\\s+)?${key}\\s*=(.*)$`, 'gm'))) {
    let value = m[1]!.trim();
    if (value.length >= 2 && value[0] === value[value.length - 1] && (value[0] === '"' || value[0] === "'")) value = value.slice(1, -1);
    found = value;
  }
  return found;
}

/**
 * Throws the refusal when heartbeat × 2 > visibility. `values` tells where the template variables
 * feeding those lines came from (heartbeat_seconds, visibility_seconds), for the message.
 */
export function checkRenderedHeartbeat(text: string, values: ReadonlyMap<string, VariableValue>): void {
  const read = (key: string, variable: string, fallback: number) => {
    const raw = envValue(text, key);
    // The runtime treats an empty value as unset; a non-number is its own error at the node.
    if (raw === undefined || raw === '') return { key, value: fallback, source: `not set: the runtime's default` };
    const given = values.get(variable);
    return { key, value: Number(raw), source: given ? `template variable ${variable} from ${given.source}` : 'the template' };
  };
  const heartbeat = read(HEARTBEAT, 'heartbeat_seconds', RUNTIME_DEFAULT_HEARTBEAT_SECONDS);
  const visibility = read(VISIBILITY, 'visibility_seconds', RUNTIME_DEFAULT_VISIBILITY_SECONDS);
  if (!Number.isFinite(heartbeat.value) || !Number.isFinite(visibility.value)) return;
  if (heartbeatTooSlow(heartbeat.value, visibility.value)) throw heartbeatError(heartbeat, visibility);
}
