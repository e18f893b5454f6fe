/**
 * decodeLinkType: where the IP header starts for each decoded link type, and the reasons
 * for everything else. Hand-built frames for each header, plus corpus totals.
 */
import { describe, expect, it } from 'vitest';
import { decodeLinkType, linkTypeName, type L3Location } from '../../traces/linktype.ts';
import type { CaptureRecord } from '../../traces/record.ts';
import { openCapture } from '../../traces/open.ts';
import { corpusFiles, corpusPath } from './capture-helpers.ts';

const ipv4 = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
const ipv6 = [0x60, 0, 0, 0, 0, 0, 59, 64, ...new Array<number>(32).fill(0)];
const mac12 = new Array<number>(12).fill(0xaa);

function rec(linkType: number, bytes: number[]): CaptureRecord {
  const data = Uint8Array.from(bytes);
  return { index: 0, offset: 0, ifIndex: 0, linkType, data, origLen: data.length, tsHigh: 0, tsLow: 0, tsSec: 0, tsNsec: 0 };
}

function decode(linkType: number, bytes: number[]): [boolean, number, number, string] {
  const out: L3Location = { l3Offset: -1, ethertype: -1, reason: '' };
  const ok = decodeLinkType(rec(linkType, bytes), out);
  return ok ? [true, out.l3Offset, out.ethertype, ''] : [false, -1, -1, out.reason];
}

