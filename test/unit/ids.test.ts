import { describe, expect, it } from 'vitest';
import { createUuidV7, isUuidV7, uuidv7Floor, uuidv7Time } from '../../src/core/ids.js';

describe('uuidv7', () => {
  it('is a version-7, variant-10 UUID carrying its creation time', () => {
    const make = createUuidV7();
    const id = make(Date.UTC(2026, 10, 29, 10, 0, 0, 123));
    expect(isUuidV7(id)).toBe(true);
    expect(uuidv7Time(id)).toBe(Date.UTC(2026, 10, 29, 10, 0, 0, 123));
  });

  it('ids sort in creation order as text, even thousands within one millisecond or with the clock stepping back', () => {
    const make = createUuidV7();
    const t = Date.UTC(2026, 10, 29);
    const ids = [
      ...Array.from({ length: 5000 }, () => make(t)),
      ...Array.from({ length: 10 }, (_, i) => make(t + 1 + i)),
      make(t - 1000), // clock stepped back: still after the previous id
    ];
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(isUuidV7)).toBe(true);
  });

  it('the floor of a millisecond sorts before every id of that millisecond and after earlier ones', () => {
    const make = createUuidV7();
    const t = Date.UTC(2026, 10, 29, 12);
    const floor = uuidv7Floor(t);
    expect(make(t - 1) < floor).toBe(true);
    expect(floor < make(t)).toBe(true);
    expect(uuidv7Time(make(t + 5))).toBe(t + 5);
  });
});
