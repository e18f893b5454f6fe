/**
 * @module dataplane/packet/dissect
 * The layered dissector for `info`, `diff` and tests (not the hot path): a loop over the
 * per-protocol decoders, each of which decodes one header and names the next decoder
 * (gopacket's `DecodingLayerParser`). Tunnels (VXLAN, Geneve, by the port table in
 * `ports.ts`) recurse into the inner Ethernet frame with `depth` one higher.
 *
 * Never throws: a header that is cut, inconsistent or of an unknown kind ends the list with
 * a 'payload' layer whose `fields.error` says why. A payload layer without error is the
 * undecoded rest of the packet (application data, ARP, ...), emitted only when non-empty.
 */

import { decodeEthernet } from './ethernet.ts';
import { decodeGeneve } from './geneve.ts';
import { decodeIcmp } from './icmp.ts';
import { decodeIcmpv6 } from './icmpv6.ts';
import { decodeIpv4 } from './ipv4.ts';
import { decodeIpv6, decodeIpv6Ext } from './ipv6.ts';
import type { Decoder, DecodeState, Layer, NextDecoder } from './layer.ts';
import { decodeLoopback } from './loopback.ts';
import { decodeSll, decodeSll2 } from './sll.ts';
import { decodeTcp } from './tcp.ts';
import { decodeUdp } from './udp.ts';
import { decodeVlan } from './vlan.ts';
import { decodeVxlan } from './vxlan.ts';

export type { Layer, LayerName } from './layer.ts';

const DECODERS: Record<Exclude<NextDecoder, 'payload' | 'end'>, Decoder> = {
  eth: decodeEthernet,
  vlan: decodeVlan,
  ipv4: decodeIpv4,
  ipv6: decodeIpv6,
  ipv6ext: decodeIpv6Ext,
  tcp: decodeTcp,
  udp: decodeUdp,
  icmp: decodeIcmp,
  icmpv6: decodeIcmpv6,
  vxlan: decodeVxlan,
  geneve: decodeGeneve,
};

/** More layers than any sane packet has; bounds hostile nesting (VLAN tags, IP-in-IP, tunnels). */
const MAX_LAYERS = 64;

/**
 * Decodes `frame` captured with link type `linkType` into its layers, outermost first.
 * Link types: 1 Ethernet (802.1Q/QinQ), 113 SLL, 276 SLL2, 0 NULL, 108 LOOP, 101/12/14 raw IP
 * (version from the first nibble), 228 raw IPv4, 229 raw IPv6. Anything else gives one
 * 'payload' layer with `error: 'not decoded: link type N'`.
 */
export function dissect(frame: Uint8Array, linkType: number): Layer[] {
  const out: Layer[] = [];
  const st: DecodeState = { buf: frame, off: 0, end: frame.length, depth: 0, l3Off: -1, nh: 0, fragment: false, error: '' };
  try {
    let next: NextDecoder;
    switch (linkType) {
      case 1:
        next = 'eth';
        break;
      case 113:
        next = decodeSll(st, out);
        break;
      case 276:
        next = decodeSll2(st, out);
        break;
      case 0:
        next = decodeLoopback(st, out, false);
        break;
      case 108:
        next = decodeLoopback(st, out, true);
        break;
      case 101:
      case 12:
      case 14: {
        const v = frame.length > 0 ? frame[0]! >> 4 : 0;
        if (v === 4) next = 'ipv4';
        else if (v === 6) next = 'ipv6';
        else {
          st.error = frame.length > 0 ? `raw IP: version ${v}` : 'empty packet';
          next = 'payload';
        }
        break;
      }
      case 228:
        next = 'ipv4';
        break;
      case 229:
        next = 'ipv6';
        break;
      default:
        st.error = `not decoded: link type ${linkType}`;
        next = 'payload';
    }
    while (next !== 'payload' && next !== 'end') {
      if (out.length >= MAX_LAYERS) {
        st.error = `more than ${MAX_LAYERS} layers`;
        break;
      }
      next = DECODERS[next](st, out);
    }
  } catch (e) {
    // A decoder bug must not take the caller down; report it as data.
    st.error = `internal: ${e instanceof Error ? e.message : String(e)}`;
  }
  const len = Math.max(0, Math.min(st.end, frame.length) - st.off);
  if (len > 0 || st.error) {
    const fields: Record<string, string | number | boolean> = { len };
    if (st.error) fields.error = st.error;
    out.push({ name: 'payload', offset: Math.min(st.off, frame.length), length: len, fields, depth: st.depth });
  }
  return out;
}

/** Finds the n-th (0-based) layer named `name`, or undefined: `findLayer(ls, 'ipv4', 1)` is the inner IPv4. */
export function findLayer(layers: readonly Layer[], name: Layer['name'], n = 0): Layer | undefined {
  for (const l of layers) if (l.name === name && n-- === 0) return l;
  return undefined;
}
