/**
 * @module traces/pcapng-writer
 * pcapng output (block layouts in traces/pcapng-reader.ts): a section header block, one
 * interface description block per addInterface (if_name, if_description, if_tsresol,
 * if_tsoffset when non-zero), then enhanced packet blocks with opt_comment and epb_flags.
 * Buffered and renamed into place like the pcap writer (OutputSink).
 *
 * Interface ids returned by addInterface are global across sections (like
 * CaptureRecord.ifIndex); startSection() begins a new SHB and only the interfaces added
 * after it can carry packets.
 */
import type { CaptureWriter, OutputInterface, WritePacketOptions } from './record.ts';
import { OutputError } from './errors.ts';
import { OutputSink } from './pcap-writer.ts';
import {
  BT_EPB,
  BT_IDB,
  BT_SHB,
  BYTE_ORDER_MAGIC,
  OPT_COMMENT,
  OPT_EPB_FLAGS,
  OPT_IF_DESCRIPTION,
  OPT_IF_NAME,
  OPT_IF_TSOFFSET,
  OPT_IF_TSRESOL,
} from './pcapng-reader.ts';

export interface PcapngWriterOptions {
  byteOrder?: 'le' | 'be';
  /** shb_comment */
  comment?: string;
  /** shb_hardware, shb_os, shb_userappl (default userappl 'egresslab'; none of them vary per run). */
  hardware?: string;
  os?: string;
  userappl?: string;
}

/** An output interface, optionally with the exact timestamp units of an interface read in. */
export interface PcapngOutputInterface extends OutputInterface {
  /** Overrides `resolution`: units per second as base^exp (as CaptureInterface.tsresol). */
  tsresol?: { base: 2 | 10; exp: number };
  /** if_tsoffset, seconds. */
  tsoffset?: number;
}

export interface PcapngRawOptions {
  comments?: readonly string[];
  /** epb_flags word as stored. */
  flags?: number;
}

const utf8 = new TextEncoder();
/**
 * Node's native UTF-8 string write, called on the sink's plain Uint8Array. It is not a
 * documented API: if a Node version lacks it, every comment takes the TextEncoder path.
 */
const utf8Write = (Buffer.prototype as { utf8Write?: (this: Uint8Array, s: string, offset: number, length: number) => number }).utf8Write;

const TS_US = 0;
const TS_NS = 1;
const TS_BIG = 2;

export class PcapngWriter implements CaptureWriter {
  readonly path: string;
  private readonly sink: OutputSink;
  private le: boolean;
  /** Per global interface id: section it belongs to, id within that section, timestamp kind. */
  private readonly ifSection: number[] = [];
  private readonly ifLocal: number[] = [];
  private readonly ifKind: number[] = [];
  private readonly ifUnits: bigint[] = [];
  private readonly ifOffset: number[] = [];
  private section = 0;
  private sectionIfCount = 0;
  /** A view of the sink's buffer `dvOf` (the sink replaces it to fit an oversized record). */
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private dvOf: Uint8Array | undefined;

  constructor(path: string, opts: PcapngWriterOptions = {}) {
    this.path = path;
    this.le = (opts.byteOrder ?? 'le') === 'le';
    this.sink = new OutputSink(path);
    this.writeShb(opts);
  }

  /** Starts a new section (new SHB, possibly another byte order); interface ids keep counting. */
  startSection(opts: PcapngWriterOptions = {}): void {
    this.le = (opts.byteOrder ?? 'le') === 'le';
    this.section++;
    this.sectionIfCount = 0;
    this.writeShb(opts);
  }

