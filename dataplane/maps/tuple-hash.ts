/**
 * @module dataplane/maps/tuple-hash
 * A bounded hash map keyed by Cilium's `struct ipv4_ct_tuple`, with BPF map semantics:
 * a fixed `max_entries`, `BPF_NOEXIST` inserts that fail when the key exists, and
 * optional LRU eviction (`BPF_MAP_TYPE_LRU_HASH`: a full map silently drops its least
 * recently used entry to make room; a plain hash refuses the insert).
 *
 * Key packing (14 bytes → 4 u32 words; the byte order inside a word does not matter
 * because the key is only compared, never serialised):
 *
 * ```
 *  word 0: daddr                      word 1: saddr
 *  word 2: dport << 16 | sport        word 3: flags << 8 | nexthdr
 * ```
 *
 * Storage is struct-of-arrays so a million entries are a handful of typed arrays and no
 * objects: keys interleaved in one Uint32Array (4 words per slot), the LRU list as
 * Int32Array links. The index is an open-addressing table (linear probing, load at most
 * 1/2) of {slot, full 32-bit hash} pairs: a lookup is memory-bound, and this way a miss
 * costs one cache line (chains cost one miss per element) and a hit reads the key only
 * when the stored hash already matches. Deletion shifts the following run back (no
 * tombstones), so the table never degrades. The map only owns keys; an owner keeps its values in its own
 * typed arrays indexed by the same slot number and is told when the capacity grows
 * (`onGrow`) and when an entry is evicted (`onEvict`). Capacity grows by doubling up to
 * `maxEntries`, so a small replay does not allocate 500k slots up front. Slot numbers are
 * stable for the life of an entry (growing copies, it does not move entries).
 *
 * LRU order is the kernel's approximation, not a strict move-to-front: new entries go to
 * the head, a lookup hit sets a reference bit, and eviction takes the tail after giving
 * referenced entries a second chance. Walk order (newest()/older()) is list order.
 *
 * Nothing here allocates per operation; lookups take the key as four numbers.
 */

/** `BPF_ANY`: create or update. */
export const BPF_ANY = 0;
/** `BPF_NOEXIST`: create only. */
export const BPF_NOEXIST = 1;

/** insert(): the key exists and BPF_NOEXIST was given (-EEXIST). */
export const MAP_EEXIST = -1;
/** insert(): the map is full and not LRU (-E2BIG). */
export const MAP_E2BIG = -2;

const NIL = -1;
const DEFAULT_INITIAL_CAPACITY = 1024;

export interface TupleHashOptions {
  /** LRU hash (evict the least recently used entry when full). Default true. */
  lru?: boolean;
  /** Slots allocated up front (rounded to a power of two, capped at maxEntries). Default 1024. */
  initialCapacity?: number;
  /** Called after the key arrays grew; the owner grows its value arrays to `capacity`. */
  onGrow?: (capacity: number) => void;
  /** Called before an LRU eviction frees `slot` (the key is still readable). */
  onEvict?: (slot: number) => void;
}

/** Packs `nexthdr` and `flags` the way word 3 holds them. */
export function tupleWord3(nexthdr: number, flags: number): number {
  return ((flags & 0xff) << 8) | (nexthdr & 0xff);
}

/** Packs `dport` and `sport` the way word 2 holds them. */
export function tupleWord2(dport: number, sport: number): number {
  return (((dport & 0xffff) << 16) | (sport & 0xffff)) >>> 0;
}

