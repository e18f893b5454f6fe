/**
 * @module dataplane/lib/encap
 * Tunnel framing as Cilium's `encap_and_redirect_*` → `__encap_with_nodeid` and the
 * kernel's collect-metadata vxlan/geneve device produce it (cilium-datapath.md §3):
 *
 * ```
 *  outer Ethernet  src = sending node's MAC, dst = peer node's MAC (docker bridge: one L2)
 *  outer IPv4      src = sending node IP (kernel route choice), dst = tunnel endpoint,
 *                  TTL 64, id 0, DF clear, proto UDP
 *  outer UDP       sport = udp_flow_src_port(inner 5-tuple): 32768..60998 (VXLAN),
 *                  1..65534 (Geneve); dport 8472 / 6081; checksum 0 (BPF_F_ZERO_CSUM_TX)
 *  VXLAN (8 B)     flags 0x08, VNI = source security identity (2 WORLD for gateway replies)
 *  | or Geneve     ver 0, no options, protocol 0x6558, same VNI
 *  inner Ethernet  the frame as it was at redirect time
 * ```
 *
 * Frames are framed in place: the packet context keeps headroom in front of the frame, so
 * encapsulation writes 50 bytes in front and decapsulation moves the start forward. No
 * allocation per packet.
 */

import { csumFold, IPPROTO_UDP } from '../packet/checksum.ts';
import { udpFlowSrcPort } from '../packet/build.ts';

export const TUNNEL_VXLAN = 0;
export const TUNNEL_GENEVE = 1;

/** Ethernet + IPv4 + UDP + VXLAN/Geneve(no options). */
export const ENCAP_OVERHEAD = 50;
export const OUTER_TTL = 64;

/** VXLAN source ports: the device's port range, net.ipv4.ip_local_port_range by default. */
export const VXLAN_SRC_PORT_MIN = 32768;
export const VXLAN_SRC_PORT_MAX = 60999;
/** Geneve: udp_flow_src_port(net, skb, 1, USHRT_MAX, true). */
export const GENEVE_SRC_PORT_MIN = 1;
export const GENEVE_SRC_PORT_MAX = 65535;

/** Parses "aa:bb:cc:dd:ee:ff" into 6 bytes (configuration time only). */
export function macBytes(mac: string): Uint8Array {
  const parts = mac.split(/[:-]/);
  const out = new Uint8Array(6);
  if (parts.length !== 6) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  for (let i = 0; i < 6; i++) {
    const v = parseInt(parts[i]!, 16);
    if (!/^[0-9a-fA-F]{2}$/.test(parts[i]!) || Number.isNaN(v)) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
    out[i] = v;
  }
  return out;
}

export function macText(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[i]!.toString(16).padStart(2, '0');
  return s;
}

/**
 * Destination then source MAC at `o`. Unrolled: the 6-step loop over two arrays compiled to
 * about three times the cost, and a packet has its MACs written several times.
 */
export function writeMacs(b: Uint8Array, o: number, dst: Uint8Array, src: Uint8Array): void {
  b[o] = dst[0]!;
  b[o + 1] = dst[1]!;
  b[o + 2] = dst[2]!;
  b[o + 3] = dst[3]!;
  b[o + 4] = dst[4]!;
  b[o + 5] = dst[5]!;
  b[o + 6] = src[0]!;
  b[o + 7] = src[1]!;
  b[o + 8] = src[2]!;
  b[o + 9] = src[3]!;
  b[o + 10] = src[4]!;
  b[o + 11] = src[5]!;
}

/** Writes dst MAC, src MAC and ethertype IPv4 at `off`. */
export function writeEth(buf: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array): void {
  writeMacs(buf, off, dst, src);
  buf[off + 12] = 0x08;
  buf[off + 13] = 0x00;
}

/** Outer UDP source port for an inner flow (kernel flow hash model, see udpFlowSrcPort). */
export function tunnelSrcPort(kind: number, saddr: number, daddr: number, proto: number, sport: number, dport: number): number {
  return kind === TUNNEL_GENEVE
    ? udpFlowSrcPort(saddr, daddr, sport, dport, proto, GENEVE_SRC_PORT_MIN, GENEVE_SRC_PORT_MAX)
    : udpFlowSrcPort(saddr, daddr, sport, dport, proto, VXLAN_SRC_PORT_MIN, VXLAN_SRC_PORT_MAX);
}

/**
 * Writes the 50 outer bytes in front of the inner Ethernet frame `buf[innerOff..innerEnd)`
 * and returns the new frame start (`innerOff - 50`). The caller guarantees the headroom.
 */
