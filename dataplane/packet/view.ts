/**
 * @module dataplane/packet/view
 * The hot-path IPv4 view: one reused object per program, `parse` reads the header fields
 * straight off the bytes, the setters rewrite in place and update checksums incrementally
 * the way Cilium does (cilium-datapath.md §8; `bpf/lib/csum.h`, `bpf/lib/nat.h`,
 * `bpf/lib/ipv4.h`):
 *
 * - L3: the IPv4 header checksum is adjusted by the address (or TTL) diff.
 * - TCP/UDP: an address change goes into the L4 checksum through the pseudo-header
 *   (`BPF_F_PSEUDO_HDR`); a port change is a 2-byte replace (`l4_modify_port`).
 * - UDP (`BPF_F_MARK_MANGLED_0`): a checksum of 0 ("none") stays 0; an update that computes
 *   0 writes 0xFFFF (`CSUM_MANGLED_0`).
 * - ICMP has no pseudo-header: address changes leave its checksum alone; only an echo
 *   identifier change (our `setSport`/`setDport` on echo request/reply) updates it.
 * - A non-first fragment has no L4 header: `l4Off = -1`, ports 0, and only L3 is touched.
 * - Pre-existing checksum errors (offload-partial captures) stay exactly as wrong as they
 *   were, since nothing is recomputed from scratch.
 *
 * No allocation in `parse` or the setters.
 *
 * Packets cut by the capture's snap length are accepted when the L4 header is present:
 * the header rewrite and the incremental update remain exact for the part that exists.
 * `l4Len` is then the number of L4 bytes present, not the IP-declared length.
 */

