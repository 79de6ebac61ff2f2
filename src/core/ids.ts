// Job ids: UUIDv7 (RFC 9562). The first 48 bits are the Unix time in milliseconds, so ids sort in
// submission order as text — S3 lists `jobs/<id>/` oldest first, and `jobs list --since` can start
// the listing at an id built from the cutoff time instead of reading every job.
import { randomBytes } from 'node:crypto';
import { UsageError } from '../lib/errors.js';

const HEX = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface UuidV7Generator {
  (nowMs?: number): string;
}

/**
 * A generator whose ids strictly increase, even for many ids in one millisecond or when the clock
 * steps back: the 12-bit `rand_a` field is a counter within the millisecond (RFC 9562 §6.2,
 * method 1), and on overflow the timestamp moves on by one millisecond.
 */
export function createUuidV7(random: (n: number) => Uint8Array = randomBytes): UuidV7Generator {
  let lastMs = -1;
  let counter = 0;
  return (nowMs = Date.now()) => {
    let ms = Math.floor(nowMs);
    if (ms > lastMs) {
      // Start low in the counter space so a burst of ids in this millisecond has room to count up.
      counter = random(1)[0]! & 0x7f;
    } else {
      ms = lastMs;
      counter += 1;
      if (counter > 0xfff) {
        ms += 1;
        counter = 0;
      }
    }
    lastMs = ms;
    return formatUuidV7(ms, counter, random(8));
  };
}

/** The process-wide generator (ids from one CLI run are ordered). */
export const uuidv7: UuidV7Generator = createUuidV7();

function formatUuidV7(ms: number, counter: number, rand: Uint8Array): string {
  const bytes = new Uint8Array(16);
  // 48-bit big-endian timestamp (ms fits in 48 bits until the year 10889).
  const high = Math.floor(ms / 2 ** 16);
  bytes[0] = (high >>> 24) & 0xff;
  bytes[1] = (high >>> 16) & 0xff;
  bytes[2] = (high >>> 8) & 0xff;
  bytes[3] = high & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((counter >>> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (rand[0]! & 0x3f);
  for (let i = 9; i < 16; i++) bytes[i] = rand[i - 8]!;
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The smallest UUIDv7 of a millisecond: every id made at or after `ms` sorts after it. */
export function uuidv7Floor(ms: number): string {
  const t = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-0000-0000-000000000000`;
}

export function isUuidV7(id: string): boolean {
  return HEX.test(id);
}

/** When a UUIDv7 was made (ms since the epoch), or undefined when it is not one. */
export function uuidv7Time(id: string): number | undefined {
  if (!isUuidV7(id)) return undefined;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** A job id typed by the user (JOB_ID): exit 2 naming it when it is not one. */
export function checkJobId(id: string): string {
  if (!isUuidV7(id)) throw new UsageError(`JOB_ID ${JSON.stringify(id)}: not a job id (a UUIDv7 such as 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45)`, { hint: 'List recent jobs with `fluxer jobs list`.' });
  return id;
}
