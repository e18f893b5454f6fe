/**
 * Hand-built pcapng files for what the corpus does not cover well: if_tsresol decimal and
 * binary, if_tsoffset, several sections with different byte orders, simple and obsolete
 * packet blocks, unknown blocks, comments and flags, and the malformed-block errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCapture } from '../../traces/open.ts';
import { formatSummary, summarize } from '../../tools/info.ts';
import { CaptureError } from '../../traces/errors.ts';
import {
  Bytes, block, copySameFormat, epb, i64opt, idb, ifaceKey, obsoletePb, readAll, shb, spb, tmpDir, u8opt,
} from './capture-helpers.ts';

const dir = tmpDir('pcapng');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
function write(...parts: Buffer[]): string {
  const p = path.join(dir, `f${n++}.pcapng`);
  fs.writeFileSync(p, Buffer.concat(parts));
  return p;
}
const pkt = (len: number, seed = 1): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) & 0xff);

describe('pcapng: interfaces and timestamps', () => {
  it('reads if_name, if_description, and decimal if_tsresol 6 (default), 9 and 3', () => {
    const f = write(
      shb(true),
      idb(true, 1, 65535, [[2, 'k8s-guide-worker/eth0'], [3, 'the worker']]),
      idb(true, 113, 0, [u8opt(9, 9)]),
      idb(true, 101, 1500, [u8opt(9, 3)]),
      epb(true, 0, 1_700_000_000_123_456n, pkt(60)),
      epb(true, 1, 1_700_000_000_123_456_789n, pkt(61)),
      epb(true, 2, 1_700_000_000_123n, pkt(62)),
    );
    const r = readAll(f);
    expect(r.error).toBeNull();
    expect(r.info.interfaces.map((i) => [i.linkType, i.snaplen, i.name, i.description, i.tsresol.exp])).toEqual([
      [1, 65535, 'k8s-guide-worker/eth0', 'the worker', 6],
      [113, 0, undefined, undefined, 9],
      [101, 1500, undefined, undefined, 3],
    ]);
    expect(r.records.map((x) => [x.ifIndex, x.linkType, x.tsSec, x.tsNsec, x.data.length])).toEqual([
      [0, 1, 1_700_000_000, 123_456_000, 60],
      [1, 113, 1_700_000_000, 123_456_789, 61],
      [2, 101, 1_700_000_000, 123_000_000, 62],
    ]);
    // Raw words are the 64-bit count split high/low.
    expect((BigInt(r.records[1]!.tsHigh) << 32n) | BigInt(r.records[1]!.tsLow)).toBe(1_700_000_000_123_456_789n);
  });

  it('derives exact seconds and nanoseconds at the edges of the µs and ns fast paths', () => {
    const us = [0n, 999_999n, 1_000_000n, 4_294_967_295n, 4_294_967_296n, 2n ** 53n - 1n, 2n ** 64n - 1n];
    const ns = [0n, 999_999_999n, 1_000_000_000n, 2n ** 32n, 2n ** 53n + 1n, 1_769_000_000_999_999_999n, 2n ** 64n - 1n];
    const f = write(
      shb(false),
      idb(false, 1, 0),
      idb(false, 1, 0, [u8opt(9, 9)]),
      ...us.map((t) => epb(false, 0, t, pkt(4))),
      ...ns.map((t) => epb(false, 1, t, pkt(4))),
    );
    const r = readAll(f);
    expect(r.info.byteOrder).toBe('be');
    const want = [...us.map((t) => [t / 1_000_000n, (t % 1_000_000n) * 1000n]), ...ns.map((t) => [t / 1_000_000_000n, t % 1_000_000_000n])];
    expect(r.records.map((x) => [BigInt(x.tsSec), BigInt(x.tsNsec)])).toEqual(want);
  });

  it('reads binary if_tsresol (2^-20, 2^-30) and rounds nanoseconds down', () => {
    const f = write(
      shb(true),
      idb(true, 1, 0, [u8opt(9, 0x80 | 20)]),
      idb(true, 1, 0, [u8opt(9, 0x80 | 30)]),
      epb(true, 0, (1_600_000_000n << 20n) + 1n, pkt(10)), // 1/2^20 s = 953.67 ns
      epb(true, 1, (5n << 30n) + (1n << 29n), pkt(10)), // 5.5 s
    );
    const r = readAll(f);
    expect(r.info.interfaces.map((i) => i.tsresol)).toEqual([{ base: 2, exp: 20 }, { base: 2, exp: 30 }]);
    expect(r.records.map((x) => [x.tsSec, x.tsNsec])).toEqual([[1_600_000_000, 953], [5, 500_000_000]]);
  });

  it('adds if_tsoffset (seconds, signed 64-bit) to every timestamp', () => {
    const f = write(
      shb(true),
      idb(true, 1, 0, [i64opt(true, 14, 1_000_000_000n)]),
      idb(true, 1, 0, [i64opt(true, 14, -10n), u8opt(9, 9)]),
      epb(true, 0, 5_500_000n, pkt(8)),
      epb(true, 1, 20_000_000_001n, pkt(8)),
    );
    const r = readAll(f);
    expect(r.info.interfaces.map((i) => i.tsoffset)).toEqual([1_000_000_000, -10]);
    expect(r.records.map((x) => [x.tsSec, x.tsNsec, x.tsHigh, x.tsLow])).toEqual([
      [1_000_000_005, 500_000_000, 0, 5_500_000],
      [10, 1, 4, 20_000_000_001 - 4 * 2 ** 32],
    ]);
  });
});

describe('pcapng: sections and block kinds', () => {
  it('reads several sections with different byte orders; interface ids restart per section', () => {
    const f = write(
      shb(true),
      idb(true, 1, 100, [[2, 'a']]),
      epb(true, 0, 1n, pkt(20, 1)),
      shb(false),
      idb(false, 101, 200, [[2, 'b']]),
      idb(false, 113, 300, [[2, 'c']]),
      epb(false, 1, 2n, pkt(21, 2)),
      epb(false, 0, 3n, pkt(22, 3)),
      shb(true),
      idb(true, 276, 400),
      epb(true, 0, 4n, pkt(23, 4)),
    );
    const r = readAll(f);
    expect(r.error).toBeNull();
    expect(r.info.byteOrder).toBe('le');
    expect(r.info.sections).toEqual([
      { byteOrder: 'le', version: '1.0' },
      { byteOrder: 'be', version: '1.0' },
      { byteOrder: 'le', version: '1.0' },
    ]);
    // `info` names every section, not only the first.
    expect(formatSummary(summarize(f))).toContain('Sections:         3: #0 1.0 little-endian, #1 1.0 big-endian, #2 1.0 little-endian');
    expect(r.info.interfaces.map((i) => [i.section, i.id, i.linkType, i.snaplen, i.name])).toEqual([
      [0, 0, 1, 100, 'a'],
      [1, 0, 101, 200, 'b'],
      [1, 1, 113, 300, 'c'],
      [2, 0, 276, 400, undefined],
    ]);
    expect(r.records.map((x) => [x.index, x.ifIndex, x.linkType, x.tsLow, x.data[0]])).toEqual([
      [0, 0, 1, 1, 1],
      [1, 2, 113, 2, 2],
      [2, 1, 101, 3, 3],
      [3, 3, 276, 4, 4],
    ]);
    // And it survives a same-format copy, sections included.
    const copy = path.join(dir, 'sections-copy.pcapng');
    expect(copySameFormat(f, copy)).toBeNull();
    const c = readAll(copy);
    expect(c.info.interfaces.map(ifaceKey)).toEqual(r.info.interfaces.map(ifaceKey));
    expect(c.records).toEqual(r.records);
  });

  it('reads simple packet blocks: length from the block, capped by origLen and snaplen', () => {
    const f = write(
      shb(true),
      idb(true, 1, 50),
      spb(true, 40, pkt(40)), // whole packet
      spb(true, 30, pkt(32)), // origLen 30 < padded room 32
      spb(true, 1000, pkt(64)), // snaplen 50 caps
    );
    const r = readAll(f);
    expect(r.records.map((x) => [x.data.length, x.origLen, x.tsSec, x.tsNsec, x.untimed])).toEqual([
      [40, 40, 0, 0, true],
      [30, 30, 0, 0, true],
      [50, 1000, 0, 0, true],
    ]);
    // No timestamp is not 1970: `info` says there is none.
    const s = summarize(f);
    expect([s.firstTime, s.lastTime]).toEqual([null, null]);
    expect(formatSummary(s)).toContain('First packet:     - (no timestamps: simple packet blocks)');
    expect(r.records[2]!.data.equals(Buffer.from(pkt(64)).subarray(0, 50))).toBe(true);
  });

  it('reads the obsolete packet block (type 2) with its comment', () => {
    const f = write(shb(true), idb(true, 1, 0), obsoletePb(true, 0, 1_000_000_500_000n, pkt(33), [[1, 'old style']]));
    const r = readAll(f);
    expect(r.records.map((x) => [x.data.length, x.tsSec, x.tsNsec, x.comments])).toEqual([[33, 1_000_000, 500_000_000, ['old style']]]);
  });

  it('skips unknown blocks (NRB, ISB, custom) by their length', () => {
    const big = Buffer.alloc(300_000, 0xab);
    const f = write(
      shb(true),
      block(true, 4, Buffer.alloc(8)),
      idb(true, 1, 0),
      block(true, 0x0bad, big),
      epb(true, 0, 7n, pkt(10)),
      block(true, 5, Buffer.alloc(20)),
    );
    const r = readAll(f, 4096);
    expect(r.error).toBeNull();
    expect(r.records.map((x) => x.tsLow)).toEqual([7]);
    // Discarded in window-sized pieces, not loaded.
    expect(r.bufferCapacity).toBeLessThan(big.length);
  });

  it('reads opt_comment (several) and epb_flags on packets', () => {
    const f = write(
      shb(true),
      idb(true, 1, 0),
      epb(true, 0, 1n, pkt(5), 5, [[1, 'first'], [1, 'ünïcode'], [2, new Bytes(true).u32(2).build()]]),
      epb(true, 0, 2n, pkt(5)),
    );
    const r = readAll(f);
    expect(r.records[0]!.comments).toEqual(['first', 'ünïcode']);
    expect(r.records[0]!.flags).toBe(2);
    expect(r.records[1]!.comments).toBeUndefined();
    expect(r.records[1]!.flags).toBeUndefined();
  });

  it('reads an empty section (no interfaces, no packets)', () => {
    const r = readAll(write(shb(true)));
    expect(r.error).toBeNull();
    expect(r.records).toEqual([]);
    expect(r.info.version).toBe('1.0');
  });
});

describe('pcapng: malformed blocks are CaptureErrors after the good packets', () => {
  const good = (): Buffer[] => [shb(true), idb(true, 1, 0), epb(true, 0, 1n, pkt(10)), epb(true, 0, 2n, pkt(10))];
  function expectError(f: string, records: number, offset: number, re: RegExp): void {
    const r = readAll(f);
    expect(r.records.length).toBe(records);
    expect(r.error).toBeInstanceOf(CaptureError);
    expect(r.error!.message).toContain(f);
    expect(r.error!.message).toContain(`byte offset ${offset}`);
    expect(r.error!.reason).toMatch(re);
  }
  const goodLen = Buffer.concat(good()).length;

  it('truncated last block', () => {
    const last = epb(true, 0, 3n, pkt(100));
    expectError(write(...good(), last.subarray(0, 50)), 2, goodLen, /truncated/);
    expectError(write(...good(), last.subarray(0, 5)), 2, goodLen, /truncated/);
  });

  it('block length not a multiple of 4, too short, or over the cap', () => {
    const bad = epb(true, 0, 3n, pkt(12));
    bad.writeUInt32LE(bad.length - 2, 4);
    expectError(write(...good(), bad), 2, goodLen, /multiple of 4/);
    const short = epb(true, 0, 3n, pkt(12));
    short.writeUInt32LE(16, 4);
    expectError(write(...good(), short), 2, goodLen, /shorter than its minimum 32/);
    const huge = epb(true, 0, 3n, pkt(12));
    huge.writeUInt32LE(0xfffffff0, 4);
    expectError(write(...good(), huge), 2, goodLen, /limit|truncated/);
  });

  it('trailing length mismatch', () => {
    const bad = epb(true, 0, 3n, pkt(12));
    bad.writeUInt32LE(bad.length + 4, bad.length - 4);
    expectError(write(...good(), bad), 2, goodLen, /trailing length/);
  });

  it('caplen past the block, unknown interface, option past the block, bad byte-order magic', () => {
    const a = epb(true, 0, 3n, pkt(12));
    a.writeUInt32LE(1000, 20);
    expectError(write(...good(), a), 2, goodLen, /caplen 1000/);
    expectError(write(...good(), epb(true, 5, 3n, pkt(12))), 2, goodLen, /interface id 5/);
    const o = epb(true, 0, 3n, pkt(12), 12, [[1, 'abcd']]);
    o.writeUInt16LE(200, 28 + 12 + 2);
    expectError(write(...good(), o), 2, goodLen, /option 1 of length 200/);
    const s = shb(true);
    s.writeUInt32LE(0x12345678, 8);
    expectError(write(...good(), s), 2, goodLen, /byte-order magic/);
    expectError(write(shb(true), spb(true, 4, pkt(4))), 0, 28, /before any interface/);
  });

  it('an error is sticky: next() keeps throwing the same CaptureError', () => {
    const r = openCapture(write(...good(), Buffer.from([1, 2, 3])));
    expect(r.next()).not.toBeNull();
    expect(r.next()).not.toBeNull();
    let first: unknown;
    try {
      r.next();
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(CaptureError);
    expect(() => r.next()).toThrow(first as Error);
    r.close();
  });
});
