/**
 * @module traces/byte-source
 * A forward-only window over a file or stdin, read with `fs.readSync` in large chunks into
 * one reused buffer. Readers ask for "n bytes at the current position" and get a view into
 * that buffer; the window is compacted in place (`copyWithin`) and grown only when a single
 * record is larger than it, never past a hard cap. Why this shape: performance.md measured
 * the chunked walk at ~4x `readFileSync` with RSS flat whatever the file size.
 *
 * Views handed out are valid until the next `ensure()`: compaction and growth move bytes.
 */
import * as fs from 'node:fs';

/** Default read chunk (and initial window) size. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;
/**
 * The first read is short: the readers then take their refill path a few records in, while
 * their code still runs unoptimised and collects type feedback; otherwise V8 optimises the
 * record loop without it and deoptimises at the first chunk boundary (then re-optimises,
 * tens of milliseconds of a 1M-record walk).
 */
const FIRST_READ = 4096;
/** No single record or block may claim more than this; beyond it is an error, not an allocation. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

/**
 * Thrown by a cooperative source (see ByteSource.cooperative) whose non-blocking input has
 * nothing to read yet. Nothing was consumed: the caller waits on the event loop and asks
 * again. One shared instance: it is a signal, not an error to report.
 */
export const WOULD_BLOCK: Error = Object.freeze(new Error('input would block'));

// One shared cell to sleep on: Atomics.wait is the only synchronous sleep Node offers.
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function sleepMs(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

export class ByteSource {
  /** Current window; bytes [start, end) are valid. */
  buf: Uint8Array;
  /** `buf` as a DataView: a reader's fixed-size header fields are one load each, not four. */
  dv: DataView;
  /** Index in `buf` of the current read position. */
  start = 0;
  /** Index in `buf` one past the last valid byte. */
  end = 0;
  /** File offset of `buf[0]`. */
  private base = 0;
  private eof = false;
  private fd: number;
  private readonly ownsFd: boolean;
  private readonly chunkSize: number;
  /** Total size of a regular file, undefined for pipes and terminals. */
  readonly size: number | undefined;
  /** Largest window ever allocated (tests assert it stays under the cap). */
  peakCapacity: number;
  /**
   * A non-blocking input with nothing to read throws WOULD_BLOCK instead of sleeping on
   * this thread, so that a live replay (the dashboard) can wait on the event loop while a
   * capture trickles in on a pipe. Readers only consume a record after its bytes are all
   * there, so asking again later is safe; discard() (which consumes as it goes) waits here.
   */
  cooperative = false;

  constructor(path: string, chunkSize: number = DEFAULT_CHUNK_SIZE) {
    this.chunkSize = Math.max(64, Math.min(chunkSize | 0 || DEFAULT_CHUNK_SIZE, MAX_RECORD_BYTES));
    if (path === '-') {
      this.fd = 0;
      this.ownsFd = false;
    } else {
      this.fd = fs.openSync(path, 'r');
      this.ownsFd = true;
    }
    const st = fs.fstatSync(this.fd);
    this.size = st.isFile() ? st.size : undefined;
    // A small file does not need a 1 MiB window (the corpus has 830 of them).
    const initial = this.size !== undefined ? Math.min(this.chunkSize, Math.max(this.size, 64)) : this.chunkSize;
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
    this.peakCapacity = initial;
  }

  /** File offset of the current read position. */
  get position(): number {
    return this.base + this.start;
  }

  /** Bytes left in the file after the current position, if the size is known. */
  get remaining(): number | undefined {
    return this.size === undefined ? undefined : this.size - this.position;
  }

  /** Number of bytes available at the current position without reading. */
  get available(): number {
    return this.end - this.start;
  }

  /**
   * Makes at least `n` bytes available at `start` (n must be <= MAX_RECORD_BYTES; callers
   * check claimed lengths first). Returns false when the input ends before that; whatever
   * was there stays available.
   */
  ensure(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (this.eof) return false;
    this.compact();
    while (this.end < n) {
      if (this.end === this.buf.length) {
        // A regular file's claimed lengths were checked against its size, so grow straight
        // to the record; from a pipe, grow by doubling as bytes actually arrive, so a lying
        // length costs at most twice what was really sent.
        this.grow(this.size !== undefined ? n : Math.min(n, this.buf.length * 2));
      }
      if (this.readSome() === 0) {
        this.eof = true;
        return false;
      }
    }
    return true;
  }

  /** Advances the read position by `n` bytes (which must be available). */
  skip(n: number): void {
    this.start += n;
  }

  /**
   * Skips `n` bytes that need not be kept (unknown pcapng blocks may be large): reads and
   * discards in window-sized pieces. Returns false if the input ends first.
   */
  discard(n: number): boolean {
    const cooperative = this.cooperative;
    this.cooperative = false;
    try {
      return this.discardWaiting(n);
    } finally {
      this.cooperative = cooperative;
    }
  }

  private discardWaiting(n: number): boolean {
    while (n > 0) {
      const have = this.end - this.start;
      if (have >= n) {
        this.start += n;
        return true;
      }
      this.start = this.end;
      n -= have;
      if (!this.ensure(Math.min(n, this.buf.length))) {
        const left = this.end - this.start;
        this.start = this.end;
        return left >= n;
      }
    }
    return true;
  }

  close(): void {
    if (this.ownsFd && this.fd >= 0) {
      fs.closeSync(this.fd);
    }
    this.fd = -1;
  }

  private compact(): void {
    if (this.start === 0) return;
    this.buf.copyWithin(0, this.start, this.end);
    this.base += this.start;
    this.end -= this.start;
    this.start = 0;
  }

  private grow(n: number): void {
    // Rounded up to a chunk, bounded by the cap (+ a block trailer's slack); callers refuse
    // records larger than the cap before asking.
    let cap = Math.ceil(n / this.chunkSize) * this.chunkSize;
    if (cap > MAX_RECORD_BYTES) cap = Math.max(n, MAX_RECORD_BYTES);
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(this.start, this.end), 0);
    this.base += this.start;
    this.end -= this.start;
    this.start = 0;
    this.buf = next;
    this.dv = new DataView(next.buffer);
    if (cap > this.peakCapacity) this.peakCapacity = cap;
  }

  private readSome(): number {
    let room = this.buf.length - this.end;
    if (this.base === 0 && this.end === 0 && room > FIRST_READ) room = FIRST_READ;
    for (;;) {
      try {
        const got = fs.readSync(this.fd, this.buf, this.end, room, null);
        this.end += got;
        return got;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // stdin may be a non-blocking pipe: wait for the writer rather than spin or fail.
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          if (this.cooperative) throw WOULD_BLOCK;
          sleepMs(1);
          continue;
        }
        // A closed pipe reads as end of input.
        if (code === 'EOF') return 0;
        throw err;
      }
    }
  }
}
