/**
 * @module traces/pcap-reader
 * Classic libpcap files (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03.html):
 *
 * ```
 * file header (24 bytes)                     record header (16 bytes), then caplen bytes
 *  0 magic  a1b2c3d4 µs / a1b23c4d ns          0 ts seconds
 *  4 major u16 | 6 minor u16                   4 ts fraction (µs or ns, per the magic)
 *  8 thiszone i32 (always 0 in practice)       8 caplen  (bytes stored)
 * 12 sigfigs u32                              12 origlen (bytes on the wire)
 * 16 snaplen u32
 * 20 link type: bits 0-15 LINKTYPE_*, 16-25 reserved, 26-31 FCS info
 * ```
 * The magic, read in file order, gives the byte order of every other field.
 */
import type { CaptureInfo, CaptureInterface, CaptureReader, WindowedRecord } from './record.ts';
import { CaptureError } from './errors.ts';
import { MAX_RECORD_BYTES, type ByteSource } from './byte-source.ts';
import { ReaderRecord } from './reader-record.ts';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/**
 * libpcap's MAXIMUM_SNAPLEN: a record longer than both this and the file's snaplen is what
 * libpcap calls "invalid packet capture length"; we treat it the same (and refuse it before
 * touching memory). Between snaplen and this, a record is kept as stored.
 */
export const PCAP_MAX_SNAPLEN = 262144;

export class PcapReader implements CaptureReader {
  readonly path: string;
  readonly info: CaptureInfo;
  private readonly src: ByteSource;
  private readonly le: boolean;
  private readonly nano: boolean;
  /** Timestamp fraction units per second (1e6 or 1e9) and nanoseconds per unit (1000 or 1). */
  private readonly fracPerSec: number;
  private readonly nsPerFrac: number;
  private readonly linkType: number;
  private readonly maxCaplen: number;
  private readonly rec = new ReaderRecord();
  private count = 0;
  private failed: CaptureError | null = null;
  private done = false;

  /** `src` is positioned at the start of the file with the magic already checked. */
  constructor(path: string, src: ByteSource) {
    this.path = path;
    this.src = src;
    if (!src.ensure(PCAP_FILE_HEADER_LEN)) {
      throw new CaptureError(path, 0, `truncated pcap file header: ${src.available} of ${PCAP_FILE_HEADER_LEN} bytes`);
    }
    const b = src.buf;
    const o = src.start;
    const be = (b[o]! << 24 | b[o + 1]! << 16 | b[o + 2]! << 8 | b[o + 3]!) >>> 0;
    this.le = !(be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS);
    const magic = this.le ? rd32le(b, o) : be;
    this.nano = magic === PCAP_MAGIC_NS;
    this.fracPerSec = this.nano ? 1_000_000_000 : 1_000_000;
    this.nsPerFrac = this.nano ? 1 : 1000;
    const major = this.rd16(b, o + 4);
    const minor = this.rd16(b, o + 6);
    const snaplen = this.rd32(b, o + 16);
    const ltField = this.rd32(b, o + 20);
    this.linkType = ltField & 0xffff;
    // Snaplen above the cap is clamped, so that "caplen <= snaplen" never admits a huge record.
    this.maxCaplen = Math.min(MAX_RECORD_BYTES, Math.max(snaplen, PCAP_MAX_SNAPLEN));
    const iface: CaptureInterface = {
      id: 0,
      section: 0,
      linkType: this.linkType,
      linkTypeFlags: (ltField & 0xffff0000) >>> 0,
      snaplen,
      tsresol: { base: 10, exp: this.nano ? 9 : 6 },
      tsoffset: 0,
    };
    this.info = {
      format: 'pcap',
      byteOrder: this.le ? 'le' : 'be',
      version: `${major}.${minor}`,
      interfaces: [iface],
      pcapHeader: { thiszone: this.rd32(b, o + 8) | 0, sigfigs: this.rd32(b, o + 12) },
    };
    src.skip(PCAP_FILE_HEADER_LEN);
    this.rec.linkType = this.linkType;
  }

