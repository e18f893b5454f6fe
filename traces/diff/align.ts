/**
 * @module traces/diff/align
 * Per-interface alignment of the expected and actual packet streams, streaming with a
 * bounded look-ahead (`window` packets per side), so memory does not grow with the file.
 *
 * At each step the two head packets are compared:
 * 1. identical bytes, or the same flow key (innermost addresses, ports unless canon-ports,
 *    and content: TCP seq/ack/flags, first payload bytes): a pair, compared field by field,
 *    at once, without waiting for the look-ahead windows to fill;
 * 2. otherwise, if one head's flow key appears within the other side's window, the packets
 *    before it are an insertion or deletion (the nearer resynchronisation wins);
 * 3. otherwise a positional pair: the packet changed in place (a rewritten address or port).
 * Unmatched packets wait `window` packets in a pending list: a missing packet that shows up
 * as an extra one nearby (or the reverse) is reported as moved, not as missing plus extra.
 * Keys are 32-bit hashes computed only for packets that leave the fast path.
 */
import type { PacketView } from './compare.ts';
import { FrameWalk, contentKey, flowKey, walkFrame } from './flow.ts';
import { bytesEqual } from './compare.ts';

/** A packet copied out of its reader (the reader reuses its record). */
export class Pkt implements PacketView {
  data: Uint8Array;
  linkType: number;
  origLen: number;
  tsSec: number;
  tsNsec: number;
  comments: readonly string[] | undefined;
  /** 1-based record number in the file. */
  frame: number;
  /** 0-based position within its interface. */
  index: number;
  ck = 0;
  fk = 0;
  constructor(v: PacketView, frame: number, index: number) {
    this.data = v.data.slice();
    this.linkType = v.linkType;
    this.origLen = v.origLen;
    this.tsSec = v.tsSec;
    this.tsNsec = v.tsNsec;
    this.comments = v.comments === undefined ? undefined : [...v.comments];
    this.frame = frame;
    this.index = index;
  }
}

/** What alignment decides; the engine compares, counts and reports. */
export interface AlignSink {
  pair(e: Pkt, a: Pkt): void;
  missing(e: Pkt): void;
  extra(a: Pkt): void;
  moved(e: Pkt, a: Pkt): void;
}

class Queue {
  items: Pkt[] = [];
  head = 0;
  readonly keys = new Map<number, number>();
  get length(): number {
    return this.items.length - this.head;
  }
  at(i: number): Pkt {
    return this.items[this.head + i]!;
  }
  push(p: Pkt): void {
    this.items.push(p);
    this.keys.set(p.fk, (this.keys.get(p.fk) ?? 0) + 1);
  }
  shift(): Pkt {
    const p = this.items[this.head++]!;
    const n = this.keys.get(p.fk)! - 1;
    if (n === 0) this.keys.delete(p.fk);
    else this.keys.set(p.fk, n);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return p;
  }
  /** Position (1..limit) of the first packet with flow key `fk`, or -1. */
  find(fk: number, limit: number): number {
    if (!this.keys.has(fk)) return -1;
    const n = Math.min(this.length - 1, limit);
    for (let i = 1; i <= n; i++) if (this.at(i).fk === fk) return i;
    return -1;
  }
}

export class Aligner {
  private readonly qe = new Queue();
  private readonly qa = new Queue();
  private readonly pendMissing: Pkt[] = [];
  private readonly pendExtra: Pkt[] = [];
  private readonly walk = new FrameWalk();
  /** Position of the next packet to arrive, per side. */
  seenE = 0;
  seenA = 0;

  constructor(
    private readonly sink: AlignSink,
    private readonly window: number,
    private readonly canonPorts: boolean,
  ) {}

  /** True when nothing is queued: the caller may compare the next pair directly. */
  get idle(): boolean {
    return this.qe.length === 0 && this.qa.length === 0;
  }

  private keyed(v: PacketView, frame: number, index: number): Pkt {
    const p = new Pkt(v, frame, index);
    walkFrame(p.data, p.linkType, this.walk);
    p.ck = contentKey(p.data, this.walk);
    p.fk = flowKey(p.ck, this.walk, !this.canonPorts);
    return p;
  }

  pushExpected(v: PacketView, frame: number): void {
    this.qe.push(this.keyed(v, frame, this.seenE++));
  }
  pushActual(v: PacketView, frame: number): void {
    this.qa.push(this.keyed(v, frame, this.seenA++));
  }

