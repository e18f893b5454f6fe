/**
 * @module dataplane/packet/vxlan
 * VXLAN header (RFC 7348 §5), carried in UDP to 4789 (IANA) or 8472 (Linux default, Cilium).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |R|R|R|R|I|R|R|R|            Reserved                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                VXLAN Network Identifier (VNI) |   Reserved    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   I: the VNI is valid (must be 1). Cilium puts the source security identity in the VNI.
 * ```
 * An inner Ethernet frame follows. Fields: `flags` (first byte), `i` (the I bit), `vni`.
 * The frame is decoded even when I is clear (as gopacket does); Linux would drop it.
 */

import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const VXLAN_HLEN = 8;
/** The I flag: VNI valid. */
export const VXLAN_FLAG_I = 0x08;
/** Largest VNI (24 bits). */
export const VXLAN_VNI_MAX = 0xffffff;

/** Decodes a VXLAN header; the inner Ethernet frame is one tunnel level deeper. */
export function decodeVxlan(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + VXLAN_HLEN > st.end) return truncated(st, 'vxlan header', VXLAN_HLEN);
  const flags = buf[off]!;
  out.push({
    name: 'vxlan',
    offset: off,
    length: VXLAN_HLEN,
    fields: { flags, i: (flags & VXLAN_FLAG_I) !== 0, vni: (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]! },
    depth: st.depth,
  });
  st.off = off + VXLAN_HLEN;
  st.depth += 1;
  st.l3Off = -1;
  st.fragment = false;
  return 'eth';
}

/** Writes an 8-byte VXLAN header (I flag set) at `off`. Throws a RangeError for a VNI over 24 bits. */
export function encodeVxlan(buf: Uint8Array, off: number, vni: number): void {
  if (!Number.isInteger(vni) || vni < 0 || vni > VXLAN_VNI_MAX) throw new RangeError(`VXLAN VNI ${vni} does not fit 24 bits`);
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = vni >>> 16;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
}

/** Reads the VNI of the VXLAN header at `off`. */
export function vxlanVni(buf: Uint8Array, off: number): number {
  return (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!;
}
