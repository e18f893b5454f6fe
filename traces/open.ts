/**
 * @module traces/open
 * Opens a capture by content, not by name: the first four bytes say classic pcap (either
 * byte order, µs or ns magic) or pcapng (the palindromic section header block type).
 * `-` reads stdin, so `tcpdump -w - | egresslab info -` works.
 */
import type { CaptureReader, WindowedRecord } from './record.ts';
import { CaptureError } from './errors.ts';
import { ByteSource } from './byte-source.ts';
import { PcapReader } from './pcap-reader.ts';
import { PcapngReader, BT_SHB } from './pcapng-reader.ts';

export { decodeLinkType, decodeFrame, linkTypeName } from './linktype.ts';
export type { L3Location } from './linktype.ts';
export { MAX_RECORD_BYTES, DEFAULT_CHUNK_SIZE, WOULD_BLOCK } from './byte-source.ts';
export { PcapReader } from './pcap-reader.ts';
export { PcapngReader } from './pcapng-reader.ts';

export interface OpenOptions {
  /** Read chunk and initial window size in bytes (default 1 MiB). */
  chunkSize?: number;
}

/**
 * A reader whose records also expose their window (`buf`, `dataOffset`, `caplen`), plus the
 * size of its largest read window (for memory-bound tests).
 */
export interface OpenedCapture extends CaptureReader {
  next(): WindowedRecord | null;
  readonly bufferCapacity: number;
  /** See ByteSource.cooperative. */
  cooperative: boolean;
}

/** Name used in error messages for stdin. */
export const STDIN_NAME = '<stdin>';

export function openCapture(path: string, opts?: OpenOptions): OpenedCapture {
  const name = path === '-' ? STDIN_NAME : path;
  let src: ByteSource;
  try {
    src = new ByteSource(path, opts?.chunkSize);
  } catch (err) {
    throw new CaptureError(name, 0, `cannot open: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!src.ensure(4)) {
      throw new CaptureError(name, 0, src.available === 0 ? 'empty file: no capture header' : `truncated file header: ${src.available} bytes`);
    }
    const b = src.buf;
    const o = src.start;
    const m = (b[o]! << 24 | b[o + 1]! << 16 | b[o + 2]! << 8 | b[o + 3]!) >>> 0;
    switch (m) {
      case 0xa1b2c3d4:
      case 0xd4c3b2a1:
      case 0xa1b23c4d:
      case 0x4d3cb2a1:
        return new PcapReader(name, src);
      case BT_SHB:
        return new PcapngReader(name, src);
      default:
        throw new CaptureError(name, 0, `bad magic 0x${m.toString(16).padStart(8, '0')}: not a pcap or pcapng file`);
    }
  } catch (err) {
    src.close();
    if (err instanceof CaptureError) throw err;
    // Read errors (EIO, EISDIR...) are errors of this file too, not crashes.
    throw new CaptureError(name, src.position, `read failed: ${(err as Error).message}`, { cause: err });
  }
}
