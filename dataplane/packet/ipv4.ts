/**
 * @module dataplane/packet/ipv4
 * IPv4 header (RFC 791), with options and fragments recognised.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |Type of Service|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   Flags: bit 0 reserved ("evil"), bit 1 DF, bit 2 MF.
 * ```
 * Decoded fields: `version`, `ihl` (bytes), `tos`, `len`, `id`, `flags` (3-bit value), `df`,
 * `mf`, `frag` (fragment offset in bytes), `ttl`, `proto`, `checksum`, `checksum_ok`,
 * `src`, `dst`, `options_len`. A total length beyond the captured bytes is kept as declared;
 * the next layers then see only what was captured. A total length of 0 is TSO / BIG TCP
 * (as Wireshark reads it): the packet extends to the end of the captured bytes.
 */

import { ipToString, readIpv4, writeIpv4 } from './addr.ts';
import { csumFold, csumPartial, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './checksum.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const IPV4_HLEN = 20;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;

/** The decoder for an IP protocol number (IPv4 protocol or IPv6 upper-layer next header). */
export function nextForIpProto(proto: number): NextDecoder {
  switch (proto) {
    case IPPROTO_TCP:
      return 'tcp';
    case IPPROTO_UDP:
      return 'udp';
    case IPPROTO_ICMP:
      return 'icmp';
    case 58:
      return 'icmpv6';
    case 4:
      return 'ipv4'; // IP-in-IP
    case 41:
      return 'ipv6';
    default:
      return 'payload';
  }
}

/** Decodes an IPv4 header and bounds the rest of the packet by its total length. */
export function decodeIpv4(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + IPV4_HLEN > st.end) return truncated(st, 'ipv4 header', IPV4_HLEN);
  const vihl = buf[off]!;
  const version = vihl >> 4;
  const ihl = (vihl & 0x0f) * 4;
  if (version !== 4) {
    st.error = `ipv4: version ${version}`;
    return 'payload';
  }
  if (ihl < IPV4_HLEN) {
    st.error = `ipv4: header length ${ihl} < 20`;
    return 'payload';
  }
  if (off + ihl > st.end) return truncated(st, 'ipv4 options', ihl);
  const len = (buf[off + 2]! << 8) | buf[off + 3]!;
  const ff = (buf[off + 6]! << 8) | buf[off + 7]!;
  const proto = buf[off + 9]!;
  const checksum = (buf[off + 10]! << 8) | buf[off + 11]!;
  const frag = (ff & 0x1fff) * 8;
  const mf = (ff & IP_MF) !== 0;
  out.push({
    name: 'ipv4',
    offset: off,
    length: ihl,
    fields: {
      version,
      ihl,
      tos: buf[off + 1]!,
      len,
      id: (buf[off + 4]! << 8) | buf[off + 5]!,
      flags: ff >> 13,
      df: (ff & IP_DF) !== 0,
      mf,
      frag,
      ttl: buf[off + 8]!,
      proto,
      checksum,
      checksum_ok: csumPartial(buf, off, ihl) === 0xffff,
      src: ipToString(readIpv4(buf, off + 12)),
      dst: ipToString(readIpv4(buf, off + 16)),
      options_len: ihl - IPV4_HLEN,
    },
    depth: st.depth,
  });
  if (len === 0) {
    // TSO / BIG TCP: the kernel leaves the total length 0; the captured bytes are the packet.
    st.l3Off = off;
    st.off = off + ihl;
    st.fragment = frag !== 0;
    return frag !== 0 ? 'payload' : nextForIpProto(proto);
  }
  if (len < ihl) {
    st.off = off + ihl;
    st.error = `ipv4: total length ${len} < header length ${ihl}`;
    return 'payload';
  }
  st.l3Off = off;
  st.off = off + ihl;
  st.end = Math.min(st.end, off + len);
  st.fragment = frag !== 0;
  if (frag !== 0) return 'payload';
  return nextForIpProto(proto);
}

/** Options of `encodeIpv4`. */
export interface Ipv4HeaderOptions {
  saddr: number;
  daddr: number;
  proto: number;
  /** Bytes after the 20-byte header (L4 header + payload). */
  payloadLen: number;
  /** @default 64 */
  ttl?: number;
  /** @default 0 */
  id?: number;
  /** @default false */
  df?: boolean;
  /** @default 0 */
  tos?: number;
}

/** Writes a 20-byte IPv4 header (no options) at `off`, header checksum filled. */
export function encodeIpv4(buf: Uint8Array, off: number, o: Ipv4HeaderOptions): void {
  const total = IPV4_HLEN + o.payloadLen;
  const id = o.id ?? 0;
  buf[off] = 0x45;
  buf[off + 1] = o.tos ?? 0;
  buf[off + 2] = total >> 8;
  buf[off + 3] = total & 0xff;
  buf[off + 4] = (id >> 8) & 0xff;
  buf[off + 5] = id & 0xff;
  buf[off + 6] = o.df ? IP_DF >> 8 : 0;
  buf[off + 7] = 0;
  buf[off + 8] = o.ttl ?? 64;
  buf[off + 9] = o.proto;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  writeIpv4(buf, off + 12, o.saddr);
  writeIpv4(buf, off + 16, o.daddr);
  const c = csumFold(csumPartial(buf, off, IPV4_HLEN));
  buf[off + 10] = c >> 8;
  buf[off + 11] = c & 0xff;
}
