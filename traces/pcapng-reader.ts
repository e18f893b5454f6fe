/**
 * @module traces/pcapng-reader
 * pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html). Every block:
 *
 * ```
 *  0 block type u32 | 4 block total length u32 | body ... | total length u32 (again)
 *
 * SHB 0x0a0d0d0a: 8 byte-order magic 1a2b3c4d | 12 major u16 | 14 minor u16 | 16 section length i64 | options
 * IDB 1:          8 link type u16 | 10 reserved | 12 snaplen u32 | options (if_name 2, if_description 3,
 *                 if_tsresol 9 (1 byte: high bit 0 = 10^-n, 1 = 2^-n), if_tsoffset 14 (i64 seconds))
 * EPB 6:          8 interface id | 12 ts high | 16 ts low | 20 caplen | 24 origlen | 28 data (pad 4) | options
 *                 (opt_comment 1, epb_flags 2)
 * SPB 3:          8 origlen | 12 data: caplen = min(origlen, snaplen of interface 0, block room); no timestamp
 * PB  2 (obsolete): 8 interface id u16 | 10 drops u16 | 12 ts high | 16 ts low | 20 caplen | 24 origlen | 28 data
 * options: code u16 | length u16 | value padded to 4 | ... | opt_endofopt (0)
 * ```
 * A file is a sequence of sections, each an SHB, its IDBs (numbered from 0 per section) and
 * the packets; each SHB sets the byte order of its section. Unknown blocks are skipped by
 * their length.
 */
import type { ByteOrder, CaptureInfo, CaptureInterface, CaptureReader, WindowedRecord } from './record.ts';
import { CaptureError } from './errors.ts';
import { MAX_RECORD_BYTES, type ByteSource } from './byte-source.ts';
import { ReaderRecord } from './reader-record.ts';

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 1;
export const BT_PB = 2;
export const BT_SPB = 3;
export const BT_EPB = 6;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const OPT_EPB_FLAGS = 2;
export const OPT_IF_NAME = 2;
export const OPT_IF_DESCRIPTION = 3;
export const OPT_IF_TSRESOL = 9;
export const OPT_IF_TSOFFSET = 14;

// Timestamp conversion kinds, chosen per interface so the per-packet path is a switch.
const TS_US = 0;
const TS_NS = 1;
const TS_BIG = 2;

const utf8 = new TextDecoder('utf-8');

export class PcapngReader implements CaptureReader {
  readonly path: string;
  readonly info: CaptureInfo;
  private readonly src: ByteSource;
  private le = true;
  private section = -1;
  /** Index in info.interfaces of interface 0 of the current section. */
  private sectionBase = 0;
  private sectionIfCount = 0;
  private readonly tsKind: number[] = [];
  private readonly tsOffset: number[] = [];
  private readonly tsUnits: bigint[] = [];
  private readonly rec = new ReaderRecord();
  private count = 0;
  private failed: CaptureError | null = null;
  private done = false;

  /** `src` is positioned at the first SHB (its type already checked). */
  constructor(path: string, src: ByteSource) {
    this.path = path;
    this.src = src;
    this.info = { format: 'pcapng', byteOrder: 'le', version: '', interfaces: [], sections: [] };
    // The first SHB fills info.byteOrder and version; errors in it are errors of the file.
    const offset = src.position;
    const len = this.blockHeader(offset);
    this.readShb(offset, len);
    src.skip(len);
  }

  get position(): number {
    return this.src.position;
  }

  get size(): number | undefined {
    return this.src.size;
  }

  get bufferCapacity(): number {
    return this.src.peakCapacity;
  }

  next(): WindowedRecord | null {
    if (this.failed) throw this.failed;
    if (this.done) return null;
    const src = this.src;
    for (;;) {
      const offset = src.position;
      // The common block first, checked inline: an EPB whose whole length is in the window,
      // with a sound length and trailer. Anything else (or anything wrong) takes the general
      // path below, which makes the same checks and names the problem.
      const o = src.start;
      if (src.end - o >= 32) {
        const dv = src.dv;
        const le = this.le;
        if (dv.getUint32(o, le) === BT_EPB) {
          const len = dv.getUint32(o + 4, le);
          if (len >= 32 && (len & 3) === 0 && len <= src.end - o && dv.getUint32(o + len - 4, le) === len) {
            this.readPacket(BT_EPB, offset, len);
            src.start = o + len;
            return this.rec;
          }
        }
      }
      if (!src.ensure(8)) {
        if (src.available === 0) {
          this.done = true;
          return null;
        }
        return this.fail(offset, `truncated block header: ${src.available} of 8 bytes before end of file`);
      }
      const type = this.rd32(src.buf, src.start);
      if (type === BT_EPB || type === BT_SPB || type === BT_PB) {
        const len = this.blockHeader(offset);
        this.readPacket(type, offset, len);
        src.skip(len);
        return this.rec;
      }
      if (type === BT_SHB) {
        const len = this.blockHeader(offset);
        this.readShb(offset, len);
        src.skip(len);
      } else if (type === BT_IDB) {
        const len = this.blockHeader(offset);
        this.readIdb(offset, len);
        src.skip(len);
      } else {
        this.skipBlock(offset);
      }
    }
  }

