/**
 * @module dataplane/packet/layer
 * The dissector's shared shapes. Each protocol module decodes one header into a `Layer`
 * and says which decoder comes next (gopacket's `NextLayerType`), so `dissect.ts` is only a
 * loop over this table. Not the hot path: decoders allocate freely, but never throw.
 */

/** Layer names as they appear in diff reports (`ipv4.src`, `tcp.sport`, ...). */
export const LAYER_NAMES = [
  'eth',
  'vlan',
  'sll',
  'sll2',
  'null',
  'ipv4',
  'ipv6',
  'ipv6ext',
  'tcp',
  'udp',
  'icmp',
  'icmpv6',
  'vxlan',
  'geneve',
  'payload',
] as const;
export type LayerName = (typeof LAYER_NAMES)[number];

/** One decoded header. */
export interface Layer {
  name: LayerName;
  /** Byte offset of the header in the frame. */
  offset: number;
  /** Header length in bytes ('payload': bytes to the end of the enclosing packet). */
  length: number;
  /** Lowercase, stable field names; values are numbers, strings (addresses) or booleans. */
  fields: Record<string, string | number | boolean>;
  /** Tunnel nesting: 0 for the outer packet, 1 inside the first VXLAN/Geneve, and so on. */
  depth: number;
}

/** What to decode next. */
export type NextDecoder =
  | 'eth'
  | 'vlan'
  | 'ipv4'
  | 'ipv6'
  | 'ipv6ext'
  | 'tcp'
  | 'udp'
  | 'icmp'
  | 'icmpv6'
  | 'vxlan'
  | 'geneve'
  | 'payload'
  | 'end';

/** Where decoding stands between two layers. */
export interface DecodeState {
  buf: Uint8Array;
  /** Start of the next header. */
  off: number;
  /** End of the enclosing packet's bytes (IP total length or the buffer end, whichever is less). */
  end: number;
  depth: number;
  /** Offset of the innermost IP header so far (for L4 pseudo-header checksums), -1 if none. */
  l3Off: number;
  /** IPv6 only: the next-header value to interpret at `off` (extension chain). */
  nh: number;
  /** Set when the packet is a non-first fragment (no L4 header to decode). */
  fragment: boolean;
  /** Why decoding stopped early, if it did: becomes `fields.error` of the final payload layer. */
  error: string;
}

/** A decoder reads the header at `st.off`, pushes its layer and advances `st`, returning the next decoder. */
export type Decoder = (st: DecodeState, out: Layer[]) => NextDecoder;

/** Stops decoding with an error: the caller emits a final 'payload' layer carrying it. */
export function truncated(st: DecodeState, what: string, need: number): NextDecoder {
  st.error = `truncated ${what}: need ${need} bytes, have ${Math.max(0, st.end - st.off)}`;
  return 'payload';
}
