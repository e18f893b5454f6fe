/**
 * NAT of ICMP errors through the quoted packet, in the style of Cilium's
 * bpf/tests/bpf_nat_tests.c (nat4_icmp_error_{tcp,udp,icmp}[_egress]): build the error
 * with its embedded packet, set up the NAT mapping by sending the flow's first packet
 * through the gateway's to-netdev, run the program, then check the verdict, the outer and
 * quoted addresses/ports, and every checksum against a from-scratch build of the expected
 * frame (fillChecksums via buildIpv4Frame) as well as the verifiers.
 *
 * Egress (`snat_v4_nat_handle_icmp_error`): the quoted packet is one the pod *received*
 * (ext -> pod); the quoted destination address/port become egress IP / NAT port, the outer
 * source becomes the egress IP. Ingress (`snat_v4_rev_nat_handle_icmp_error`): the quoted
 * packet is one the gateway *sent* (egress IP -> ext); the quoted source and the outer
 * destination go back to the pod, and the reply hook tunnels it to the pod's node (VNI 2).
 */
import { describe, expect, it } from 'vitest';
import { IDENTITY_WORLD } from '../../../dataplane/cluster/identity.ts';
import {
  CTX_ACT_OK,
  CTX_ACT_REDIRECT,
  DROP_CSUM_L4,
  DROP_NAT_UNSUPP_PROTO,
  DROP_UNKNOWN_ICMP4_CODE,
} from '../../../dataplane/lib/drop.ts';
import { MARK_EGW_DONE, MARK_SNAT_DONE, NEXT_STACK, NEXT_TUNNEL } from '../../../dataplane/node.ts';
import { fromNetdev, toNetdev } from '../../../dataplane/programs/host.ts';
import { ipv4HeaderChecksumOk, l4ChecksumOk } from '../../../dataplane/packet/checksum.ts';
import { buildIpv4Frame } from '../../../dataplane/packet/build.ts';
import { TCP_ACK, TCP_SYN } from '../../../dataplane/packet/tcp.ts';
import type { Profile } from '../../../dataplane/lib/profile.ts';
import {
  cegp,
  cenp,
  CLIENT_IP,
  CLIENT_MAC,
  CLIENT_NODE_IP,
  EGRESS_IP,
  EXTERNAL_SVC_IP,
  EXTERNAL_SVC_PORT,
  fixtureTopology,
  GATEWAY_NODE_IP,
  makeEnv,
  pkt,
  skbOf,
  u16,
  u32,
  type Fixture,
} from '../fixtures.ts';

const IP = 14;
const ICMP = 34;
const IN_IP = ICMP + 8;
const IN_L4 = IN_IP + 20;
/** A pod port outside the NAT range, so the gateway must pick another port (the port rewrite is exercised). */
const POD_PORT = 1000;
const POD_ECHO_ID = 123;
const DEST_UNREACH = 3;
const PORT_UNREACH = 3;
const FRAG_NEEDED = 4;
const TIME_EXCEEDED = 11;
const PARAMETERPROB = 12;

type L4 = 6 | 17 | 1;

/** The IPv4 packet (no Ethernet) a quote is made of, every checksum filled. */
function ipPacket(saddr: number, daddr: number, proto: L4, sport: number, dport: number, o: { icmpType?: number; udpZeroChecksum?: boolean } = {}): Uint8Array {
  const payload = new TextEncoder().encode('quoted payload!!');
  const f = proto === 6
    ? pkt({ saddr, daddr, proto, sport, dport, tcpFlags: TCP_SYN | TCP_ACK, seq: 77, ack: 1001 })
    : proto === 17
      ? pkt({ saddr, daddr, proto, sport, dport, payload, udpZeroChecksum: o.udpZeroChecksum })
      : pkt({ saddr, daddr, proto, icmpType: o.icmpType ?? 0, icmpId: sport, icmpSeq: 7, payload });
  return f.slice(IP);
}

/** PKTGEN: an ICMP error from `saddr` to `daddr` quoting `quoted` (cut to `quoteLen` bytes if given). */
function icmpError(saddr: number, daddr: number, type: number, code: number, quoted: Uint8Array, quoteLen?: number, ttl = 64): Uint8Array {
  const payload = quoteLen === undefined ? quoted : quoted.slice(0, quoteLen);
  // FRAG_NEEDED carries the next-hop MTU in the low 16 bits of the rest-of-header.
  return buildIpv4Frame({ srcMac: CLIENT_MAC, saddr, daddr, proto: 1, icmpType: type, icmpCode: code, icmpId: 0, icmpSeq: code === FRAG_NEEDED ? 1400 : 0, ttl, payload });
}

