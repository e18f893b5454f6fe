/**
 * @module dataplane/maps/lpm
 * A bounded `BPF_MAP_TYPE_LPM_TRIE` for 64-bit data (two IPv4 addresses), the shape of
 * Cilium's egress policy map:
 *
 * ```
 *  key (12 bytes)                                     value: an index (the caller's row)
 *  +------------------+-------------+-------------+
 *  | prefixlen u32 LE | hi (saddr)  | lo (daddr)  |    prefixlen counts bits of hi||lo
 *  +------------------+-------------+-------------+
 * ```
 *
 * Lookup semantics are the kernel's: the entry with the longest prefix that matches the
 * looked-up 64 bits wins. Instead of a bit trie, entries with prefixlen >= 32 (the only
 * ones Cilium writes: the source is always a full /32) are grouped per exact `hi` in a
 * Map with numeric keys, each group a small typed array sorted by prefix length
 * descending; the first match in a group is the longest. Entries with prefixlen < 32
 * (legal in the kernel, never written by Cilium) sit in a fallback list consulted only
 * when the group has no match. Lookups allocate nothing.
 *
 * Iteration order (`keys()`) follows the kernel's `trie_get_next_key`, a post-order walk
 * of the trie: ordered by the data bits from the most significant, and a more specific
 * prefix before the prefix that covers it. `bpftool map dump` prints in this order.
 */

export interface LpmKey {
  prefixlen: number;
  hi: number;
  lo: number;
  value: number;
}

interface Group {
  /** Per entry, sorted by prefix length descending: masked lo, lo mask (int32), value. */
  nets: Int32Array;
  masks: Int32Array;
  values: Int32Array;
  /** Parallel prefix lengths (for rebuilds and iteration). */
  lens: number[];
}

function mask32(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? -1 : (-1 << (32 - bits)) | 0;
}

export class LpmTrie {
  readonly maxEntries: number;
  private readonly groups = new Map<number, Group>();
  private wide: LpmKey[] = [];
  private count = 0;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  size(): number {
    return this.count;
  }

  /**
   * Inserts or replaces (BPF_ANY). Returns false, changing nothing, when the key is new and
   * the map is full: the kernel's -ENOSPC. Host bits beyond prefixlen are ignored.
   */
  update(prefixlen: number, hi: number, lo: number, value: number): boolean {
    if (!(prefixlen >= 0 && prefixlen <= 64)) throw new RangeError(`prefixlen ${prefixlen} out of 0..64`);
    if (prefixlen < 32) {
      const h = (hi & mask32(prefixlen)) >>> 0;
      const i = this.wide.findIndex((k) => k.prefixlen === prefixlen && k.hi === h);
      if (i >= 0) {
        this.wide[i]!.value = value;
        return true;
      }
      if (this.count >= this.maxEntries) return false;
      this.wide.push({ prefixlen, hi: h, lo: 0, value });
      this.wide.sort((a, b) => b.prefixlen - a.prefixlen);
      this.count++;
      return true;
    }
    const h = hi >>> 0;
    const bits = prefixlen - 32;
    const m = mask32(bits);
    const net = lo & m;
    const g = this.groups.get(h);
    if (g) {
      for (let i = 0; i < g.lens.length; i++) {
        if (g.lens[i] === bits && g.nets[i] === net) {
          g.values[i] = value;
          return true;
        }
      }
    }
    if (this.count >= this.maxEntries) return false;
    const rows: [number, number, number, number][] = [];
    if (g) for (let i = 0; i < g.lens.length; i++) rows.push([g.lens[i]!, g.nets[i]!, g.masks[i]!, g.values[i]!]);
    rows.push([bits, net, m, value]);
    this.groups.set(h, buildGroup(rows));
    this.count++;
    return true;
  }