export function encapPrepend(
  buf: Uint8Array,
  innerOff: number,
  innerEnd: number,
  kind: number,
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  saddr: number,
  daddr: number,
  udpSport: number,
  udpDport: number,
  vni: number,
): number {
  const o = innerOff - ENCAP_OVERHEAD;
  writeEth(buf, o, dstMac, srcMac);
  const ip = o + 14;
  const ipLen = innerEnd - ip;
  buf[ip] = 0x45;
  buf[ip + 1] = 0;
  buf[ip + 2] = ipLen >>> 8;
  buf[ip + 3] = ipLen & 0xff;
  buf[ip + 4] = 0; // id 0
  buf[ip + 5] = 0;
  buf[ip + 6] = 0; // DF clear: the tunnel key asks for no TUNNEL_DONT_FRAGMENT
  buf[ip + 7] = 0;
  buf[ip + 8] = OUTER_TTL;
  buf[ip + 9] = IPPROTO_UDP;
  buf[ip + 10] = 0;
  buf[ip + 11] = 0;
  buf[ip + 12] = saddr >>> 24;
  buf[ip + 13] = (saddr >>> 16) & 0xff;
  buf[ip + 14] = (saddr >>> 8) & 0xff;
  buf[ip + 15] = saddr & 0xff;
  buf[ip + 16] = daddr >>> 24;
  buf[ip + 17] = (daddr >>> 16) & 0xff;
  buf[ip + 18] = (daddr >>> 8) & 0xff;
  buf[ip + 19] = daddr & 0xff;
  // The header checksum from its words directly (the same ones' complement sum a pass over
  // the 20 bytes gives): id, fragment field and checksum are 0.
  const c = csumFold(
    0x4500 + (ipLen & 0xffff) + ((OUTER_TTL << 8) | IPPROTO_UDP) + (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff),
  );
  buf[ip + 10] = c >>> 8;
  buf[ip + 11] = c & 0xff;
  const udp = ip + 20;
  const udpLen = innerEnd - udp;
  buf[udp] = udpSport >>> 8;
  buf[udp + 1] = udpSport & 0xff;
  buf[udp + 2] = udpDport >>> 8;
  buf[udp + 3] = udpDport & 0xff;
  buf[udp + 4] = udpLen >>> 8;
  buf[udp + 5] = udpLen & 0xff;
  buf[udp + 6] = 0; // BPF_F_ZERO_CSUM_TX
  buf[udp + 7] = 0;
  const t = udp + 8;
  if (kind === TUNNEL_GENEVE) {
    buf[t] = 0; // version 0, no options
    buf[t + 1] = 0;
    buf[t + 2] = 0x65; // protocol: transparent Ethernet bridging
    buf[t + 3] = 0x58;
  } else {
    buf[t] = 0x08; // I: VNI valid
    buf[t + 1] = 0;
    buf[t + 2] = 0;
    buf[t + 3] = 0;
  }
  buf[t + 4] = (vni >>> 16) & 0xff;
  buf[t + 5] = (vni >>> 8) & 0xff;
  buf[t + 6] = vni & 0xff;
  buf[t + 7] = 0;
  return o;
}

/** Reusable result of `decapFrame`. */
export interface DecapResult {
  innerOff: number;
  vni: number;
  outerSaddr: number;
}

/**
 * The kernel tunnel device's receive side, for a frame at `off` whose outer headers this
 * module wrote (or a recorded one): checks IPv4/UDP to `port` and the tunnel header, then
 * fills `out`. Returns false when it is not a tunnel packet for this device.
 */
export function decapFrame(buf: Uint8Array, off: number, end: number, kind: number, port: number, out: DecapResult): boolean {
  const ip = off + 14;
  if (ip + 20 > end || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) return false;
  const ihl = (buf[ip]! & 0x0f) * 4;
  if (buf[ip]! >> 4 !== 4 || ihl < 20 || buf[ip + 9] !== IPPROTO_UDP) return false;
  const udp = ip + ihl;
  if (udp + 16 + 14 > end) return false;
  if (((buf[udp + 2]! << 8) | buf[udp + 3]!) !== port) return false;
  const t = udp + 8;
  let inner: number;
  if (kind === TUNNEL_GENEVE) {
    if (buf[t]! >> 6 !== 0 || buf[t + 2] !== 0x65 || buf[t + 3] !== 0x58) return false;
    inner = t + 8 + (buf[t]! & 0x3f) * 4;
  } else {
    if ((buf[t]! & 0x08) === 0) return false;
    inner = t + 8;
  }
  if (inner + 14 > end) return false;
  out.innerOff = inner;
  out.vni = (buf[t + 4]! << 16) | (buf[t + 5]! << 8) | buf[t + 6]!;
  out.outerSaddr = ((buf[ip + 12]! << 24) | (buf[ip + 13]! << 16) | (buf[ip + 14]! << 8) | buf[ip + 15]!) >>> 0;
  return true;
}
