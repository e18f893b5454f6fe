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
 * Storage is a handful of typed arrays and no objects, laid out for memory latency: with
 * 100k+ live entries a probe is a cache (and TLB) miss, and a lookup costs about as many
 * misses as it has loads that depend on one another.
 * - One record per slot, `stride` u32 words (a power of two): the key in words 0-3, then
 *   the owner's value words (`valueWords`, read and written by the owner at
 *   `(slot << shift) + KEY_WORDS + i`). A hit reads key and value in the same line(s).
 * - The LRU reference bit lives in the free high half of key word 3 (`REF_BIT`), so a hit's
 *   touch writes the line it has just read. Readers of word 3 mask with `KEY3_MASK`.
 * - The index is an open-addressing table (linear probing, load at most 1/2) of one u32 per
 *   bucket: the slot in the low `slotBits` bits, the hash's top bits above as a tag (0 =
 *   empty). A miss usually ends in its home bucket without reading a record; a hit reads
 *   the one record whose tag matches. So a hit is two dependent misses (bucket, record)
 *   and a miss one. A byte per bucket keeps the distance from the home bucket, so that
 *   deletion (backward shift, no tombstones: the table never degrades) moves index entries
 *   without reading their records.
 * The owner is told when the slots grow (`onGrow`: re-read `rec`, re-make any other views
 * of its buffer) and when an entry is evicted (`onEvict`). Slots grow 4-fold up to
 * `maxEntries`, so a small replay does not allocate 500k slots up front; the index doubles
 * with the live entries. Slot numbers are stable for the life of an entry (growing copies,
 * it does not move entries), so owners may hold them across inserts.
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
/** prev[] of a slot on the free list (live slots have a slot or NIL there). */
const FREE = -2;
const DEFAULT_INITIAL_CAPACITY = 1024;
/**
 * Slots grow 4-fold: each grow copies every record, so fewer, bigger steps copy a third as
 * much as doubling does. Slots handed out are touched; the unused tail of the buffer is
 * not (fresh pages are not resident until written).
 */
const GROW_FACTOR = 4;
/** dist[] value meaning "255 or more": deletion then recomputes the home bucket from the key. */
const MAX_DIST = 255;

/** Key words at the start of every record. */
export const KEY_WORDS = 4;
/** The map's LRU reference bit, in key word 3 (the key uses its low 16 bits only). */
export const REF_BIT = 0x10000;
/** Mask of key word 3's key bits. */
export const KEY3_MASK = 0xffff;

export interface TupleHashOptions {
  /** LRU hash (evict the least recently used entry when full). Default true. */
  lru?: boolean;
  /** Slots allocated up front (rounded to a power of two, capped at maxEntries). Default 1024. */
  initialCapacity?: number;
  /** u32 words of the owner's value in each slot's record, after the key. Default 0. */
  valueWords?: number;
  /** Called after the records grew (and moved to a new buffer); the owner re-reads `rec`. */
  onGrow?: (capacity: number) => void;
  /** Called before an LRU eviction frees `slot` (the key and value are still readable). */
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

/** murmur3-style finaliser over the four key words (exported for tests that need colliding keys). */
export function hash4(a: number, b: number, c: number, d: number): number {
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
  /** u32 words per record (a power of two) and its log2. */
  readonly stride: number;
  readonly shift: number;
  /**
   * One record per slot, `stride` words: key words 0-3 (word 3's high half holds REF_BIT),
   * then the owner's value words. Owners read and write their values here; nobody but the
   * map writes the key words. Replaced when the map grows (see onGrow).
   */
  rec: Uint32Array;
  /** Live entries. */
  size = 0;
  /** Slots allocated now (grows up to maxEntries). */
  capacity: number;
  /** Entries evicted by LRU since creation. */
  evictions = 0;

  /** Index: per bucket 0 (empty) or tag << slotBits | slot, the tag being the hash's top bits (never 0). */
  private index: Uint32Array;
  /** Per bucket: how far its entry sits from its home bucket, saturated at 255 (deletion reads this, not the records). */
  private dist: Uint8Array;
  private mask: number;
  private readonly slotBits: number;
  private readonly slotMask: number;
  private prev: Int32Array; // LRU list, towards the most recently used; FREE for free slots
  private next: Int32Array; // LRU list, towards the least recently used; for free slots, next free slot
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
    this.stride = nextPow2(KEY_WORDS + Math.max(0, opts.valueWords ?? 0));
    this.slotBits = Math.max(1, Math.ceil(Math.log2(maxEntries)));
    this.slotMask = 2 ** this.slotBits - 1;
    this.shift = Math.log2(this.stride);
    this.capacity = Math.min(maxEntries, nextPow2(Math.max(1, opts.initialCapacity ?? DEFAULT_INITIAL_CAPACITY)));
    this.rec = new Uint32Array(this.capacity << this.shift);
    this.prev = new Int32Array(this.capacity);
    this.next = new Int32Array(this.capacity);
    const nb = bucketsFor(this.capacity);
    this.index = new Uint32Array(nb);
    this.dist = new Uint8Array(nb);
    this.mask = nb - 1;
  }

