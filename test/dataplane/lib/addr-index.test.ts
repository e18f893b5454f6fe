import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddrIndex } from '../../../dataplane/lib/addr-index.ts';

describe('AddrIndex', () => {
  it('answers like a Map for any set of u32 addresses, the high half of the space included', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 0, maxLength: 300 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 50 }), (addrs, probes) => {
        const idx = new AddrIndex(addrs.length);
        const ref = new Map<number, number>();
        addrs.forEach((a, i) => {
          idx.set(a, i);
          ref.set(a, i);
        });
        for (const a of [...addrs, ...probes]) expect(idx.get(a)).toBe(ref.get(a) ?? -1);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the first value unless asked to replace; 0.0.0.0 and 255.255.255.255 are addresses like any other', () => {
    const idx = new AddrIndex(3);
    idx.set(0, 1);
    idx.set(0xffffffff, 2);
    idx.set(0, 5);
    expect(idx.get(0)).toBe(1);
    idx.set(0, 6, true);
    expect(idx.get(0)).toBe(6);
    expect(idx.get(0xffffffff)).toBe(2);
    // The same address as a negative int32 is the same key.
    expect(idx.get(-1)).toBe(2);
    expect(idx.get(1)).toBe(-1);
  });

  it('refuses more addresses than it was sized for', () => {
    const idx = new AddrIndex(2);
    idx.set(1, 0);
    idx.set(2, 1);
    expect(() => idx.set(3, 2)).toThrow(RangeError);
    expect(new AddrIndex(0).get(123)).toBe(-1);
  });
});
