/**
 * Independent oracle: pcap-parser@0.2.1 (event based, classic pcap only, µs magic only)
 * reads every classic corpus file; its packets must equal ours field for field.
 *
 * Where pcap-parser cannot read a file: it rejects the nanosecond magic (4d3cb2a1) with
 * "unknown magic number", so for those two files it yields no packets and we only check
 * that it said so (their records are covered by the round trip and the fixtures). It has
 * no length checks: a truncated or oversized last record is silently not emitted, which
 * is exactly "the packets before our CaptureError" (none of the corpus files has one).
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { corpusFiles, corpusPath, readAll } from './capture-helpers.ts';

const require = createRequire(import.meta.url);
interface PpPacket {
  header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number };
  data: Buffer;
}
interface PpGlobal { snapshotLength: number; linkLayerType: number; majorVersion: number; minorVersion: number }
interface PpParser {
  on(ev: 'packet', f: (p: PpPacket) => void): void;
  on(ev: 'globalHeader', f: (h: PpGlobal) => void): void;
  on(ev: 'error', f: (e: Error) => void): void;
  on(ev: 'end', f: () => void): void;
}
const pcapp = require('pcap-parser') as { parse(input: string): PpParser };

function parseWithPcapParser(file: string): Promise<{ packets: PpPacket[]; global: PpGlobal | null; error: Error | null }> {
  return new Promise((resolve) => {
    const packets: PpPacket[] = [];
    let global: PpGlobal | null = null;
    let error: Error | null = null;
    const parser = pcapp.parse(file);
    parser.on('globalHeader', (h) => (global = h));
    // pcap-parser reuses nothing, but copy anyway so later slices cannot alias.
    parser.on('packet', (p) => packets.push({ header: { ...p.header }, data: Buffer.from(p.data) }));
    parser.on('error', (e) => (error = e));
    let done = false;
    parser.on('end', () => {
      if (done) return;
      done = true;
      resolve({ packets, global, error });
    });
  });
}

describe('pcap-parser cross-check', () => {
  const classic = corpusFiles().filter((f) => fs.readFileSync(corpusPath(f)).readUInt32BE(0) !== 0x0a0d0d0a);

  it('covers the 785 classic files', () => {
    expect(classic.length).toBe(785);
  });

  it('sees the same packets, headers and bytes in every classic file', async () => {
    let compared = 0;
    let nanoFiles = 0;
    for (const f of classic) {
      const file = corpusPath(f);
      const ours = readAll(file);
      const theirs = await parseWithPcapParser(file);
      const nano = ours.info.interfaces[0]!.tsresol.exp === 9;
      if (nano) {
        nanoFiles++;
        expect(theirs.error?.message, f).toMatch(/unknown magic number/);
        continue;
      }
      expect(theirs.error, f).toBeNull();
      expect(theirs.global!.snapshotLength, f).toBe(ours.info.interfaces[0]!.snaplen);
      // pcap-parser reads the whole 32-bit field; ours splits link type and FCS bits.
      expect(theirs.global!.linkLayerType, f).toBe(ours.info.interfaces[0]!.linkType | ours.info.interfaces[0]!.linkTypeFlags);
      expect(`${theirs.global!.majorVersion}.${theirs.global!.minorVersion}`, f).toBe(ours.info.version);
      // Where we stop with a CaptureError (truncated or oversized record), pcap-parser just
      // waits for bytes that never come and emits nothing more: the counts agree either way.
      const n = theirs.packets.length;
      expect(ours.records.length, f).toBe(n);
      for (let i = 0; i < n; i++) {
        const a = ours.records[i]!;
        const b = theirs.packets[i]!;
        expect(a.tsHigh, `${f} #${i}`).toBe(b.header.timestampSeconds);
        expect(a.tsLow, `${f} #${i}`).toBe(b.header.timestampMicroseconds);
        expect(a.data.length, `${f} #${i}`).toBe(b.header.capturedLength);
        expect(a.origLen, `${f} #${i}`).toBe(b.header.originalLength);
        if (!a.data.equals(b.data)) expect.fail(`${f} #${i}: data differs`);
      }
      compared += n;
    }
    expect(nanoFiles).toBe(2);
    expect(compared).toBeGreaterThan(9000);
  });
});
