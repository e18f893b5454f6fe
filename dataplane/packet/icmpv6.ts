/**
 * @module dataplane/packet/icmpv6
 * ICMPv6 (RFC 4443). Unlike ICMPv4 the checksum includes the IPv6 pseudo-header.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Identifier          |        Sequence Number        |  (echo, type 128 / 129)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Fields: `type`, `code`, `checksum`, `checksum_ok`, `checksum_status`; echo: `id`, `seq`.
 * The layer is the 4-byte common header (8 for echo); the rest is payload.
 */

import { l4ChecksumStatus } from './checksum.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

/** Decodes an ICMPv6 header. */
export function decodeIcmpv6(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + 4 > st.end) return truncated(st, 'icmpv6 header', 4);
  const type = buf[off]!;
  const status = st.fragment ? 'unverified' : l4ChecksumStatus(buf, st.l3Off);
  const fields: Record<string, string | number | boolean> = {
    type,
    code: buf[off + 1]!,
    checksum: (buf[off + 2]! << 8) | buf[off + 3]!,
    checksum_ok: status !== 'bad',
    checksum_status: status,
  };
  let len = 4;
  if ((type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) && off + 8 <= st.end) {
    fields.id = (buf[off + 4]! << 8) | buf[off + 5]!;
    fields.seq = (buf[off + 6]! << 8) | buf[off + 7]!;
    len = 8;
  }
  out.push({ name: 'icmpv6', offset: off, length: len, fields, depth: st.depth });
  st.off = off + len;
  return 'payload';
}