  get position(): number {
    return this.src.position;
  }

  get size(): number | undefined {
    return this.src.size;
  }

  /** Largest read window allocated so far (bounded by MAX_RECORD_BYTES + a chunk). */
  get bufferCapacity(): number {
    return this.src.peakCapacity;
  }

  next(): WindowedRecord | null {
    if (this.failed !== null) throw this.failed;
    if (this.done) return null;
    const src = this.src;
    const offset = src.position;
    let o = src.start;
    let caplen = src.end - o >= PCAP_RECORD_HEADER_LEN ? src.dv.getUint32(o + 8, this.le) : -1;
    // Most records are whole in the window (one read brings thousands), so the checks and
    // the refill live out of line, behind one call: a small next() is inlined into the
    // caller's loop.
    if (caplen < 0 || caplen > this.maxCaplen || src.end - o < PCAP_RECORD_HEADER_LEN + caplen) {
      caplen = this.fill(offset);
      if (caplen < 0) return null;
      o = src.start;
    }
    const dv = src.dv;
    const le = this.le;
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le);
    const rec = this.rec;
    rec.index = this.count++;
    rec.offset = offset;
    rec.place(src.buf, o + PCAP_RECORD_HEADER_LEN, caplen);
    rec.origLen = dv.getUint32(o + 12, le);
    rec.tsHigh = sec;
    rec.tsLow = frac;
    if (frac < this.fracPerSec) {
      rec.tsSec = sec;
      rec.tsNsec = frac * this.nsPerFrac;
    } else {
      // A fraction of a second or more (malformed files have them) carries into the
      // seconds, so tsNsec is always < 1e9.
      const carry = Math.floor(frac / this.fracPerSec);
      rec.tsSec = sec + carry;
      rec.tsNsec = (frac - carry * this.fracPerSec) * this.nsPerFrac;
    }
    src.start = o + PCAP_RECORD_HEADER_LEN + caplen;
    return rec;
  }

  /**
   * Makes the next record available after checking its claimed length; returns its caplen,
   * or -1 at a clean end of file.
   */
  private fill(offset: number): number {
    const src = this.src;
    if (!src.ensure(PCAP_RECORD_HEADER_LEN)) {
      if (src.available === 0) {
        this.done = true;
        return -1;
      }
      this.fail(offset, `truncated record header: ${src.available} of ${PCAP_RECORD_HEADER_LEN} bytes before end of file`);
    }
    const caplen = this.rd32(src.buf, src.start + 8);
    if (caplen > this.maxCaplen) {
      this.fail(offset, `invalid record: caplen ${caplen} exceeds snaplen ${this.info.interfaces[0]!.snaplen} and the ${this.maxCaplen}-byte limit`);
    }
    const rem = src.remaining;
    if (rem !== undefined && caplen > rem - PCAP_RECORD_HEADER_LEN) {
      this.fail(offset, `truncated record: caplen ${caplen}, only ${rem - PCAP_RECORD_HEADER_LEN} bytes left in file`);
    }
    if (!src.ensure(PCAP_RECORD_HEADER_LEN + caplen)) {
      this.fail(offset, `truncated record: caplen ${caplen}, only ${src.available - PCAP_RECORD_HEADER_LEN} bytes before end of input`);
    }
    return caplen;
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

  private rd32(b: Uint8Array, o: number): number {
    return this.le ? rd32le(b, o) : (b[o]! << 24 | b[o + 1]! << 16 | b[o + 2]! << 8 | b[o + 3]!) >>> 0;
  }

  private rd16(b: Uint8Array, o: number): number {
    return this.le ? b[o]! | b[o + 1]! << 8 : b[o]! << 8 | b[o + 1]!;
  }
}

function rd32le(b: Uint8Array, o: number): number {
  return (b[o]! | b[o + 1]! << 8 | b[o + 2]! << 16 | b[o + 3]! << 24) >>> 0;
}
