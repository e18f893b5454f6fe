/**
 * Ipv4View.parse with an explicit frame end: a frame read in place in a larger buffer (a
 * capture reader's window) parses exactly as the frame on its own, and the bytes after the
 * end are never taken for part of it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildIpv4Frame } from '../../../dataplane/packet/build.ts';
import { DROP_INVALID, Ipv4View } from '../../../dataplane/packet/view.ts';

const FIELDS = ['l4Off', 'ihl', 'totalLen', 'ttl', 'proto', 'saddr', 'daddr', 'isFragment', 'moreFragments', 'fragOffset', 'sport', 'dport', 'tcpFlags', 'icmpType', 'icmpCode', 'l4Len'] as const;

function fields(v: Ipv4View, base: number): Record<string, number | boolean> {
  const o: Record<string, number | boolean> = {};
  for (const k of FIELDS) o[k] = v[k];
  // Offsets relative to the frame, so the two parses compare.
  if (v.l4Off >= 0) o.l4Off = v.l4Off - base;
  return o;
}

describe('Ipv4View.parse(buf, l3Off, end)', () => {
  it('parses a frame inside a larger buffer as it parses the frame alone, cut anywhere', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 6, 17),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 0, max: 40 }),
        fc.nat(),
        (proto: 1 | 6 | 17, payload, at, cutSeed) => {
          const frame = buildIpv4Frame({ saddr: 0x0a000001, daddr: 0x01010101, proto, sport: 40000, dport: 443, icmpType: 8, icmpId: 7, payload: new Uint8Array(payload) });
          const cut = 14 + (cutSeed % (frame.length - 13));
          const alone = frame.slice(0, cut);
          // The rest of the frame follows the cut in the big buffer: it must not be used.
          const big = new Uint8Array(at + frame.length + 16).fill(0xee);
          big.set(frame, at);
          const a = new Ipv4View();
          const b = new Ipv4View();
          const ra = a.parse(alone, 14);
          const rb = b.parse(big, at + 14, at + cut);
          expect(rb).toBe(ra);
          expect(b.end).toBe(at + cut);
          if (ra === 0) expect(fields(b, at)).toEqual(fields(a, 0));
        },
      ),
    );
  });

  it('rejects a TCP header cut by the frame end even when the buffer goes on', () => {
    const frame = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 6, sport: 1, dport: 2 });
    const v = new Ipv4View();
    expect(v.parse(frame, 14, 14 + 20 + 19)).toBe(DROP_INVALID);
    expect(v.parse(frame, 14, 14 + 19)).toBe(DROP_INVALID);
    expect(v.parse(frame, 14, frame.length)).toBe(0);
    expect(v.parse(frame, 14)).toBe(0);
    expect(v.end).toBe(frame.length);
  });

  it('takes a zero total length (TSO) as running to the frame end, not the buffer end', () => {
    const frame = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 17, sport: 1, dport: 2, payload: new Uint8Array(20) });
    frame[16] = 0;
    frame[17] = 0;
    const big = new Uint8Array(frame.length + 100);
    big.set(frame);
    const v = new Ipv4View();
    expect(v.parse(big, 14, frame.length)).toBe(0);
    expect([v.totalLen, v.l4Len]).toEqual([frame.length - 14, frame.length - 14 - 20]);
  });
});
