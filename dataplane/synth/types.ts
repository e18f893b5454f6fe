/**
 * @module dataplane/synth/types
 * What every synthetic generator yields: client-side frames (as tcpdump in the pod, or on
 * its lxc, would record them) on the capture clock.
 */

export interface SynthPacket {
  tsSec: number;
  tsNsec: number;
  /** An Ethernet frame. */
  frame: Uint8Array;
}

/** What a generator needs to know of the echo host to write the client's acknowledgements. */
export interface EchoModel {
  /** Initial sequence number the echo host answers a SYN with, from the client's ISN. */
  serverIsn(clientIsn: number): number;
  /** Bytes of the HTTP response the echo host sends when it sees `seenAddr` as the client. */
  responseLength(seenAddr: string): number;
}

/** 2021-08-30T12:00:00Z: the day the guide's egress chapter was written. Synthetic clocks start here. */
export const SYNTH_EPOCH = 1630324800;

/** Adds nanoseconds to a (sec, nsec) instant. */
export function addNs(sec: number, nsec: number, ns: number): { tsSec: number; tsNsec: number } {
  const total = nsec + ns;
  return { tsSec: sec + Math.floor(total / 1e9), tsNsec: total % 1e9 };
}

/** MAC of the host side of a pod's veth, derived from its Cilium interface name (lxc + 11 hex chars). */
export function lxcMac(ifName: string): string {
  const hex = ifName.replace(/^lxc/, '').padEnd(10, '0').slice(0, 10);
  return ['fe', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10)].join(':');
}
