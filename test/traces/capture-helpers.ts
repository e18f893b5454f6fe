/**
 * @module test/traces/capture-helpers
 * Shared by the capture tests: the corpus, a reader that snapshots records, a same-format
 * copier (the round trip), and a small pcapng/pcap block builder for hand-made fixtures.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCapture } from '../../traces/open.ts';
import { CaptureError } from '../../traces/errors.ts';
import type { CaptureInfo, CaptureInterface } from '../../traces/record.ts';
import { createPcapWriter } from '../../traces/pcap-writer.ts';
import { createPcapngWriter } from '../../traces/pcapng-writer.ts';

export const CORPUS_DIR = fileURLToPath(new URL('../../../shared/corpus/tcpdump/', import.meta.url));

/** Every capture in the corpus (not the LICENSE), sorted. */
export function corpusFiles(): string[] {
  return fs
    .readdirSync(CORPUS_DIR)
    .filter((f) => f !== 'LICENSE')
    .sort();
}

export function corpusPath(name: string): string {
  return path.join(CORPUS_DIR, name);
}

export interface RecSnap {
  index: number;
  ifIndex: number;
  linkType: number;
  data: Buffer;
  origLen: number;
  tsHigh: number;
  tsLow: number;
  tsSec: number;
  tsNsec: number;
  comments?: string[];
  flags?: number;
  /** Set (true) only for records without a timestamp (pcapng simple packet blocks). */
  untimed?: boolean;
}

export interface ReadResult {
  info: CaptureInfo;
  records: RecSnap[];
  error: CaptureError | null;
  bufferCapacity: number;
}

/** Reads to the end or the first CaptureError (any other exception propagates). */
export function readAll(file: string, chunkSize?: number): ReadResult {
  const r = openCapture(file, chunkSize ? { chunkSize } : undefined);
  const records: RecSnap[] = [];
  let error: CaptureError | null = null;
  try {
    for (let rec = r.next(); rec; rec = r.next()) {
      const s: RecSnap = {
        index: rec.index,
        ifIndex: rec.ifIndex,
        linkType: rec.linkType,
        data: Buffer.from(rec.data),
        origLen: rec.origLen,
        tsHigh: rec.tsHigh,
        tsLow: rec.tsLow,
        tsSec: rec.tsSec,
        tsNsec: rec.tsNsec,
      };
      if (rec.comments) s.comments = [...rec.comments];
      if (rec.flags !== undefined) s.flags = rec.flags;
      if (rec.untimed) s.untimed = true;
      records.push(s);
    }
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    error = err;
  } finally {
    r.close();
  }
  return { info: structuredClone(r.info), records, error, bufferCapacity: r.bufferCapacity };
}

/** The interface fields a same-format copy must keep. */
export function ifaceKey(i: CaptureInterface): object {
  return {
    linkType: i.linkType,
    linkTypeFlags: i.linkTypeFlags,
    snaplen: i.snaplen,
    name: i.name,
    description: i.description,
    tsresol: i.tsresol,
    tsoffset: i.tsoffset,
    section: i.section,
    id: i.id,
  };
}

/**
 * Copies `src` to `dst` in the same format with the raw writers: same timestamps words,
 * interfaces (sections too), comments and flags. Stops quietly at a CaptureError (the
 * records before it are copied) and returns it.
 */
export function copySameFormat(src: string, dst: string): CaptureError | null {
  const r = openCapture(src);
  try {
    if (r.info.format === 'pcap') {
      const i = r.info.interfaces[0]!;
      const [major, minor] = r.info.version.split('.').map(Number);
      const w = createPcapWriter(dst, {
        resolution: i.tsresol.exp === 9 ? 'ns' : 'us',
        byteOrder: r.info.byteOrder,
        linkType: i.linkType,
        linkTypeFlags: i.linkTypeFlags,
        snaplen: i.snaplen,
        versionMajor: major,
        versionMinor: minor,
        ...r.info.pcapHeader,
      });
      let err: CaptureError | null = null;
      try {
        for (let rec = r.next(); rec; rec = r.next()) w.writeRaw(0, rec.tsHigh, rec.tsLow, rec.data, rec.origLen);
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        err = e;
      }
      w.close();
      return err;
    }
    const w = createPcapngWriter(dst, { byteOrder: r.info.byteOrder });
    let added = 0;
    let section = 0;
    const addUpTo = (n: number): void => {
      for (; added < n; added++) {
        const i = r.info.interfaces[added]!;
        while (i.section > section) {
          w.startSection({ byteOrder: r.info.byteOrder });
          section++;
        }
        const out: Parameters<typeof w.addInterface>[0] = { name: i.name ?? '', linkType: i.linkType, snaplen: i.snaplen, tsresol: i.tsresol, tsoffset: i.tsoffset };
        if (i.description !== undefined) out.description = i.description;
        w.addInterface(out);
      }
    };
    let err: CaptureError | null = null;
    try {
      for (let rec = r.next(); rec; rec = r.next()) {
        addUpTo(r.info.interfaces.length);
        const opts: { comments?: string[]; flags?: number } = {};
        if (rec.comments) opts.comments = rec.comments;
        if (rec.flags !== undefined) opts.flags = rec.flags;
        w.writeRaw(rec.ifIndex, rec.tsHigh, rec.tsLow, rec.data, rec.origLen, opts);
      }
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      err = e;
    }
    addUpTo(r.info.interfaces.length);
    w.close();
    return err;
  } finally {
    r.close();
  }
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `egresslab-${prefix}-`));
}