  /** See ByteSource.cooperative: next() may then throw WOULD_BLOCK, having consumed nothing. */
  get cooperative(): boolean {
    return this.src.cooperative;
  }

  set cooperative(on: boolean) {
    this.src.cooperative = on;
  }

  close(): void {
    this.src.close();
  }

  private fail(offset: number, reason: string): never {
    this.failed = new CaptureError(this.path, offset, reason);
    throw this.failed;
  }

  /**
   * Validates the block at `offset` (current position) and makes all of it available.
   * For an SHB the byte order is taken from its magic first. Returns the total length.
   */
  private blockHeader(offset: number): number {
    const src = this.src;
    if (!src.ensure(12)) {
      return this.fail(offset, `truncated block header: ${src.available} of 12 bytes before end of file`);
    }
    let b = src.buf;
    let o = src.start;
    const typeBe = (b[o]! << 24 | b[o + 1]! << 16 | b[o + 2]! << 8 | b[o + 3]!) >>> 0;
    if (typeBe === BT_SHB) {
      const m = (b[o + 8]! << 24 | b[o + 9]! << 16 | b[o + 10]! << 8 | b[o + 11]!) >>> 0;
      if (m === BYTE_ORDER_MAGIC) this.le = false;
      else if (m === 0x4d3c2b1a) this.le = true;
      else return this.fail(offset, `bad section header byte-order magic 0x${hex32(m)}`);
    }
    const len = this.rd32(b, o + 4);
    const type = this.rd32(b, o);
    const min = minBlockLength(type);
    if (len < min) return this.fail(offset, `block type 0x${hex32(type)}: length ${len} shorter than its minimum ${min}`);
    if (len % 4 !== 0) return this.fail(offset, `block type 0x${hex32(type)}: length ${len} is not a multiple of 4`);
    if (len > MAX_RECORD_BYTES) return this.fail(offset, `block type 0x${hex32(type)}: length ${len} exceeds the ${MAX_RECORD_BYTES}-byte limit`);
    const rem = src.remaining;
    if (rem !== undefined && len > rem) return this.fail(offset, `truncated block: type 0x${hex32(type)} claims ${len} bytes, only ${rem} left in file`);
    if (!src.ensure(len)) return this.fail(offset, `truncated block: type 0x${hex32(type)} claims ${len} bytes, only ${src.available} before end of input`);
    b = src.buf;
    o = src.start;
    const trailer = this.rd32(b, o + len - 4);
    if (trailer !== len) return this.fail(offset, `block type 0x${hex32(type)}: trailing length ${trailer} does not match leading length ${len}`);
    return len;
  }

  /** Unknown blocks may be big: discard them in window-sized pieces, then check the trailer. */
  private skipBlock(offset: number): void {
    const src = this.src;
    if (!src.ensure(12)) {
      this.fail(offset, `truncated block header: ${src.available} of 12 bytes before end of file`);
    }
    const type = this.rd32(src.buf, src.start);
    const len = this.rd32(src.buf, src.start + 4);
    if (len < 12) this.fail(offset, `block type 0x${hex32(type)}: length ${len} shorter than its minimum 12`);
    if (len % 4 !== 0) this.fail(offset, `block type 0x${hex32(type)}: length ${len} is not a multiple of 4`);
    const rem = src.remaining;
    if (rem !== undefined && len > rem) this.fail(offset, `truncated block: type 0x${hex32(type)} claims ${len} bytes, only ${rem} left in file`);
    if (!src.discard(len - 4) || !src.ensure(4)) {
      this.fail(offset, `truncated block: type 0x${hex32(type)} claims ${len} bytes, input ended first`);
    }
    const trailer = this.rd32(src.buf, src.start);
    if (trailer !== len) this.fail(offset, `block type 0x${hex32(type)}: trailing length ${trailer} does not match leading length ${len}`);
    src.skip(4);
  }

