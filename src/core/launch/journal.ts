// The launch plan, saved before the first launch call and after each: pools in order, the count, and
// every attempt with its ClientToken. `--launch-id ID` replays it, so a command killed mid-launch and
// resumed re-sends the attempt in flight with the same token (EC2 returns the same reservation) and
// never leaves more than `count` instances.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { UsageError } from '../../lib/errors.js';
import type { Pool } from './pools.js';

export interface Attempt {
  poolIndex: number;
  instanceType: string;
  az: string;
  clientToken: string;
  count: number;
  /** sent: the call went out and no answer was recorded (killed, or in flight). */
  outcome: 'sent' | 'launched' | 'partial' | 'capacity' | 'quota' | 'failed' | 'would-succeed';
  code?: string;
  message?: string;
  instanceIds?: string[];
}

export interface LaunchPlan {
  version: 1;
  launchId: string;
  stack: string;
  region: string;
  count: number;
  imageId: string;
  /** The image's root device, for the root volume's mapping (a replay rebuilds the same request). */
  rootDeviceName: string;
  createdAt: string;
  pools: Pool[];
  attempts: Attempt[];
  finishedAt?: string;
}

const LAUNCH_ID = /^l-\d{14}-[0-9a-f]{8}$/;

/** `l-<UTC yyyymmddhhmmss>-<8 hex>`: sorts by time, fits a tag value and a file name. */
export function newLaunchId(nowMs: number, random: (n: number) => Buffer = randomBytes): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `l-${stamp}-${random(4).toString('hex')}`;
}

export function checkLaunchId(id: string): string {
  if (!LAUNCH_ID.test(id)) throw new UsageError(`--launch-id: "${id}" is not a launch id (l-<14 digits>-<8 hex>, as \`spot launch\` prints)`, { code: 'BadLaunchId' });
  return id;
}

/** ClientToken: at most 64 ASCII characters, unique per launch, pool and attempt (28 + 2 + 1 + 3 here). */
export function clientToken(launchId: string, poolIndex: number, attempt: number): string {
  const token = `${launchId}-p${poolIndex}-a${attempt}`;
  if (token.length > 64) throw new Error(`client token over 64 characters: ${token}`);
  return token;
}

export class LaunchJournal {
  constructor(private readonly dir: string) {}

  path(launchId: string): string {
    return join(this.dir, `${launchId}.json`);
  }

  save(plan: LaunchPlan): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomicSync(this.path(plan.launchId), `${JSON.stringify(plan, null, 2)}\n`);
  }

  load(launchId: string): LaunchPlan {
    let text: string;
    try {
      text = readFileSync(this.path(launchId), 'utf8');
    } catch {
      throw new UsageError(`No saved plan for launch ${launchId} on this machine (${this.path(launchId)})`, {
        code: 'LaunchNotFound',
        hint: 'Resume on the machine that started the launch, or `fluxer spot list` to see its instances.',
      });
    }
    return JSON.parse(text) as LaunchPlan;
  }
}
