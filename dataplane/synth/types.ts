/**
 * @module dataplane/synth/types
 * What every synthetic generator yields: client-side frames (as tcpdump in the pod, or on
 * its lxc, would record them) on the capture clock.
 */

import { macToString } from '../packet/addr.ts';
import { lxcMacOf } from '../node.ts';

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

/**
 * MAC of the host side of a pod's veth as text, the same one the engine gives the lxc device
 * (`lxcMacOf`), so synthetic frames address the device the replay models.
 */
export function lxcMac(ifName: string): string {
  return macToString(lxcMacOf(ifName), 0);
}
