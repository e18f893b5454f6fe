/**
 * Checksums: incremental updates (the hot-path view, Cilium's rules) must agree with a full
 * recompute on random rewrites, including the UDP zero rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildIpv4Frame } from '../../../dataplane/packet/build.ts';
import {
  csumFold, csumPartial, csumReplace16, csumReplace32, fillChecksums, ipv4HeaderChecksumOk, l4ChecksumOk, l4ChecksumStatus,
} from '../../../dataplane/packet/checksum.ts';
import { DROP_INVALID, Ipv4View, ipToString, parseIpv4 } from '../../../dataplane/packet/view.ts';

const L3 = 14;
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

const packetArb = fc.record({
  proto: fc.constantFrom<6 | 17 | 1>(6, 17, 1),
  saddr: u32,
  daddr: u32,
  sport: u16,
  dport: u16,
  icmpType: fc.constantFrom(0, 8, 3, 11),
  icmpId: u16,
  ttl: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 64 }),
  udpZeroChecksum: fc.boolean(),
  vlan: fc.option(fc.integer({ min: 0, max: 4095 }), { nil: undefined }),
});

type Op = { k: 'saddr' | 'daddr' | 'sport' | 'dport'; v: number } | { k: 'ttl' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constantFrom<'saddr' | 'daddr'>('saddr', 'daddr'), v: u32 }),
  fc.record({ k: fc.constantFrom<'sport' | 'dport'>('sport', 'dport'), v: u16 }),
  fc.constant<Op>({ k: 'ttl' }),
);

function apply(v: Ipv4View, op: Op): void {
  if (op.k === 'saddr') v.setSaddr(op.v);
  else if (op.k === 'daddr') v.setDaddr(op.v);
  else if (op.k === 'sport') v.setSport(op.v);
  else if (op.k === 'dport') v.setDport(op.v);
  else v.decTtl();
}

const u16at = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;

describe('checksum arithmetic', () => {
  it('should match RFC 1071 on a known header', () => {
    // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2 before complement.
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(csumPartial(b, 0, 8)).toBe(0xddf2);
    expect(csumFold(csumPartial(b, 0, 8))).toBe(0x220d);
  });

  it('should fold any accumulator, below and above 2^32, to its ones\' complement sum', () => {
    // The arithmetic definition: add the 16-bit carries back until 16 bits remain.
    const reference = (s: number): number => {
      while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
      return ~s & 0xffff;
    };
    for (const s of [0, 1, 0xffff, 0x10000, 0x1fffe, 0x1ffff, 0xfffeffff, 0xffffffff, 0x100000000, 2 ** 40 + 12345]) {
      expect(csumFold(s)).toBe(reference(s));
    }
    fc.assert(
      fc.property(fc.oneof(u32, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (s) => {
        expect(csumFold(s)).toBe(reference(s));
      }),
      { numRuns: 5000 },
    );
  });

  it('should give the same value as a recompute after replacing a 16- or 32-bit word (RFC 1624)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 64 }), fc.nat(), u32, fc.boolean(), (data, at, nv, wide) => {
        const b = Uint8Array.from(data.length % 2 ? [...data, 0] : data);
        const width = wide ? 4 : 2;
        const off = (at % Math.floor((b.length - width) / 2 + 1)) * 2;
        const check = csumFold(csumPartial(b, 0, b.length));
        const dv = new DataView(b.buffer);
        let inc: number;
        if (wide) {
          const old = dv.getUint32(off);
          dv.setUint32(off, nv >>> 0);
          inc = csumReplace32(check, old, nv >>> 0);
        } else {
          const old = dv.getUint16(off);
          dv.setUint16(off, nv & 0xffff);
          inc = csumReplace16(check, old, nv & 0xffff);
        }
        const full = csumFold(csumPartial(b, 0, b.length));
        // Equal as ones' complement numbers (0 and 0xffff both mean zero only for all-zero data).
        expect(inc === full || (inc | full) === 0xffff && (inc & full) === 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('Ipv4View incremental rewrites', () => {
  it('should agree with a full recompute for random packets and rewrites', () => {
    fc.assert(
      fc.property(packetArb, fc.array(opArb, { minLength: 1, maxLength: 6 }), (p, ops) => {
        const f = buildIpv4Frame({ ...p, icmpId: p.icmpId });
        const l3 = p.vlan !== undefined ? L3 + 4 : L3;
        const v = new Ipv4View();
        expect(v.parse(f, l3)).toBe(0);
        const l4 = v.l4Off;
        const icmpBefore = p.proto === 1 ? u16at(f, l4 + 2) : 0;
        for (const op of ops) apply(v, op);
        if (p.proto === 1 && f.subarray(l4).every((x, i) => i === 2 || i === 3 || x === 0)) {
          // An all-zero ICMP message: RFC 1624 eqn. 3 may give 0x0000 where a recompute gives
          // 0xFFFF (the +0/-0 ambiguity, RFC 1624 §3). The kernel's csum_replace2 does the same.
          expect([0, 0xffff]).toContain(u16at(f, l4 + 2));
          return;
        }
        // Every checksum is still valid...
        expect(ipv4HeaderChecksumOk(f, l3)).toBe(true);
        expect(l4ChecksumOk(f, l3)).toBe(true);
        // ...and byte-identical to a full recompute, except that UDP "no checksum" stays 0.
        const full = f.slice();
        fillChecksums(full, l3);
        if (p.proto === 17 && p.udpZeroChecksum) {
          expect(u16at(f, l4 + 6)).toBe(0);
          full[l4 + 6] = 0;
          full[l4 + 7] = 0;
        }
        expect(Buffer.from(f).toString('hex')).toBe(Buffer.from(full).toString('hex'));
        // ICMP: address changes never touch the ICMP checksum; only echo id changes do.
        const isEcho = p.proto === 1 && (p.icmpType === 0 || p.icmpType === 8);
        if (p.proto === 1 && !isEcho) expect(u16at(f, l4 + 2)).toBe(icmpBefore);
        // The view's fields follow the rewrites.
        const w = new Ipv4View();
        expect(w.parse(f, l3)).toBe(0);
        expect([w.saddr, w.daddr, w.sport, w.dport, w.ttl]).toEqual([v.saddr, v.daddr, v.sport, v.dport, v.ttl]);
        if (isEcho) expect(w.sport).toBe(w.dport);
      }),
      { numRuns: Number(process.env.PKT_RUNS ?? 1500) },
    );
  });

  it('should write 0xFFFF when a UDP port rewrite computes 0, and keep 0 when there was none', () => {
    const f = buildIpv4Frame({ saddr: parseIpv4('10.0.0.31'), daddr: parseIpv4('172.18.0.10'), proto: 17, sport: 40000, dport: 53, payload: Uint8Array.of(1, 2, 3, 4) });
    const v = new Ipv4View();
    expect(v.parse(f, L3)).toBe(0);
    const c = u16at(f, v.l4Off + 6);
    // The port q with ~(~c + ~40000 + q) == 0 in ones' complement: search it.
    let q = -1;
    for (let x = 0; x <= 0xffff; x++) if (csumReplace16(c, 40000, x) === 0) q = x;
    expect(q).toBeGreaterThanOrEqual(0);
    v.setSport(q);
    expect(u16at(f, v.l4Off + 6)).toBe(0xffff);
    expect(l4ChecksumStatus(f, L3)).toBe('good');
    const full = f.slice();
    fillChecksums(full, L3);
    expect(u16at(full, v.l4Off + 6)).toBe(0xffff);

    const z = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 17, sport: 1, dport: 2, udpZeroChecksum: true });
    expect(v.parse(z, L3)).toBe(0);
    v.setSaddr(parseIpv4('172.18.0.3'));
    v.setSport(61000);
    expect(u16at(z, v.l4Off + 6)).toBe(0);
    expect(l4ChecksumStatus(z, L3)).toBe('none');
    expect(ipv4HeaderChecksumOk(z, L3)).toBe(true);
  });

  it('should call a zero UDP checksum "none" over IPv4 but "bad" over IPv6, where RFC 8200 forbids it', () => {
    // Ethernet + IPv6 (next header UDP, hop limit 64, ::1 -> ::2) + UDP 1 -> 2 carrying 4 bytes.
    const f = new Uint8Array(14 + 40 + 12);
    f[12] = 0x86;
    f[13] = 0xdd;
    f[14] = 0x60;
    f[14 + 5] = 12; // payload length
    f[14 + 6] = 17;
    f[14 + 7] = 64;
    f[14 + 8 + 15] = 1;
    f[14 + 24 + 15] = 2;
    const u = 14 + 40;
    f[u + 1] = 1;
    f[u + 3] = 2;
    f[u + 5] = 12; // UDP length
    f.set([1, 2, 3, 4], u + 8);
    expect(l4ChecksumStatus(f, L3)).toBe('bad');
    fillChecksums(f, L3);
    expect(u16at(f, u + 6)).not.toBe(0);
    expect(l4ChecksumStatus(f, L3)).toBe('good');
  });

  it('should keep a pre-existing checksum error as it was (offload-partial captures)', () => {
    // Ones' complement distance between two checksum values.
    const dist = (a: number, b: number): number => ((~a & 0xffff) - (~b & 0xffff) + 0xffff) % 0xffff;
    fc.assert(
      fc.property(packetArb, fc.integer({ min: 1, max: 0xfffe }), fc.array(opArb, { minLength: 1, maxLength: 4 }), (p, err, ops) => {
        if (p.proto === 17 && p.udpZeroChecksum) return;
        const good = buildIpv4Frame(p);
        const l3 = p.vlan !== undefined ? L3 + 4 : L3;
        const v = new Ipv4View();
        v.parse(good, l3);
        const at = v.l4Off + (p.proto === 6 ? 16 : p.proto === 17 ? 6 : 2);
        const bad = good.slice();
        const c = csumReplace16(u16at(bad, at), 0, err); // as if some covered word were off by err
        if (c === 0 && p.proto === 17) return; // 0 would mean "no checksum"
        bad[at] = c >> 8;
        bad[at + 1] = c & 0xff;
        const d0 = dist(u16at(bad, at), u16at(good, at));
        const w = new Ipv4View();
        w.parse(bad, l3);
        for (const op of ops) {
          apply(v, op);
          apply(w, op);
        }
        expect(dist(u16at(bad, at), u16at(good, at))).toBe(d0);
        expect(ipv4HeaderChecksumOk(bad, l3)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('should treat non-first fragments as L3 only', () => {
    const f = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 17, sport: 1111, dport: 2222, payload: new Uint8Array(16) });
    f[L3 + 6] = 0x00;
    f[L3 + 7] = 0x03; // offset 24 bytes
    fillChecksums(f, L3);
    const before = f.slice(L3 + 20);
    const v = new Ipv4View();
    expect(v.parse(f, L3)).toBe(0);
    expect([v.isFragment, v.moreFragments, v.fragOffset, v.l4Off, v.sport, v.dport]).toEqual([true, false, 24, -1, 0, 0]);
    v.setSaddr(parseIpv4('9.9.9.9'));
    v.setSport(5);
    expect(ipv4HeaderChecksumOk(f, L3)).toBe(true);
    expect(f.slice(L3 + 20)).toEqual(before);
  });

  it('should refuse to decrement TTL 1 or 0 and leave the packet alone', () => {
    for (const ttl of [0, 1]) {
      const f = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 6, ttl });
      const copy = f.slice();
      const v = new Ipv4View();
      v.parse(f, L3);
      expect(v.decTtl()).toBe(false);
      expect(f).toEqual(copy);
    }
    const f = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 6, ttl: 2 });
    const v = new Ipv4View();
    v.parse(f, L3);
    expect(v.decTtl()).toBe(true);
    expect(f[L3 + 8]).toBe(1);
    expect(ipv4HeaderChecksumOk(f, L3)).toBe(true);
  });

  it('should return DROP_INVALID (-134) for malformed headers', () => {
    const good = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 6, sport: 1, dport: 2 });
    const v = new Ipv4View();
    expect(DROP_INVALID).toBe(-134);
    expect(v.parse(good.subarray(0, L3 + 19), L3)).toBe(-134); // short IP header
    expect(v.parse(good.subarray(0, L3 + 30), L3)).toBe(-134); // TCP header cut
    const bad = (i: number, val: number): Uint8Array => {
      const b = good.slice();
      b[i] = val;
      return b;
    };
    expect(v.parse(bad(L3, 0x65), L3)).toBe(-134); // version 6
    expect(v.parse(bad(L3, 0x44), L3)).toBe(-134); // IHL 4
    expect(v.parse(bad(L3 + 3, 10), L3)).toBe(-134); // total length < IHL
    expect(v.parse(good, -1)).toBe(-134);
    expect(v.parse(good, L3)).toBe(0);
  });
});

describe('address text', () => {
  it('should round-trip dotted quads and reject bad text', () => {
    fc.assert(
      fc.property(u32, (a) => {
        expect(parseIpv4(ipToString(a))).toBe(a);
      }),
    );
    for (const s of ['1.2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', '', 'a.b.c.d']) expect(() => parseIpv4(s)).toThrow(RangeError);
    expect(ipToString(parseIpv4('10.0.0.31'))).toBe('10.0.0.31');
  });
});