  addInterface(iface: PcapngOutputInterface): number {
    const tsresol = iface.tsresol ?? (iface.resolution === 'ns' ? { base: 10 as const, exp: 9 } : { base: 10 as const, exp: 6 });
    const tsoffset = iface.tsoffset ?? 0;
    const name = iface.name ? utf8.encode(iface.name) : null;
    const desc = iface.description ? utf8.encode(iface.description) : null;
    let optLen = 8 /* tsresol */ + 4 /* end */;
    if (name) optLen += 4 + pad4(name.length);
    if (desc) optLen += 4 + pad4(desc.length);
    if (tsoffset !== 0) optLen += 12;
    const total = 20 + optLen;
    const s = this.sink;
    const le = this.le;
    s.reserve(total);
    s.u32(BT_IDB, le);
    s.u32(total, le);
    s.u16(iface.linkType, le);
    s.u16(0, le);
    s.u32((iface.snaplen ?? 262144) >>> 0, le);
    if (name) this.option(OPT_IF_NAME, name);
    if (desc) this.option(OPT_IF_DESCRIPTION, desc);
    s.u16(OPT_IF_TSRESOL, le);
    s.u16(1, le);
    s.u8(tsresol.base === 2 ? 0x80 | tsresol.exp : tsresol.exp);
    s.zeros(3);
    if (tsoffset !== 0) {
      s.u16(OPT_IF_TSOFFSET, le);
      s.u16(8, le);
      const v = BigInt.asUintN(64, BigInt(Math.trunc(tsoffset)));
      const hi = Number(v >> 32n);
      const lo = Number(v & 0xffffffffn);
      s.u32(le ? lo : hi, le);
      s.u32(le ? hi : lo, le);
    }
    s.u32(0, le);
    s.u32(total, le);
    const id = this.ifSection.length;
    this.ifSection.push(this.section);
    this.ifLocal.push(this.sectionIfCount++);
    const { base, exp } = tsresol;
    this.ifKind.push(base === 10 && exp === 6 ? TS_US : base === 10 && exp === 9 ? TS_NS : TS_BIG);
    this.ifUnits.push(BigInt(base) ** BigInt(exp));
    this.ifOffset.push(tsoffset);
    return id;
  }

  writePacket(ifId: number, tsSec: number, tsNsec: number, data: Uint8Array, opts?: WritePacketOptions): void {
    const flags = opts?.direction !== undefined && opts.direction !== 0 ? opts.direction & 3 : undefined;
    this.stamped(ifId, tsSec, tsNsec, data, 0, data.length, opts?.origLen ?? data.length, opts?.comment, flags);
  }

  /**
   * writePacket for `len` bytes at `off` in `buf`, options as plain arguments: the replay
   * writes every hop through here without a view, an options object or a frame copy.
   */
  writeFrame(ifId: number, tsSec: number, tsNsec: number, buf: Uint8Array, off: number, len: number, comment: string | undefined, direction: number): void {
    this.stamped(ifId, tsSec, tsNsec, buf, off, len, len, comment, direction !== 0 ? direction & 3 : undefined);
  }

  private stamped(
    ifId: number,
    tsSec: number,
    tsNsec: number,
    buf: Uint8Array,
    off: number,
    len: number,
    origLen: number,
    comment: string | undefined,
    flags: number | undefined,
  ): void {
    this.checkIf(ifId);
    const kind = this.ifKind[ifId]!;
    const sec = tsSec - this.ifOffset[ifId]!;
    let high: number;
    let low: number;
    if (kind === TS_US && sec >= 0) {
      // < 2^53 for any second count below 2^33.
      const v = sec * 1_000_000 + Math.floor(tsNsec / 1000);
      high = Math.floor(v / 4294967296);
      low = v - high * 4294967296;
    } else if (kind === TS_NS && sec >= 0 && sec < 4294967296) {
      // sec * 1e9 + ns split on 16-bit halves of sec so every product is exact.
      const pHi = Math.floor(sec / 65536) * 1_000_000_000;
      const pLo = (sec % 65536) * 1_000_000_000 + tsNsec;
      const t = (pHi % 65536) * 65536 + pLo;
      low = t % 4294967296;
      high = Math.floor(pHi / 65536) + Math.floor(t / 4294967296);
    } else {
      const units = this.ifUnits[ifId]!;
      const v = BigInt(sec) * units + (BigInt(tsNsec) * units) / 1_000_000_000n;
      if (v < 0n || v >= 1n << 64n) {
        throw new OutputError(`${this.path}: timestamp ${tsSec}.${tsNsec} does not fit interface ${ifId}'s 64-bit time units`);
      }
      high = Number(v >> 32n);
      low = Number(v & 0xffffffffn);
    }
    this.emit(ifId, high, low, buf, off, len, origLen, comment, undefined, flags);
  }

