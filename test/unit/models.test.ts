// The model manifest contract and the pure parts of `models push`: the path rule, the order, the
// manifest's own checks, which files a folder holds, part sizes, the shared request budget.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import jobSchema from '../../schema/job.v1.schema.json' with { type: 'json' };
import { listModelFolder } from '../../src/core/models/folder.js';
import { formatSize, pushProgressLine } from '../../src/core/models/format.js';
import { buildManifest, comparePaths, diffManifestFiles, fileKey, MANIFEST_SCHEMA, manifestKey, parseManifest, pathProblem } from '../../src/core/models/manifest.js';
import { MAX_PART_SIZE, MIN_PART_SIZE, partRanges, partSizeFor } from '../../src/core/models/upload.js';
import { createPriorityLimiter } from '../../src/lib/concurrency.js';
import { UsageError } from '../../src/lib/errors.js';

const MiB = 1024 * 1024;
const hex = (c: string) => c.repeat(64);

describe('the manifest contract', () => {
  it('names the same models as the job schema', () => {
    expect(MANIFEST_SCHEMA.properties.model.enum).toEqual(jobSchema.properties.model.enum);
  });

  it('lays objects out under <prefix>models/<NAME>/', () => {
    expect(fileKey('fx/', 'sdxl', 'unet/config.json')).toBe('fx/models/sdxl/files/unet/config.json');
    expect(manifestKey('', 'tiny')).toBe('models/tiny/manifest.json');
  });

  it('accepts relative POSIX paths and refuses absolute, dot segments, empty segments, backslashes, control characters', () => {
    for (const ok of ['model_index.json', 'unet/diffusion_pytorch_model.safetensors', 'a/b/c.d', 'weights..bin', 'ünet/größe.json']) expect(pathProblem(ok), ok).toBeUndefined();
    for (const bad of ['', '/etc/passwd', 'a//b', 'a/', '../x', 'a/../b', './a', 'a/.', 'a\\b', 'a\u0001b', 'a\nb']) expect(pathProblem(bad), JSON.stringify(bad)).toBeDefined();
    expect(pathProblem('x'.repeat(900))).toBeUndefined();
    expect(pathProblem('x'.repeat(901))).toMatch(/length/);
    expect(pathProblem('x'.repeat(800), 'p/'.repeat(150))).toMatch(/1024 bytes/);
  });

  it('sorts by code point (UTF-8 byte order), not by UTF-16 unit or locale', () => {
    const paths = ['b', 'B', 'a/b', 'a.b', 'a', '\u{1F600}', '\uFF5E'];
    // U+FF5E sorts before U+1F600 by code point; UTF-16 units (0xD83D…) would put the emoji first.
    expect([...paths].sort(comparePaths)).toEqual(['B', 'a', 'a.b', 'a/b', 'b', '\uFF5E', '\u{1F600}']);
  });

  it('builds a manifest sorted by path with the total, which parses back', async () => {
    const m = buildManifest('sdxl', [{ path: 'unet/x', size: 3, sha256: hex('a') }, { path: 'model_index.json', size: 2, sha256: hex('b') }], new Date('2026-01-02T03:04:05Z'));
    expect(m).toEqual({ version: 1, model: 'sdxl', createdAt: '2026-01-02T03:04:05.000Z', totalBytes: 5, files: [{ path: 'model_index.json', size: 2, sha256: hex('b') }, { path: 'unet/x', size: 3, sha256: hex('a') }] });
    expect(await parseManifest(JSON.stringify(m))).toEqual({ ok: true, manifest: m });
  });

  it('refuses a manifest the schema refuses, and what the schema cannot say: order, repeats, the total', async () => {
    const good = buildManifest('tiny', [{ path: 'a', size: 1, sha256: hex('a') }, { path: 'b', size: 2, sha256: hex('b') }], new Date(0));
    const bad = async (doc: unknown) => {
      const r = await parseManifest(typeof doc === 'string' ? doc : JSON.stringify(doc));
      expect(r.ok).toBe(false);
      return r.ok ? '' : r.problem;
    };
    expect(await bad('{')).toMatch(/not JSON/);
    expect(await bad({ ...good, version: 2 })).toMatch(/version/);
    expect(await bad({ ...good, model: 'flux-pro' })).toMatch(/model/);
    expect(await bad({ ...good, extra: 1 })).toMatch(/additional/);
    expect(await bad({ ...good, createdAt: 'yesterday' })).toMatch(/createdAt/);
    expect(await bad({ ...good, files: [] })).toMatch(/files/);
    expect(await bad({ ...good, files: [{ path: '../a', size: 1, sha256: hex('a') }], totalBytes: 1 })).toMatch(/path/);
    expect(await bad({ ...good, files: [{ path: 'a', size: 1, sha256: hex('A') }], totalBytes: 1 })).toMatch(/sha256/);
    expect(await bad({ ...good, files: [...good.files].reverse() })).toMatch(/out of order/);
    expect(await bad({ ...good, files: [good.files[0], good.files[0]], totalBytes: 2 })).toMatch(/repeated/);
    expect(await bad({ ...good, totalBytes: 4 })).toMatch(/totalBytes/);
  });

  it('diffs two file lists by path, size and sha256', () => {
    const a = [{ path: 'x', size: 1, sha256: hex('a') }, { path: 'y', size: 1, sha256: hex('a') }];
    const b = [{ path: 'x', size: 1, sha256: hex('b') }, { path: 'z', size: 1, sha256: hex('a') }];
    expect(diffManifestFiles(a, b)).toEqual({ added: ['z'], removed: ['y'], changed: ['x'] });
    expect(diffManifestFiles(a, a)).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('the model folder', () => {
  const folder = () => mkdtempSync(join(tmpdir(), 'fluxer-model-unit-'));
  const write = (dir: string, path: string, text = 'x') => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };

  it('holds every file at any depth, sorted, hidden entries left out, links followed', () => {
    const dir = folder();
    write(dir, 'model_index.json', '{}');
    write(dir, 'unet/config.json');
    write(dir, 'unet/.hidden');
    write(dir, '.git/HEAD');
    write(dir, '.cache/huggingface/download/x.lock');
    const blobs = folder();
    write(blobs, 'blob', '12345');
    symlinkSync(join(blobs, 'blob'), join(dir, 'vae.safetensors'));
    expect(listModelFolder(dir).map((f) => [f.path, f.size])).toEqual([['model_index.json', 2], ['unet/config.json', 1], ['vae.safetensors', 5]]);
  });

  it('refuses what is not a folder of files, naming DIR', () => {
    const expectUsage = (fn: () => unknown, re: RegExp) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        expect((err as Error).message).toMatch(/^DIR /);
        expect((err as Error).message).toMatch(re);
        return;
      }
      throw new Error('no error');
    };
    const dir = folder();
    expectUsage(() => listModelFolder(join(dir, 'missing')), /no such folder/);
    write(dir, 'file');
    expectUsage(() => listModelFolder(join(dir, 'file')), /not a folder/);
    const empty = folder();
    write(empty, '.git/HEAD');
    expectUsage(() => listModelFolder(empty), /no files/);
    const dangling = folder();
    symlinkSync(join(dangling, 'nowhere'), join(dangling, 'weights.bin'));
    expectUsage(() => listModelFolder(dangling), /"weights.bin" is a dangling link/);
    const cycle = folder();
    write(cycle, 'a/file');
    symlinkSync(cycle, join(cycle, 'a', 'up'));
    expectUsage(() => listModelFolder(cycle), /"a\/up" links back/);
    const badName = folder();
    write(badName, 'a\\b');
    expectUsage(() => listModelFolder(badName), /"a\\b" cannot be pushed/);
  });
});

describe('multipart parts', () => {
  it('are 16 MiB, larger only where 10,000 parts would not hold the file, at most 64 MiB', () => {
    expect(partSizeFor(64 * MiB)).toBe(MIN_PART_SIZE);
    expect(partSizeFor(100 * 1024 * MiB)).toBe(MIN_PART_SIZE);
    expect(partSizeFor(200 * 1024 * MiB)).toBe(21 * MiB);
    expect(partSizeFor(10_000 * MAX_PART_SIZE)).toBe(MAX_PART_SIZE);
    expect(() => partSizeFor(10_000 * MAX_PART_SIZE + 1)).toThrow(/10000 parts/);
  });

  it('cover the file exactly, numbered from 1', () => {
    const parts = partRanges(70_000_000, 16 * MiB);
    expect(parts.map((p) => p.partNumber)).toEqual([1, 2, 3, 4, 5]);
    expect(parts.reduce((n, p) => n + p.length, 0)).toBe(70_000_000);
    expect(parts[4]).toEqual({ partNumber: 5, start: 4 * 16 * MiB, length: 70_000_000 - 4 * 16 * MiB });
    expect(partRanges(32 * MiB, 16 * MiB)).toHaveLength(2);
  });
});

describe('the shared request budget', () => {
  it('never runs more than the limit, and gives a free slot to the lowest priority waiting', async () => {
    const limit = createPriorityLimiter(2);
    const order: number[] = [];
    let running = 0;
    let most = 0;
    const gates = new Map<number, () => void>();
    const task = (p: number) =>
      limit(p, async () => {
        running += 1;
        most = Math.max(most, running);
        order.push(p);
        await new Promise<void>((resolve) => gates.set(p, resolve));
        running -= 1;
      });
    const all = [task(5), task(6), task(9), task(1), task(7), task(1.5)];
    await Promise.resolve();
    expect(order).toEqual([5, 6]);
    gates.get(5)!();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([5, 6, 1]);
    for (const p of [6, 1, 1.5, 7, 9]) {
      gates.get(p)!();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    expect(order).toEqual([5, 6, 1, 1.5, 7, 9]);
    expect(most).toBe(2);
  });
});

describe('push output', () => {
  it('sizes in decimal units, and a progress line with rate', () => {
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(70_000_000)).toBe('70.0 MB');
    expect(formatSize(2_147_483_648)).toBe('2.15 GB');
    expect(pushProgressLine({ bytesUploaded: 1e9, bytesToUpload: 2e9, filesDone: 3, filesToUpload: 8 }, 10_000, 10)).toBe('[█████░░░░░] 1.00 GB / 2.00 GB  50%  files 3/8  100 MB/s');
  });
});
