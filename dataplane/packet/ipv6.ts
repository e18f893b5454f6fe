/**
 * @module dataplane/packet/ipv6
 * IPv6 fixed header (RFC 8200 §3) and the extension-header chain (§4): hop-by-hop options
 * (0), routing (43), fragment (44), destination options (60) and AH (51, RFC 4302, whose
 * length is in 4-byte units minus 2). Each extension header becomes an `ipv6ext` layer.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Source Address (128 bits)             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Destination Address (128 bits)           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension header (generic; fragment header is fixed 8 bytes):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |  Hdr Ext Len  |   type-specific data ...      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Fragment: | Next Header | Reserved | Fragment Offset (13) |Res|M| Identification (32) |
 * ```
 * Fields: `ipv6` {`version`, `tc`, `flow`, `plen`, `nh`, `hlim`, `src`, `dst`};
 * `ipv6ext` {`type` (this header's protocol number), `nh`, `len` (bytes), and for fragments
 * `frag` (offset in bytes), `mf`, `ident`; for routing `rtype`, `segleft`}.
 */

import { ipv6ToString } from './addr.ts';
import { nextForIpProto } from './ipv4.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const IPV6_HLEN = 40;
export const IPV6_EXT_HOPOPTS = 0;
export const IPV6_EXT_ROUTING = 43;
export const IPV6_EXT_FRAGMENT = 44;
export const IPV6_EXT_AH = 51;
export const IPV6_EXT_DSTOPTS = 60;
/** Next header value "no next header". */
export const IPV6_NONXT = 59;

/** True for the extension headers whose chain we walk. */
export function isIpv6ExtHeader(nh: number): boolean {
  return nh === IPV6_EXT_HOPOPTS || nh === IPV6_EXT_ROUTING || nh === IPV6_EXT_FRAGMENT || nh === IPV6_EXT_AH || nh === IPV6_EXT_DSTOPTS;
}

function nextFor(st: DecodeState, nh: number): NextDecoder {
  st.nh = nh;
  if (isIpv6ExtHeader(nh)) return 'ipv6ext';
  if (st.fragment || nh === IPV6_NONXT) return 'payload';
  return nextForIpProto(nh);
}

/** Decodes the fixed header and bounds the packet by the payload length. */
export function decodeIpv6(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + IPV6_HLEN > st.end) return truncated(st, 'ipv6 header', IPV6_HLEN);
  const w0 = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
  const version = w0 >>> 28;
  if (version !== 6) {
    st.error = `ipv6: version ${version}`;
    return 'payload';
  }
  const plen = (buf[off + 4]! << 8) | buf[off + 5]!;
  const nh = buf[off + 6]!;
  out.push({
    name: 'ipv6',
    offset: off,
    length: IPV6_HLEN,
    fields: {
      version,
      tc: (w0 >>> 20) & 0xff,
      flow: w0 & 0xfffff,
      plen,
      nh,
      hlim: buf[off + 7]!,
      src: ipv6ToString(buf, off + 8),
      dst: ipv6ToString(buf, off + 24),
    },
    depth: st.depth,
  });
  st.l3Off = off;
  st.off = off + IPV6_HLEN;
  // plen 0 with a hop-by-hop jumbo option (RFC 2675) is not supported: bounded by the buffer.
  if (plen !== 0) st.end = Math.min(st.end, off + IPV6_HLEN + plen);
  st.fragment = false;
  return nextFor(st, nh);
}

/** Decodes one extension header (type in `st.nh`). */
export function decodeIpv6Ext(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  const type = st.nh;
  if (off + 8 > st.end) return truncated(st, 'ipv6 extension header', 8);
  const nh = buf[off]!;
  let len: number;
  const fields: Record<string, string | number | boolean> = { type, nh };
  if (type === IPV6_EXT_FRAGMENT) {
    len = 8;
    const fo = (buf[off + 2]! << 8) | buf[off + 3]!;
    fields.frag = fo & 0xfff8;
    fields.mf = (fo & 1) !== 0;
    fields.ident = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
    if ((fo & 0xfff8) !== 0) st.fragment = true;
  } else if (type === IPV6_EXT_AH) {
    len = (buf[off + 1]! + 2) * 4;
  } else {
    len = (buf[off + 1]! + 1) * 8;
    if (type === IPV6_EXT_ROUTING) {
      fields.rtype = buf[off + 2]!;
      fields.segleft = buf[off + 3]!;
    }
  }
  fields.len = len;
  if (off + len > st.end) return truncated(st, 'ipv6 extension header', len);
  out.push({ name: 'ipv6ext', offset: off, length: len, fields, depth: st.depth });
  st.off = off + len;
  return nextFor(st, nh);
}

/** Options of `encodeIpv6`. */
export interface Ipv6HeaderOptions {
  /** 16 bytes each. */
  saddr: Uint8Array;
  daddr: Uint8Array;
  nh: number;
  payloadLen: number;
  /** @default 64 */
  hlim?: number;
  /** @default 0 */
  tc?: number;
  /** @default 0 */
  flow?: number;
}

/** Writes a 40-byte IPv6 header at `off`. */
export function encodeIpv6(buf: Uint8Array, off: number, o: Ipv6HeaderOptions): void {
  const tc = o.tc ?? 0;
  const flow = o.flow ?? 0;
  const w0 = ((6 << 28) | ((tc & 0xff) << 20) | (flow & 0xfffff)) >>> 0;
  buf[off] = w0 >>> 24;
  buf[off + 1] = (w0 >>> 16) & 0xff;
  buf[off + 2] = (w0 >>> 8) & 0xff;
  buf[off + 3] = w0 & 0xff;
  buf[off + 4] = o.payloadLen >> 8;
  buf[off + 5] = o.payloadLen & 0xff;
  buf[off + 6] = o.nh;
  buf[off + 7] = o.hlim ?? 64;
  buf.set(o.saddr.subarray(0, 16), off + 8);
  buf.set(o.daddr.subarray(0, 16), off + 24);
}
