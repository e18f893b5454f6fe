/**
 * @module traces/record
 * The shapes every capture reader and writer shares. Readers are pull-based and
 * synchronous so the replay loop can batch without promises per packet; the record object
 * and its `data` view are reused and valid only until the next `next()` call.
 */

/** Link-layer header types (LINKTYPE_* numbers from the tcpdump registry) we decode. */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_RAW_ALIAS_12 = 12;
export const LINKTYPE_RAW_ALIAS_14 = 14;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export type CaptureFormat = 'pcap' | 'pcapng';
export type ByteOrder = 'le' | 'be';

/** One capture interface: a pcap file has one, a pcapng section one per IDB. */
export interface CaptureInterface {
  /** Index within its section (pcapng interface id; 0 for pcap). */
  id: number;
  /** pcapng section number, 0-based (0 for pcap). */
  section: number;
  linkType: number;
  /** Upper bits of a classic pcap link-type field (FCS length etc.), 0 if none. */
  linkTypeFlags: number;
  snaplen: number;
  name?: string;
  description?: string;
  /**
   * Timestamp units per second as a power: `{base: 10, exp: 6}` is microseconds,
   * `{base: 2, exp: 20}` is 2^-20 s. pcap µs is 10^6, pcap ns 10^9.
   */
  tsresol: { base: 2 | 10; exp: number };
  /** pcapng if_tsoffset in seconds (added to every timestamp), 0 if absent. */
  tsoffset: number;
}

export interface CaptureInfo {
  format: CaptureFormat;
  byteOrder: ByteOrder;
  /** pcap: major.minor from the file header; pcapng: of the first section. */
  version: string;
  interfaces: CaptureInterface[];
  /**
   * pcapng: every section header block read so far, in file order (each has its own byte
   * order and version; interfaces record theirs by `section`). Absent for pcap.
   */
  sections?: { byteOrder: ByteOrder; version: string }[];
  /**
   * pcap: the file header's `thiszone` (GMT offset, i32) and `sigfigs` (timestamp accuracy),
   * both 0 in practice and not applied to timestamps (libpcap ignores them too); kept so a
   * copy can write the header back byte for byte. Absent for pcapng.
   */
  pcapHeader?: { thiszone: number; sigfigs: number };
}

/** One packet record. Reused by the reader: copy what you keep. */
export interface CaptureRecord {
  /** 0-based packet number in the file (all sections). */
  index: number;
  /** Byte offset in the file of this record's header or block. */
  offset: number;
  /** Interface this record was captured on (index into CaptureInfo.interfaces). */
  ifIndex: number;
  linkType: number;
  /** Captured bytes (length = captured length); a view into the reader's buffer. */
  data: Uint8Array;
  /** Original length on the wire. */
  origLen: number;
  /**
   * Timestamp exactly as stored, in the interface's units: pcap stores (seconds, fraction),
   * pcapng a 64-bit count. `tsHigh`/`tsLow` are the two 32-bit words in file order of
   * meaning (pcap: seconds, fraction; pcapng: high, low) so writers can round-trip them.
   */
  tsHigh: number;
  tsLow: number;
  /** Seconds since the epoch, derived (includes if_tsoffset). */
  tsSec: number;
  /** Nanoseconds within the second, derived (rounded down for units finer than 1 ns). */
  tsNsec: number;
  /** pcapng opt_comment values, if any. */
  comments?: string[];
  /** pcapng epb_flags (direction in the low 2 bits), if present. */
  flags?: number;
  /**
   * True for a pcapng simple packet block, which stores no timestamp: tsSec/tsNsec are then
   * only the interface's if_tsoffset (tshark shows no time for it).
   */
  untimed?: boolean;
}

/**
 * Where a reader's record sits in the reader's own window: the captured bytes are
 * `buf[dataOffset, dataOffset + caplen)`. A walker that only needs offsets (the decoders,
 * `info`) reads them there and never asks for `data`, which the readers then make only on
 * demand: one typed-array view per packet is the largest per-record cost of a walk
 * (performance.md: 1.40x a raw walk). Valid, like `data`, until the next `next()`.
 */
export interface RecordWindow {
  readonly buf: Uint8Array;
  readonly dataOffset: number;
  /** Captured length (= data.length). */
  readonly caplen: number;
}

/** What the readers' `next()` returns: a record that also exposes its window. */
export type WindowedRecord = CaptureRecord & RecordWindow;

export interface CaptureReader {
  readonly path: string;
  /** Filled after the file header / first section header is read. Interfaces grow as IDBs arrive. */
  readonly info: CaptureInfo;
  /** Next record, or null at a clean end of file. Throws CaptureError (with offset) on bad input. */
  next(): CaptureRecord | null;
  /** Bytes consumed so far (for progress). */
  readonly position: number;
  /** Total size if known (regular file), else undefined (stdin). */
  readonly size: number | undefined;
  close(): void;
}

/** What a writer needs per output interface. */
export interface OutputInterface {
  name: string;
  description?: string;
  linkType: number;
  snaplen?: number;
  /** Timestamp resolution of the output: 'us' or 'ns'. */
  resolution?: 'us' | 'ns';
}

/** pcapng epb_flags direction bits. */
export const DIRECTION_UNKNOWN = 0;
export const DIRECTION_INBOUND = 1;
export const DIRECTION_OUTBOUND = 2;

export interface WritePacketOptions {
  comment?: string;
  /** DIRECTION_* (pcapng only). */
  direction?: number;
  /** Original length if it differs from data.length. */
  origLen?: number;
}

export interface CaptureWriter {
  readonly path: string;
  /** Declares an interface; returns its id for writePacket. pcap writers accept exactly one. */
  addInterface(iface: OutputInterface): number;
  writePacket(ifId: number, tsSec: number, tsNsec: number, data: Uint8Array, opts?: WritePacketOptions): void;
  /** Flushes and renames the temporary file into place. */
  close(): void;
  /** Flushes what is whole and removes the temporary file (or keeps it truncated at a record boundary). */
  abort(): void;
}