/** SETUP: the flow's first packet through the gateway's to-netdev; returns the NAT port. */
function mapFlow(f: Fixture, proto: L4): number {
  const first = proto === 1
    ? pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 1, icmpType: 8, icmpId: POD_ECHO_ID, icmpSeq: 1 })
    : pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto, sport: POD_PORT, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN });
  const skb = skbOf(first);
  skb.mark = MARK_EGW_DONE;
  expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
  const b = skb.frame();
  expect(u32(b, IP + 12)).toBe(f.env.profile === '1.17' ? EGRESS_IP : GATEWAY_NODE_IP);
  const port = proto === 1 ? u16(b, ICMP + 4) : u16(b, ICMP);
  expect(port).not.toBe(proto === 1 ? POD_ECHO_ID : POD_PORT);
  return port;
}

function fixture(profile: Profile): Fixture {
  return makeEnv(profile, fixtureTopology(), profile === '1.17' ? cegp() : cenp());
}

/** Every checksum, fully recomputed: outer IPv4, outer ICMP, quoted IPv4 header, quoted L4 (when whole). */
function allChecksumsOk(b: Uint8Array, quotedWhole = true): boolean {
  return ipv4HeaderChecksumOk(b, IP) && l4ChecksumOk(b, IP) && ipv4HeaderChecksumOk(b, IN_IP) && (!quotedWhole || l4ChecksumOk(b, IN_IP));
}

const CASES: { name: string; proto: L4 }[] = [
  { name: 'tcp', proto: 6 },
  { name: 'udp', proto: 17 },
  { name: 'icmp', proto: 1 },
];

/** The packet the pod received (ext -> pod) and the one it stands for after SNAT (ext -> egress IP). */
function receivedByPod(proto: L4, daddr: number, port: number): Uint8Array {
  return proto === 1
    ? ipPacket(EXTERNAL_SVC_IP, daddr, 1, port, 0, { icmpType: 0 })
    : ipPacket(EXTERNAL_SVC_IP, daddr, proto, EXTERNAL_SVC_PORT, port);
}

/** The packet the gateway sent after SNAT (egress IP -> ext), and the pod's original. */
function sentByPod(proto: L4, saddr: number, port: number): Uint8Array {
  return proto === 1
    ? ipPacket(saddr, EXTERNAL_SVC_IP, 1, port, 0, { icmpType: 8 })
    : ipPacket(saddr, EXTERNAL_SVC_IP, proto, port, EXTERNAL_SVC_PORT);
}

