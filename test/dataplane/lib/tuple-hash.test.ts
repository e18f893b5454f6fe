import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TupleHash, BPF_ANY, BPF_NOEXIST, MAP_EEXIST, MAP_E2BIG, tupleWord2, tupleWord3, hash4 } from '../../../dataplane/maps/tuple-hash.ts';

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
    expect(caps).toEqual([16, 64, 100]);
    for (let i = 0; i < 100; i++) expect(m.peek(i, i * 7, i * 13, 6)).toBe(slots[i]);
  });

  it('LRU: evicts the least recently used; lookup touches, peek does not; onEvict sees the key', () => {
    const evicted: number[] = [];
    const m: TupleHash = new TupleHash(3, { onEvict: (s) => evicted.push(m.keyWord(s, 0)) });
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

describe('TupleHash internals that owners rely on', () => {
  it('lookupPair: key A wins over key B, each hit touches only the entry found', () => {
    const evicted: number[] = [];
    const m: TupleHash = new TupleHash(3, { onEvict: (s) => evicted.push(m.keyWord(s, 0)) });
    const a = m.insert(1, 0, 0, 6, BPF_NOEXIST);
    const b = m.insert(2, 0, 0, 6, BPF_NOEXIST);
    m.insert(3, 0, 0, 6, BPF_NOEXIST);
    expect(m.lookupPair(1, 0, 0, 6, 2, 0, 0, 6)).toBe(a);
    expect(m.lastPairB).toBe(false);
    expect(m.lookupPair(9, 0, 0, 6, 2, 0, 0, 6)).toBe(b);
    expect(m.lastPairB).toBe(true);
    expect(m.lookupPair(9, 0, 0, 6, 8, 0, 0, 6)).toBe(-1);
    // 1 and 2 were touched (second chance); 3 was not, so it goes first.
    m.insert(4, 0, 0, 6, BPF_NOEXIST);
    expect(evicted).toEqual([3]);
    // The touches moved 1 and 2 to the head in that order; 1 is now the oldest untouched.
    m.insert(5, 0, 0, 6, BPF_NOEXIST);
    expect(evicted).toEqual([3, 1]);
  });

  it('the reference bit does not show in key word 3 nor break matching', () => {
    const m = new TupleHash(8);
    const s = m.insert(7, 8, tupleWord2(80, 1234), tupleWord3(6, 1), BPF_NOEXIST);
    expect(m.lookup(7, 8, tupleWord2(80, 1234), tupleWord3(6, 1))).toBe(s);
    expect(m.keyWord(s, 3)).toBe(tupleWord3(6, 1));
    expect(m.keyAt(s, 7, 8, tupleWord2(80, 1234), tupleWord3(6, 1))).toBe(true);
    expect(m.peek(7, 8, tupleWord2(80, 1234), tupleWord3(6, 1))).toBe(s);
    expect(m.insert(7, 8, tupleWord2(80, 1234), tupleWord3(6, 1), BPF_NOEXIST)).toBe(MAP_EEXIST);
  });

  it('deletes inside a run of 300 keys sharing one home bucket (distances past the 255 cap)', () => {
    // 2048 buckets until 1024 entries: find keys whose hash lands in bucket 5.
    const keys: number[] = [];
    for (let a = 1; keys.length < 300; a++) if ((hash4(a, 0, 0, 17) & 2047) === 5) keys.push(a);
    const m = new TupleHash(4096, { initialCapacity: 1024 });
    const slot = new Map<number, number>();
    for (const a of keys) slot.set(a, m.insert(a, 0, 0, 17, BPF_NOEXIST));
    const gone = new Set<number>();
    for (let i = 0; i < keys.length; i += 7) {
      expect(m.delete(keys[i]!, 0, 0, 17)).toBe(true);
      gone.add(keys[i]!);
    }
    // Delete near the end of the run too, where the distances are saturated.
    for (const i of [280, 290, 299]) {
      if (!gone.has(keys[i]!)) {
        expect(m.delete(keys[i]!, 0, 0, 17)).toBe(true);
        gone.add(keys[i]!);
      }
    }
    for (const a of keys) expect(m.peek(a, 0, 0, 17)).toBe(gone.has(a) ? -1 : slot.get(a));
    expect(m.size).toBe(keys.length - gone.size);
  });
});