  /** Writes a packet with its timestamp words exactly as given (interface units, high/low). */
  writeRaw(ifId: number, tsHigh: number, tsLow: number, data: Uint8Array, origLen: number, opts?: PcapngRawOptions): void {
    this.checkIf(ifId);
    this.emit(ifId, tsHigh, tsLow, data, 0, data.length, origLen, undefined, opts?.comments, opts?.flags);
  }

  close(): void {
    this.sink.close();
  }

  abort(): void {
    this.sink.abort();
  }

  private checkIf(ifId: number): void {
    if (this.ifSection[ifId] !== this.section) {
      throw new OutputError(
        ifId < this.ifSection.length
          ? `${this.path}: interface ${ifId} belongs to an earlier section`
          : `${this.path}: interface ${ifId} was never added`,
      );
    }
  }

  private emit(
    ifId: number,
    high: number,
    low: number,
    data: Uint8Array,
    dataOff: number,
    caplen: number,
    origLen: number,
    comment: string | undefined,
    comments: readonly string[] | undefined,
    flags: number | undefined,
  ): void {
    // A comment is first taken as ASCII (every hop comment the replay writes): emitAscii
    // writes it straight into the sink, with no TextEncoder array (one per packet was a large
    // share of a replay's time and garbage). A non-ASCII one leaves nothing written and is
    // encoded as UTF-8 below.
    if (comment !== undefined && comments === undefined && comment.length <= 0xffff) {
      if (this.emitAscii(ifId, high, low, data, dataOff, caplen, origLen, comment, flags)) return;
    }
    // Strings are encoded only when present, so a plain packet allocates nothing.
    let optLen = 0;
    let c1: Uint8Array | null = null;
    let cs: Uint8Array[] | null = null;
    if (comment !== undefined) {
      c1 = utf8.encode(comment);
      if (c1.length > 0xffff) throw new OutputError(`${this.path}: option ${OPT_COMMENT} longer than 65535 bytes`);
      optLen += 4 + pad4(c1.length);
    }
    if (comments !== undefined && comments.length > 0) {
      cs = comments.map((c) => utf8.encode(c));
      for (const c of cs) optLen += 4 + pad4(c.length);
    }
    if (flags !== undefined) optLen += 8;
    if (optLen > 0) optLen += 4;
    const total = 32 + pad4(caplen) + optLen;
    this.sink.reserve(total);
    this.epbHead(total, ifId, high, low, data, dataOff, caplen, origLen);
    if (optLen > 0) {
      if (c1) this.option(OPT_COMMENT, c1);
      if (cs) for (const c of cs) this.option(OPT_COMMENT, c);
      this.epbTail(flags);
    }
    this.sink.u32(total, this.le);
  }