describe('nat4_icmp_error_*_egress: gateway to-netdev SNAT of an ICMP error (1.17)', () => {
  for (const c of CASES) {
    it(`nat4_icmp_error_${c.name}_egress: outer saddr and quoted daddr/${c.proto === 1 ? 'echo id' : 'dport'} translated, every checksum valid`, () => {
      const f = fixture('1.17');
      const natPort = mapFlow(f, c.proto);
      const podPort = c.proto === 1 ? POD_ECHO_ID : POD_PORT;
      const type = c.proto === 6 ? DEST_UNREACH : c.proto === 17 ? DEST_UNREACH : TIME_EXCEEDED;
      const code = c.proto === 6 ? FRAG_NEEDED : c.proto === 17 ? PORT_UNREACH : 0;
      const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, type, code, receivedByPod(c.proto, CLIENT_IP, podPort)));
      skb.mark = MARK_EGW_DONE;
      expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
      const b = skb.frame();
      // Outer header.
      expect(b[IP + 9]).toBe(1);
      expect(u32(b, IP + 12)).toBe(EGRESS_IP);
      expect(u32(b, IP + 16)).toBe(EXTERNAL_SVC_IP);
      expect([b[ICMP], b[ICMP + 1]]).toEqual([type, code]);
      // Quoted header: the destination is the flow's source.
      expect(b[IN_IP + 9]).toBe(c.proto);
      expect(u32(b, IN_IP + 12)).toBe(EXTERNAL_SVC_IP);
      expect(u32(b, IN_IP + 16)).toBe(EGRESS_IP);
      if (c.proto === 1) {
        expect(u16(b, IN_L4 + 4)).toBe(natPort);
      } else {
        expect(u16(b, IN_L4)).toBe(EXTERNAL_SVC_PORT);
        expect(u16(b, IN_L4 + 2)).toBe(natPort);
      }
      expect(allChecksumsOk(b)).toBe(true);
      // Byte for byte what a from-scratch build of the translated error gives.
      const expected = icmpError(EGRESS_IP, EXTERNAL_SVC_IP, type, code, receivedByPod(c.proto, EGRESS_IP, natPort));
      expect(Array.from(b)).toEqual(Array.from(expected));
      expect((skb.mark & MARK_SNAT_DONE) !== 0).toBe(true);
      expect(skb.origSaddr).toBe(CLIENT_IP);
    });
  }

  it('nat4_icmp_error_udp_egress with a zero quoted UDP checksum: it stays 0, the outer ICMP checksum stays valid', () => {
    const f = fixture('1.17');
    const natPort = mapFlow(f, 17);
    const quoted = ipPacket(EXTERNAL_SVC_IP, CLIENT_IP, 17, EXTERNAL_SVC_PORT, POD_PORT, { udpZeroChecksum: true });
    const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, DEST_UNREACH, PORT_UNREACH, quoted));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    const b = skb.frame();
    expect(u16(b, IN_L4 + 2)).toBe(natPort);
    expect(u16(b, IN_L4 + 6)).toBe(0);
    expect(allChecksumsOk(b)).toBe(true);
  });

  it('nat4_icmp_error_udp_egress with the 8-byte RFC 792 quote: translated, checksums valid', () => {
    const f = fixture('1.17');
    const natPort = mapFlow(f, 17);
    const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, DEST_UNREACH, PORT_UNREACH, receivedByPod(17, CLIENT_IP, POD_PORT), 28));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    const b = skb.frame();
    expect(u16(b, IN_L4 + 2)).toBe(natPort);
    expect(allChecksumsOk(b, false)).toBe(true);
  });

  it('nat4_icmp_error_tcp_egress with the 8-byte quote: the quoted TCP checksum is cut off, DROP_CSUM_L4 (154)', () => {
    const f = fixture('1.17');
    mapFlow(f, 6);
    const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, DEST_UNREACH, FRAG_NEEDED, receivedByPod(6, CLIENT_IP, POD_PORT), 28));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_CSUM_L4);
  });

  it('unknown codes drop with DROP_UNKNOWN_ICMP4_CODE (143): DEST_UNREACH code 16, TIME_EXCEEDED code 2', () => {
    const f = fixture('1.17');
    mapFlow(f, 17);
    for (const [type, code] of [[DEST_UNREACH, 16], [TIME_EXCEEDED, 2]] as const) {
      const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, type, code, receivedByPod(17, CLIENT_IP, POD_PORT)));
      skb.mark = MARK_EGW_DONE;
      expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_UNKNOWN_ICMP4_CODE);
    }
  });

  it('other ICMP types still drop with DROP_NAT_UNSUPP_PROTO (168)', () => {
    const f = fixture('1.17');
    mapFlow(f, 17);
    const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, PARAMETERPROB, 0, receivedByPod(17, CLIENT_IP, POD_PORT)));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_NAT_UNSUPP_PROTO);
  });

  it('a quoted ICMP type other than echo / echo reply drops with 143', () => {
    const f = fixture('1.17');
    mapFlow(f, 1);
    const quoted = ipPacket(EXTERNAL_SVC_IP, CLIENT_IP, 1, 0, 0, { icmpType: 13 });
    const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, DEST_UNREACH, PORT_UNREACH, quoted));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_UNKNOWN_ICMP4_CODE);
  });

  it('no NAT mapping for the quoted flow, or a quoted echo request: leaves un-NATed (NAT_PUNT_TO_STACK)', () => {
    const f = fixture('1.17');
    for (const quoted of [receivedByPod(17, CLIENT_IP, POD_PORT), ipPacket(EXTERNAL_SVC_IP, CLIENT_IP, 1, POD_ECHO_ID, 0, { icmpType: 8 })]) {
      const before = icmpError(CLIENT_IP, EXTERNAL_SVC_IP, DEST_UNREACH, PORT_UNREACH, quoted);
      const skb = skbOf(before);
      skb.mark = MARK_EGW_DONE;
      expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
      expect(Array.from(skb.frame())).toEqual(Array.from(before));
    }
  });

  it('a quoted protocol other than TCP/UDP/ICMP (here an all-zero quote, protocol 0) drops with DROP_UNKNOWN_L4 (142)', () => {
    const f = fixture('1.17');
    const skb = skbOf(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 1, icmpType: DEST_UNREACH, icmpCode: PORT_UNREACH, payload: new Uint8Array(28) }));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(-142);
  });

  it('1.10 still drops every non-echo ICMP on egress with 168', () => {
    const f = fixture('1.10');
    mapFlow(f, 17);
    const skb = skbOf(icmpError(CLIENT_IP, EXTERNAL_SVC_IP, DEST_UNREACH, PORT_UNREACH, receivedByPod(17, CLIENT_IP, POD_PORT)));
    expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_NAT_UNSUPP_PROTO);
  });
});

