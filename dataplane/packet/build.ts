/**
 * @module dataplane/packet/build
 * Building packets inside-out (gopacket's `SerializeBuffer`): the payload goes in first,
 * then each header is *prepended* into headroom, so encapsulating never copies the payload
 * more than once. Prepended bytes are not zeroed: every encoder writes every byte of its
 * header.
 *
 * Choices, documented here because captures show them:
 * - `buildIpv4Frame` sets IPv4 DF by default (Linux sockets use path-MTU discovery,
 *   `IP_PMTUDISC_WANT`) and does not pad short frames to 60 bytes (a capture on the sending
 *   host shows them unpadded).
 * - `encapVxlan` / `encapGeneve` leave DF clear and the IP id 0 by default: Linux vxlan and
 *   geneve devices in collect-metadata mode set DF only when the tunnel key asks for it
 *   (`TUNNEL_DONT_FRAGMENT`), and Cilium's `bpf_skb_set_tunnel_key` call does not. The outer
 *   UDP checksum is 0 (`BPF_F_ZERO_CSUM_TX`), TTL 64, TOS 0 (cilium-datapath.md §3).
 */

import { fillChecksums, IPPROTO_TCP, IPPROTO_UDP } from './checksum.ts';
import { encodeEthernet, ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_TEB, ETHERTYPE_VLAN } from './ethernet.ts';
import { encodeGeneve, GENEVE_HLEN } from './geneve.ts';
import { encodeIcmp, ICMP_ECHO, ICMP_HLEN } from './icmp.ts';
import { encodeIpv4, IPV4_HLEN } from './ipv4.ts';
import { GENEVE_PORT, tunnelKindForPort, VXLAN_PORT_LINUX } from './ports.ts';
import { encodeTcp, TCP_ACK, TCP_HLEN } from './tcp.ts';
import { encodeUdp, UDP_HLEN } from './udp.ts';
import { encodeVlan, VLAN_HLEN } from './vlan.ts';
import { encodeVxlan, VXLAN_FLAG_I, VXLAN_HLEN } from './vxlan.ts';

/**
 * A byte buffer with headroom for prepending headers. `buf[start..end)` is the packet;
 * `prepend` and `append` grow the storage (doubling) when needed, which moves `buf`.
 *
 * @example
 * const pb = new PacketBuffer(2048, 128);
 * pb.append(payload);
 * const at = pb.prepend(8); encodeUdp(pb.buf, at, 1234, 53, payload.length);
 */
export class PacketBuffer {
  /** The storage; offsets returned by `prepend` index into it. */
  buf: Uint8Array;
  start: number;
  end: number;

  /**
   * @param capacity initial storage size. @default 2048
   * @param headroom bytes reserved in front for headers. @default 128
   */
  constructor(capacity = 2048, headroom = 128) {
    this.buf = new Uint8Array(Math.max(capacity, headroom));
    this.start = headroom;
    this.end = headroom;
  }

