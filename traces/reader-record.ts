/**
 * @module traces/reader-record
 * The one record object each reader reuses. Its bytes are described by the reader's window
 * (`buf`, `dataOffset`, `caplen`); `data`, the view most callers want, is made on first use
 * and then kept until the next record. Walkers that read offsets only (the link-type decoder,
 * the IPv4 view, `info`) so pay no typed-array allocation per packet.
 */
import type { CaptureRecord, RecordWindow } from './record.ts';

const EMPTY = new Uint8Array(0);

export class ReaderRecord implements CaptureRecord, RecordWindow {
  index = 0;
  offset = 0;
  ifIndex = 0;
  linkType = 0;
  origLen = 0;
  tsHigh = 0;
  tsLow = 0;
  tsSec = 0;
  tsNsec = 0;
  comments: string[] | undefined = undefined;
  flags: number | undefined = undefined;
  untimed = false;
  buf: Uint8Array = EMPTY;
  dataOffset = 0;
  caplen = 0;
  /** `data`, once asked for; null until then. */
  private view: Uint8Array | null = null;

  get data(): Uint8Array {
    let v = this.view;
    if (v === null) {
      v = this.buf.subarray(this.dataOffset, this.dataOffset + this.caplen);
      this.view = v;
    }
    return v;
  }

  /** A caller that swaps the bytes keeps the window in step: it becomes the new array. */
  set data(d: Uint8Array) {
    this.buf = d;
    this.dataOffset = 0;
    this.caplen = d.length;
    this.view = d;
  }

  /** Points the record at its bytes in the reader's window (the view is made on demand). */
  place(buf: Uint8Array, dataOffset: number, caplen: number): void {
    this.buf = buf;
    this.dataOffset = dataOffset;
    this.caplen = caplen;
    this.view = null;
  }
}