/** murmur3-style finaliser over the four key words. */
function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class TupleHash {
  readonly maxEntries: number;
  readonly lru: boolean;
  /** 4 words per slot, see the module doc. Read by owners for dumps; do not write. */
  keys: Uint32Array;
  /** Live entries. */
  size = 0;
  /** Slots allocated now (grows up to maxEntries). */
  capacity: number;
  /** Entries evicted by LRU since creation. */
  evictions = 0;

  /** Open-addressing index: [slot, hash] per bucket, slot NIL when empty. */
  private table: Int32Array;
  private mask: number;
  private prev: Int32Array; // LRU list, towards the most recently used
  private next: Int32Array; // LRU list, towards the least recently used; for free slots, next free slot
  private ref: Uint8Array; // referenced since it last reached the head (second chance)
  private head = NIL; // most recently used
  private tail = NIL; // least recently used
  private freeHead = NIL;
  private highWater = 0; // slots [0, highWater) have been handed out at least once
  private readonly onGrow: ((capacity: number) => void) | undefined;
  private readonly onEvict: ((slot: number) => void) | undefined;

  constructor(maxEntries: number, opts: TupleHashOptions = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.lru = opts.lru ?? true;
    this.onGrow = opts.onGrow;
    this.onEvict = opts.onEvict;
    this.capacity = Math.min(maxEntries, nextPow2(Math.max(1, opts.initialCapacity ?? DEFAULT_INITIAL_CAPACITY)));
    this.keys = new Uint32Array(this.capacity * 4);
    this.prev = new Int32Array(this.capacity);
    this.next = new Int32Array(this.capacity);
    this.ref = new Uint8Array(this.capacity);
    const nb = bucketsFor(this.capacity);
    this.table = new Int32Array(nb * 2).fill(NIL);
    this.mask = nb - 1;
  }

  /** Slot of the key, or -1. Does not count as a use for LRU (like a dump walk). */
  peek(k0: number, k1: number, k2: number, k3: number): number {
    const keys = this.keys;
    const table = this.table;
    const mask = this.mask;
    const h = hash4(k0, k1, k2, k3);
    let i = h & mask;
    for (;;) {
      const s = table[i << 1]!;
      if (s === NIL) return NIL;
      if (table[(i << 1) + 1] === h) {
        const o = s << 2;
        if (keys[o] === k0 && keys[o + 1] === k1 && keys[o + 2] === k2 && keys[o + 3] === k3) return s;
      }
      i = (i + 1) & mask;
    }
  }

  /**
   * Slot of the key, or -1 (bpf_map_lookup_elem). A hit sets the entry's reference bit, as
   * the kernel's BPF LRU does; eviction gives referenced entries a second chance (moves
   * them to the head, clearing the bit). One byte write per hit instead of relinking the list.
   */
  lookup(k0: number, k1: number, k2: number, k3: number): number {
    const s = this.peek(k0, k1, k2, k3);
    if (s !== NIL) this.ref[s] = 1;
    return s;
  }

  /** Whether live-or-freed `slot` holds exactly this key (for owners that keep slot hints; they track liveness). */
  keyAt(slot: number, k0: number, k1: number, k2: number, k3: number): boolean {
    if (slot >= this.highWater) return false;
    const o = slot << 2;
    const keys = this.keys;
    return keys[o] === k0 && keys[o + 1] === k1 && keys[o + 2] === k2 && keys[o + 3] === k3;
  }

  /** What a lookup() hit does to a live slot (sets its LRU reference bit). */
  touch(slot: number): void {
    this.ref[slot] = 1;
  }

  /**
   * bpf_map_update_elem. Returns the slot (new or, with BPF_ANY, existing; check
   * `lastInsertNew`), MAP_EEXIST when BPF_NOEXIST finds the key, MAP_E2BIG when a non-LRU
   * map is full. The owner writes the value into its arrays at the returned slot.
   */
  insert(k0: number, k1: number, k2: number, k3: number, flags: number): number {
    const existing = this.peek(k0, k1, k2, k3);
    if (existing !== NIL) {
      this.lastInsertNew = false;
      if (flags === BPF_NOEXIST) return MAP_EEXIST;
      this.ref[existing] = 1;
      return existing;
    }
    if (this.size >= this.maxEntries) {
      if (!this.lru) return MAP_E2BIG;
      this.evictTail();
    } else if (this.freeHead === NIL && this.highWater >= this.capacity) {
      this.grow();
    }
    let s: number;
    if (this.freeHead !== NIL) {
      s = this.freeHead;
      this.freeHead = this.next[s]!;
    } else {
      s = this.highWater++;
    }
    const o = s << 2;
    this.keys[o] = k0;
    this.keys[o + 1] = k1;
    this.keys[o + 2] = k2;
    this.keys[o + 3] = k3;
    this.place(s, hash4(k0, k1, k2, k3));
    this.ref[s] = 0;
    this.linkHead(s);
    this.size++;
    this.lastInsertNew = true;
    return s;
  }

  /** Whether the last successful insert() created the entry (false: BPF_ANY updated one). */
  lastInsertNew = false;

  /** bpf_map_delete_elem by key. */
  delete(k0: number, k1: number, k2: number, k3: number): boolean {
    const s = this.peek(k0, k1, k2, k3);
    if (s === NIL) return false;
    this.deleteSlot(s);
    return true;
  }

  /** Removes a live slot. */
  deleteSlot(s: number): void {
    const o = s << 2;
    const table = this.table;
    const mask = this.mask;
    let i = hash4(this.keys[o]!, this.keys[o + 1]!, this.keys[o + 2]!, this.keys[o + 3]!) & mask;
    while (table[i << 1] !== s) i = (i + 1) & mask;
    // Backward-shift deletion: move later members of the run into the hole when their home
    // bucket does not lie (cyclically) between the hole and their position.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const sj = table[j << 1]!;
      if (sj === NIL) break;
      const home = table[(j << 1) + 1]! & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        table[i << 1] = sj;
        table[(i << 1) + 1] = table[(j << 1) + 1]!;
        i = j;
      }
    }
    table[i << 1] = NIL;
    this.unlink(s);
    this.next[s] = this.freeHead;
    this.freeHead = s;
    this.size--;
  }

  /** Head of the LRU list (most recently inserted or second-chanced), or -1. Walk with `older(slot)`. */
  newest(): number {
    return this.head;
  }

  /** Least recently used live slot, or -1. */
  oldest(): number {
    return this.tail;
  }

  /** The next less recently used slot, or -1. Safe to call before deleting `slot`. */
  older(slot: number): number {
    return this.next[slot]!;
  }

  /** The next more recently used slot, or -1. Safe to call before deleting `slot`. */
  newer(slot: number): number {
    return this.prev[slot]!;
  }

  /** Live slots, most recently used first (allocates; for dumps and GC, not per packet). */
  slots(): Int32Array {
    const out = new Int32Array(this.size);
    let i = 0;
    for (let s = this.head; s !== NIL; s = this.next[s]!) out[i++] = s;
    return out;
  }

  clear(): void {
    this.table.fill(NIL);
    this.head = this.tail = this.freeHead = NIL;
    this.highWater = 0;
    this.size = 0;
  }

  /** Bytes held by this map's typed arrays (keys, LRU links, index). */
  byteSize(): number {
    return this.keys.byteLength + this.prev.byteLength + this.next.byteLength + this.ref.byteLength + this.table.byteLength;
  }

  /** Puts `s` (hash `h`) in the first free bucket of its run. */
  private place(s: number, h: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = h & mask;
    while (table[i << 1] !== NIL) i = (i + 1) & mask;
    table[i << 1] = s;
    table[(i << 1) + 1] = h;
  }

  private evictTail(): void {
    while (this.ref[this.tail] === 1) {
      const t = this.tail;
      this.ref[t] = 0;
      this.moveToHead(t);
    }
    const s = this.tail;
    this.evictions++;
    if (this.onEvict) this.onEvict(s);
    this.deleteSlot(s);
  }

  private grow(): void {
    const cap = Math.min(this.maxEntries, this.capacity * 2);
    const keys = new Uint32Array(cap * 4);
    keys.set(this.keys);
    this.keys = keys;
    this.prev = copyInt32(this.prev, cap);
    this.next = copyInt32(this.next, cap);
    const ref = new Uint8Array(cap);
    ref.set(this.ref);
    this.ref = ref;
    this.capacity = cap;
    const nb = bucketsFor(cap);
    if (nb * 2 !== this.table.length) {
      // Rehash live entries into the larger index; slots stay where they are.
      this.table = new Int32Array(nb * 2).fill(NIL);
      this.mask = nb - 1;
      for (let s = this.head; s !== NIL; s = this.next[s]!) {
        const o = s << 2;
        this.place(s, hash4(keys[o]!, keys[o + 1]!, keys[o + 2]!, keys[o + 3]!));
      }
    }
    if (this.onGrow) this.onGrow(cap);
  }

  private linkHead(s: number): void {
    this.prev[s] = NIL;
    this.next[s] = this.head;
    if (this.head !== NIL) this.prev[this.head] = s;
    this.head = s;
    if (this.tail === NIL) this.tail = s;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p !== NIL) this.next[p] = n;
    else this.head = n;
    if (n !== NIL) this.prev[n] = p;
    else this.tail = p;
  }

  private moveToHead(s: number): void {
    this.unlink(s);
    this.linkHead(s);
  }
}

/** Buckets for `capacity` slots: a power of two at least twice the slots (load ≤ 1/2 keeps probe runs short). */
function bucketsFor(capacity: number): number {
  return nextPow2(capacity * 2);
}

function copyInt32(a: Int32Array, cap: number): Int32Array {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}

/** Grows a typed array to `cap` elements, keeping its contents (value arrays of map owners). */
export function growU32(a: Uint32Array, cap: number): Uint32Array {
  const b = new Uint32Array(cap);
  b.set(a);
  return b;
}
export function growU16(a: Uint16Array, cap: number): Uint16Array {
  const b = new Uint16Array(cap);
  b.set(a);
  return b;
}
export function growU8(a: Uint8Array, cap: number): Uint8Array {
  const b = new Uint8Array(cap);
  b.set(a);
  return b;
}
export function growF64(a: Float64Array, cap: number): Float64Array {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}
export function growI32(a: Int32Array, cap: number): Int32Array {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}