  /** The packet bytes, a view into `buf` (valid until the next prepend/append that grows). */
  data(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** Empties the buffer, keeping `headroom` bytes in front. */
  reset(headroom = 128): void {
    if (headroom > this.buf.length) this.buf = new Uint8Array(headroom * 2);
    this.start = headroom;
    this.end = headroom;
  }

  /** Copies `bytes` to the end of the packet. */
  append(bytes: Uint8Array): void {
    if (this.end + bytes.length > this.buf.length) this.grow(0, this.end + bytes.length - this.buf.length);
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /**
   * Makes room for `len` bytes in front of the packet; returns their offset in `buf`.
   * Growing replaces `buf`: read `pb.buf` after the call (`pb.buf.set(x, pb.prepend(n))`
   * evaluates `pb.buf` first and writes into the old storage).
   */
  prepend(len: number): number {
    if (len > this.start) this.grow(len - this.start + 64, 0);
    this.start -= len;
    return this.start;
  }

  private grow(front: number, back: number): void {
    const n = new Uint8Array(Math.max(this.buf.length * 2, this.buf.length + front + back));
    // Extra front room goes in front; the rest of the growth lands at the back.
    n.set(this.buf.subarray(this.start, this.end), this.start + front);
    this.buf = n;
    this.start += front;
    this.end += front;
  }
}

/** Options of `buildIpv4Frame`. */
export interface Ipv4FrameOptions {
  /** @default '02:00:00:00:00:01' */
  srcMac?: string;
  /** @default '02:00:00:00:00:02' */
  dstMac?: string;
  saddr: number;
  daddr: number;
  proto: 6 | 17 | 1;
  /** TCP/UDP ports. @default 0 */
  sport?: number;
  dport?: number;
  /** @default TCP_ACK (0x10) */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  /** @default 64240 */
  window?: number;
  /** @default 8 (echo request) */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  /** @default 64 */
  ttl?: number;
  /** IPv4 identification. @default 0 */
  id?: number;
  /** @default true */
  df?: boolean;
  payload?: Uint8Array;
  /** Leave the UDP checksum at 0 ("not computed"). @default false */
  udpZeroChecksum?: boolean;
  /** Insert an 802.1Q tag with this VLAN id. */
  vlan?: number;
}

/**
 * Builds an Ethernet frame carrying IPv4 + TCP/UDP/ICMP with every checksum filled.
 *
 * @example
 * buildIpv4Frame({ saddr: parseIpv4('10.0.0.31'), daddr: parseIpv4('172.18.0.10'), proto: 6, sport: 40000, dport: 80, tcpFlags: TCP_SYN })
 */
export function buildIpv4Frame(o: Ipv4FrameOptions): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const l4h = o.proto === IPPROTO_TCP ? TCP_HLEN : o.proto === IPPROTO_UDP ? UDP_HLEN : ICMP_HLEN;
  const l2 = ETH_HLEN + (o.vlan !== undefined ? VLAN_HLEN : 0);
  const pb = new PacketBuffer(l2 + IPV4_HLEN + l4h + payload.length, l2 + IPV4_HLEN + l4h);
  pb.append(payload);
  const l4Off = pb.prepend(l4h);
  const b = pb.buf;
  if (o.proto === IPPROTO_TCP) {
    encodeTcp(b, l4Off, { sport: o.sport ?? 0, dport: o.dport ?? 0, seq: o.seq, ack: o.ack, flags: o.tcpFlags ?? TCP_ACK, window: o.window });
  } else if (o.proto === IPPROTO_UDP) {
    encodeUdp(b, l4Off, o.sport ?? 0, o.dport ?? 0, payload.length);
  } else {
    encodeIcmp(b, l4Off, o.icmpType ?? ICMP_ECHO, o.icmpCode ?? 0, o.icmpId ?? 0, o.icmpSeq ?? 0);
  }
  const l3Off = pb.prepend(IPV4_HLEN);
  encodeIpv4(b, l3Off, {
    saddr: o.saddr,
    daddr: o.daddr,
    proto: o.proto,
    payloadLen: l4h + payload.length,
    ttl: o.ttl,
    id: o.id,
    df: o.df ?? true,
  });
  if (o.vlan !== undefined) encodeVlan(b, pb.prepend(VLAN_HLEN), o.vlan, ETHERTYPE_IPV4);
  encodeEthernet(b, pb.prepend(ETH_HLEN), o.dstMac ?? '02:00:00:00:00:02', o.srcMac ?? '02:00:00:00:00:01', o.vlan !== undefined ? ETHERTYPE_VLAN : ETHERTYPE_IPV4);
  fillChecksums(b, l3Off);
  if (o.proto === IPPROTO_UDP && o.udpZeroChecksum) {
    b[l4Off + 6] = 0;
    b[l4Off + 7] = 0;
  }
  return pb.data();
}

/** Options of `encapVxlan` (outer headers). */
export interface TunnelEncapOptions {
  srcMac: string;
  dstMac: string;
  /** Outer source (the sending node's IP). */
  saddr: number;
  /** Outer destination (the tunnel endpoint). */
  daddr: number;
  /** Outer UDP source port, e.g. from `udpFlowSrcPort`. */
  sport: number;
  /** Outer UDP destination port. @default 8472 for VXLAN, 6081 for Geneve */
  dport?: number;
  /** 24-bit VNI (Cilium: the source security identity). */
  vni: number;
  /** @default 64 */
  ttl?: number;
  /** @default 0 */
  id?: number;
  /** @default false (see the module comment) */
  df?: boolean;
}

/** Options of `encapGeneve`. */
export interface GeneveEncapOptions extends TunnelEncapOptions {
  /** Encoded option TLVs (see `geneveOption`), a multiple of 4 bytes. */
  options?: Uint8Array;
}

/** Outer headers in front of the tunnel header: Ethernet + IPv4 + UDP (42 bytes). */
const OUTER_HDR = ETH_HLEN + IPV4_HLEN + UDP_HLEN;

/** `inner` as a PacketBuffer: itself (prepended in place), or a copy with room in front. */
function innerBuffer(inner: Uint8Array | PacketBuffer, room: number): PacketBuffer {
  if (inner instanceof PacketBuffer) return inner;
  const pb = new PacketBuffer(room + inner.length, room);
  pb.append(inner);
  return pb;
}

/** Prepends `len` bytes written by `encode`; if it throws (a bad VNI), `pb` is left as it was. */
function prependChecked(pb: PacketBuffer, len: number, encode: (at: number) => void): void {
  const at = pb.prepend(len);
  try {
    encode(at);
  } catch (err) {
    pb.start += len;
    throw err;
  }
}

/** Prepends Ethernet + IPv4 + UDP in front of a tunnel header already in `pb`. */
function prependOuter(pb: PacketBuffer, o: TunnelEncapOptions, dport: number): void {
  const udpPayloadLen = pb.end - pb.start;
  const at = pb.prepend(OUTER_HDR);
  const out = pb.buf;
  encodeEthernet(out, at, o.dstMac, o.srcMac, ETHERTYPE_IPV4);
  encodeIpv4(out, at + ETH_HLEN, {
    saddr: o.saddr,
    daddr: o.daddr,
    proto: IPPROTO_UDP,
    payloadLen: UDP_HLEN + udpPayloadLen,
    ttl: o.ttl ?? 64,
    id: o.id ?? 0,
    df: o.df ?? false,
  });
  encodeUdp(out, at + ETH_HLEN + IPV4_HLEN, o.sport, dport, udpPayloadLen); // checksum stays 0
}

/**
 * Wraps the Ethernet frame `inner` in Ethernet + IPv4 + UDP + VXLAN (50 bytes), prepended
 * in front of it: given a PacketBuffer the frame is not copied at all (it must hold only
 * the frame; it then holds the whole packet); given bytes, they are copied once into a new
 * buffer. The outer IPv4 checksum is filled, the UDP checksum is 0. Throws a RangeError if
 * the VNI exceeds 24 bits or the result exceeds 65535 IP bytes.
 */
export function encapVxlan(inner: Uint8Array | PacketBuffer, o: TunnelEncapOptions): Uint8Array {
  const innerLen = inner instanceof PacketBuffer ? inner.end - inner.start : inner.length;
  const ipLen = IPV4_HLEN + UDP_HLEN + VXLAN_HLEN + innerLen;
  if (ipLen > 0xffff) throw new RangeError(`VXLAN packet of ${ipLen} IP bytes exceeds 65535`);
  const pb = innerBuffer(inner, OUTER_HDR + VXLAN_HLEN);
  prependChecked(pb, VXLAN_HLEN, (at) => encodeVxlan(pb.buf, at, o.vni));
  prependOuter(pb, o, o.dport ?? VXLAN_PORT_LINUX);
  return pb.data();
}

/**
 * Wraps the Ethernet frame `inner` in Ethernet + IPv4 + UDP + Geneve (protocol 0x6558,
 * with `options`). Same outer rules, and the same in-place prepending, as `encapVxlan`;
 * default port 6081.
 */
export function encapGeneve(inner: Uint8Array | PacketBuffer, o: GeneveEncapOptions): Uint8Array {
  const glen = GENEVE_HLEN + (o.options?.length ?? 0);
  const innerLen = inner instanceof PacketBuffer ? inner.end - inner.start : inner.length;
  const ipLen = IPV4_HLEN + UDP_HLEN + glen + innerLen;
  if (ipLen > 0xffff) throw new RangeError(`Geneve packet of ${ipLen} IP bytes exceeds 65535`);
  const pb = innerBuffer(inner, OUTER_HDR + glen);
  prependChecked(pb, glen, (at) => encodeGeneve(pb.buf, at, o.vni, o.options, ETHERTYPE_TEB));
  prependOuter(pb, o, o.dport ?? GENEVE_PORT);
  return pb.data();
}

/** Result of `decapTunnel` (a reusable out-parameter). */
export interface TunnelInfo {
  /** Offset of the inner Ethernet frame in the outer frame. */
  innerOffset: number;
  vni: number;
  kind: 'vxlan' | 'geneve';
}

/**
 * Finds the inner Ethernet frame of a VXLAN (UDP 4789/8472) or Geneve (UDP 6081, protocol
 * 0x6558) packet whose outer IPv4 or IPv6 header is at `l3Off`. Returns false (and leaves
 * `out` alone) when it is not such a packet: another protocol or port, a fragment, a VXLAN
 * header without the I flag, a Geneve version other than 0 or a non-Ethernet payload, or
 * fewer than 14 bytes of inner frame. No allocation.
 */
export function decapTunnel(frame: Uint8Array, l3Off: number, out: TunnelInfo): boolean {
  if (l3Off < 0 || l3Off + 20 > frame.length) return false;
  let udp: number;
  let end: number;
  const v = frame[l3Off]! >> 4;
  if (v === 4) {
    const ihl = (frame[l3Off]! & 0x0f) * 4;
    if (ihl < 20 || frame[l3Off + 9] !== IPPROTO_UDP) return false;
    if ((((frame[l3Off + 6]! << 8) | frame[l3Off + 7]!) & 0x3fff) !== 0) return false;
    udp = l3Off + ihl;
    end = Math.min(frame.length, l3Off + ((frame[l3Off + 2]! << 8) | frame[l3Off + 3]!));
  } else if (v === 6) {
    // Extension headers in front of a tunnel's UDP are not expected: only a direct UDP header.
    if (l3Off + 40 > frame.length || frame[l3Off + 6] !== IPPROTO_UDP) return false;
    udp = l3Off + 40;
    end = Math.min(frame.length, udp + ((frame[l3Off + 4]! << 8) | frame[l3Off + 5]!));
  } else return false;
  if (udp + UDP_HLEN + 8 > end) return false;
  const kind = tunnelKindForPort((frame[udp + 2]! << 8) | frame[udp + 3]!);
  const t = udp + UDP_HLEN;
  let inner: number;
  if (kind === 'vxlan') {
    if ((frame[t]! & VXLAN_FLAG_I) === 0) return false;
    inner = t + VXLAN_HLEN;
  } else if (kind === 'geneve') {
    if (frame[t]! >> 6 !== 0) return false;
    if (((frame[t + 2]! << 8) | frame[t + 3]!) !== ETHERTYPE_TEB) return false;
    inner = t + GENEVE_HLEN + (frame[t]! & 0x3f) * 4;
  } else return false;
  if (inner + ETH_HLEN > end) return false;
  out.innerOffset = inner;
  out.vni = (frame[t + 4]! << 16) | (frame[t + 5]! << 8) | frame[t + 6]!;
  out.kind = kind;
  return true;
}

function rol32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Linux `jhash_3words` (include/linux/jhash.h): a, b, c and an initval mixed by
 * `__jhash_final`. Exported for tests and other flow hashes.
 */
export function jhash3(a: number, b: number, c: number, initval: number): number {
  const iv = (initval + 0xdeadbeef + (3 << 2)) >>> 0;
  a = (a + iv) >>> 0;
  b = (b + iv) >>> 0;
  c = (c + iv) >>> 0;
  c = ((c ^ b) - rol32(b, 14)) >>> 0;
  a = ((a ^ c) - rol32(c, 11)) >>> 0;
  b = ((b ^ a) - rol32(a, 25)) >>> 0;
  c = ((c ^ b) - rol32(b, 16)) >>> 0;
  a = ((a ^ c) - rol32(c, 4)) >>> 0;
  b = ((b ^ a) - rol32(a, 14)) >>> 0;
  c = ((c ^ b) - rol32(b, 24)) >>> 0;
  return c;
}

/**
 * A kernel-like outer UDP source port for a tunnelled flow (`udp_flow_src_port()`,
 * include/net/udp.h): hash the inner 5-tuple, fold with `hash ^= hash << 16`, then scale
 * into [min, max) with `((hash * (max - min)) >> 32) + min`. The hash is `jhash_3words`
 * over (saddr, daddr, sport << 16 | dport) with the protocol as initval: deterministic and
 * well spread, but **not** the kernel's skb flow hash (which is seeded per boot by
 * `flow_keys_dissector` / `hashrnd`), so real captures' port values are not reproduced.
 * VXLAN uses the local port range 32768..60999 (the defaults here); Geneve uses [1, 65535).
 */
export function udpFlowSrcPort(saddr: number, daddr: number, sport: number, dport: number, proto: number, min = 32768, max = 60999): number {
  let hash = jhash3(saddr >>> 0, daddr >>> 0, (((sport & 0xffff) << 16) | (dport & 0xffff)) >>> 0, proto >>> 0);
  hash = (hash ^ (hash << 16)) >>> 0;
  if (max <= min) return min;
  // (u64)hash * range >> 32, exact in doubles since both factors are below 2^32 and 2^17.
  return Math.floor((hash * (max - min)) / 0x100000000) + min;
}
