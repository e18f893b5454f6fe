/**
 * @module dataplane/packet/udp
 * UDP header (RFC 768).
 *
 * ```
 *  0      7 8     15 16    23 24    31
 * +--------+--------+--------+--------+
 * |     Source      |   Destination   |
 * |      Port       |      Port       |
 * +--------+--------+--------+--------+
 * |     Length      |    Checksum     |
 * +--------+--------+--------+--------+
 * ```
 * Checksum 0 means "not computed" (IPv4); a computed 0 is sent as 0xFFFF. The payload's
 * decoder comes from the port table in `ports.ts` (VXLAN 4789/8472, Geneve 6081).
 * Fields: `sport`, `dport`, `len`, `checksum`, `checksum_ok` (true for 0 over IPv4; 0 over IPv6 is illegal), `checksum_status`.
 */

import { l4ChecksumStatus } from './checksum.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';
import { udpNextDecoder } from './ports.ts';

export const UDP_HLEN = 8;

/** Decodes a UDP header and chooses the payload decoder by port. */
export function decodeUdp(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + UDP_HLEN > st.end) return truncated(st, 'udp header', UDP_HLEN);
  const sport = (buf[off]! << 8) | buf[off + 1]!;
  const dport = (buf[off + 2]! << 8) | buf[off + 3]!;
  const len = (buf[off + 4]! << 8) | buf[off + 5]!;
  const status = st.fragment ? 'unverified' : l4ChecksumStatus(buf, st.l3Off);
  out.push({
    name: 'udp',
    offset: off,
    length: UDP_HLEN,
    fields: {
      sport,
      dport,
      len,
      checksum: (buf[off + 6]! << 8) | buf[off + 7]!,
      checksum_ok: status !== 'bad',
      checksum_status: status,
    },
    depth: st.depth,
  });
  st.off = off + UDP_HLEN;
  if (len < UDP_HLEN) {
    st.error = `udp: length ${len} < 8`;
    return 'payload';
  }
  st.end = Math.min(st.end, off + len);
  return udpNextDecoder(sport, dport);
}

/** Writes an 8-byte UDP header at `off` with checksum 0 (fill it with `fillChecksums`, or leave 0). */
export function encodeUdp(buf: Uint8Array, off: number, sport: number, dport: number, payloadLen: number): void {
  const len = UDP_HLEN + payloadLen;
  buf[off] = sport >> 8;
  buf[off + 1] = sport & 0xff;
  buf[off + 2] = dport >> 8;
  buf[off + 3] = dport & 0xff;
  buf[off + 4] = (len >> 8) & 0xff;
  buf[off + 5] = len & 0xff;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
}
