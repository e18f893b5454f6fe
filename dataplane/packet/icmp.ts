/**
 * @module dataplane/packet/icmp
 * ICMP for IPv4 (RFC 792). The checksum covers the ICMP message only: no pseudo-header,
 * which is why address rewrites leave it alone (cilium-datapath.md §8).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Identifier          |        Sequence Number        |  (echo, type 8 / 0)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Fields: `type`, `code`, `checksum`, `checksum_ok`, `checksum_status`, and for echo
 * request/reply `id`, `seq`. The rest (data, or the quoted datagram of an error) is payload.
 */

import { l4ChecksumStatus } from './checksum.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const ICMP_HLEN = 8;
export const ICMP_ECHOREPLY = 0;
export const ICMP_ECHO = 8;

/** Decodes an ICMP header (8 bytes: type, code, checksum, rest-of-header). */
export function decodeIcmp(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + ICMP_HLEN > st.end) return truncated(st, 'icmp header', ICMP_HLEN);
  const type = buf[off]!;
  const status = st.fragment ? 'unverified' : l4ChecksumStatus(buf, st.l3Off);
  const fields: Record<string, string | number | boolean> = {
    type,
    code: buf[off + 1]!,
    checksum: (buf[off + 2]! << 8) | buf[off + 3]!,
    checksum_ok: status !== 'bad',
    checksum_status: status,
  };
  if (type === ICMP_ECHO || type === ICMP_ECHOREPLY) {
    fields.id = (buf[off + 4]! << 8) | buf[off + 5]!;
    fields.seq = (buf[off + 6]! << 8) | buf[off + 7]!;
  }
  out.push({ name: 'icmp', offset: off, length: ICMP_HLEN, fields, depth: st.depth });
  st.off = off + ICMP_HLEN;
  return 'payload';
}

/** Writes an 8-byte ICMP echo-style header at `off`, checksum 0 (fill with `fillChecksums`). */
export function encodeIcmp(buf: Uint8Array, off: number, type: number, code: number, id: number, seq: number): void {
  buf[off] = type;
  buf[off + 1] = code;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (id >> 8) & 0xff;
  buf[off + 5] = id & 0xff;
  buf[off + 6] = (seq >> 8) & 0xff;
  buf[off + 7] = seq & 0xff;
}
