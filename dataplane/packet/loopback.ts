/**
 * @module dataplane/packet/loopback
 * BSD loopback encapsulation: LINKTYPE_NULL (0, a 4-byte address family in the *capturing
 * host's* byte order) and LINKTYPE_LOOP (108, the same in network byte order).
 *
 * ```
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Address family (AF_INET = 2, AF_INET6 = 24/28/30)        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * For NULL the byte order is guessed as libpcap does: a family fits in 16 bits, so a value
 * with the low 16 bits zero is byte-swapped. AF_INET6 differs per OS (24 NetBSD/OpenBSD,
 * 28 FreeBSD, 30 Darwin); all three map to IPv6. Fields: `family`.
 */

import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const NULL_HLEN = 4;

/** Decodes the 4-byte family header; `networkOrder` is true for LINKTYPE_LOOP. */
export function decodeLoopback(st: DecodeState, out: Layer[], networkOrder: boolean): NextDecoder {
  const { buf, off } = st;
  if (off + NULL_HLEN > st.end) return truncated(st, 'loopback header', NULL_HLEN);
  const be = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
  const le = ((buf[off + 3]! << 24) | (buf[off + 2]! << 16) | (buf[off + 1]! << 8) | buf[off]!) >>> 0;
  const family = networkOrder ? be : (be & 0xffff0000) !== 0 ? le : be;
  out.push({ name: 'null', offset: off, length: NULL_HLEN, fields: { family }, depth: st.depth });
  st.off = off + NULL_HLEN;
  if (family === 2) return 'ipv4';
  if (family === 24 || family === 28 || family === 30) return 'ipv6';
  st.error = `loopback: address family ${family}`;
  return 'payload';
}