  /** The tag of a hash: its bits above slotBits (the bucket comes from the low bits), never 0. */
  private tagOf(h: number): number {
    return (h >>> this.slotBits) || 1;
  }

  /** Slot of the key, or -1. Does not count as a use for LRU (like a dump walk). */
  peek(k0: number, k1: number, k2: number, k3: number): number {
    const h = hash4(k0, k1, k2, k3);
    const e = this.index[h & this.mask]!;
    return e === 0 ? NIL : this.probe(h, e, k0, k1, k2, k3);
  }

  /**
   * Slot of the key, or -1 (bpf_map_lookup_elem). A hit sets the entry's reference bit, as
   * the kernel's BPF LRU does; eviction gives referenced entries a second chance (moves
   * them to the head, clearing the bit). One bit in the record's line instead of relinking the list.
   */
  lookup(k0: number, k1: number, k2: number, k3: number): number {
    const s = this.peek(k0, k1, k2, k3);
    if (s !== NIL) this.touch(s);
    return s;
  }

  /**
   * lookup() of key A, then, if A is absent, lookup() of key B: the slot found or -1, and
   * `lastPairB` tells which key it was. The same result and LRU touches as the two calls;
   * faster because both home buckets are loaded before either is examined, so the two
   * cache misses overlap instead of following each other (conntrack's reply-then-forward).
   */
  lookupPair(a0: number, a1: number, a2: number, a3: number, b0: number, b1: number, b2: number, b3: number): number {
    const ha = hash4(a0, a1, a2, a3);
    const hb = hash4(b0, b1, b2, b3);
    const index = this.index;
    const mask = this.mask;
    const ea = index[ha & mask]!;
    const eb = index[hb & mask]!;
    let s = ea === 0 ? NIL : this.probe(ha, ea, a0, a1, a2, a3);
    this.lastPairB = false;
    if (s === NIL) {
      if (eb === 0) return NIL;
      s = this.probe(hb, eb, b0, b1, b2, b3);
      if (s === NIL) return NIL;
      this.lastPairB = true;
    }
    this.touch(s);
    return s;
  }

  /** Which key lookupPair() found: false A (or none), true B. */
  lastPairB = false;

  /** The probe of peek() from a non-empty home bucket entry `e` of hash `h`. */
  private probe(h: number, e: number, k0: number, k1: number, k2: number, k3: number): number {
    const index = this.index;
    const mask = this.mask;
    const slotBits = this.slotBits;
    const tag = (h >>> slotBits) || 1;
    const rec = this.rec;
    let i = h & mask;
    for (;;) {
      if (e >>> slotBits === tag) {
        const s = e & this.slotMask;
        const o = s << this.shift;
        if (rec[o] === k0 && rec[o + 1] === k1 && rec[o + 2] === k2 && (rec[o + 3]! & KEY3_MASK) === k3) return s;
      }
      i = (i + 1) & mask;
      e = index[i]!;
      if (e === 0) return NIL;
    }
  }

  /** Whether live-or-freed `slot` holds exactly this key (for owners that keep slot hints; they track liveness). */
  keyAt(slot: number, k0: number, k1: number, k2: number, k3: number): boolean {
    if (slot >= this.highWater) return false;
    const o = slot << this.shift;
    const rec = this.rec;
    return rec[o] === k0 && rec[o + 1] === k1 && rec[o + 2] === k2 && (rec[o + 3]! & KEY3_MASK) === k3;
  }

  /** What a lookup() hit does to a live slot (sets its LRU reference bit). */
  touch(slot: number): void {
    const o = (slot << this.shift) + 3;
    const w = this.rec[o]!;
    // Written only when it changes: a line that is only read stays clean.
    if (w < REF_BIT) this.rec[o] = w | REF_BIT;
  }

  /** Key word `i` (0-3) of a slot, word 3 without the map's bits (for dumps). */
  keyWord(slot: number, i: number): number {
    const w = this.rec[(slot << this.shift) + i]!;
    return i === 3 ? w & KEY3_MASK : w;
  }

