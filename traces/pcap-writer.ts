/**
 * @module traces/pcap-writer
 * Classic pcap output (layout in traces/pcap-reader.ts). Records are assembled in one
 * reused 1 MiB buffer and written with `fs.writeSync` when it fills; the file is written
 * under `<path>.tmp-<pid>` and renamed on close(), so a reader never sees half a capture,
 * and the buffer only ever holds whole records, so an aborted output ends on a record
 * boundary. `-` writes stdout, and an existing non-regular file (/dev/null, a FIFO) is
 * written in place: no temporary, no rename.
 */
import * as fs from 'node:fs';
import type { CaptureWriter, OutputInterface, WritePacketOptions } from './record.ts';
import { OutputError } from './errors.ts';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US } from './pcap-reader.ts';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** True if `path` exists and is not a regular file (following symlinks). */
function isSpecialFile(path: string): boolean {
  try {
    return !fs.statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Renames the finished temporary `tmp` to `path`, removing an older regular file at `path`
 * first. ext4 (auto_da_alloc) makes a rename over an existing file write the new file's
 * data out before it returns (crash safety for config files replaced without fsync): for a
 * replay's hop captures that was 0.5 to 1.8 s per 1.4 GB, waiting on the disk, where writing
 * them into the page cache takes about 0.25 s. Without an old file there is nothing to
 * replace and the rename returns at once; a reader sees the old capture, then (for the
 * moment between the two calls) none, then the whole new one.
 */
function replaceFile(tmp: string, path: string): void {
  try {
    if (fs.lstatSync(path).isFile()) fs.unlinkSync(path);
  } catch {
    // Nothing there (or not removable): the rename decides and reports.
  }
  fs.renameSync(tmp, path);
}

/**
 * Buffered, chunked output to a temporary file or stdout. Shared by both writers.
 * Callers reserve room for a whole record, fill `buf` from `pos`, then advance `pos`.
 */
export class OutputSink {
  readonly path: string;
  buf: Uint8Array;
  pos = 0;
  private fd: number;
  private readonly tmpPath: string | null;
  private closed = false;

  constructor(path: string, bufferSize = 1 << 20) {
    this.path = path;
    this.buf = new Uint8Array(bufferSize);
    if (path === '-') {
      this.fd = 1;
      this.tmpPath = null;
    } else if (isSpecialFile(path)) {
      // /dev/null, a FIFO, a terminal: write in place. Renaming a temporary over one
      // would replace the device node itself with a regular file.
      try {
        this.fd = fs.openSync(path, 'w');
      } catch (err) {
        throw new OutputError(`${path}: cannot open: ${(err as Error).message}`, { cause: err });
      }
      this.tmpPath = null;
    } else {
      this.tmpPath = `${path}.tmp-${process.pid}`;
      try {
        this.fd = fs.openSync(this.tmpPath, 'w');
      } catch (err) {
        throw new OutputError(`${path}: cannot create ${this.tmpPath}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** Makes room for `n` more bytes at `pos` (flushing, or growing for one oversized record). */
  reserve(n: number): void {
    if (this.closed) throw new OutputError(`${this.path}: write after close`);
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(Math.ceil(n / 65536) * 65536);
  }

  flush(): void {
    let off = 0;
    while (off < this.pos) {
      try {
        off += fs.writeSync(this.fd, this.buf, off, this.pos - off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // stdout may be a non-blocking pipe.
        if (code === 'EAGAIN') {
          Atomics.wait(sleepCell, 0, 0, 1);
          continue;
        }
        // Keep what was not written at the front so a later abort() still ends on a record.
        this.buf.copyWithin(0, off, this.pos);
        this.pos -= off;
        throw new OutputError(`${this.path}: write failed: ${(err as Error).message}`, { cause: err });
      }
    }
    this.pos = 0;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.tmpPath === null && this.fd > 2) {
      try {
        fs.closeSync(this.fd);
      } catch (err) {
        throw new OutputError(`${this.path}: cannot finish: ${(err as Error).message}`, { cause: err });
      }
    } else if (this.tmpPath !== null) {
      try {
        fs.closeSync(this.fd);
        replaceFile(this.tmpPath, this.path);
      } catch (err) {
        throw new OutputError(`${this.path}: cannot finish: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tmpPath === null) {
      try {
        this.flush();
        if (this.fd > 2) fs.closeSync(this.fd);
      } catch {
        // Nothing more can be done for a broken stdout or device.
      }
      return;
    }
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already broken; removing the file is what matters.
    }
    try {
      fs.unlinkSync(this.tmpPath);
    } catch {
      // Gone already.
    }
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u16(v: number, le: boolean): void {
    const b = this.buf;
    const p = this.pos;
    if (le) {
      b[p] = v;
      b[p + 1] = v >>> 8;
    } else {
      b[p] = v >>> 8;
      b[p + 1] = v;
    }
    this.pos = p + 2;
  }

  u32(v: number, le: boolean): void {
    const b = this.buf;
    const p = this.pos;
    if (le) {
      b[p] = v;
      b[p + 1] = v >>> 8;
      b[p + 2] = v >>> 16;
      b[p + 3] = v >>> 24;
    } else {
      b[p] = v >>> 24;
      b[p + 1] = v >>> 16;
      b[p + 2] = v >>> 8;
      b[p + 3] = v;
    }
    this.pos = p + 4;
  }

  bytes(data: Uint8Array): void {
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** bytes() of `len` bytes at `off` in `src`, without the caller making a view. */
  bytesAt(src: Uint8Array, off: number, len: number): void {
    if (off === 0 && len === src.length) this.buf.set(src, this.pos);
    else this.buf.set(src.subarray(off, off + len), this.pos);
    this.pos += len;
  }

  zeros(n: number): void {
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
}

export interface PcapWriterOptions {
  resolution: 'us' | 'ns';
  byteOrder?: 'le' | 'be';
  /** Link type when no addInterface() call gives one (default 1, Ethernet). */
  linkType?: number;
  /** Upper bits of the link-type field (FCS info), as CaptureInterface.linkTypeFlags. */
  linkTypeFlags?: number;
  /** Default 262144. */
  snaplen?: number;
  /** File header version (default 2.4); for faithful copies. */
  versionMajor?: number;
  versionMinor?: number;
  /** File header `thiszone` and `sigfigs` (default 0, as libpcap writes); for faithful copies. */
  thiszone?: number;
  sigfigs?: number;
}

/** Raw-record options: nothing a classic pcap can carry, kept for symmetry with pcapng. */
export type PcapRawOptions = Record<string, never>;

export class PcapWriter implements CaptureWriter {
  readonly path: string;
  private readonly sink: OutputSink;
  private readonly le: boolean;
  private readonly nano: boolean;
  private readonly opts: PcapWriterOptions;
  private headerWritten = false;
  private haveInterface = false;

  constructor(path: string, opts: PcapWriterOptions) {
    this.path = path;
    this.opts = opts;
    this.le = (opts.byteOrder ?? 'le') === 'le';
    this.nano = opts.resolution === 'ns';
    this.sink = new OutputSink(path);
  }

  addInterface(iface: OutputInterface & { linkTypeFlags?: number }): number {
    if (this.haveInterface || this.headerWritten) {
      throw new OutputError(`${this.path}: a classic pcap file holds exactly one interface`);
    }
    this.haveInterface = true;
    this.writeHeader(iface.linkType, iface.snaplen ?? this.opts.snaplen ?? 262144, iface.linkTypeFlags ?? this.opts.linkTypeFlags ?? 0);
    return 0;
  }

  writePacket(ifId: number, tsSec: number, tsNsec: number, data: Uint8Array, opts?: WritePacketOptions): void {
    const frac = this.nano ? tsNsec : Math.floor(tsNsec / 1000);
    this.writeRaw(ifId, tsSec, frac, data, opts?.origLen ?? data.length);
  }

  /** writePacket for `len` bytes at `off` in `buf` (the replay's hops: no view, no copy). */
  writeFrame(tsSec: number, tsNsec: number, buf: Uint8Array, off: number, len: number): void {
    if (!this.headerWritten) this.writeDefaultHeader();
    const s = this.sink;
    s.reserve(16 + len);
    s.u32(tsSec >>> 0, this.le);
    s.u32((this.nano ? tsNsec : Math.floor(tsNsec / 1000)) >>> 0, this.le);
    s.u32(len, this.le);
    s.u32(len, this.le);
    s.bytesAt(buf, off, len);
  }

  /** Writes a record with its timestamp words exactly as given (seconds, fraction). */
  writeRaw(ifId: number, tsHigh: number, tsLow: number, data: Uint8Array, origLen: number, _opts?: PcapRawOptions): void {
    if (!this.headerWritten) this.writeDefaultHeader();
    if (ifId !== 0) throw new OutputError(`${this.path}: interface ${ifId} does not exist (a classic pcap has only 0)`);
    const s = this.sink;
    s.reserve(16 + data.length);
    s.u32(tsHigh >>> 0, this.le);
    s.u32(tsLow >>> 0, this.le);
    s.u32(data.length, this.le);
    s.u32(origLen >>> 0, this.le);
    s.bytes(data);
  }

  close(): void {
    if (!this.headerWritten) this.writeDefaultHeader();
    this.sink.close();
  }

  abort(): void {
    this.sink.abort();
  }

  private writeDefaultHeader(): void {
    this.writeHeader(this.opts.linkType ?? 1, this.opts.snaplen ?? 262144, this.opts.linkTypeFlags ?? 0);
  }

  private writeHeader(linkType: number, snaplen: number, flags: number): void {
    const s = this.sink;
    s.reserve(24);
    s.u32(this.nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US, this.le);
    s.u16(this.opts.versionMajor ?? 2, this.le);
    s.u16(this.opts.versionMinor ?? 4, this.le);
    s.u32((this.opts.thiszone ?? 0) >>> 0, this.le);
    s.u32((this.opts.sigfigs ?? 0) >>> 0, this.le);
    s.u32(snaplen >>> 0, this.le);
    s.u32(((linkType & 0xffff) | flags) >>> 0, this.le);
    this.headerWritten = true;
  }
}

export function createPcapWriter(path: string, opts: PcapWriterOptions): PcapWriter {
  return new PcapWriter(path, opts);
}