  /** A pair the caller matched itself (fast path): advances positions, ages pending packets. */
  skipPair(): void {
    this.seenE++;
    this.seenA++;
    if (this.pendMissing.length + this.pendExtra.length > 0) this.expire(false);
  }

  /** Queued packets per side (the engine reads the side that is behind). */
  get queuedE(): number {
    return this.qe.length;
  }
  get queuedA(): number {
    return this.qa.length;
  }

  /** The actual side's head when only that side has packets queued (fast path for the next expected packet). */
  headA(): Pkt | undefined {
    return this.qe.length === 0 && this.qa.length > 0 ? this.qa.at(0) : undefined;
  }
  headE(): Pkt | undefined {
    return this.qa.length === 0 && this.qe.length > 0 ? this.qe.at(0) : undefined;
  }
  /** The caller paired the next expected packet (not queued) with `headA()`. */
  takeA(): Pkt {
    this.seenE++;
    const p = this.qa.shift();
    if (this.pendMissing.length + this.pendExtra.length > 0) this.expire(false);
    return p;
  }
  takeE(): Pkt {
    this.seenA++;
    const p = this.qe.shift();
    if (this.pendMissing.length + this.pendExtra.length > 0) this.expire(false);
    return p;
  }

  /** Aligns as far as the look-ahead allows; `endE`/`endA`: that side has no more packets. */
  run(endE: boolean, endA: boolean): void {
    const w = this.window;
    for (;;) {
      const ne = this.qe.length;
      const na = this.qa.length;
      if (ne > 0 && na > 0) {
        // Heads that agree pair at once: no look-ahead needed, and the queues drain back to
        // the engine's copy-free fast path after a resynchronisation. Same flow key is what
        // `step` pairs first whatever the windows hold, so waiting for them changes nothing;
        // not waiting keeps a packet changed in place (a renamed port, a new TTL) from
        // holding every later packet of the interface out of the fast path.
        const e = this.qe.at(0);
        const a = this.qa.at(0);
        if (e.fk === a.fk || bytesEqual(e.data, a.data)) {
          this.sink.pair(this.qe.shift(), this.qa.shift());
          continue;
        }
      }
      if (!((ne > w || endE) && (na > w || endA))) break;
      if (ne === 0 && na === 0) break;
      if (ne === 0) this.unmatchedA(this.qa.shift());
      else if (na === 0) this.unmatchedE(this.qe.shift());
      else this.step();
      this.expire(false);
    }
    if (endE && endA && this.qe.length === 0 && this.qa.length === 0) this.expire(true);
  }

  private step(): void {
    const e = this.qe.at(0);
    const a = this.qa.at(0);
    if (e.fk === a.fk || bytesEqual(e.data, a.data)) {
      this.sink.pair(this.qe.shift(), this.qa.shift());
      return;
    }
    const kA = this.qa.find(e.fk, this.window);
    const kE = this.qe.find(a.fk, this.window);
    if (kA > 0 && (kE < 0 || kA <= kE)) {
      this.unmatchedA(this.qa.shift());
      return;
    }
    if (kE > 0) {
      this.unmatchedE(this.qe.shift());
      return;
    }
    this.sink.pair(this.qe.shift(), this.qa.shift());
  }

  private unmatchedE(e: Pkt): void {
    const x = this.pendExtra;
    for (let i = 0; i < x.length; i++) {
      if (x[i]!.fk === e.fk) {
        this.sink.moved(e, x.splice(i, 1)[0]!);
        return;
      }
    }
    this.pendMissing.push(e);
  }

  private unmatchedA(a: Pkt): void {
    const m = this.pendMissing;
    for (let i = 0; i < m.length; i++) {
      if (m[i]!.fk === a.fk) {
        this.sink.moved(m.splice(i, 1)[0]!, a);
        return;
      }
    }
    this.pendExtra.push(a);
  }

  private expire(all: boolean): void {
    const m = this.pendMissing;
    const limE = this.seenE - this.qe.length - this.window;
    while (m.length > 0 && (all || m[0]!.index < limE)) this.sink.missing(m.shift()!);
    const x = this.pendExtra;
    const limA = this.seenA - this.qa.length - this.window;
    while (x.length > 0 && (all || x[0]!.index < limA)) this.sink.extra(x.shift()!);
  }
}
