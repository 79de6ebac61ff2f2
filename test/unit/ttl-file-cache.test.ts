// The helper behind the three state-folder caches (failed pools, on-demand prices, "no fleet"):
// freshness at the caller's clock, a missing or damaged file read as nothing, whole writes, forgetting.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forgetCacheFile, isFresh, readCacheFile, readCacheFileSync, writeCacheFile, writeCacheFileSync } from '../../src/lib/ttl-file-cache.js';
import { tempDirs } from '../support/temp.js';

const temp = tempDirs('fluxer-ttl-');

describe('isFresh', () => {
  it('is fresh from the stamp until just before the TTL, expired from the TTL on', () => {
    expect(isFresh(1_000, 1_000, 60_000)).toBe(true);
    expect(isFresh(1_000, 60_999, 60_000)).toBe(true);
    expect(isFresh(1_000, 61_000, 60_000)).toBe(false);
  });

  it('a stamp from the future (the clock was set back) or not a number is not fresh', () => {
    expect(isFresh(2_000, 1_999, 60_000)).toBe(false);
    for (const stamp of [undefined, null, '1000', Number.NaN]) expect(isFresh(stamp, 1_000, 60_000)).toBe(false);
  });
});

describe('cache files', () => {
  it('what is written reads back, sync or not, through a folder made on the way', async () => {
    const path = join(temp(), 'cache', 'deeper', 'answer.json');
    await writeCacheFile(path, { state: 'absent', checkedAt: 5 });
    expect(await readCacheFile(path)).toEqual({ state: 'absent', checkedAt: 5 });
    writeCacheFileSync(path, { k: { at: 7 } });
    expect(readCacheFileSync(path)).toEqual({ k: { at: 7 } });
    // Written whole through a temporary beside it: none left over.
    expect(readdirSync(join(path, '..'))).toEqual(['answer.json']);
    expect(readFileSync(path, 'utf8').endsWith('}\n')).toBe(true);
  });

  it('a missing, damaged or non-object file reads as nothing', async () => {
    const dir = temp();
    expect(await readCacheFile(join(dir, 'none.json'))).toBeUndefined();
    expect(readCacheFileSync(join(dir, 'none.json'))).toBeUndefined();
    for (const [name, text] of [['half.json', '{"state": "abs'], ['null.json', 'null'], ['number.json', '42'], ['empty.json', '']] as const) {
      writeFileSync(join(dir, name), text);
      expect(await readCacheFile(join(dir, name))).toBeUndefined();
      expect(readCacheFileSync(join(dir, name))).toBeUndefined();
    }
  });

  it('forgetting removes the file; forgetting nothing is fine', async () => {
    const path = join(temp(), 'answer.json');
    await writeCacheFile(path, { checkedAt: 1 });
    await forgetCacheFile(path);
    expect(existsSync(path)).toBe(false);
    await expect(forgetCacheFile(path)).resolves.toBeUndefined();
  });

  it('a write the filesystem refuses throws (the caller decides whether that matters)', async () => {
    const dir = temp();
    writeFileSync(join(dir, 'a-file'), '');
    await expect(writeCacheFile(join(dir, 'a-file', 'answer.json'), {})).rejects.toThrow();
    expect(() => writeCacheFileSync(join(dir, 'a-file', 'answer.json'), {})).toThrow();
  });
});
