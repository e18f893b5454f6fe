/**
 * @module dataplane/lib/addr-index
 * A fixed set of IPv4 addresses mapped to small integers (rows of the caller's arrays), for
 * the lookups the engine makes per packet by address: the ipcache's exact entries, the
 * underlay owner of an address, the external hosts, the egress map's sources.
 */

/**
 * u32 address → non-negative integer, open addressing over typed arrays. A `Map` keyed by
 * addresses boxes every address above 2^30 (172.18.x.x: most of the lab) into a heap
 * number per lookup and hashes it as a double; this compares int32 keys and allocates
 * nothing. Built once; sized for a fixed number of entries.
 */
export class AddrIndex {
  private readonly keys: Int32Array;
  private readonly vals: Int32Array;
  private readonly shift: number;
  private readonly mask: number;
  private count = 0;
  private readonly capacity: number;

  constructor(maxEntries: number) {
    let bits = 4;
    while (1 << bits < 2 * maxEntries) bits++;
    this.keys = new Int32Array(1 << bits);
    this.vals = new Int32Array(1 << bits).fill(-1);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.capacity = maxEntries;
  }

  /** Sets `addr` → `val` (val >= 0); an existing key keeps its first value unless `replace`. */
  set(addr: number, val: number, replace = false): void {
    const k = addr | 0;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const v = this.vals[i]!;
      if (v < 0) break;
      if (this.keys[i] === k) {
        if (replace) this.vals[i] = val;
        return;
      }
      i = (i + 1) & this.mask;
    }
    if (this.count >= this.capacity) throw new RangeError(`AddrIndex full at ${this.capacity} entries`);
    this.keys[i] = k;
    this.vals[i] = val;
    this.count++;
  }

  /** The value of `addr`, or -1. */
  get(addr: number): number {
    const k = addr | 0;
    const keys = this.keys;
    const vals = this.vals;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const v = vals[i]!;
      if (v < 0 || keys[i] === k) return v;
      i = (i + 1) & this.mask;
    }
  }
}