describe('nat4_icmp_error_*: gateway from-netdev rev-SNAT of an ICMP error (1.17)', () => {
  for (const c of CASES) {
    it(`nat4_icmp_error_${c.name}: outer daddr and quoted saddr/${c.proto === 1 ? 'echo id' : 'sport'} back to the pod, tunnelled with VNI 2`, () => {
      const f = fixture('1.17');
      const natPort = mapFlow(f, c.proto);
      const podPort = c.proto === 1 ? POD_ECHO_ID : POD_PORT;
      const code = c.proto === 6 ? FRAG_NEEDED : PORT_UNREACH;
      const skb = skbOf(icmpError(EXTERNAL_SVC_IP, EGRESS_IP, DEST_UNREACH, code, sentByPod(c.proto, EGRESS_IP, natPort)));
      expect(fromNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_REDIRECT);
      expect(skb.next).toBe(NEXT_TUNNEL);
      expect(skb.vni).toBe(IDENTITY_WORLD);
      expect(skb.tunnelEndpoint).toBe(CLIENT_NODE_IP);
      const b = skb.frame();
      expect(u32(b, IP + 12)).toBe(EXTERNAL_SVC_IP);
      expect(u32(b, IP + 16)).toBe(CLIENT_IP);
      expect(b[IP + 8]).toBe(63); // ipv4_l3 in the reply hook
      expect(u32(b, IN_IP + 12)).toBe(CLIENT_IP);
      expect(u32(b, IN_IP + 16)).toBe(EXTERNAL_SVC_IP);
      if (c.proto === 1) {
        expect(b[IN_L4]).toBe(8);
        expect(u16(b, IN_L4 + 4)).toBe(podPort);
      } else {
        expect(u16(b, IN_L4)).toBe(podPort);
        expect(u16(b, IN_L4 + 2)).toBe(EXTERNAL_SVC_PORT);
      }
      expect(allChecksumsOk(b)).toBe(true);
      const expected = icmpError(EXTERNAL_SVC_IP, CLIENT_IP, DEST_UNREACH, code, sentByPod(c.proto, CLIENT_IP, podPort), undefined, 63);
      expect(Array.from(b)).toEqual(Array.from(expected));
    });
  }

  it('nat4_icmp_error_tcp with the 8-byte quote: DROP_CSUM_L4 (154)', () => {
    const f = fixture('1.17');
    const natPort = mapFlow(f, 6);
    const skb = skbOf(icmpError(EXTERNAL_SVC_IP, EGRESS_IP, DEST_UNREACH, FRAG_NEEDED, sentByPod(6, EGRESS_IP, natPort), 28));
    expect(fromNetdev(f.env, f.gateway, skb)).toBe(DROP_CSUM_L4);
  });

  it('unknown code, quoted echo reply, no mapping: passed on un-translated to the stack', () => {
    const f = fixture('1.17');
    const natPort = mapFlow(f, 17);
    const frames = [
      icmpError(EXTERNAL_SVC_IP, EGRESS_IP, DEST_UNREACH, 16, sentByPod(17, EGRESS_IP, natPort)),
      icmpError(EXTERNAL_SVC_IP, EGRESS_IP, DEST_UNREACH, PORT_UNREACH, ipPacket(EGRESS_IP, EXTERNAL_SVC_IP, 1, natPort, 0, { icmpType: 0 })),
      icmpError(EXTERNAL_SVC_IP, EGRESS_IP, DEST_UNREACH, PORT_UNREACH, sentByPod(17, EGRESS_IP, natPort + 1)),
    ];
    for (const before of frames) {
      const skb = skbOf(before);
      expect(fromNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
      expect(skb.next).toBe(NEXT_STACK);
      expect(Array.from(skb.frame())).toEqual(Array.from(before));
    }
  });

  it('1.10: the ICMP error is not rev-SNATed (to the stack, bytes unchanged)', () => {
    const f = fixture('1.10');
    const natPort = mapFlow(f, 17);
    const before = icmpError(EXTERNAL_SVC_IP, GATEWAY_NODE_IP, DEST_UNREACH, PORT_UNREACH, sentByPod(17, GATEWAY_NODE_IP, natPort));
    const skb = skbOf(before);
    expect(fromNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    expect(skb.next).toBe(NEXT_STACK);
    expect(Array.from(skb.frame())).toEqual(Array.from(before));
  });
});
