/**
 * Round trip: every corpus file read and written back in its own format (raw timestamp
 * words, interfaces as read) reads back as identical records and interfaces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copySameFormat, corpusFiles, corpusPath, ifaceKey, readAll, tmpDir } from './capture-helpers.ts';

describe('corpus: same-format round trip', () => {
  const dir = tmpDir('roundtrip');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives identical records, timestamps and interfaces for every file', () => {
    let compared = 0;
    for (const f of corpusFiles()) {
      const src = corpusPath(f);
      const dst = path.join(dir, f);
      const before = readAll(src);
      const copyErr = copySameFormat(src, dst);
      expect(copyErr?.message ?? null, f).toBe(before.error?.message ?? null);
      const after = readAll(dst);
      expect(after.error, f).toBeNull();
      expect(after.info.format, f).toBe(before.info.format);
      expect(after.info.byteOrder, f).toBe(before.info.byteOrder);
      expect(after.info.version, f).toBe(before.info.version);
      expect(after.info.interfaces.map(ifaceKey), f).toEqual(before.info.interfaces.map(ifaceKey));
      expect(after.records.length, f).toBe(before.records.length);
      // index..flags: data, origLen, raw and derived timestamps, interface, comments, flags.
      // Bytes are compared with Buffer.equals (deep equality on 10k buffers is slow).
      for (let i = 0; i < before.records.length; i++) {
        const { data: da, ...a } = before.records[i]!;
        const { data: db, ...b } = after.records[i]!;
        if (!da.equals(db)) expect.fail(`${f} #${i}: data differs`);
        expect(b, `${f} #${i}`).toEqual(a);
      }
      // Classic pcap copies are byte-identical, file header included (thiszone and sigfigs,
      // non-zero in 32 corpus files, are kept).
      if (before.info.format === 'pcap' && !before.error) {
        const a = fs.readFileSync(src);
        const b = fs.readFileSync(dst);
        if (!b.equals(a)) expect.fail(`${f}: the copy differs from the original (header: ${a.subarray(0, 24).toString('hex')} vs ${b.subarray(0, 24).toString('hex')})`);
      }
      fs.rmSync(dst);
      compared += before.records.length;
    }
    expect(compared).toBe(10183);
  });
});