  private readShb(offset: number, len: number): void {
    const b = this.src.buf;
    const o = this.src.start;
    const major = this.rd16(b, o + 12);
    const minor = this.rd16(b, o + 14);
    if (major !== 1) this.fail(offset, `unsupported pcapng version ${major}.${minor}`);
    // Options are not needed (shb_hardware etc.), but a malformed list is still an error.
    this.walkOptions(b, o + 24, o + len - 4, offset, null);
    this.section++;
    this.sectionBase = this.info.interfaces.length;
    this.sectionIfCount = 0;
    this.info.sections!.push({ byteOrder: this.le ? 'le' : 'be', version: `${major}.${minor}` });
    if (this.section === 0) {
      const info = this.info as { byteOrder: ByteOrder; version: string };
      info.byteOrder = this.le ? 'le' : 'be';
      info.version = `${major}.${minor}`;
    }
  }

  private readIdb(offset: number, len: number): void {
    const b = this.src.buf;
    const o = this.src.start;
    const iface: CaptureInterface = {
      id: this.sectionIfCount,
      section: this.section,
      linkType: this.rd16(b, o + 8),
      linkTypeFlags: 0,
      snaplen: this.rd32(b, o + 12),
      tsresol: { base: 10, exp: 6 },
      tsoffset: 0,
    };
    this.walkOptions(b, o + 16, o + len - 4, offset, (code, vo, vlen) => {
      if (code === OPT_IF_NAME) iface.name = utf8.decode(b.subarray(vo, vo + vlen));
      else if (code === OPT_IF_DESCRIPTION) iface.description = utf8.decode(b.subarray(vo, vo + vlen));
      else if (code === OPT_IF_TSRESOL) {
        if (vlen < 1) this.fail(offset, 'if_tsresol option with no value');
        const v = b[vo]!;
        iface.tsresol = v & 0x80 ? { base: 2, exp: v & 0x7f } : { base: 10, exp: v };
      } else if (code === OPT_IF_TSOFFSET) {
        if (vlen < 8) this.fail(offset, `if_tsoffset option of ${vlen} bytes, expected 8`);
        iface.tsoffset = this.rdI64(b, vo);
      }
    });
    const { base, exp } = iface.tsresol;
    this.tsKind.push(base === 10 && exp === 6 ? TS_US : base === 10 && exp === 9 ? TS_NS : TS_BIG);
    this.tsUnits.push(BigInt(base) ** BigInt(exp));
    this.tsOffset.push(iface.tsoffset);
    this.info.interfaces.push(iface);
    this.sectionIfCount++;
  }

  private readPacket(type: number, offset: number, len: number): void {
    const b = this.src.buf;
    const o = this.src.start;
    const rec = this.rec;
    let ifId: number;
    let caplen: number;
    let origLen: number;
    let dataOff: number;
    let high = 0;
    let low = 0;
    if (type === BT_SPB) {
      ifId = 0;
      if (this.sectionIfCount === 0) this.fail(offset, 'simple packet block before any interface description block');
      origLen = this.rd32(b, o + 8);
      const snaplen = this.info.interfaces[this.sectionBase]!.snaplen;
      caplen = len - 16;
      if (origLen < caplen) caplen = origLen;
      if (snaplen !== 0 && snaplen < caplen) caplen = snaplen;
      dataOff = o + 12;
    } else {
      const dv = this.src.dv;
      const le = this.le;
      ifId = type === BT_EPB ? dv.getUint32(o + 8, le) : dv.getUint16(o + 8, le);
      high = dv.getUint32(o + 12, le);
      low = dv.getUint32(o + 16, le);
      caplen = dv.getUint32(o + 20, le);
      origLen = dv.getUint32(o + 24, le);
      dataOff = o + 28;
      if (caplen > len - 32) {
        this.fail(offset, `packet block: caplen ${caplen} runs past the end of the block (room for ${len - 32})`);
      }
      if (ifId >= this.sectionIfCount) {
        this.fail(offset, `packet block: interface id ${ifId} not described in this section (${this.sectionIfCount} interfaces)`);
      }
    }
    const ifIndex = this.sectionBase + ifId;
    rec.index = this.count;
    rec.offset = offset;
    rec.ifIndex = ifIndex;
    rec.linkType = this.info.interfaces[ifIndex]!.linkType;
    rec.place(b, dataOff, caplen);
    rec.origLen = origLen;
    rec.tsHigh = high;
    rec.tsLow = low;
    rec.comments = undefined;
    rec.flags = undefined;
    rec.untimed = type === BT_SPB;
    if (type !== BT_SPB) {
      const optStart = dataOff + ((caplen + 3) & ~3);
      const optEnd = o + len - 4;
      // Inline rather than walkOptions: no closure per packet.
      let p = optStart;
      while (p + 4 <= optEnd) {
        const code = this.rd16(b, p);
        const vlen = this.rd16(b, p + 2);
        if (code === OPT_ENDOFOPT) break;
        const vo = p + 4;
        if (vo + vlen > optEnd) this.fail(offset, `option ${code} of length ${vlen} runs past the end of the block`);
        if (code === OPT_COMMENT) (rec.comments ??= []).push(utf8.decode(b.subarray(vo, vo + vlen)));
        else if (code === OPT_EPB_FLAGS && vlen >= 4) rec.flags = this.rd32(b, vo);
        p = vo + ((vlen + 3) & ~3);
      }
    }
    this.setTime(ifIndex, high, low);
    this.count++;
  }

