/**
 * Property tests (fast-check): random byte mutations, cut-offs and lying lengths in real
 * captures only ever end in a CaptureError (never another exception, never a hang), the
 * read window never grows past the cap, and every record wholly before the first changed
 * byte still comes out unchanged.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureError } from '../../traces/errors.ts';
import { DEFAULT_CHUNK_SIZE, MAX_RECORD_BYTES, openCapture } from '../../traces/open.ts';
import { corpusPath, readAll, tmpDir, type ReadResult } from './capture-helpers.ts';

const dir = tmpDir('mutation');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Small files covering: pcap LE µs, pcap BE, pcap ns, pcapng LE with names, pcapng with options.
const FILES = ['vxlan.pcap', 'pptp.pcap', 'tcp-handshake-nano.pcap', 'OSPFv2_Capture_FINAL.pcapng', 'bgp-orf.pcapng'];

type Mutation =
  | { kind: 'bytes'; edits: [number, number][] }
  | { kind: 'cut'; at: number }
  | { kind: 'u32'; at: number; value: number };

function apply(orig: Buffer, m: Mutation): { bytes: Buffer; firstChange: number } {
  if (m.kind === 'cut') {
    const at = m.at % (orig.length + 1);
    return { bytes: orig.subarray(0, at), firstChange: at };
  }
  const b = Buffer.from(orig);
  let first = b.length;
  if (m.kind === 'bytes') {
    for (const [pos, v] of m.edits) {
      const p = pos % b.length;
      if (b[p] !== v) first = Math.min(first, p);
      b[p] = v;
    }
  } else {
    // A length-sized lie: the same 32-bit value written at a 4-aligned spot (where lengths live).
    const p = (m.at % Math.floor(b.length / 4)) * 4;
    const before = b.readUInt32LE(p);
    b.writeUInt32LE(m.value >>> 0, p);
    if (before !== m.value >>> 0) first = p;
  }
  return { bytes: b, firstChange: first };
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(0, 1, 3, 0x7fffffff, 0xffffffff, MAX_RECORD_BYTES, MAX_RECORD_BYTES + 4, 0x0a0d0d0a, 0x1a2b3c4d), fc.nat()),
  }),
);

describe('mutated corpus files', () => {
  for (const name of FILES) {
    it(`${name}: only CaptureErrors, bounded window, earlier records intact`, () => {
      const origPath = corpusPath(name);
      const orig = fs.readFileSync(origPath);
      const base: ReadResult = readAll(origPath);
      expect(base.error).toBeNull();
      // End offset of each original record: the next one's start (or EOF).
      const starts = offsets(origPath);
      const ends = base.records.map((_, i) => (i + 1 < starts.length ? starts[i + 1]! : orig.length));
      const target = path.join(dir, name);
      fc.assert(
        fc.property(mutation, (m) => {
          const { bytes, firstChange } = apply(orig, m);
          fs.writeFileSync(target, bytes);
          let res: ReadResult;
          try {
            res = readAll(target);
          } catch (err) {
            // Errors when opening (bad magic, short header) must be CaptureErrors too.
            if (err instanceof CaptureError) {
              expect(err.message).toContain(target);
              return;
            }
            throw err;
          }
          if (res.error) {
            expect(res.error.message).toContain(`${target}: byte offset `);
            expect(res.error.offset).toBeLessThanOrEqual(bytes.length);
          }
          expect(res.bufferCapacity).toBeLessThanOrEqual(Math.min(MAX_RECORD_BYTES, DEFAULT_CHUNK_SIZE));
          for (let i = 0; i < base.records.length && ends[i]! <= firstChange; i++) {
            const a = base.records[i]!;
            const b = res.records[i];
            if (!b || !b.data.equals(a.data) || b.tsHigh !== a.tsHigh || b.tsLow !== a.tsLow || b.origLen !== a.origLen) {
              throw new Error(`record ${i} (ends at ${ends[i]}) changed by a mutation at ${firstChange}`);
            }
          }
        }),
        { numRuns: 300, seed: 0x5eed + name.length },
      );
    });
  }
});

/** Record start offsets straight from a reader (RecSnap does not keep them). */
function offsets(file: string): number[] {
  const r = openCapture(file);
  const out: number[] = [];
  for (let x = r.next(); x; x = r.next()) out.push(x.offset);
  r.close();
  return out;
}
