// The bytes EC2 receives as user data: the 16,384-byte limit, deterministic gzip, base64, and what
// to show when a script does not fit.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

/** EC2's limit on user data, counted before base64 encoding. */
export const USER_DATA_LIMIT = 16_384;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
/** Byte 9 of a gzip header names the OS that wrote it; zlib fills in the build platform's. */
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;

/**
 * Gzip that gives the same bytes for the same input on every machine, so CI can diff rendered user
 * data: mtime 0 and no file name (zlib's defaults for in-memory data), a fixed level, and the
 * header's OS byte pinned (zlib writes its build platform there, which differs between macOS and Linux).
 */
export function gzipDeterministic(data: Uint8Array): Buffer {
  const gz = gzipSync(data, { level: 9, memLevel: 8, windowBits: 15, strategy: 0 });
  gz[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
  return gz;
}

export function isGzip(data: Uint8Array): boolean {
  return data.length >= 2 && data[0] === GZIP_MAGIC[0] && data[1] === GZIP_MAGIC[1];
}

export function gunzip(data: Uint8Array): Buffer {
  return gunzipSync(data);
}

/** Length of the base64 text EC2's API carries for `bytes` bytes. */
export function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/** A whole file that is nothing but base64 (what `--base64` writes), decoded; else undefined. */
export function decodeBase64File(data: Uint8Array): Buffer | undefined {
  const text = Buffer.from(data).toString('latin1').replace(/\s+/g, '');
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const decoded = Buffer.from(text, 'base64');
  return decoded.toString('base64') === text ? decoded : undefined;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Formats are what cloud-init recognises by a file's first bytes. */
const CLOUD_INIT_STARTS = ['#cloud-config', '#!', '#include', '#cloud-boothook', '#part-handler', '## template: jinja', 'Content-Type: multipart/'];

/** A warning when cloud-init would not recognise the text as any of its formats (it then ignores it). */
export function formatWarning(text: string): string | undefined {
  const head = text.replace(/^\uFEFF/, '');
  if (CLOUD_INIT_STARTS.some((s) => head.startsWith(s))) return undefined;
  return `the user data starts with ${JSON.stringify(head.split('\n')[0]?.slice(0, 40) ?? '')}, which cloud-init does not recognise: start it with #cloud-config or #!`;
}

export interface Part {
  /** "write_files /etc/fluxer/runtime.env", "runcmd", or "line 12". */
  label: string;
  firstLine: number;
  lastLine: number;
  bytes: number;
}

/**
 * The largest pieces of a script, to say what to shrink when even gzip does not fit: each
 * write_files entry and each other top-level key of a cloud-config; for any other script, its lines.
 */
export function largestParts(text: string, count = 5): Part[] {
  const lines = text.split('\n');
  const size = (from: number, to: number) => Buffer.byteLength(lines.slice(from, to + 1).join('\n'), 'utf8') + 1;
  const parts: Part[] = [];
  if (lines[0]?.startsWith('#cloud-config')) {
    let topKey: string | undefined;
    let start = -1;
    let label = '';
    const close = (end: number) => {
      if (start >= 0 && end >= start) parts.push({ label, firstLine: start + 1, lastLine: end + 1, bytes: size(start, end) });
      start = -1;
    };
    lines.forEach((line, i) => {
      const top = /^([A-Za-z_][\w-]*)\s*:/.exec(line);
      if (top) {
        close(i - 1);
        topKey = top[1];
        start = i;
        label = topKey!;
        return;
      }
      const entry = topKey === 'write_files' ? /^\s*-\s+path:\s*["']?([^"'\s]+)/.exec(line) : null;
      if (entry) {
        close(i - 1);
        start = i;
        label = `write_files ${entry[1]}`;
      }
    });
    let last = lines.length - 1;
    while (last > 0 && lines[last]!.trim() === '') last--;
    close(last);
  }
  if (parts.length < 2) {
    parts.length = 0;
    lines.forEach((_, i) => parts.push({ label: `line ${i + 1}`, firstLine: i + 1, lastLine: i + 1, bytes: size(i, i) }));
  }
  return parts.sort((a, b) => b.bytes - a.bytes || a.firstLine - b.firstLine).slice(0, count);
}

export function describePart(p: Part): string {
  const where = p.firstLine === p.lastLine ? `line ${p.firstLine}` : `lines ${p.firstLine}-${p.lastLine}`;
  return p.label === `line ${p.firstLine}` ? `${where}: ${formatBytes(p.bytes)}` : `${p.label} (${where}): ${formatBytes(p.bytes)}`;
}

export function formatBytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}