describe('decodeLinkType', () => {
  it('Ethernet, with 802.1Q, 802.1ad and QinQ tags', () => {
    expect(decode(1, [...mac12, 0x08, 0x00, ...ipv4])).toEqual([true, 14, 0x0800, '']);
    expect(decode(1, [...mac12, 0x86, 0xdd, ...ipv6])).toEqual([true, 14, 0x86dd, '']);
    expect(decode(1, [...mac12, 0x81, 0x00, 0, 100, 0x08, 0x00, ...ipv4])).toEqual([true, 18, 0x0800, '']);
    expect(decode(1, [...mac12, 0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200, 0x86, 0xdd, ...ipv6])).toEqual([true, 22, 0x86dd, '']);
    expect(decode(1, [...mac12, 0x91, 0x00, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00, ...ipv4])).toEqual([true, 22, 0x0800, '']);
    expect(decode(1, [...mac12, 0x08, 0x06, 0, 1])).toEqual([false, -1, -1, 'not IP: ethertype 0x0806']);
    expect(decode(1, [...mac12, 0x00, 0x26, 0x42, 0x42])).toEqual([false, -1, -1, 'not IP: 802.3 length field (LLC)']);
    expect(decode(1, mac12)).toEqual([false, -1, -1, 'not decoded: truncated link-layer header']);
    expect(decode(1, [...mac12, 0x81, 0x00, 0])).toEqual([false, -1, -1, 'not decoded: truncated link-layer header']);
    expect(decode(1, [...mac12, 0x08, 0x00])).toEqual([false, -1, -1, 'not decoded: no IP header']);
  });

  it('Linux cooked SLL and SLL2', () => {
    const sll = [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    expect(decode(113, [...sll, 0x08, 0x00, ...ipv4])).toEqual([true, 16, 0x0800, '']);
    expect(decode(113, [...sll, 0x86, 0xdd, ...ipv6])).toEqual([true, 16, 0x86dd, '']);
    expect(decode(113, [...sll, 0x81, 0x00, 0, 5, 0x08, 0x00, ...ipv4])).toEqual([true, 20, 0x0800, '']);
    expect(decode(113, [...sll, 0x08, 0x06, 0, 0])).toEqual([false, -1, -1, 'not IP: ethertype 0x0806']);
    expect(decode(113, sll)).toEqual([false, -1, -1, 'not decoded: truncated link-layer header']);
    const sll2rest = [0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    expect(decode(276, [0x08, 0x00, ...sll2rest, ...ipv4])).toEqual([true, 20, 0x0800, '']);
    expect(decode(276, [0x86, 0xdd, ...sll2rest, ...ipv6])).toEqual([true, 20, 0x86dd, '']);
    expect(decode(276, [0x81, 0x00, ...sll2rest, 0, 7, 0x86, 0xdd, ...ipv6])).toEqual([true, 24, 0x86dd, '']);
    expect(decode(276, [0x08, 0x00, 0, 0])).toEqual([false, -1, -1, 'not decoded: truncated link-layer header']);
  });

  it('raw IP (101, 12, 14, 228, 229): the version nibble decides', () => {
    for (const lt of [101, 12, 14, 228, 229]) {
      expect(decode(lt, ipv4)).toEqual([true, 0, 0x0800, '']);
      expect(decode(lt, ipv6)).toEqual([true, 0, 0x86dd, '']);
      expect(decode(lt, [0x35, 0])).toEqual([false, -1, -1, 'not IP: version 3']);
      expect(decode(lt, [])).toEqual([false, -1, -1, 'not decoded: no IP header']);
    }
  });

  it('BSD loopback NULL and LOOP, address family in either byte order', () => {
    for (const lt of [0, 108]) {
      expect(decode(lt, [2, 0, 0, 0, ...ipv4])).toEqual([true, 4, 0x0800, '']);
      expect(decode(lt, [0, 0, 0, 2, ...ipv4])).toEqual([true, 4, 0x0800, '']);
      for (const af of [24, 28, 30]) {
        expect(decode(lt, [af, 0, 0, 0, ...ipv6])).toEqual([true, 4, 0x86dd, '']);
        expect(decode(lt, [0, 0, 0, af, ...ipv6])).toEqual([true, 4, 0x86dd, '']);
      }
      expect(decode(lt, [7, 0, 0, 0, 1])).toEqual([false, -1, -1, 'not IP: address family 7']);
      expect(decode(lt, [2, 0])).toEqual([false, -1, -1, 'not decoded: truncated link-layer header']);
    }
  });

  it('other link types are not decoded, by number', () => {
    expect(decode(127, [0, 0, 8, 0])).toEqual([false, -1, -1, 'not decoded: link type 127']);
    expect(decode(9, ipv4)).toEqual([false, -1, -1, 'not decoded: link type 9']);
  });

  it('returns the same interned reason string (no per-packet allocation)', () => {
    const a: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
    const b: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
    decodeLinkType(rec(1, [...mac12, 0x08, 0x06]), a);
    decodeLinkType(rec(1, [...mac12, 0x08, 0x06]), b);
    expect(Object.is(a.reason, b.reason)).toBe(true);
  });

  it('finds IP in every corpus record of a decoded type at the expected offsets', () => {
    const seen = new Map<string, number>();
    const out: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
    for (const f of corpusFiles()) {
      const r = openCapture(corpusPath(f));
      for (let x = r.next(); x; x = r.next()) {
        if (![0, 1, 101, 113, 228, 229].includes(x.linkType)) continue;
        const k = decodeLinkType(x, out) ? `${x.linkType} ${out.ethertype.toString(16)}@${out.l3Offset}` : `${x.linkType} no`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
        // Raw types decide by the nibble; elsewhere the header's type field rules (the corpus has
        // deliberately wrong versions behind an IPv4 ethertype).
        if (k.includes('@') && [101, 228, 229].includes(x.linkType)) expect(x.data[out.l3Offset]! >> 4, `${f} #${x.index}`).toBe(out.ethertype === 0x0800 ? 4 : 6);
      }
      r.close();
    }
    // Counts measured on this corpus.
    expect(Object.fromEntries([...seen].filter(([k]) => k.includes('@')))).toEqual({
      '0 800@4': 35, '0 86dd@4': 90, '1 800@14': 3851, '1 800@18': 48, '1 86dd@14': 670,
      '101 800@0': 5, '101 86dd@0': 12, '113 800@16': 653, '113 86dd@16': 30,
      '228 800@0': 4, '228 86dd@0': 1, '229 800@0': 1, '229 86dd@0': 28,
    });
  });
});

describe('linkTypeName', () => {
  it('names common link types and falls back to the number', () => {
    expect([0, 1, 101, 12, 108, 113, 127, 276, 228, 229].map(linkTypeName)).toEqual([
      'NULL', 'EN10MB', 'RAW', 'RAW', 'LOOP', 'LINUX_SLL', 'IEEE802_11_RADIO', 'LINUX_SLL2', 'IPV4', 'IPV6',
    ]);
    expect(linkTypeName(65000)).toBe('LINKTYPE_65000');
  });
});
