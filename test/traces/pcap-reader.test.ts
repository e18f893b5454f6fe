/**
 * Classic pcap specifics: byte orders, µs/ns magics, FCS bits in the link-type field,
 * fractions that carry, truncation and oversized records, bad magic, stdin.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { openCapture, MAX_RECORD_BYTES } from '../../traces/open.ts';
import { CaptureError } from '../../traces/errors.ts';
import { Bytes, corpusPath, pcapFile, readAll, tmpDir } from './capture-helpers.ts';

const dir = tmpDir('pcap');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
function write(b: Buffer): string {
  const p = path.join(dir, `f${n++}.pcap`);
  fs.writeFileSync(p, b);
  return p;
}
const pkt = (len: number, seed = 1): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (i * 13 + seed) & 0xff);

describe('classic pcap', () => {
  it('reads both byte orders and both resolutions with the same records', () => {
    const recs: [number, number, Uint8Array, number?][] = [
      [1_700_000_000, 999_999, pkt(60), 1514],
      [1_700_000_001, 0, pkt(1)],
      [0, 1, new Uint8Array(0)],
    ];
    for (const le of [true, false]) {
      const us = readAll(write(pcapFile({ le }, recs)));
      expect(us.info).toMatchObject({ format: 'pcap', byteOrder: le ? 'le' : 'be', version: '2.4' });
      expect(us.info.interfaces[0]).toMatchObject({ linkType: 1, linkTypeFlags: 0, snaplen: 262144, tsresol: { base: 10, exp: 6 } });
      expect(us.records.map((r) => [r.tsSec, r.tsNsec, r.data.length, r.origLen])).toEqual([
        [1_700_000_000, 999_999_000, 60, 1514],
        [1_700_000_001, 0, 1, 1],
        [0, 1000, 0, 0],
      ]);
      const ns = readAll(write(pcapFile({ le, nano: true }, recs)));
      expect(ns.info.interfaces[0]!.tsresol).toEqual({ base: 10, exp: 9 });
      expect(ns.records.map((r) => [r.tsSec, r.tsNsec])).toEqual([[1_700_000_000, 999_999], [1_700_000_001, 0], [0, 1]]);
    }
  });

  it('reads the corpus nanosecond and big-endian files', () => {
    const ns = fs.readdirSync(corpusPath('')).filter((f) => f.endsWith('.pcap') && fs.readFileSync(corpusPath(f)).readUInt32LE(0) === 0xa1b23c4d);
    expect(ns.length).toBe(2);
    for (const f of ns) {
      const r = readAll(corpusPath(f));
      expect(r.error).toBeNull();
      expect(r.records.length).toBeGreaterThan(0);
      for (const x of r.records) {
        expect(x.tsNsec).toBe(x.tsLow % 1_000_000_000);
        expect(x.tsSec).toBe(x.tsHigh + Math.floor(x.tsLow / 1_000_000_000));
      }
    }
    // tcpdump's own "invalid nanosecond" test file: fractions of 1e9 and 2^31 carry.
    const inv = readAll(corpusPath('timestamp_invalid_nano.pcap')).records.filter((x) => x.tsLow >= 1e9);
    expect(inv.map((x) => [x.tsSec - x.tsHigh, x.tsNsec])).toEqual([[1, 0], [2, 147_483_648]]);
  });

  it('splits FCS bits from the link-type field', () => {
    const r = readAll(write(pcapFile({ linkType: 0x30000001 }, [[1, 2, pkt(64)]])));
    expect(r.info.interfaces[0]).toMatchObject({ linkType: 1, linkTypeFlags: 0x30000000 });
    expect(r.records[0]!.linkType).toBe(1);
    const juniper = readAll(corpusPath('hoobr_juniper3.pcap'));
    expect(juniper.info.interfaces[0]).toMatchObject({ linkType: 0x84, linkTypeFlags: 0x30000000 });
  });

  it('carries a fraction of a second or more into the seconds', () => {
    const r = readAll(write(pcapFile({}, [[10, 2_500_000, pkt(4)]])));
    expect(r.records.map((x) => [x.tsHigh, x.tsLow, x.tsSec, x.tsNsec])).toEqual([[10, 2_500_000, 12, 500_000_000]]);
    const ns = readAll(write(pcapFile({ nano: true }, [[10, 4_294_967_295, pkt(4)]])));
    expect(ns.records.map((x) => [x.tsSec, x.tsNsec])).toEqual([[14, 294_967_295]]);
  });

  it('keeps every packet before a truncated last record and says "truncated"', () => {
    const whole = pcapFile({}, [[1, 0, pkt(100)], [2, 0, pkt(100)], [3, 0, pkt(100)]]);
    const lastOff = 24 + 2 * 116;
    for (const cut of [whole.length - 1, lastOff + 20, lastOff + 15, lastOff + 1]) {
      const f = write(whole.subarray(0, cut));
      const r = readAll(f);
      expect(r.records.map((x) => x.tsSec)).toEqual([1, 2]);
      expect(r.error).toBeInstanceOf(CaptureError);
      expect(r.error!.offset).toBe(lastOff);
      expect(r.error!.reason).toMatch(/truncated/);
      expect(r.error!.message).toBe(`${f}: byte offset ${lastOff}: ${r.error!.reason}`);
    }
    // Cut exactly at a record boundary is a clean end.
    expect(readAll(write(whole.subarray(0, lastOff))).error).toBeNull();
  });

  it('refuses a record that claims 4 GB without allocating it', () => {
    const b = new Bytes(true).bytes(pcapFile({}, [[1, 0, pkt(10)]])).u32(2).u32(0).u32(0xffffff00).u32(0xffffff00).bytes(pkt(100)).build();
    const f = write(b);
    const r = readAll(f);
    expect(r.records.length).toBe(1);
    expect(r.error!.reason).toMatch(/caplen 4294967040 exceeds snaplen/);
    expect(r.bufferCapacity).toBeLessThan(1 << 20);
    // Within the cap but past the end of the file: truncated, still no allocation.
    const b2 = new Bytes(true).bytes(pcapFile({ snaplen: MAX_RECORD_BYTES }, [])).u32(2).u32(0).u32(200_000_000).u32(1).build();
    const r2 = readAll(write(b2));
    expect(r2.error!.reason).toMatch(/truncated record: caplen 200000000, only 0 bytes left/);
    expect(r2.bufferCapacity).toBeLessThan(1 << 20);
  });

  it('rejects bad magic, a short header and an empty file at offset 0', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('GIF89a not a capture at all........'), /bad magic 0x47494638/],
      [pcapFile({}, []).subarray(0, 10), /truncated pcap file header/],
      [Buffer.alloc(0), /empty file/],
      [Buffer.from([0xd4, 0xc3]), /truncated file header/],
    ];
    for (const [bytes, re] of cases) {
      const f = write(bytes);
      let err: unknown;
      try {
        openCapture(f);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CaptureError);
      expect((err as CaptureError).offset).toBe(0);
      expect((err as CaptureError).reason).toMatch(re);
      expect((err as CaptureError).message).toContain(f);
    }
    expect(() => openCapture(path.join(dir, 'does-not-exist.pcap'))).toThrow(/cannot open/);
  });

  it('reads stdin (fd 0 through a pipe) like the file', () => {
    const file = corpusPath('afs.pcap');
    const script = `
      import { openCapture } from ${JSON.stringify(new URL('../../traces/open.ts', import.meta.url).href)};
      const r = openCapture('-', { chunkSize: 4096 });
      let n = 0, sum = 0;
      for (let rec = r.next(); rec; rec = r.next()) { n++; sum = (sum + rec.data.length + rec.tsLow) % 1e9; }
      console.log(JSON.stringify({ n, sum, path: r.path, size: r.size ?? null }));`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { input: fs.readFileSync(file), encoding: 'utf8' });
    expect(out.stderr).toBe('');
    let n2 = 0;
    let sum2 = 0;
    for (const rec of readAll(file).records) {
      n2++;
      sum2 = (sum2 + rec.data.length + rec.tsLow) % 1e9;
    }
    expect(JSON.parse(out.stdout)).toEqual({ n: n2, sum: sum2, path: '<stdin>', size: null });
  });
});
