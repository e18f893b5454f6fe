/**
 * Every corpus capture is read to its end or stopped by a CaptureError that names the file
 * and the byte offset; nothing else may escape, and no read window grows past the cap.
 */
import { describe, expect, it } from 'vitest';
import { openCapture, MAX_RECORD_BYTES } from '../../traces/open.ts';
import { CaptureError } from '../../traces/errors.ts';
import { corpusFiles, corpusPath, readAll } from './capture-helpers.ts';

describe('corpus: read every file', () => {
  const files = corpusFiles();

  it('has the corpus the README describes', () => {
    expect(files.length).toBe(830);
  });

  it('reads each file to the end or a CaptureError naming file and byte offset', () => {
    let packets = 0;
    const failures: string[] = [];
    for (const f of files) {
      const p = corpusPath(f);
      let res;
      try {
        res = readAll(p);
      } catch (err) {
        // Open-time errors are CaptureErrors too; anything else is a bug.
        if (!(err instanceof CaptureError)) throw new Error(`${f}: ${String(err)}`);
        res = { records: [], error: err, bufferCapacity: 0 };
      }
      packets += res.records.length;
      if (res.error) {
        expect(res.error.message).toContain(p);
        expect(res.error.message).toContain('byte offset');
        failures.push(`${f}: ${res.error.reason}`);
      }
      expect(res.bufferCapacity).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    }
    // Measured with capinfos 4.0.17 on the 816 files it reads, plus the 14 with link types
    // it refuses (counted by this reader); no corpus file is malformed at the file level.
    expect(failures).toEqual([]);
    expect(packets).toBe(10183);
  });

  it('gives the same records whatever the chunk size (compaction and growth paths)', () => {
    for (const f of ['afs.pcap', 'huge-tipc-messages.pcap', 'OSPFv2_Capture_FINAL.pcapng', 'bgp-orf.pcapng']) {
      const a = readAll(corpusPath(f));
      const b = readAll(corpusPath(f), 97);
      expect(b.records.length).toBe(a.records.length);
      expect(b.records).toEqual(a.records);
      // The window grows only to the largest block (+ its header and trailer, chunk-rounded).
      const largest = Math.max(...b.records.map((r) => r.data.length + 32 + 4 * (r.comments?.length ?? 0) + (r.comments?.join('').length ?? 0)));
      expect(b.bufferCapacity).toBeLessThanOrEqual(Math.ceil((largest + 64) / 97) * 97);
    }
  });

  it('agrees with capinfos on known files', () => {
    const counts: Record<string, number> = { 'vxlan.pcap': 10, 'geneve.pcap': 39, 'OSPFv2_Capture_FINAL.pcapng': 30 };
    for (const [f, n] of Object.entries(counts)) expect(readAll(corpusPath(f)).records.length).toBe(n);
  });

  it('reports position and size', () => {
    const r = openCapture(corpusPath('vxlan.pcap'));
    expect(r.position).toBe(24);
    while (r.next());
    expect(r.position).toBe(r.size);
    r.close();
  });
});