  /**
   * bpf_map_update_elem. Returns the slot (new or, with BPF_ANY, existing; check
   * `lastInsertNew`), MAP_EEXIST when BPF_NOEXIST finds the key, MAP_E2BIG when a non-LRU
   * map is full. The owner writes the value into the record at the returned slot (a new
   * slot's value words hold whatever the slot held last).
   */
  insert(k0: number, k1: number, k2: number, k3: number, flags: number): number {
    const existing = this.peek(k0, k1, k2, k3);
    if (existing !== NIL) {
      this.lastInsertNew = false;
      if (flags === BPF_NOEXIST) return MAP_EEXIST;
      this.touch(existing);
      return existing;
    }
    if (this.size >= this.maxEntries) {
      if (!this.lru) return MAP_E2BIG;
      this.evictTail();
    } else {
      if (this.freeHead === NIL && this.highWater >= this.capacity) this.grow();
      if (this.size >= (this.mask + 1) >>> 1) this.growIndex();
    }
    let s: number;
    if (this.freeHead !== NIL) {
      s = this.freeHead;
      this.freeHead = this.next[s]!;
    } else {
      s = this.highWater++;
    }
    const rec = this.rec;
    const o = s << this.shift;
    rec[o] = k0;
    rec[o + 1] = k1;
    rec[o + 2] = k2;
    rec[o + 3] = k3 & KEY3_MASK; // reference bit clear
    this.place(s, hash4(k0, k1, k2, k3));
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
    const index = this.index;
    const mask = this.mask;
    const slotMask = this.slotMask;
    const dist = this.dist;
    let i = this.hashOf(s) & mask;
    while (index[i] === 0 || (index[i]! & slotMask) !== s) i = (i + 1) & mask;
    // Backward-shift deletion: move later members of the run into the hole when their home
    // bucket does not lie (cyclically) between the hole and their position.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = index[j]!;
      if (e === 0) break;
      let d = dist[j]!;
      if (d === MAX_DIST) d = (j - this.hashOf(e & slotMask)) & mask;
      const gap = (j - i) & mask;
      if (d >= gap) {
        index[i] = e;
        dist[i] = Math.min(d - gap, MAX_DIST);
        i = j;
      }
    }
    index[i] = 0;
    this.unlink(s);
    this.prev[s] = FREE;
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
    this.index.fill(0);
    this.head = this.tail = this.freeHead = NIL;
    this.highWater = 0;
    this.size = 0;
  }

  /** Bytes held by this map's typed arrays (records with the owner's values, LRU links, index). */
  byteSize(): number {
    return this.rec.byteLength + this.prev.byteLength + this.next.byteLength + this.index.byteLength + this.dist.byteLength;
  }

  private hashOf(s: number): number {
    const rec = this.rec;
    const o = s << this.shift;
    return hash4(rec[o]!, rec[o + 1]!, rec[o + 2]!, rec[o + 3]! & KEY3_MASK);
  }

  /** Puts `s` (hash `h`) in the first free bucket of its run. */
  private place(s: number, h: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = h & mask;
    let d = 0;
    while (index[i] !== 0) {
      i = (i + 1) & mask;
      d++;
    }
    index[i] = (this.tagOf(h) * (this.slotMask + 1) + s) >>> 0;
    this.dist[i] = Math.min(d, MAX_DIST);
  }

  private evictTail(): void {
    const rec = this.rec;
    for (;;) {
      const t = this.tail;
      const o = (t << this.shift) + 3;
      const w = rec[o]!;
      if (w < REF_BIT) break;
      rec[o] = w & KEY3_MASK;
      this.moveToHead(t);
    }
    const s = this.tail;
    this.evictions++;
    if (this.onEvict) this.onEvict(s);
    this.deleteSlot(s);
  }

  /** More slots: GROW_FACTOR times as many, up to maxEntries. Copies; slots stay where they are. */
  private grow(): void {
    const cap = Math.min(this.maxEntries, this.capacity * GROW_FACTOR);
    const rec = new Uint32Array(cap << this.shift);
    rec.set(this.rec);
    this.rec = rec;
    this.prev = copyInt32(this.prev, cap);
    this.next = copyInt32(this.next, cap);
    this.capacity = cap;
    if (this.onGrow) this.onGrow(cap);
  }

  /**
   * Twice the buckets, when the live entries reach half of them. The index follows the
   * entries, not the slots, so it stays as dense as the load allows (a quarter of the
   * slots can be unused after a grow()).
   */
  private growIndex(): void {
    const nb = (this.mask + 1) * 2;
    this.index = new Uint32Array(nb);
    this.dist = new Uint8Array(nb);
    this.mask = nb - 1;
    // Slot order reads the records sequentially.
    const prev = this.prev;
    for (let s = 0; s < this.highWater; s++) if (prev[s] !== FREE) this.place(s, this.hashOf(s));
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
