/**
 * @module dataplane/packet/sll
 * Linux "cooked" capture headers (tcpdump `-i any`): SLL (LINKTYPE_LINUX_SLL, 113) and SLL2
 * (LINKTYPE_LINUX_SLL2, 276). See https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html.
 *
 * ```
 * SLL (16 bytes)                         SLL2 (20 bytes)
 * +---------------------------+          +---------------------------+
 * | Packet type       (2)     |          | Protocol type     (2)     |
 * | ARPHRD_ type      (2)     |          | Reserved (MBZ)    (2)     |
 * | Link-layer addr len (2)   |          | Interface index   (4)     |
 * | Link-layer address (8)    |          | ARPHRD_ type      (2)     |
 * | Protocol type     (2)     |          | Packet type (1) | Addr len (1) |
 * +---------------------------+          | Link-layer address (8)    |
 *                                        +---------------------------+
 * ```
 * Protocol type is an EtherType for most ARPHRD types; 1 (802.3 without LLC), 4 (802.2 LLC)
 * and netlink captures (ARPHRD 824) are not IP and decode as payload.
 * Fields: `pkttype`, `hatype`, `halen`, `addr`, `type` (+ `ifindex` for SLL2).
 */

import { hwAddrToString } from './addr.ts';
import { nextForEthertype } from './ethernet.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const SLL_HLEN = 16;
export const SLL2_HLEN = 20;
const ARPHRD_NETLINK = 824;

function next(hatype: number, type: number): NextDecoder {
  if (hatype === ARPHRD_NETLINK) return 'payload';
  return nextForEthertype(type);
}

/** Decodes an SLL header. */
export function decodeSll(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + SLL_HLEN > st.end) return truncated(st, 'sll header', SLL_HLEN);
  const hatype = (buf[off + 2]! << 8) | buf[off + 3]!;
  const halen = (buf[off + 4]! << 8) | buf[off + 5]!;
  const type = (buf[off + 14]! << 8) | buf[off + 15]!;
  out.push({
    name: 'sll',
    offset: off,
    length: SLL_HLEN,
    fields: { pkttype: (buf[off]! << 8) | buf[off + 1]!, hatype, halen, addr: hwAddrToString(buf, off + 6, Math.min(halen, 8)), type },
    depth: st.depth,
  });
  st.off = off + SLL_HLEN;
  return next(hatype, type);
}

/** Decodes an SLL2 header. */
export function decodeSll2(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + SLL2_HLEN > st.end) return truncated(st, 'sll2 header', SLL2_HLEN);
  const type = (buf[off]! << 8) | buf[off + 1]!;
  const hatype = (buf[off + 8]! << 8) | buf[off + 9]!;
  const halen = buf[off + 11]!;
  out.push({
    name: 'sll2',
    offset: off,
    length: SLL2_HLEN,
    fields: {
      type,
      ifindex: ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0,
      hatype,
      pkttype: buf[off + 10]!,
      halen,
      addr: hwAddrToString(buf, off + 12, Math.min(halen, 8)),
    },
    depth: st.depth,
  });
  st.off = off + SLL2_HLEN;
  return next(hatype, type);
}
