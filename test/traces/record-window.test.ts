/**
 * The readers' records expose their bytes in the reader's window (`buf`, `dataOffset`,
 * `caplen`) and make `data` only on demand; decodeFrame and decodeLinkType read the window
 * and must stop at the frame's end even though the window goes on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCapture, decodeFrame, decodeLinkType, type L3Location } from '../../traces/open.ts';
import type { CaptureRecord, WindowedRecord } from '../../traces/record.ts';
import { CaptureError } from '../../traces/errors.ts';
import { corpusFiles, corpusPath, pcapFile, readAll, tmpDir } from './capture-helpers.ts';

const dir = tmpDir('window');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Every record of every corpus file. Malformed files end in a CaptureError
 * (corpus-read.test.ts checks those); anything else, failed assertions included, is thrown.
 */
function forEachCorpusRecord(fn: (file: string, rec: WindowedRecord) => void): void {
  for (const f of corpusFiles()) {
    let r;
    try {
      r = openCapture(corpusPath(f));
    } catch (err) {
      if (err instanceof CaptureError) continue;
      throw err;
    }
    try {
      for (let x = r.next(); x; x = r.next()) fn(f, x);
    } catch (err) {
      if (!(err instanceof CaptureError)) throw err;
    } finally {
      r.close();
    }
  }
}

const loc = (): L3Location => ({ l3Offset: -1, ethertype: -1, reason: '' });
const result = (ok: boolean, l: L3Location): string => (ok ? `${l.ethertype}@${l.l3Offset}` : l.reason);

describe('record window', () => {
  it('gives every corpus record its bytes at buf[dataOffset, dataOffset + caplen), and data as a view of them', () => {
    let records = 0;
    forEachCorpusRecord((_f, x) => {
      records++;
      const d = x.data;
      expect(x.caplen).toBe(d.length);
      expect(d.buffer).toBe(x.buf.buffer);
      expect(d.byteOffset).toBe(x.buf.byteOffset + x.dataOffset);
      // Made once per record, then the same view.
      expect(x.data).toBe(d);
    });
    expect(records).toBeGreaterThan(10_000);
  });

  it('decodes each corpus record in the window as decodeLinkType does on a plain copy', () => {
    const a = loc();
    const b = loc();
    const c = loc();
    let n = 0;
    forEachCorpusRecord((f, x) => {
      const copy: CaptureRecord = { ...x, data: x.data.slice() };
      const want = result(decodeLinkType(copy, a), a);
      expect(result(decodeLinkType(x, b), b), `${f} #${x.index}`).toBe(want);
      // The same frame inside a larger buffer whose bytes past the frame look like IP.
      const big = new Uint8Array(x.caplen + 80).fill(0x45);
      big.set(copy.data, 7);
      expect(result(decodeFrame(x.linkType, big, 7, 7 + x.caplen, c), c), `${f} #${x.index}`).toBe(want);
      n++;
    });
    expect(n).toBeGreaterThan(10_000);
  });

  it('does not read past the frame end into the rest of the buffer', () => {
    const frame = [...new Array<number>(12).fill(0xaa), 0x08, 0x00];
    const big = Uint8Array.from([...frame, 0x45, 0, 0, 20]);
    const out = loc();
    expect(decodeFrame(1, big, 0, 14, out)).toBe(false);
    expect(out.reason).toBe('not decoded: no IP header');
    expect(decodeFrame(1, big, 0, 13, out)).toBe(false);
    expect(out.reason).toBe('not decoded: truncated link-layer header');
    expect(decodeFrame(101, big, 14, 14, out)).toBe(false);
    expect(out.reason).toBe('not decoded: no IP header');
    expect(decodeFrame(1, big, 0, 15, out)).toBe(true);
    expect([out.ethertype, out.l3Offset]).toEqual([0x0800, 14]);
  });

  it('decodes a copied record from its own data, not from the reader window it was copied from', () => {
    const eth = (et: number): Uint8Array => Uint8Array.from([...new Array<number>(12).fill(1), et >> 8, et & 0xff, 0x45, 0, 0, 20]);
    const f = path.join(dir, 'two.pcap');
    fs.writeFileSync(f, pcapFile({}, [[1, 0, eth(0x0800)]]));
    const r = openCapture(f);
    const x = r.next()!;
    const copy: CaptureRecord = { ...x, data: eth(0x0806) };
    const out = loc();
    expect(decodeLinkType(copy, out)).toBe(false);
    expect(out.reason).toBe('not IP: ethertype 0x0806');
    expect(decodeLinkType(x, out)).toBe(true);
    // Giving the reader's own record other bytes moves its window with them.
    x.data = eth(0x86dd);
    expect([x.dataOffset, x.caplen]).toEqual([0, 18]);
    expect(x.buf).toBe(x.data);
    expect(decodeLinkType(x, out)).toBe(true);
    expect(out.ethertype).toBe(0x86dd);
    r.close();
  });

  it('refuses an oversized pcap record even when all its bytes are already in the window', () => {
    // Enough small records first that the window is refilled with the rest of the file, so
    // the big record is read whole before it is looked at.
    const small: [number, number, Uint8Array][] = Array.from({ length: 40 }, (_, i) => [i, 0, new Uint8Array(200)]);
    const f = path.join(dir, 'oversized.pcap');
    fs.writeFileSync(f, pcapFile({ snaplen: 65535 }, [...small, [99, 0, new Uint8Array(300_000)], [100, 0, new Uint8Array(10)]]));
    const r = readAll(f);
    expect(r.records.length).toBe(40);
    expect(r.error!.offset).toBe(24 + 40 * 216);
    expect(r.error!.reason).toBe('invalid record: caplen 300000 exceeds snaplen 65535 and the 262144-byte limit');
  });
});