  /**
   * emit() with an ASCII comment (every hop comment of a replay); false, with nothing
   * written, if the comment is not ASCII. The block's words go through one DataView and the
   * comment through one native UTF-8 write: the sink's byte helpers and a charCodeAt loop
   * cost about twice as much per hop (a replay of the 1M-packet benchmark writes 4 million).
   */
  private emitAscii(
    ifId: number,
    high: number,
    low: number,
    data: Uint8Array,
    dataOff: number,
    caplen: number,
    origLen: number,
    comment: string,
    flags: number | undefined,
  ): boolean {
    const n = comment.length;
    const dataEnd = 28 + caplen;
    const opt = 28 + pad4(caplen);
    const total = opt + 4 + pad4(n) + (flags !== undefined ? 8 : 0) + 8;
    const s = this.sink;
    // Room for the comment at its worst as UTF-8 (3 bytes a UTF-16 unit): one write then
    // tells ASCII (as many bytes as units) from anything else.
    s.reserve(total + 2 * n);
    const b = s.buf;
    const p = s.pos;
    if (utf8Write === undefined || utf8Write.call(b, comment, p + opt + 4, 3 * n) !== n) return false;
    let dv = this.dv;
    if (this.dvOf !== b) {
      dv = this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      this.dvOf = b;
    }
    const le = this.le;
    dv.setUint32(p, BT_EPB, le);
    dv.setUint32(p + 4, total, le);
    dv.setUint32(p + 8, this.ifLocal[ifId]!, le);
    dv.setUint32(p + 12, high >>> 0, le);
    dv.setUint32(p + 16, low >>> 0, le);
    dv.setUint32(p + 20, caplen, le);
    dv.setUint32(p + 24, origLen >>> 0, le);
    if (caplen > 0) b.set(dataOff === 0 && caplen === data.length ? data : data.subarray(dataOff, dataOff + caplen), p + 28);
    for (let i = p + dataEnd; i < p + opt; i++) b[i] = 0;
    dv.setUint16(p + opt, OPT_COMMENT, le);
    dv.setUint16(p + opt + 2, n, le);
    let q = p + opt + 4 + n;
    for (const e = p + opt + 4 + pad4(n); q < e; q++) b[q] = 0;
    if (flags !== undefined) {
      dv.setUint16(q, OPT_EPB_FLAGS, le);
      dv.setUint16(q + 2, 4, le);
      dv.setUint32(q + 4, flags >>> 0, le);
      q += 8;
    }
    dv.setUint32(q, 0, le);
    dv.setUint32(q + 4, total, le);
    s.pos = p + total;
    return true;
  }

  /** An EPB up to its options: header words and the padded packet data. */
  private epbHead(total: number, ifId: number, high: number, low: number, data: Uint8Array, dataOff: number, caplen: number, origLen: number): void {
    const s = this.sink;
    const le = this.le;
    s.u32(BT_EPB, le);
    s.u32(total, le);
    s.u32(this.ifLocal[ifId]!, le);
    s.u32(high >>> 0, le);
    s.u32(low >>> 0, le);
    s.u32(caplen, le);
    s.u32(origLen >>> 0, le);
    s.bytesAt(data, dataOff, caplen);
    s.zeros(pad4(caplen) - caplen);
  }

  /** epb_flags if any, and the end-of-options marker. */
  private epbTail(flags: number | undefined): void {
    const s = this.sink;
    const le = this.le;
    if (flags !== undefined) {
      s.u16(OPT_EPB_FLAGS, le);
      s.u16(4, le);
      s.u32(flags >>> 0, le);
    }
    s.u32(0, le);
  }

  private option(code: number, value: Uint8Array): void {
    if (value.length > 0xffff) throw new OutputError(`${this.path}: option ${code} longer than 65535 bytes`);
    const s = this.sink;
    s.u16(code, this.le);
    s.u16(value.length, this.le);
    s.bytes(value);
    s.zeros(pad4(value.length) - value.length);
  }

  private writeShb(opts: PcapngWriterOptions): void {
    const fields: [number, Uint8Array][] = [];
    if (opts.comment) fields.push([1, utf8.encode(opts.comment)]);
    if (opts.hardware) fields.push([2, utf8.encode(opts.hardware)]);
    if (opts.os) fields.push([3, utf8.encode(opts.os)]);
    fields.push([4, utf8.encode(opts.userappl ?? 'egresslab')]);
    let optLen = 4;
    for (const [, v] of fields) optLen += 4 + pad4(v.length);
    const total = 28 + optLen;
    const s = this.sink;
    const le = this.le;
    s.reserve(total);
    s.u32(BT_SHB, le);
    s.u32(total, le);
    s.u32(BYTE_ORDER_MAGIC, le);
    s.u16(1, le);
    s.u16(0, le);
    // Section length unknown (-1): we stream.
    s.u32(0xffffffff, le);
    s.u32(0xffffffff, le);
    for (const [code, v] of fields) this.option(code, v);
    s.u32(0, le);
    s.u32(total, le);
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function createPcapngWriter(path: string, opts?: PcapngWriterOptions): PcapngWriter {
  return new PcapngWriter(path, opts);
}
