// What a fleet launch template version pins in its user data's env file (templates/node-bootstrap.yaml):
// the runtime release and the idle times. Read by `fleet up` and `fleet roll` (kept unless changed) and
// `fleet status` (shown); written through the template's variables by fleetLaunch.
import { gunzipSync } from 'node:zlib';
import type * as Ec2 from '@aws-sdk/client-ec2';
import { RUNTIME_IDLE_SECONDS, RUNTIME_SURPLUS_IDLE_SECONDS } from './names.js';

/** What a template version pins in its user data's env file; each unset one is the stack's / runtime's default. */
export interface FleetPins {
  /** The runtime release the nodes install (else the stack's promoted one). */
  release?: string;
  /** FLUXER_IDLE_SECONDS: a node idle this long with the queue empty leaves (else the runtime's 600). */
  idleSeconds?: number;
  /** FLUXER_SURPLUS_IDLE_SECONDS: the same for a surplus node that is not the keeper (else the runtime's 120). */
  surplusIdleSeconds?: number;
}

/** The template variable each pin is written through, and its env-file line (templates/node-bootstrap.yaml). */
export const PIN_VARS = {
  release: { variable: 'release', line: 'FLUXER_RELEASE' },
  idleSeconds: { variable: 'idle_seconds', line: 'FLUXER_IDLE_SECONDS' },
  surplusIdleSeconds: { variable: 'surplus_idle_seconds', line: 'FLUXER_SURPLUS_IDLE_SECONDS' },
} as const;

/** The user data as text (base64, maybe gzip), for reading what a version pins. */
export function userDataText(base64: string | undefined): string {
  if (!base64) return '';
  const bytes = Buffer.from(base64, 'base64');
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** What a template version pins (its env file's FLUXER_RELEASE, FLUXER_IDLE_SECONDS, FLUXER_SURPLUS_IDLE_SECONDS lines); empty or absent: not pinned. */
export function pinnedSettings(data: Pick<Ec2.ResponseLaunchTemplateData, 'UserData'> | undefined): FleetPins {
  const text = userDataText(data?.UserData);
  const read = (line: string) => new RegExp(`^\\s*${line}=(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const seconds = (line: string) => {
    const v = Number(read(line));
    return Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const release = read(PIN_VARS.release.line);
  const idleSeconds = seconds(PIN_VARS.idleSeconds.line);
  const surplusIdleSeconds = seconds(PIN_VARS.surplusIdleSeconds.line);
  return { ...(release ? { release } : {}), ...(idleSeconds ? { idleSeconds } : {}), ...(surplusIdleSeconds ? { surplusIdleSeconds } : {}) };
}

/** The runtime release a template version pins (FLUXER_RELEASE in its env file), or undefined: the stack's promoted one. */
export function pinnedRelease(data: Pick<Ec2.ResponseLaunchTemplateData, 'UserData'> | undefined): string | undefined {
  return pinnedSettings(data).release;
}

/** The idle times a node runs with: each pin, else the runtime's default; a surplus node waits at most the idle time (fleet_policy.idle_decision). */
export function effectiveIdle(pins: FleetPins): { seconds: number; surplusSeconds: number } {
  const seconds = pins.idleSeconds ?? RUNTIME_IDLE_SECONDS;
  return { seconds, surplusSeconds: Math.min(seconds, pins.surplusIdleSeconds ?? RUNTIME_SURPLUS_IDLE_SECONDS) };
}
