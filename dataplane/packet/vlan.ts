/**
 * @module dataplane/packet/vlan
 * IEEE 802.1Q tag (and 802.1ad QinQ, which stacks tags). The tag sits where the EtherType
 * was; its TPID (0x8100, 0x88a8, 0x9100) is that EtherType, so the layer decoded here is the
 * 4 bytes after it: TCI and the inner EtherType.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  PCP  |D|        VLAN ID      |        Inner EtherType        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   (PCP 3 bits, D = drop eligible indicator, VLAN ID 12 bits)
 * ```
 */

import { nextForEthertype } from './ethernet.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const VLAN_HLEN = 4;

/** Decodes one tag: fields `pcp`, `dei`, `id`, `type` (the EtherType that follows). */
export function decodeVlan(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + VLAN_HLEN > st.end) return truncated(st, '802.1Q tag', VLAN_HLEN);
  const tci = (buf[off]! << 8) | buf[off + 1]!;
  const type = (buf[off + 2]! << 8) | buf[off + 3]!;
  out.push({
    name: 'vlan',
    offset: off,
    length: VLAN_HLEN,
    fields: { pcp: tci >> 13, dei: (tci & 0x1000) !== 0, id: tci & 0x0fff, type },
    depth: st.depth,
  });
  st.off = off + VLAN_HLEN;
  return nextForEthertype(type);
}

/**
 * Writes a tag's TCI and inner EtherType at `off` (4 bytes). The TPID is the EtherType field
 * of the header before it, which the caller sets to 0x8100.
 */
export function encodeVlan(buf: Uint8Array, off: number, id: number, type: number, pcp = 0): void {
  const tci = ((pcp & 7) << 13) | (id & 0x0fff);
  buf[off] = tci >> 8;
  buf[off + 1] = tci & 0xff;
  buf[off + 2] = type >> 8;
  buf[off + 3] = type & 0xff;
}
