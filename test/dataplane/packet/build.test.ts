/**
 * Builders and the dissector against each other: random valid packets survive
 * encode → decode (and encapsulation → decapsulation) with every field intact.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildIpv4Frame, decapTunnel, encapGeneve, encapVxlan, PacketBuffer, udpFlowSrcPort, type TunnelInfo } from '../../../dataplane/packet/build.ts';
import { ipv4HeaderChecksumOk, l4ChecksumStatus } from '../../../dataplane/packet/checksum.ts';
import { dissect, findLayer } from '../../../dataplane/packet/dissect.ts';
import { geneveOption } from '../../../dataplane/packet/geneve.ts';
import { Ipv4View, ipToString, parseIpv4 } from '../../../dataplane/packet/view.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));

// Ports bound to tunnels would make the dissector (rightly) decode the payload as a tunnel.
const portArb = u16.filter((p) => p !== 4789 && p !== 8472 && p !== 6081);

const frameArb = fc.record({
  srcMac: macArb,
  dstMac: macArb,
  saddr: u32,
  daddr: u32,
  proto: fc.constantFrom<6 | 17 | 1>(6, 17, 1),
  sport: portArb,
  dport: portArb,
  tcpFlags: fc.integer({ min: 0, max: 255 }),
  seq: u32,
  ack: u32,
  window: u16,
  icmpType: fc.constantFrom(0, 8),
  icmpCode: fc.integer({ min: 0, max: 255 }),
  icmpId: u16,
  icmpSeq: u16,
  ttl: fc.integer({ min: 0, max: 255 }),
  id: u16,
  payload: fc.uint8Array({ maxLength: 200 }),
  udpZeroChecksum: fc.boolean(),
  vlan: fc.option(fc.integer({ min: 0, max: 4095 }), { nil: undefined }),
});

describe('encode/decode round trip', () => {
  it('should decode random built frames back to the same fields', () => {
    fc.assert(
      fc.property(frameArb, (o) => {
        const f = buildIpv4Frame(o);
        const ls = dissect(f, 1);
        const names = ls.map((l) => l.name);
        const l4 = o.proto === 6 ? 'tcp' : o.proto === 17 ? 'udp' : 'icmp';
        const expected = ['eth', ...(o.vlan !== undefined ? ['vlan'] : []), 'ipv4', l4, ...(o.payload.length ? ['payload'] : [])];
        expect(names).toEqual(expected);
        expect(ls[0]!.fields).toMatchObject({ src: o.srcMac, dst: o.dstMac });
        if (o.vlan !== undefined) expect(ls[1]!.fields).toMatchObject({ id: o.vlan, type: 0x0800 });
        const ip = findLayer(ls, 'ipv4')!.fields;
        expect(ip).toMatchObject({ src: ipToString(o.saddr), dst: ipToString(o.daddr), ttl: o.ttl, id: o.id, proto: o.proto, df: true, mf: false, frag: 0, checksum_ok: true });
        expect(ip.len).toBe(20 + (o.proto === 6 ? 20 : 8) + o.payload.length);
        const t = findLayer(ls, l4)!.fields;
        if (o.proto === 6) {
          expect(t).toMatchObject({ sport: o.sport, dport: o.dport, seq: o.seq, ack: o.ack, flags: o.tcpFlags, window: o.window, checksum_status: 'good' });
        } else if (o.proto === 17) {
          expect(t).toMatchObject({ sport: o.sport, dport: o.dport, len: 8 + o.payload.length, checksum_status: o.udpZeroChecksum ? 'none' : 'good' });
        } else {
          expect(t).toMatchObject({ type: o.icmpType, code: o.icmpCode, id: o.icmpId, seq: o.icmpSeq, checksum_status: 'good' });
        }
        if (o.payload.length) {
          const p = ls.at(-1)!;
          expect(f.subarray(p.offset, p.offset + p.length)).toEqual(o.payload);
        }
        // The hot-path view reads the same packet the same way.
        const v = new Ipv4View();
        expect(v.parse(f, o.vlan !== undefined ? 18 : 14)).toBe(0);
        expect([v.saddr, v.daddr, v.proto, v.ttl]).toEqual([o.saddr >>> 0, o.daddr >>> 0, o.proto, o.ttl]);
        if (o.proto === 1) expect([v.sport, v.dport, v.icmpType]).toEqual([o.icmpId, o.icmpId, o.icmpType]);
        else expect([v.sport, v.dport]).toEqual([o.sport, o.dport]);
      }),
      { numRuns: 1000 },
    );
  });

  it('should carry random frames through VXLAN and Geneve unchanged', () => {
    const optArb = fc.array(fc.record({ cls: u16, type: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 12 }).map((d) => d.subarray(0, d.length & ~3)) }), { maxLength: 3 });
    fc.assert(
      fc.property(frameArb, macArb, macArb, u32, u32, fc.integer({ min: 0, max: 0xffffff }), fc.boolean(), optArb, fc.option(fc.constantFrom(4789, 8472), { nil: undefined }), (o, sm, dm, sa, da, vni, geneve, opts, vport) => {
        const inner = buildIpv4Frame({ ...o, vlan: undefined });
        const sport = udpFlowSrcPort(o.saddr, o.daddr, o.sport, o.dport, o.proto);
        const optBytes = Uint8Array.from(opts.flatMap((x) => Array.from(geneveOption(x.cls, x.type, x.data))));
        const outer = geneve
          ? encapGeneve(inner, { srcMac: sm, dstMac: dm, saddr: sa, daddr: da, sport, vni, options: optBytes })
          : encapVxlan(inner, { srcMac: sm, dstMac: dm, saddr: sa, daddr: da, sport, vni, dport: vport });
        expect(ipv4HeaderChecksumOk(outer, 14)).toBe(true);
        const info: TunnelInfo = { innerOffset: -1, vni: -1, kind: 'vxlan' };
        expect(decapTunnel(outer, 14, info)).toBe(true);
        expect(info).toEqual({ innerOffset: geneve ? 50 + optBytes.length : 50, vni, kind: geneve ? 'geneve' : 'vxlan' });
        expect(outer.subarray(info.innerOffset)).toEqual(inner);

        const ls = dissect(outer, 1);
        expect(ls.slice(0, 5).map((l) => `${l.depth}:${l.name}`)).toEqual(['0:eth', '0:ipv4', '0:udp', `0:${geneve ? 'geneve' : 'vxlan'}`, '1:eth']);
        expect(ls[1]!.fields).toMatchObject({ src: ipToString(sa), dst: ipToString(da), ttl: 64, id: 0, df: false, proto: 17, checksum_ok: true });
        expect(ls[2]!.fields).toMatchObject({ sport, dport: geneve ? 6081 : (vport ?? 8472), checksum: 0, checksum_status: 'none', len: outer.length - 34 });
        expect(ls[3]!.fields).toMatchObject(geneve ? { vni, proto: 0x6558, opt_count: opts.length, optlen: optBytes.length } : { vni, i: true, flags: 8 });
        // The inner layers are the inner frame's own dissection, shifted and one level deeper.
        const innerLs = dissect(inner, 1);
        expect(ls.slice(4).map((l) => ({ ...l, offset: l.offset - info.innerOffset, depth: l.depth - 1 }))).toEqual(innerLs);
      }),
      { numRuns: 500 },
    );
  });
});

describe('builders', () => {
  it('should build the VXLAN header layout exactly (50 bytes: Ethernet, IPv4, UDP 8472, VXLAN I flag + VNI)', () => {
    const inner = buildIpv4Frame({ saddr: parseIpv4('10.0.0.31'), daddr: parseIpv4('172.18.0.10'), proto: 6, sport: 40000, dport: 80 });
    const out = encapVxlan(inner, { srcMac: '02:42:ac:12:00:02', dstMac: '02:42:ac:12:00:03', saddr: parseIpv4('172.18.0.2'), daddr: parseIpv4('172.18.0.3'), sport: 51234, dport: 8472, vni: 0x00abcd });
    const hex = Buffer.from(out.subarray(0, 50)).toString('hex');
    expect(hex).toBe(
      '0242ac120003' + '0242ac120002' + '0800' + // Ethernet
        '4500' + (20 + 8 + 8 + inner.length).toString(16).padStart(4, '0') + '0000' + '0000' + '4011' + hex.slice(48, 52) + 'ac120002' + 'ac120003' + // IPv4
        'c822' + '2118' + (8 + 8 + inner.length).toString(16).padStart(4, '0') + '0000' + // UDP
        '08000000' + '00abcd00', // VXLAN
    );
    expect(ipv4HeaderChecksumOk(out, 14)).toBe(true);
    expect(l4ChecksumStatus(out, 14)).toBe('none');
  });

  it('should reject a VNI over 24 bits and bad Geneve options', () => {
    const o = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', saddr: 1, daddr: 2, sport: 1 };
    expect(() => encapVxlan(new Uint8Array(14), { ...o, vni: 0x1000000 })).toThrow(RangeError);
    expect(() => encapGeneve(new Uint8Array(14), { ...o, vni: 1, options: new Uint8Array(3) })).toThrow(RangeError);
  });

  it('should prepend the outer headers in front of a PacketBuffer without copying the inner frame', () => {
    const inner = buildIpv4Frame({ saddr: parseIpv4('10.0.0.31'), daddr: parseIpv4('172.18.0.10'), proto: 17, sport: 40000, dport: 53, payload: Uint8Array.of(1, 2, 3) });
    const o = { srcMac: '02:42:ac:12:00:02', dstMac: '02:42:ac:12:00:03', saddr: parseIpv4('172.18.0.2'), daddr: parseIpv4('172.18.0.3'), sport: 51234, vni: 7 };
    for (const [encap, hdr] of [[encapVxlan, 50], [encapGeneve, 50]] as const) {
      const pb = new PacketBuffer(256, 128);
      pb.append(inner);
      const storage = pb.buf;
      const innerAt = pb.start;
      const out = encap(pb, o);
      // Same bytes as from a plain array, in the same storage, the frame where it was.
      expect(Buffer.from(out)).toEqual(Buffer.from(encap(inner, o)));
      expect(out.buffer).toBe(storage.buffer);
      expect(out.byteOffset).toBe(innerAt - hdr);
      // A bad VNI leaves the buffer as it was.
      const pb2 = new PacketBuffer(256, 128);
      pb2.append(inner);
      expect(() => encap(pb2, { ...o, vni: 1 << 24 })).toThrow(RangeError);
      expect(Buffer.from(pb2.data())).toEqual(Buffer.from(inner));
    }
  });

  it('should not decapsulate what is not a tunnel', () => {
    const info: TunnelInfo = { innerOffset: -1, vni: -1, kind: 'vxlan' };
    const udp = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 17, sport: 1000, dport: 53, payload: new Uint8Array(30) });
    expect(decapTunnel(udp, 14, info)).toBe(false);
    const noI = buildIpv4Frame({ saddr: 1, daddr: 2, proto: 17, sport: 1000, dport: 8472, payload: new Uint8Array(30) });
    expect(decapTunnel(noI, 14, info)).toBe(false); // VXLAN flags 0: I bit clear
    noI[42] = 0x08;
    expect(decapTunnel(noI, 14, info)).toBe(true);
    expect(decapTunnel(noI.subarray(0, 60), 14, info)).toBe(false); // inner Ethernet cut
    expect(decapTunnel(noI, 200, info)).toBe(false);
  });

  it('should prepend into headroom and grow when it runs out', () => {
    const pb = new PacketBuffer(16, 4);
    pb.append(Uint8Array.of(9, 9, 9));
    let at = pb.prepend(4);
    pb.buf.set([1, 2, 3, 4], at);
    at = pb.prepend(8); // beyond the 4-byte headroom: storage moves, so read pb.buf afterwards
    pb.buf.set([5, 6, 7, 8, 5, 6, 7, 8], at);
    pb.append(new Uint8Array(20).fill(7)); // beyond the capacity
    expect(Array.from(pb.data())).toEqual([5, 6, 7, 8, 5, 6, 7, 8, 1, 2, 3, 4, 9, 9, 9, ...new Array(20).fill(7)]);
  });

  it('should spread flow-hash source ports over [min, max) deterministically', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const p = udpFlowSrcPort(0x0a000000 + i, 0xac12000a, 40000 + (i % 7), 443, 6);
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThan(60999);
      seen.add(p);
    }
    expect(seen.size).toBeGreaterThan(4000);
    expect(udpFlowSrcPort(1, 2, 3, 4, 6)).toBe(udpFlowSrcPort(1, 2, 3, 4, 6));
    expect(udpFlowSrcPort(1, 2, 3, 4, 6)).not.toBe(udpFlowSrcPort(1, 2, 4, 3, 6));
    const g = udpFlowSrcPort(1, 2, 3, 4, 17, 1, 65535);
    expect(g).toBeGreaterThanOrEqual(1);
    expect(g).toBeLessThan(65535);
  });
});
