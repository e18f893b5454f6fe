/**
 * @module dataplane/packet/tcp
 * TCP header (RFC 9293 §3.1).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * |       |       |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * The checksum covers a pseudo-header (addresses, protocol, TCP length) plus the segment.
 * Fields: `sport`, `dport`, `seq`, `ack`, `off` (header bytes), `flags` (the 8 bits CWR..FIN;
 * the NS bit is the low bit of the reserved nibble and is not included), `window`,
 * `checksum`, `checksum_ok`, `checksum_status`, `urg`, `options_len`.
 */

import { l4ChecksumStatus } from './checksum.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const TCP_HLEN = 20;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** Decodes a TCP header. */
export function decodeTcp(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + TCP_HLEN > st.end) return truncated(st, 'tcp header', TCP_HLEN);
  const hlen = (buf[off + 12]! >> 4) * 4;
  const status = l4ChecksumStatus(buf, st.l3Off);
  out.push({
    name: 'tcp',
    offset: off,
    length: Math.max(TCP_HLEN, Math.min(hlen, st.end - off)),
    fields: {
      sport: (buf[off]! << 8) | buf[off + 1]!,
      dport: (buf[off + 2]! << 8) | buf[off + 3]!,
      seq: ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0,
      ack: ((buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!) >>> 0,
      off: hlen,
      flags: buf[off + 13]!,
      window: (buf[off + 14]! << 8) | buf[off + 15]!,
      checksum: (buf[off + 16]! << 8) | buf[off + 17]!,
      checksum_ok: status !== 'bad',
      checksum_status: status,
      urg: (buf[off + 18]! << 8) | buf[off + 19]!,
      options_len: Math.max(0, hlen - TCP_HLEN),
    },
    depth: st.depth,
  });
  if (hlen < TCP_HLEN) {
    st.off = off + TCP_HLEN;
    st.error = `tcp: data offset ${hlen} < 20`;
    return 'payload';
  }
  if (off + hlen > st.end) {
    st.off = off + TCP_HLEN;
    return truncated(st, 'tcp options', hlen - TCP_HLEN);
  }
  st.off = off + hlen;
  return 'payload';
}

/** Options of `encodeTcp`. */
export interface TcpHeaderOptions {
  sport: number;
  dport: number;
  /** @default 0 */
  seq?: number;
  /** @default 0 */
  ack?: number;
  /** @default TCP_ACK */
  flags?: number;
  /** @default 64240 */
  window?: number;
}

/** Writes a 20-byte TCP header (no options) at `off`, checksum 0: fill it with `fillChecksums`. */
export function encodeTcp(buf: Uint8Array, off: number, o: TcpHeaderOptions): void {
  const seq = (o.seq ?? 0) >>> 0;
  const ack = (o.ack ?? 0) >>> 0;
  const win = o.window ?? 64240;
  buf[off] = o.sport >> 8;
  buf[off + 1] = o.sport & 0xff;
  buf[off + 2] = o.dport >> 8;
  buf[off + 3] = o.dport & 0xff;
  buf[off + 4] = seq >>> 24;
  buf[off + 5] = (seq >>> 16) & 0xff;
  buf[off + 6] = (seq >>> 8) & 0xff;
  buf[off + 7] = seq & 0xff;
  buf[off + 8] = ack >>> 24;
  buf[off + 9] = (ack >>> 16) & 0xff;
  buf[off + 10] = (ack >>> 8) & 0xff;
  buf[off + 11] = ack & 0xff;
  buf[off + 12] = 5 << 4;
  buf[off + 13] = (o.flags ?? TCP_ACK) & 0xff;
  buf[off + 14] = win >> 8;
  buf[off + 15] = win & 0xff;
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  buf[off + 18] = 0;
  buf[off + 19] = 0;
}
