/**
 * @module dataplane/packet/icmp-error
 * The packet quoted inside an ICMPv4 error (DEST_UNREACH, TIME_EXCEEDED; RFC 792, RFC 5508
 * §4.1) and its in-place rewrite, for the NAT of ICMP errors (cilium-datapath.md §5 "ICMP").
 *
 * ```
 *  outer IPv4 | ICMP type code csum, 4 bytes unused/MTU | inner IPv4 header | first bytes of inner L4
 *             ^ outerIcmpOff                           ^ outerIcmpOff + 8
 * ```
 *
 * The rewrite of the quoted packet follows Cilium's `snat_v4_rewrite_headers` applied to
 * the inner headers (`bpf/lib/nat.h`): the address is stored, the inner IPv4 header checksum
 * is adjusted by the address diff, and the inner L4 checksum is adjusted too — TCP/UDP by the
 * port diff and, through the pseudo-header, by the address diff (UDP: a 0 checksum stays 0 and
 * a computed 0 becomes 0xFFFF, `BPF_F_MARK_MANGLED_0`); ICMP echo by the identifier diff only.
 *
 * Every 16-bit word changed inside the ICMP message is also applied to the outer ICMP
 * checksum, so the error stays valid end to end. (Cilium 1.17 leaves the outer ICMP checksum
 * alone here; the correction came later, cilium#43196 for rev-SNAT and cilium#48086 for
 * SNAT. See the README's "Known differences".)
 *
 * All fields touched sit at even offsets from the ICMP header (the inner header starts 8
 * bytes in, its length is a multiple of 4), so word-wise incremental updates are exact.
 * No allocation.
 */