/** Little builders for hand-made captures. */
export class Bytes {
  private parts: number[] = [];
  constructor(readonly le = true) {}
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.le ? this.u8(v).u8(v >>> 8) : this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.le ? this.u8(v).u8(v >>> 8).u8(v >>> 16).u8(v >>> 24) : this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  u64(v: bigint): this {
    const x = BigInt.asUintN(64, v);
    const hi = Number(x >> 32n);
    const lo = Number(x & 0xffffffffn);
    return this.le ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo);
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]! & 0xff);
    return this;
  }
  pad4(): this {
    while (this.parts.length % 4) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  build(): Buffer {
    return Buffer.from(this.parts);
  }
}

export type Opt = [code: number, value: Uint8Array | string];

function optionBytes(le: boolean, opts: Opt[]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const b = new Bytes(le);
  for (const [code, v] of opts) {
    const val = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    b.u16(code).u16(val.length).bytes(val).pad4();
  }
  b.u16(0).u16(0);
  return b.build();
}

/** One pcapng block with correct leading/trailing lengths. */
export function block(le: boolean, type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const b = new Bytes(le).u32(type).u32(total).bytes(body).u32(total);
  return b.build();
}

export function shb(le: boolean, opts: Opt[] = []): Buffer {
  const body = Buffer.concat([new Bytes(le).u32(0x1a2b3c4d).u16(1).u16(0).u64(-1n).build(), optionBytes(le, opts)]);
  return block(le, 0x0a0d0d0a, body);
}

export function idb(le: boolean, linkType: number, snaplen: number, opts: Opt[] = []): Buffer {
  return block(le, 1, Buffer.concat([new Bytes(le).u16(linkType).u16(0).u32(snaplen).build(), optionBytes(le, opts)]));
}

export function epb(le: boolean, ifId: number, ts: bigint, data: Uint8Array, origLen = data.length, opts: Opt[] = []): Buffer {
  const h = new Bytes(le).u32(ifId).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(origLen).bytes(data).pad4();
  return block(le, 6, Buffer.concat([h.build(), optionBytes(le, opts)]));
}

export function spb(le: boolean, origLen: number, data: Uint8Array): Buffer {
  return block(le, 3, new Bytes(le).u32(origLen).bytes(data).pad4().build());
}

export function obsoletePb(le: boolean, ifId: number, ts: bigint, data: Uint8Array, opts: Opt[] = []): Buffer {
  const h = new Bytes(le).u16(ifId).u16(0).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(data.length).bytes(data).pad4();
  return block(le, 2, Buffer.concat([h.build(), optionBytes(le, opts)]));
}

export function u8opt(code: number, ...v: number[]): Opt {
  return [code, Uint8Array.from(v)];
}

export function i64opt(le: boolean, code: number, v: bigint): Opt {
  return [code, new Bytes(le).u64(v).build()];
}

/** A classic pcap file: header + records [sec, frac, data, origLen?]. */
export function pcapFile(
  o: { le?: boolean; nano?: boolean; snaplen?: number; linkType?: number },
  recs: [number, number, Uint8Array, number?][],
): Buffer {
  const le = o.le ?? true;
  const b = new Bytes(le)
    .u32(o.nano ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(o.snaplen ?? 262144)
    .u32(o.linkType ?? 1);
  for (const [sec, frac, data, orig] of recs) b.u32(sec).u32(frac).u32(data.length).u32(orig ?? data.length).bytes(data);
  return b.build();
}
