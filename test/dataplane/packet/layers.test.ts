/**
 * Layer tests on real packets from the corpus (gopacket style): each fixture is the packet's
 * bytes as a hex dump comment plus a hex literal, and the test asserts the exact layer
 * sequence and the decoded fields.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dissect, findLayer, type Layer } from '../../../dataplane/packet/dissect.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const seq = (ls: Layer[]): string[] => ls.map((l) => (l.depth ? `${l.depth}:${l.name}` : l.name));

// vxlan.pcap packet 1, link type 1, 148 bytes: ICMP echo request inside VXLAN (UDP 4789, VNI 100)
// 0000  00 16 3e 08 71 cf 36 dc 85 1e b3 40 08 00 45 00
// 0010  00 86 d2 c0 40 00 40 11 51 52 c0 a8 cb 01 c0 a8
// 0020  ca 01 b0 5d 12 b5 00 72 00 00 08 00 00 00 00 00
// 0030  64 00 00 30 88 01 00 02 00 16 3e 37 f6 04 08 00
// 0040  45 00 00 54 00 00 40 00 40 01 23 4f c0 a8 cb 03
// 0050  c0 a8 cb 05 08 00 f6 f2 05 0c 00 01 fc e2 97 51
// 0060  00 00 00 00 a6 f8 02 00 00 00 00 00 10 11 12 13
// 0070  14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
// 0080  24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33
// 0090  34 35 36 37
const VXLAN_ICMP =
  '00163e0871cf36dc851eb340080045000086d2c0400040115152c0a8cb01c0a8ca01b05d12b500720000080000000000640000308801000200163e37f604080045000054000040004001234fc0a8cb03c0a8cb050800f6f2050c0001fce2975100000000a6f8020000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637';

// geneve.pcap packet 1, link type 1, 156 bytes: ICMP echo request inside Geneve (VNI 10, one
// critical option class 0x0000 type 0x80)
// 0000  00 1b 21 3c ac 30 00 1b 21 3c ab 64 08 00 45 00
// 0010  00 8e df ad 40 00 40 11 32 af 14 00 00 01 14 00
// 0020  00 02 31 4a 17 c1 00 7a 00 00 02 40 65 58 00 00
// 0030  0a 00 00 00 80 01 00 00 00 0c fe 71 d8 83 72 4f
// 0040  b6 9e d2 49 51 48 08 00 45 00 00 54 bd a2 40 00
// 0050  40 01 41 04 1e 00 00 01 1e 00 00 02 08 00 2c 54
// 0060  29 52 00 17 f1 a2 ce 54 00 00 00 00 17 78 0c 00
// 0070  00 00 00 00 10 11 12 13 14 15 16 17 18 19 1a 1b
// 0080  1c 1d 1e 1f 20 21 22 23 24 25 26 27 28 29 2a 2b
// 0090  2c 2d 2e 2f 30 31 32 33 34 35 36 37
const GENEVE_ICMP =
  '001b213cac30001b213cab6408004500008edfad4000401132af1400000114000002314a17c1007a00000240655800000a00000080010000000cfe71d883724fb69ed2495148080045000054bda24000400141041e0000011e00000208002c5429520017f1a2ce540000000017780c0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637';

// geneve-gcp.pcap packet 1, link type 1, 130 bytes: Geneve with three GCP options carrying a
// bare IPv4/TCP packet (protocol type 0x0800)
// 0000  42 01 c0 a8 64 03 42 01 c0 a8 64 fe 08 00 45 00
// 0010  00 74 00 00 40 00 02 11 2e 27 c0 a8 64 fe c0 a8
// 0020  64 03 f5 fe 17 c1 00 60 00 00 0a 00 08 00 00 00
// 0030  00 00 01 32 01 01 80 00 00 d1 01 32 02 04 08 00
// 0040  00 0d c0 a8 64 02 00 00 00 00 00 00 00 00 01 32
// 0050  03 02 00 00 00 00 00 00 12 34 45 00 00 28 d9 44
// 0060  00 00 40 06 58 37 c0 a8 64 02 c0 a8 64 01 0b 59
// 0070  1f 90 2d 5a de 40 78 e9 bf da 50 00 02 00 f5 47
// 0080  00 00
const GENEVE_GCP =
  '4201c0a864034201c0a864fe0800450000740000400002112e27c0a864fec0a86403f5fe17c1006000000a0008000000000001320101800000d1013202040800000dc0a86402000000000000000001320302000000000000123445000028d944000040065837c0a86402c0a864010b591f902d5ade4078e9bfda50000200f5470000';

// ipv6-routing-header.pcap packet 1, link type 1, 86 bytes: ICMPv6 echo behind a type 0
// routing header with one segment left
// 0000  00 13 c4 c7 84 f0 00 12 3f ae 22 f7 86 dd 60 00
// 0010  00 00 00 20 2b 04 22 00 00 00 00 00 02 44 02 12
// 0020  3f ff fe ae 22 f7 22 00 00 00 00 00 02 40 00 02
// 0030  00 00 00 00 00 04 3a 02 00 01 00 00 00 00 22 00
// 0040  00 00 00 00 02 10 00 02 00 00 00 00 00 04 80 00
// 0050  d3 ab 00 00 00 00
const IPV6_RTHDR =
  '0013c4c784f000123fae22f786dd6000000000202b04220000000000024402123ffffeae22f7220000000000024000020000000000043a02000100000000220000000000021000020000000000048000d3ab00000000';

// tcp-handshake-nano.pcap packet 1, link type 113 (Linux SLL), 76 bytes: TCP SYN with options
// 0000  00 04 02 00 00 00 00 00 00 00 00 00 00 00 08 00
// 0010  45 00 00 3c 29 a9 40 00 40 06 db 5f 83 9b d7 45
// 0020  89 74 51 5e b6 40 00 50 2f 84 2a cb 00 00 00 00
// 0030  a0 02 6a 40 50 c4 00 00 02 04 05 50 04 02 08 0a
// 0040  43 6a 03 62 00 00 00 00 01 03 03 07
const SLL_TCP_SYN =
  '000402000000000000000000000008004500003c29a940004006db5f839bd7458974515eb64000502f842acb00000000a0026a4050c40000020405500402080a436a03620000000001030307';

// LINKTYPE_RAW_ipv6.pcap packet 1, link type 101, 77 bytes: DNS query over IPv6/UDP
// 0000  60 00 00 00 00 25 11 40 20 01 0d b8 00 00 00 00
// 0010  00 00 00 00 00 00 00 01 26 20 00 fe 00 00 00 00
// 0020  00 00 00 00 00 00 00 09 30 39 00 35 00 25 98 b3
// 0030  12 34 01 00 00 01 00 00 00 00 00 00 07 65 78 61
// 0040  6d 70 6c 65 03 63 6f 6d 00 00 01 00 01
const RAW_IPV6_UDP =
  '600000000025114020010db8000000000000000000000001262000fe00000000000000000000000930390035002598b3123401000001000000000000076578616d706c6503636f6d0000010001';

// 802.1ad_QinQ.pcap packet 1, link type 1, 64 bytes: ARP behind an 802.1ad + 802.1Q tag pair
// 0000  ff ff ff ff ff ff 00 20 d2 5a fb 3f 88 a8 00 c8
// 0010  81 00 07 d1 08 06 00 01 08 00 06 04 00 01 00 20
// 0020  d2 5a fb 3f ac 15 4f 61 00 00 00 00 00 00 ac 15
// 0030  4f 64 00 00 00 00 00 00 00 00 00 00 00 00 00 00
const QINQ_ARP =
  'ffffffffffff0020d25afb3f88a800c8810007d1080600010800060400010020d25afb3fac154f61000000000000ac154f640000000000000000000000000000';

describe('layers of real packets', () => {
  it('should decode VXLAN (UDP 4789) down to the inner ICMP echo', () => {
    const ls = dissect(hex(VXLAN_ICMP), 1);
    expect(seq(ls)).toEqual(['eth', 'ipv4', 'udp', 'vxlan', '1:eth', '1:ipv4', '1:icmp', '1:payload']);
    expect(ls[0]!.fields).toEqual({ dst: '00:16:3e:08:71:cf', src: '36:dc:85:1e:b3:40', type: 0x0800 });
    expect(ls[1]!.fields).toMatchObject({ src: '192.168.203.1', dst: '192.168.202.1', ttl: 64, id: 53952, proto: 17, len: 134, df: true, mf: false, frag: 0, checksum: 0x5152, checksum_ok: true });
    expect(ls[2]!.fields).toEqual({ sport: 45149, dport: 4789, len: 114, checksum: 0, checksum_ok: true, checksum_status: 'none' });
    expect(ls[3]!.fields).toEqual({ flags: 0x08, i: true, vni: 100 });
    expect(ls[3]!).toMatchObject({ offset: 42, length: 8, depth: 0 });
    expect(ls[4]!).toMatchObject({ offset: 50, depth: 1 });
    expect(findLayer(ls, 'ipv4', 1)!.fields).toMatchObject({ src: '192.168.203.3', dst: '192.168.203.5', ttl: 64, proto: 1, checksum_ok: true });
    expect(ls[6]!.fields).toEqual({ type: 8, code: 0, checksum: 0xf6f2, checksum_ok: true, checksum_status: 'good', id: 1292, seq: 1 });
    expect(ls[7]!).toMatchObject({ offset: 92, length: 56 });
  });

  it('should decode the same VXLAN packet on the Linux port 8472', () => {
    const b = hex(VXLAN_ICMP);
    b[36] = 8472 >> 8; // UDP destination port (outer UDP checksum is 0, so nothing else changes)
    b[37] = 8472 & 0xff;
    const ls = dissect(b, 1);
    expect(seq(ls)).toEqual(['eth', 'ipv4', 'udp', 'vxlan', '1:eth', '1:ipv4', '1:icmp', '1:payload']);
    expect(ls[2]!.fields.dport).toBe(8472);
    expect(ls[3]!.fields.vni).toBe(100);
  });

  it('should decode Geneve with a critical option (UDP 6081, protocol 0x6558)', () => {
    const ls = dissect(hex(GENEVE_ICMP), 1);
    expect(seq(ls)).toEqual(['eth', 'ipv4', 'udp', 'geneve', '1:eth', '1:ipv4', '1:icmp', '1:payload']);
    expect(ls[3]!.fields).toEqual({ version: 0, optlen: 8, oam: false, critical: true, proto: 0x6558, vni: 10, opt_count: 1, options: '0x0000/0x80:0000000c' });
    expect(ls[3]!).toMatchObject({ offset: 42, length: 16 });
    expect(ls[4]!.fields).toEqual({ dst: 'fe:71:d8:83:72:4f', src: 'b6:9e:d2:49:51:48', type: 0x0800 });
    expect(ls[5]!.fields).toMatchObject({ src: '30.0.0.1', dst: '30.0.0.2', checksum_ok: true });
    expect(ls[6]!.fields).toMatchObject({ type: 8, id: 10578, seq: 23, checksum_ok: true, checksum_status: 'good' });
  });

  it('should decode Geneve options and a bare inner IPv4 (protocol 0x0800)', () => {
    const ls = dissect(hex(GENEVE_GCP), 1);
    expect(seq(ls)).toEqual(['eth', 'ipv4', 'udp', 'geneve', '1:ipv4', '1:tcp']);
    expect(ls[1]!.fields).toMatchObject({ ttl: 2, id: 0, src: '192.168.100.254', dst: '192.168.100.3' });
    expect(ls[3]!.fields).toMatchObject({
      optlen: 40,
      proto: 0x0800,
      vni: 0,
      opt_count: 3,
      options: '0x0132/0x01:800000d1,0x0132/0x02:0800000dc0a864020000000000000000,0x0132/0x03:0000000000001234',
    });
    expect(ls[5]!.fields).toMatchObject({ sport: 2905, dport: 8080, seq: 760929856, ack: 2028584922, flags: 0, window: 512, checksum_status: 'good' });
  });

  it('should walk an IPv6 routing header and verify ICMPv6 against the final destination', () => {
    const ls = dissect(hex(IPV6_RTHDR), 1);
    expect(seq(ls)).toEqual(['eth', 'ipv6', 'ipv6ext', 'icmpv6']);
    expect(ls[1]!.fields).toEqual({ version: 6, tc: 0, flow: 0, plen: 32, nh: 43, hlim: 4, src: '2200::244:212:3fff:feae:22f7', dst: '2200::240:2:0:0:4' });
    expect(ls[2]!.fields).toEqual({ type: 43, nh: 58, rtype: 0, segleft: 1, len: 24 });
    expect(ls[3]!.fields).toEqual({ type: 128, code: 0, checksum: 0xd3ab, checksum_ok: true, checksum_status: 'good', id: 0, seq: 0 });
  });

  it('should decode Linux SLL with TCP options', () => {
    const ls = dissect(hex(SLL_TCP_SYN), 113);
    expect(seq(ls)).toEqual(['sll', 'ipv4', 'tcp']);
    expect(ls[0]!.fields).toEqual({ pkttype: 4, hatype: 512, halen: 0, addr: '', type: 0x0800 });
    expect(ls[2]!.fields).toEqual({
      sport: 46656, dport: 80, seq: 797190859, ack: 0, off: 40, flags: 0x02, window: 27200,
      checksum: 0x50c4, checksum_ok: true, checksum_status: 'good', urg: 0, options_len: 20,
    });
    expect(ls[2]!.length).toBe(40);
  });

  it('should decode raw IPv6 (link type 101) with UDP', () => {
    const ls = dissect(hex(RAW_IPV6_UDP), 101);
    expect(seq(ls)).toEqual(['ipv6', 'udp', 'payload']);
    expect(ls[0]!.fields).toMatchObject({ src: '2001:db8::1', dst: '2620:fe::9', nh: 17, hlim: 64, plen: 37 });
    expect(ls[1]!.fields).toEqual({ sport: 12345, dport: 53, len: 37, checksum: 0x98b3, checksum_ok: true, checksum_status: 'good' });
  });

  it('should decode QinQ tags and leave ARP as payload', () => {
    const ls = dissect(hex(QINQ_ARP), 1);
    expect(seq(ls)).toEqual(['eth', 'vlan', 'vlan', 'payload']);
    expect(ls[0]!.fields.type).toBe(0x88a8);
    expect(ls[1]!.fields).toEqual({ pcp: 0, dei: false, id: 200, type: 0x8100 });
    expect(ls[2]!.fields).toEqual({ pcp: 0, dei: false, id: 2001, type: 0x0806 });
    expect(ls[3]!.fields).toEqual({ len: 42 });
  });

  it('should flag a bad checksum after a one-bit flip', () => {
    const b = hex(SLL_TCP_SYN);
    b[b.length - 1]! ^= 1;
    const tcp = findLayer(dissect(b, 113), 'tcp')!;
    expect(tcp.fields).toMatchObject({ checksum_ok: false, checksum_status: 'bad' });
  });

  it('should end with an error payload layer on truncation, never throw', () => {
    const full = hex(VXLAN_ICMP);
    for (let n = 0; n < full.length; n++) {
      const ls = dissect(full.subarray(0, n), 1);
      const last = ls.at(-1);
      if (n < 92) expect(last?.name).toBe('payload');
      if (n < 14) expect(last?.fields.error).toMatch(/^truncated ethernet header/);
    }
    expect(dissect(full.subarray(0, 60), 1).at(-1)!.fields.error).toMatch(/^truncated ethernet header: need 14 bytes, have 10/);
    expect(dissect(new Uint8Array(4), 147)).toEqual([{ name: 'payload', offset: 0, length: 4, fields: { len: 4, error: 'not decoded: link type 147' }, depth: 0 }]);
  });

  it('should never throw on mutated fixtures and random bytes, whatever the link type', () => {
    const fixtures = [VXLAN_ICMP, GENEVE_ICMP, GENEVE_GCP, IPV6_RTHDR, SLL_TCP_SYN, RAW_IPV6_UDP, QINQ_ARP].map(hex);
    const linkTypes = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147];
    fc.assert(
      fc.property(
        fc.nat({ max: fixtures.length - 1 }),
        fc.array(fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }), { maxLength: 8 }),
        fc.nat(),
        fc.constantFrom(...linkTypes),
        (fi, muts, cut, lt) => {
          const b = fixtures[fi]!.slice();
          for (const m of muts) b[m.at % b.length] = m.v;
          const ls = dissect(b.subarray(0, cut % (b.length + 1)), lt);
          expect(String(ls.at(-1)?.fields.error ?? '')).not.toMatch(/^internal/);
          for (const l of ls) {
            expect(l.offset).toBeGreaterThanOrEqual(0);
            expect(l.offset + l.length).toBeLessThanOrEqual(b.length);
          }
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...linkTypes), (b, lt) => {
        expect(String(dissect(b, lt).at(-1)?.fields.error ?? '')).not.toMatch(/^internal/);
      }),
      { numRuns: 2000 },
    );
  });
});