import { csumReplace16, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './checksum.ts';
import { readIpv4 } from './addr.ts';

/** Cilium's DROP_INVALID, as the BPF return value. */
export const DROP_INVALID = -134;
/** Cilium's DROP_CSUM_L4: the embedded L4 checksum field is not in the packet. */
export const DROP_CSUM_L4 = -154;

/** ICMP header length before the quoted packet. */
export const ICMP_ERROR_HLEN = 8;

/** The quoted packet, as read by `parseIcmpErrorInner`. */
export interface IcmpInner {
  /** Offset of the inner IPv4 header. */
  l3Off: number;
  ihl: number;
  proto: number;
  saddr: number;
  daddr: number;
  /** Offset of the inner L4 header. */
  l4Off: number;
  /** Inner L4 bytes present in the packet (bounded by `end`). */
  l4Len: number;
  /** TCP/UDP ports when l4Len >= 4, else 0. */
  sport: number;
  dport: number;
  /** ICMP inner: type when l4Len >= 1, echo identifier when l4Len >= 6, else 0. */
  icmpType: number;
  echoId: number;
}

export function newIcmpInner(): IcmpInner {
  return { l3Off: 0, ihl: 0, proto: 0, saddr: 0, daddr: 0, l4Off: 0, l4Len: 0, sport: 0, dport: 0, icmpType: 0, echoId: 0 };
}

/**
 * Reads the packet quoted by the ICMP error at `outerIcmpOff`; `end` bounds the message.
 * Returns 0, or DROP_INVALID when the 20-byte inner IPv4 header is not all there (Cilium's
 * `ctx_load_bytes` of the `iphdr` failing). The IHL is not checked (Cilium does not either).
 * Protocol-specific length checks are the caller's, since Cilium's differ by protocol.
 */
export function parseIcmpErrorInner(buf: Uint8Array, outerIcmpOff: number, end: number, out: IcmpInner): number {
  const l3 = outerIcmpOff + ICMP_ERROR_HLEN;
  out.l3Off = l3;
  out.sport = 0;
  out.dport = 0;
  out.icmpType = 0;
  out.echoId = 0;
  out.l4Len = 0;
  if (end > buf.length) end = buf.length;
  if (l3 + 20 > end) return DROP_INVALID;
  // Like ipv4_hdrlen() there: the IHL is taken as it is, not validated.
  const ihl = (buf[l3]! & 0x0f) * 4;
  out.ihl = ihl;
  out.proto = buf[l3 + 9]!;
  out.saddr = readIpv4(buf, l3 + 12);
  out.daddr = readIpv4(buf, l3 + 16);
  const l4 = l3 + ihl;
  out.l4Off = l4;
  out.l4Len = Math.max(0, end - l4);
  if (out.l4Len >= 4) {
    out.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
    out.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
  }
  if (out.proto === IPPROTO_ICMP) {
    if (out.l4Len >= 1) out.icmpType = buf[l4]!;
    if (out.l4Len >= 6) out.echoId = (buf[l4 + 4]! << 8) | buf[l4 + 5]!;
  }
  return 0;
}

function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Writes a 16-bit word inside the ICMP message and applies the change to the outer ICMP checksum. */
function put16(b: Uint8Array, at: number, v: number, outerCsAt: number): void {
  const old = get16(b, at);
  if (old === v) return;
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
  const c = csumReplace16(get16(b, outerCsAt), old, v);
  b[outerCsAt] = c >> 8;
  b[outerCsAt + 1] = c & 0xff;
}

/** The inner L4 checksum update for one 16-bit change (UDP: 0 stays 0, a computed 0 is 0xFFFF). */
function l4Replace16(b: Uint8Array, csAt: number, udp: boolean, oldV: number, newV: number, outerCsAt: number): void {
  const c = get16(b, csAt);
  if (udp && c === 0) return;
  let n = csumReplace16(c, oldV, newV);
  if (udp && n === 0) n = 0xffff;
  put16(b, csAt, n, outerCsAt);
}

/**
 * `snat_v4_rewrite_headers` on the quoted packet: the address at `addrOff` of the inner
 * IPv4 header (12 saddr, 16 daddr) becomes `newAddr`, and the 16-bit port at `portOff` of
 * the inner L4 header (TCP/UDP 0 sport, 2 dport; ICMP 4 echo id) becomes `newPort`.
 * Checksums: inner IPv4 header, inner L4 (as the module comment says), outer ICMP.
 *
 * Returns 0, or DROP_CSUM_L4 — with nothing written — when the inner L4 checksum field is
 * not in the packet (a TCP quote shorter than 18 bytes, e.g. the 8 bytes RFC 792 asks for:
 * Cilium's `l4_csum_replace` fails there; cilium#33844, changed after 1.17 by cilium#40194).
 */
export function rewriteIcmpErrorInner(buf: Uint8Array, outerIcmpOff: number, inner: IcmpInner,
  addrOff: number, newAddr: number, portOff: number, newPort: number): number {
  newAddr >>>= 0;
  newPort &= 0xffff;
  const l3 = inner.l3Off;
  const l4 = inner.l4Off;
  const oldAddr = readIpv4(buf, l3 + addrOff);
  const oldPort = get16(buf, l4 + portOff);
  if (oldAddr === newAddr && oldPort === newPort) return 0;
  const proto = inner.proto;
  const csOff = proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : proto === IPPROTO_ICMP ? 2 : -1;
  if (csOff < 0 || inner.l4Len < csOff + 2) return DROP_CSUM_L4;
  const outerCs = outerIcmpOff + 2;
  const csAt = l4 + csOff;
  const udp = proto === IPPROTO_UDP;
  // Port first (l4_modify_port), then the address (csum_l4_replace with the pseudo-header).
  if (oldPort !== newPort) {
    put16(buf, l4 + portOff, newPort, outerCs);
    l4Replace16(buf, csAt, udp, oldPort, newPort, outerCs);
  }
  if (oldAddr !== newAddr) {
    const oh = oldAddr >>> 16;
    const ol = oldAddr & 0xffff;
    const nh = newAddr >>> 16;
    const nl = newAddr & 0xffff;
    put16(buf, l3 + addrOff, nh, outerCs);
    put16(buf, l3 + addrOff + 2, nl, outerCs);
    if (proto !== IPPROTO_ICMP) {
      l4Replace16(buf, csAt, udp, oh, nh, outerCs);
      l4Replace16(buf, csAt, udp, ol, nl, outerCs);
    }
    // ipv4_csum_update_by_diff on the inner header.
    const ipCs = l3 + 10;
    put16(buf, ipCs, csumReplace16(csumReplace16(get16(buf, ipCs), oh, nh), ol, nl), outerCs);
  }
  return 0;
}