  private setTime(ifIndex: number, high: number, low: number): void {
    const rec = this.rec;
    const kind = this.tsKind[ifIndex]!;
    const off = this.tsOffset[ifIndex]!;
    if (kind === TS_US) {
      // 2^32 = 4294 * 10^6 + 967296; the partial product stays below 2^53.
      const x = high * 967296 + low;
      let q = Math.floor(x / 1_000_000);
      let r = x - q * 1_000_000;
      if (r < 0) {
        q--;
        r += 1_000_000;
      } else if (r >= 1_000_000) {
        q++;
        r -= 1_000_000;
      }
      rec.tsSec = high * 4294 + q + off;
      rec.tsNsec = r * 1000;
    } else if (kind === TS_NS) {
      // Long division of the 64-bit count by 10^9 in 16-bit digits: every step is exact.
      const D = 1_000_000_000;
      const q1 = Math.floor(high / D);
      let r = high - q1 * D;
      let x = r * 65536 + (low >>> 16);
      let q2 = Math.floor(x / D);
      r = x - q2 * D;
      if (r < 0) {
        q2--;
        r += D;
      }
      x = r * 65536 + (low & 0xffff);
      let q3 = Math.floor(x / D);
      r = x - q3 * D;
      if (r < 0) {
        q3--;
        r += D;
      }
      rec.tsSec = q1 * 4294967296 + q2 * 65536 + q3 + off;
      rec.tsNsec = r;
    } else {
      const units = this.tsUnits[ifIndex]!;
      const v = (BigInt(high) << 32n) | BigInt(low);
      const sec = v / units;
      rec.tsSec = Number(sec) + off;
      rec.tsNsec = Number(((v - sec * units) * 1_000_000_000n) / units);
    }
  }

  /**
   * Walks an option list in [start, end); stops at opt_endofopt or the end. An option whose
   * value runs past the end is an error (the block's own length is already trusted).
   */
  private walkOptions(
    b: Uint8Array,
    start: number,
    end: number,
    offset: number,
    visit: ((code: number, valueOff: number, valueLen: number) => void) | null,
  ): void {
    let p = start;
    while (p + 4 <= end) {
      const code = this.rd16(b, p);
      const vlen = this.rd16(b, p + 2);
      if (code === OPT_ENDOFOPT) return;
      if (p + 4 + vlen > end) {
        this.fail(offset, `option ${code} of length ${vlen} runs past the end of the block`);
      }
      if (visit) visit(code, p + 4, vlen);
      p += 4 + ((vlen + 3) & ~3);
    }
  }

  private rd32(b: Uint8Array, o: number): number {
    return this.le
      ? (b[o]! | b[o + 1]! << 8 | b[o + 2]! << 16 | b[o + 3]! << 24) >>> 0
      : (b[o]! << 24 | b[o + 1]! << 16 | b[o + 2]! << 8 | b[o + 3]!) >>> 0;
  }

  private rd16(b: Uint8Array, o: number): number {
    return this.le ? b[o]! | b[o + 1]! << 8 : b[o]! << 8 | b[o + 1]!;
  }

  private rdI64(b: Uint8Array, o: number): number {
    const w0 = this.rd32(b, o);
    const w1 = this.rd32(b, o + 4);
    const hi = this.le ? w1 : w0;
    const lo = this.le ? w0 : w1;
    return Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
  }
}

function minBlockLength(type: number): number {
  switch (type) {
    case BT_SHB:
      return 28;
    case BT_IDB:
      return 20;
    case BT_EPB:
    case BT_PB:
      return 32;
    case BT_SPB:
      return 16;
    default:
      return 12;
  }
}

function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
