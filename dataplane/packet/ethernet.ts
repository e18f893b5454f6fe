/**
 * @module dataplane/packet/ethernet
 * Ethernet II (DIX) header, as captured (no preamble, no FCS).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination MAC address                    |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+       Source MAC address      +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     EtherType / Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * An EtherType below 0x0600 is an 802.3 length (LLC follows): decoded as payload.
 */

import { macToString, writeMac } from './addr.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const ETH_HLEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard QinQ outer tag still seen in captures. */
export const ETHERTYPE_QINQ_OLD = 0x9100;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Transparent Ethernet Bridging: Geneve's protocol type for an inner Ethernet frame. */
export const ETHERTYPE_TEB = 0x6558;

/** The decoder for what an EtherType announces. */
export function nextForEthertype(type: number): NextDecoder {
  switch (type) {
    case ETHERTYPE_IPV4:
      return 'ipv4';
    case ETHERTYPE_IPV6:
      return 'ipv6';
    case ETHERTYPE_VLAN:
    case ETHERTYPE_QINQ:
    case ETHERTYPE_QINQ_OLD:
      return 'vlan';
    case ETHERTYPE_TEB:
      return 'eth';
    default:
      return 'payload';
  }
}

/** Decodes an Ethernet header: fields `dst`, `src` (MAC text), `type`. */
export function decodeEthernet(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + ETH_HLEN > st.end) return truncated(st, 'ethernet header', ETH_HLEN);
  const type = (buf[off + 12]! << 8) | buf[off + 13]!;
  out.push({
    name: 'eth',
    offset: off,
    length: ETH_HLEN,
    fields: { dst: macToString(buf, off), src: macToString(buf, off + 6), type },
    depth: st.depth,
  });
  st.off = off + ETH_HLEN;
  return nextForEthertype(type);
}

/** Writes a 14-byte Ethernet header at `off`. MACs are text ("aa:bb:cc:dd:ee:ff"). */
export function encodeEthernet(buf: Uint8Array, off: number, dst: string, src: string, type: number): void {
  writeMac(buf, off, dst);
  writeMac(buf, off + 6, src);
  buf[off + 12] = type >> 8;
  buf[off + 13] = type & 0xff;
}
