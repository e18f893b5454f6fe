import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TupleHash, BPF_ANY, BPF_NOEXIST, MAP_EEXIST, MAP_E2BIG, tupleWord2, tupleWord3 } from '../../../dataplane/maps/tuple-hash.ts';

describe('TupleHash', () => {
  it('packs the 14-byte tuple into words 2 and 3', () => {
    expect(tupleWord2(80, 45678)).toBe(((80 << 16) | 45678) >>> 0);
    expect(tupleWord2(65535, 65535)).toBe(0xffffffff);
    expect(tupleWord3(6, 1)).toBe(0x106);
  });

  it('NOEXIST fails on an existing key; BPF_ANY returns the same slot', () => {
    const m = new TupleHash(16);
    const s = m.insert(1, 2, 3, 4, BPF_NOEXIST);
    expect(s).toBeGreaterThanOrEqual(0);
    expect(m.insert(1, 2, 3, 4, BPF_NOEXIST)).toBe(MAP_EEXIST);
    expect(m.insert(1, 2, 3, 4, BPF_ANY)).toBe(s);
    expect(m.lastInsertNew).toBe(false);
    expect(m.size).toBe(1);
    expect(m.peek(1, 2, 3, 5)).toBe(-1);
    expect(m.delete(1, 2, 3, 4)).toBe(true);
    expect(m.delete(1, 2, 3, 4)).toBe(false);
    expect(m.size).toBe(0);
  });

  it('grows in steps up to maxEntries, keeping slots and entries', () => {
    const caps: number[] = [];
    const m = new TupleHash(100, { initialCapacity: 4, onGrow: (c) => caps.push(c) });
    expect(m.capacity).toBe(4);
    const slots: number[] = [];
    for (let i = 0; i < 100; i++) slots.push(m.insert(i, i * 7, i * 13, 6, BPF_NOEXIST));
    expect(caps).toEqual([8, 16, 32, 64, 100]);
    for (let i = 0; i < 100; i++) expect(m.peek(i, i * 7, i * 13, 6)).toBe(slots[i]);
  });

  it('LRU: evicts the least recently used; lookup touches, peek does not; onEvict sees the key', () => {
    const evicted: number[] = [];
    const m: TupleHash = new TupleHash(3, { onEvict: (s) => evicted.push(m.keys[s << 2]!) });
    m.insert(1, 0, 0, 0, BPF_NOEXIST);
    m.insert(2, 0, 0, 0, BPF_NOEXIST);
    m.insert(3, 0, 0, 0, BPF_NOEXIST);
    m.lookup(1, 0, 0, 0);
    m.peek(2, 0, 0, 0);
    m.insert(4, 0, 0, 0, BPF_NOEXIST);
    expect(evicted).toEqual([2]);
    m.insert(5, 0, 0, 0, BPF_NOEXIST);
    expect(evicted).toEqual([2, 3]);
    expect(m.size).toBe(3);
    expect(m.evictions).toBe(2);
    expect([m.peek(1, 0, 0, 0), m.peek(4, 0, 0, 0), m.peek(5, 0, 0, 0)].every((s) => s >= 0)).toBe(true);
  });

  it('a full plain hash refuses inserts with E2BIG', () => {
    const m = new TupleHash(2, { lru: false });
    m.insert(1, 0, 0, 0, BPF_NOEXIST);
    m.insert(2, 0, 0, 0, BPF_NOEXIST);
    expect(m.insert(3, 0, 0, 0, BPF_NOEXIST)).toBe(MAP_E2BIG);
    m.delete(1, 0, 0, 0);
    expect(m.insert(3, 0, 0, 0, BPF_NOEXIST)).toBeGreaterThanOrEqual(0);
  });

  it('agrees with a reference Map under random inserts and deletes', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 }))), (ops) => {
      const m = new TupleHash(1000, { initialCapacity: 2 });
      const ref = new Set<string>();
      for (const [ins, a, w] of ops) {
        const key = [a, a ^ w, w << 16, w] as const;
        const k = key.join(',');
        if (ins) {
          const r = m.insert(key[0], key[1], key[2], key[3], BPF_NOEXIST);
          expect(r === MAP_EEXIST).toBe(ref.has(k));
          ref.add(k);
        } else {
          expect(m.delete(key[0], key[1], key[2], key[3])).toBe(ref.delete(k));
        }
        expect(m.size).toBe(ref.size);
      }
      for (const k of ref) {
        const [a, b, c, d] = k.split(',').map(Number) as [number, number, number, number];
        expect(m.peek(a, b, c >>> 0, d)).toBeGreaterThanOrEqual(0);
      }
      expect(m.slots().length).toBe(ref.size);
    }));
  });
});