import { csumReplace16, csumReplace32, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './checksum.ts';
import { readIpv4, writeIpv4 } from './addr.ts';

export { ipToString, parseIpv4 } from './addr.ts';

/** Cilium's DROP_INVALID ("Invalid packet"), as the BPF return value. */
export const DROP_INVALID = -134;

const ICMP_ECHOREPLY = 0;
const ICMP_ECHO = 8;

/** Minimum L4 header bytes we need to read ports and write the checksum. */
function l4MinLen(proto: number): number {
  if (proto === IPPROTO_TCP) return 20;
  if (proto === IPPROTO_UDP || proto === IPPROTO_ICMP) return 8;
  return 0;
}

/** A reusable parse-and-rewrite view of one IPv4 packet (see the module comment for the rules). */
export class Ipv4View {
  buf: Uint8Array = new Uint8Array(0);
  l3Off = 0;
  /** Offset of the L4 header, -1 when there is none (non-first fragment). */
  l4Off = -1;
  /** Header length in bytes. */
  ihl = 0;
  totalLen = 0;
  ttl = 0;
  proto = 0;
  saddr = 0;
  daddr = 0;
  /** More-fragments set or a non-zero fragment offset. */
  isFragment = false;
  moreFragments = false;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  /** TCP/UDP source port; ICMP echo request/reply: the identifier; else 0. */
  sport = 0;
  /** TCP/UDP destination port; ICMP echo request/reply: the identifier; else 0. */
  dport = 0;
  tcpFlags = 0;
  icmpType = 0;
  icmpCode = 0;
  /** Bytes of L4 header + payload present (bounded by both the IP length and the buffer). */
  l4Len = 0;
  /** One past the frame's last byte in `buf` (`buf.length` unless parse was given an end). */
  end = 0;

  /**
   * Parses the IPv4 packet at `l3Off` of `buf`. Returns 0, or `DROP_INVALID` (-134) when the
   * IPv4 header is short, not version 4, has IHL < 5, a total length below the header length,
   * or (first fragment / unfragmented) the TCP/UDP/ICMP header is not all there.
   * `end` (default `buf.length`) bounds the frame when `buf` is a larger window, such as a
   * reader's (`rec.buf`, with `l3Off = rec.dataOffset + l3Offset`, `end = rec.dataOffset +
   * rec.caplen`), so no per-packet view is needed.
   */
  parse(buf: Uint8Array, l3Off: number, end: number = buf.length): number {
    this.buf = buf;
    this.l3Off = l3Off;
    this.end = end;
    this.l4Off = -1;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.l4Len = 0;
    if (l3Off < 0 || l3Off + 20 > end) return DROP_INVALID;
    const vihl = buf[l3Off]!;
    const ihl = (vihl & 0x0f) * 4;
    if (vihl >> 4 !== 4 || ihl < 20 || l3Off + ihl > end) return DROP_INVALID;
    let totalLen = (buf[l3Off + 2]! << 8) | buf[l3Off + 3]!;
    // 0 is TSO / BIG TCP (the kernel's tot_len for > 64 KiB): the buffer holds the packet.
    if (totalLen === 0) totalLen = end - l3Off;
    if (totalLen < ihl) return DROP_INVALID;
    this.ihl = ihl;
    this.totalLen = totalLen;
    this.ttl = buf[l3Off + 8]!;
    const proto = buf[l3Off + 9]!;
    this.proto = proto;
    this.saddr = readIpv4(buf, l3Off + 12);
    this.daddr = readIpv4(buf, l3Off + 16);
    const ff = (buf[l3Off + 6]! << 8) | buf[l3Off + 7]!;
    this.moreFragments = (ff & 0x2000) !== 0;
    this.fragOffset = (ff & 0x1fff) * 8;
    this.isFragment = this.moreFragments || this.fragOffset !== 0;
    if (this.fragOffset !== 0) return 0;

    const l4Off = l3Off + ihl;
    const l4Len = Math.min(l3Off + totalLen, end) - l4Off;
    if (l4Len < l4MinLen(proto)) return DROP_INVALID;
    this.l4Off = l4Off;
    this.l4Len = l4Len;
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
      this.sport = (buf[l4Off]! << 8) | buf[l4Off + 1]!;
      this.dport = (buf[l4Off + 2]! << 8) | buf[l4Off + 3]!;
      if (proto === IPPROTO_TCP) this.tcpFlags = buf[l4Off + 13]!;
    } else if (proto === IPPROTO_ICMP) {
      this.icmpType = buf[l4Off]!;
      this.icmpCode = buf[l4Off + 1]!;
      if (this.icmpType === ICMP_ECHO || this.icmpType === ICMP_ECHOREPLY) {
        const id = (buf[l4Off + 4]! << 8) | buf[l4Off + 5]!;
        this.sport = id;
        this.dport = id;
      }
    }
    return 0;
  }

  /** Rewrites the source address; updates the IP checksum and the TCP/UDP pseudo-header part. */
  setSaddr(addr: number): void {
    addr >>>= 0;
    this.rewriteAddr(this.l3Off + 12, this.saddr, addr);
    this.saddr = addr;
  }

  /** Rewrites the destination address; updates the IP checksum and the TCP/UDP pseudo-header part. */
  setDaddr(addr: number): void {
    addr >>>= 0;
    this.rewriteAddr(this.l3Off + 16, this.daddr, addr);
    this.daddr = addr;
  }

  /** Rewrites the TCP/UDP source port (ICMP echo: the identifier, so both ports change). */
  setSport(port: number): void {
    port &= 0xffff;
    if (this.rewritePort(0, this.sport, port)) {
      this.sport = port;
      if (this.proto === IPPROTO_ICMP) this.dport = port;
    }
  }

  /** Rewrites the TCP/UDP destination port (ICMP echo: the identifier, so both ports change). */
  setDport(port: number): void {
    port &= 0xffff;
    if (this.rewritePort(2, this.dport, port)) {
      this.dport = port;
      if (this.proto === IPPROTO_ICMP) this.sport = port;
    }
  }

  /**
   * Decrements the TTL and adjusts the IP checksum (`ipv4_dec_ttl`). Returns false, leaving
   * the packet unchanged, when the TTL is already <= 1 (the caller drops with DROP_INVALID).
   */
  decTtl(): boolean {
    if (this.ttl <= 1) return false;
    const b = this.buf;
    const o = this.l3Off;
    const oldWord = (this.ttl << 8) | this.proto;
    this.ttl -= 1;
    b[o + 8] = this.ttl;
    this.writeIpCheck(csumReplace16(this.readIpCheck(), oldWord, (this.ttl << 8) | this.proto));
    return true;
  }

  private readIpCheck(): number {
    return (this.buf[this.l3Off + 10]! << 8) | this.buf[this.l3Off + 11]!;
  }

  private writeIpCheck(c: number): void {
    this.buf[this.l3Off + 10] = c >> 8;
    this.buf[this.l3Off + 11] = c & 0xff;
  }

  private rewriteAddr(at: number, oldAddr: number, newAddr: number): void {
    const b = this.buf;
    writeIpv4(b, at, newAddr);
    this.writeIpCheck(csumReplace32(this.readIpCheck(), oldAddr, newAddr));
    const l4 = this.l4Off;
    if (l4 < 0) return;
    if (this.proto === IPPROTO_TCP) {
      const c = (b[l4 + 16]! << 8) | b[l4 + 17]!;
      const n = csumReplace32(c, oldAddr, newAddr);
      b[l4 + 16] = n >> 8;
      b[l4 + 17] = n & 0xff;
    } else if (this.proto === IPPROTO_UDP) {
      this.udpCsumReplace32(oldAddr, newAddr);
    }
    // ICMP: no pseudo-header, nothing to do.
  }

  private udpCsumReplace32(oldVal: number, newVal: number): void {
    const b = this.buf;
    const at = this.l4Off + 6;
    const c = (b[at]! << 8) | b[at + 1]!;
    if (c === 0) return;
    let n = csumReplace32(c, oldVal, newVal);
    if (n === 0) n = 0xffff;
    b[at] = n >> 8;
    b[at + 1] = n & 0xff;
  }

  /** Returns false when there is no port to rewrite (fragment, other protocol, non-echo ICMP). */
  private rewritePort(portOff: number, oldPort: number, newPort: number): boolean {
    const l4 = this.l4Off;
    if (l4 < 0) return false;
    const b = this.buf;
    let csAt: number;
    let at: number;
    let udp = false;
    if (this.proto === IPPROTO_TCP) {
      at = l4 + portOff;
      csAt = l4 + 16;
    } else if (this.proto === IPPROTO_UDP) {
      at = l4 + portOff;
      csAt = l4 + 6;
      udp = true;
    } else if (this.proto === IPPROTO_ICMP && (this.icmpType === ICMP_ECHO || this.icmpType === ICMP_ECHOREPLY)) {
      at = l4 + 4;
      csAt = l4 + 2;
    } else return false;
    b[at] = newPort >> 8;
    b[at + 1] = newPort & 0xff;
    const c = (b[csAt]! << 8) | b[csAt + 1]!;
    if (udp && c === 0) return true;
    let n = csumReplace16(c, oldPort, newPort);
    if (udp && n === 0) n = 0xffff;
    b[csAt] = n >> 8;
    b[csAt + 1] = n & 0xff;
    return true;
  }
}
