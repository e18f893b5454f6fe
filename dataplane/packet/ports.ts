/**
 * @module dataplane/packet/ports
 * The one UDP port → decoder table (gopacket `layers/ports.go`, scapy `bind_layers`).
 * Decoders never guess from payload bytes: a port in this table decides. As gopacket does,
 * the destination port is tried first, then the source port.
 */

import type { NextDecoder } from './layer.ts';

/** IANA-assigned VXLAN port (RFC 7348). */
export const VXLAN_PORT_IANA = 4789;
/** Linux vxlan's historical default, used by Cilium (`TunnelPortVXLAN`). */
export const VXLAN_PORT_LINUX = 8472;
/** IANA-assigned Geneve port (RFC 8926), Cilium's `TunnelPortGeneve`. */
export const GENEVE_PORT = 6081;

/** UDP port → the decoder of the UDP payload. */
export const UDP_PORT_DECODERS: ReadonlyMap<number, NextDecoder> = new Map<number, NextDecoder>([
  [VXLAN_PORT_IANA, 'vxlan'],
  [VXLAN_PORT_LINUX, 'vxlan'],
  [GENEVE_PORT, 'geneve'],
]);

/** The decoder for a UDP payload, by destination then source port; 'payload' if neither is bound. */
export function udpNextDecoder(sport: number, dport: number): NextDecoder {
  return UDP_PORT_DECODERS.get(dport) ?? UDP_PORT_DECODERS.get(sport) ?? 'payload';
}

/** The tunnel kind bound to a UDP destination port, or null. */
export function tunnelKindForPort(dport: number): 'vxlan' | 'geneve' | null {
  const d = UDP_PORT_DECODERS.get(dport);
  return d === 'vxlan' || d === 'geneve' ? d : null;
}