  delete(prefixlen: number, hi: number, lo: number): boolean {
    if (prefixlen < 32) {
      const h = (hi & mask32(prefixlen)) >>> 0;
      const i = this.wide.findIndex((k) => k.prefixlen === prefixlen && k.hi === h);
      if (i < 0) return false;
      this.wide.splice(i, 1);
      this.count--;
      return true;
    }
    const h = hi >>> 0;
    const g = this.groups.get(h);
    if (!g) return false;
    const bits = prefixlen - 32;
    const net = lo & mask32(bits);
    const rows: [number, number, number, number][] = [];
    let found = false;
    for (let i = 0; i < g.lens.length; i++) {
      if (g.lens[i] === bits && g.nets[i] === net) found = true;
      else rows.push([g.lens[i]!, g.nets[i]!, g.masks[i]!, g.values[i]!]);
    }
    if (!found) return false;
    if (rows.length === 0) this.groups.delete(h);
    else this.groups.set(h, buildGroup(rows));
    this.count--;
    return true;
  }

  /** The value stored under exactly this key (prefixlen, masked data), or -1. */
  lookupExact(prefixlen: number, hi: number, lo: number): number {
    if (prefixlen < 32) {
      const h = (hi & mask32(prefixlen)) >>> 0;
      const k = this.wide.find((x) => x.prefixlen === prefixlen && x.hi === h);
      return k ? k.value : -1;
    }
    const g = this.groups.get(hi >>> 0);
    if (!g) return -1;
    const bits = prefixlen - 32;
    const net = lo & mask32(bits);
    for (let i = 0; i < g.lens.length; i++) if (g.lens[i] === bits && g.nets[i] === net) return g.values[i]!;
    return -1;
  }

  /** Longest-prefix match of (hi, lo) as a full 64-bit key; the value or -1. */
  lookup(hi: number, lo: number): number {
    const g = this.groups.get(hi >>> 0);
    if (g !== undefined) {
      const nets = g.nets;
      const masks = g.masks;
      const l = lo | 0;
      for (let i = 0; i < nets.length; i++) {
        if ((l & masks[i]!) === nets[i]) return g.values[i]!;
      }
    }
    const wide = this.wide;
    for (let i = 0; i < wide.length; i++) {
      const k = wide[i]!;
      if (((hi & mask32(k.prefixlen)) >>> 0) === k.hi) return k.value;
    }
    return -1;
  }

  /** Every entry, in `trie_get_next_key` order. */
  keys(): LpmKey[] {
    const out: LpmKey[] = this.wide.map((k) => ({ ...k }));
    for (const [h, g] of this.groups) {
      for (let i = 0; i < g.lens.length; i++) {
        out.push({ prefixlen: 32 + g.lens[i]!, hi: h, lo: g.nets[i]! >>> 0, value: g.values[i]! });
      }
    }
    return out.sort(postOrder);
  }
}

function buildGroup(rows: [number, number, number, number][]): Group {
  rows.sort((a, b) => b[0] - a[0]);
  return {
    lens: rows.map((r) => r[0]),
    nets: Int32Array.from(rows.map((r) => r[1])),
    masks: Int32Array.from(rows.map((r) => r[2])),
    values: Int32Array.from(rows.map((r) => r[3])),
  };
}

/** Post-order of the trie: by data bits over the common prefix; then the longer prefix first. */
function postOrder(a: LpmKey, b: LpmKey): number {
  const common = Math.min(a.prefixlen, b.prefixlen);
  const hm = common >= 32 ? 0xffffffff : common <= 0 ? 0 : (0xffffffff << (32 - common)) >>> 0;
  const ah = (a.hi & hm) >>> 0;
  const bh = (b.hi & hm) >>> 0;
  if (ah !== bh) return ah < bh ? -1 : 1;
  if (common > 32) {
    const lm = (mask32(common - 32) >>> 0) as number;
    const al = (a.lo & lm) >>> 0;
    const bl = (b.lo & lm) >>> 0;
    if (al !== bl) return al < bl ? -1 : 1;
  }
  return b.prefixlen - a.prefixlen;
}
