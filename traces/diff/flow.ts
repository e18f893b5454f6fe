/**
 * @module traces/diff/flow
 * A cheap walk over a frame's headers for the diff's keys: where each IP level is (outer,
 * then inside VXLAN/Geneve), its addresses, protocol and ports, and where the innermost
 * payload starts. It allocates nothing and never throws; it is not the dissector (which
 * `traces/` may not import) and only reads what alignment and canon-ports need. The tunnel
 * ports follow dataplane/packet/ports.ts: UDP destination 4789 or 8472 is VXLAN, 6081 Geneve,
 * then the same by source port.
 */
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  LINKTYPE_RAW_ALIAS_12,
  LINKTYPE_RAW_ALIAS_14,
} from '../record.ts';

/** Up to this many IP levels are recorded (outer + nested tunnels). */
export const MAX_LEVELS = 4;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;

/** Reused result of `walkFrame`: one entry per IP level, outermost first. */
export class FrameWalk {
  levels = 0;
  readonly l3Off = new Int32Array(MAX_LEVELS);
  readonly v6 = new Uint8Array(MAX_LEVELS);
  readonly proto = new Uint8Array(MAX_LEVELS);
  /** IPv4 address, or a 32-bit hash of an IPv6 address (keys only; text comes from l3Off). */
  readonly saddr = new Uint32Array(MAX_LEVELS);
  readonly daddr = new Uint32Array(MAX_LEVELS);
  /** -1 when there is no L4 header (fragment, truncated, other protocol). */
  readonly l4Off = new Int32Array(MAX_LEVELS);
  readonly sport = new Int32Array(MAX_LEVELS);
  readonly dport = new Int32Array(MAX_LEVELS);
  /** ICMP type (echo: sport = dport = identifier). */
  readonly icmpType = new Int32Array(MAX_LEVELS);
  /** Start and end of the innermost level's L4 payload (or of the whole frame if not IP). */
  payloadOff = 0;
  payloadEnd = 0;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function hash16(b: Uint8Array, o: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i++) h = Math.imul(h ^ b[o + i]!, 0x01000193);
  return h >>> 0;
}

/** Offset of the IP header after an Ethernet header at `off` (and up to three VLAN tags), or -1 if not IP. */
function ethL3(b: Uint8Array, off: number, end: number): number {
  let o = off + 12;
  for (let tags = 0; tags < 3; tags++) {
    if (o + 2 > end) return -1;
    const t = u16(b, o);
    if (t === 0x8100 || t === 0x88a8 || t === 0x9100) {
      o += 4;
      continue;
    }
    return t === 0x0800 || t === 0x86dd ? o + 2 : -1;
  }
  return -1;
}

/** Fills `w` for `frame` of `linkType`. Non-IP frames give `levels = 0`. */
export function walkFrame(frame: Uint8Array, linkType: number, w: FrameWalk): void {
  w.levels = 0;
  w.payloadOff = 0;
  w.payloadEnd = frame.length;
  const end = frame.length;
  let l3 = -1;
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      l3 = ethL3(frame, 0, end);
      break;
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_ALIAS_12:
    case LINKTYPE_RAW_ALIAS_14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      l3 = 0;
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:
      l3 = 4;
      break;
    case LINKTYPE_LINUX_SLL:
      l3 = 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      l3 = 20;
      break;
  }
  while (l3 >= 0 && l3 < end && w.levels < MAX_LEVELS) {
    const inner = walkIp(frame, l3, end, w);
    if (inner < 0) break;
    l3 = ethL3(frame, inner, end);
  }
}

/** Records one IP level at `l3`; returns the offset of an encapsulated Ethernet frame, or -1. */
function walkIp(b: Uint8Array, l3: number, frameEnd: number, w: FrameWalk): number {
  const ver = b[l3]! >> 4;
  const i = w.levels;
  let l4 = -1;
  let proto = 0;
  let end = frameEnd;
  if (ver === 4) {
    if (l3 + 20 > frameEnd) return -1;
    const ihl = (b[l3]! & 0x0f) * 4;
    const total = u16(b, l3 + 2);
    if (total >= ihl && l3 + total < end) end = l3 + total;
    proto = b[l3 + 9]!;
    w.v6[i] = 0;
    w.saddr[i] = u32(b, l3 + 12);
    w.daddr[i] = u32(b, l3 + 16);
    const frag = u16(b, l3 + 6) & 0x1fff;
    if (frag === 0 && ihl >= 20) l4 = l3 + ihl;
  } else if (ver === 6) {
    if (l3 + 40 > frameEnd) return -1;
    const plen = u16(b, l3 + 4);
    if (l3 + 40 + plen < end) end = l3 + 40 + plen;
    w.v6[i] = 1;
    w.saddr[i] = hash16(b, l3 + 8);
    w.daddr[i] = hash16(b, l3 + 24);
    proto = b[l3 + 6]!;
    let o = l3 + 40;
    // Extension headers: hop-by-hop, routing, destination options, fragment.
    for (let n = 0; n < 8; n++) {
      if (proto === 0 || proto === 43 || proto === 60) {
        if (o + 8 > end) break;
        proto = b[o]!;
        o += (b[o + 1]! + 1) * 8;
      } else if (proto === 44) {
        if (o + 8 > end) break;
        const fragOff = u16(b, o + 2) >> 3;
        proto = b[o]!;
        o += 8;
        if (fragOff !== 0) o = -1;
        break;
      } else break;
    }
    l4 = o;
  } else return -1;
  w.levels = i + 1;
  w.l3Off[i] = l3;
  w.proto[i] = proto;
  w.sport[i] = -1;
  w.dport[i] = -1;
  w.icmpType[i] = -1;
  w.l4Off[i] = -1;
  w.payloadOff = l4 >= 0 && l4 <= end ? l4 : l3;
  w.payloadEnd = end;
  if (l4 < 0 || l4 > end) return -1;
  if (proto === PROTO_TCP || proto === PROTO_UDP) {
    if (l4 + (proto === PROTO_TCP ? 20 : 8) > end) return -1;
    w.l4Off[i] = l4;
    const sport = u16(b, l4);
    const dport = u16(b, l4 + 2);
    w.sport[i] = sport;
    w.dport[i] = dport;
    if (proto === PROTO_TCP) {
      const hl = (b[l4 + 12]! >> 4) * 4;
      w.payloadOff = Math.min(end, l4 + Math.max(20, hl));
      return -1;
    }
    w.payloadOff = l4 + 8;
    const kind = tunnelKind(dport) || tunnelKind(sport);
    if (kind === 1 && l4 + 16 + 14 <= end) return l4 + 16;
    if (kind === 2 && l4 + 16 <= end) {
      const optLen = (b[l4 + 8]! & 0x3f) * 4;
      if (u16(b, l4 + 10) === 0x6558 && l4 + 16 + optLen + 14 <= end) return l4 + 16 + optLen;
    }
    return -1;
  }
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    if (l4 + 8 > end) return -1;
    w.l4Off[i] = l4;
    const t = b[l4]!;
    w.icmpType[i] = t;
    const echo = proto === PROTO_ICMP ? t === 0 || t === 8 : t === 128 || t === 129;
    if (echo) {
      const id = u16(b, l4 + 4);
      w.sport[i] = id;
      w.dport[i] = id;
    }
    w.payloadOff = l4 + 8;
  }
  return -1;
}

/** 1 VXLAN, 2 Geneve, 0 neither. */
function tunnelKind(port: number): number {
  return port === 4789 || port === 8472 ? 1 : port === 6081 ? 2 : 0;
}

const MIX = 0x01000193;

/** Mixes a 32-bit value into a hash. */
export function mix(h: number, v: number): number {
  h = Math.imul(h ^ (v & 0xffff), MIX);
  return Math.imul(h ^ (v >>> 16), MIX);
}

/** Hash of up to `max` bytes of b[off, end) plus the length. */
export function hashBytes(h: number, b: Uint8Array, off: number, end: number, max: number): number {
  const stop = Math.min(end, off + max);
  for (let i = off; i < stop; i++) h = Math.imul(h ^ b[i]!, MIX);
  return mix(h, end - off);
}

/**
 * Content key: the innermost protocol, the L4 fields a NAT leaves alone (TCP seq/ack/flags,
 * ICMP type/code/sequence) and the first 64 payload bytes. Addresses and ports are not in it,
 * so a packet whose addresses or ports were rewritten keeps its key.
 */
export function contentKey(frame: Uint8Array, w: FrameWalk): number {
  let h = 0x811c9dc5;
  if (w.levels === 0) return hashBytes(h, frame, 0, frame.length, 128) >>> 0;
  const i = w.levels - 1;
  h = mix(h, w.proto[i]!);
  const l4 = w.l4Off[i]!;
  if (l4 >= 0) {
    if (w.proto[i] === PROTO_TCP) {
      h = mix(h, u32(frame, l4 + 4));
      h = mix(h, u32(frame, l4 + 8));
      h = mix(h, frame[l4 + 13]!);
    } else if (w.proto[i] === PROTO_ICMP || w.proto[i] === PROTO_ICMPV6) {
      h = mix(h, u16(frame, l4));
      h = mix(h, u16(frame, l4 + 6));
    }
  }
  return hashBytes(h, frame, w.payloadOff, w.payloadEnd, 64) >>> 0;
}

/** Flow key: the content key plus the innermost addresses, and ports unless `withPorts` is false. */
export function flowKey(content: number, w: FrameWalk, withPorts: boolean): number {
  if (w.levels === 0) return content;
  const i = w.levels - 1;
  let h = mix(content, w.saddr[i]!);
  h = mix(h, w.daddr[i]!);
  if (withPorts) {
    h = mix(h, w.sport[i]!);
    h = mix(h, w.dport[i]!);
  }
  return h >>> 0;
}

function v6Text(b: Uint8Array, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(u16(b, off + 2 * i));
  let bs = -1;
  let bl = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bl) {
      bs = i;
      bl = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  return bs < 0 ? hex(g) : `${hex(g.slice(0, bs))}::${hex(g.slice(bs + bl))}`;
}

export function ipv4Text(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Address text of level `i` (source or destination). */
export function addrText(frame: Uint8Array, w: FrameWalk, i: number, src: boolean): string {
  if (w.v6[i]) return v6Text(frame, w.l3Off[i]! + (src ? 8 : 24));
  return ipv4Text(src ? w.saddr[i]! : w.daddr[i]!);
}

export function protoName(p: number): string {
  switch (p) {
    case PROTO_TCP:
      return 'TCP';
    case PROTO_UDP:
      return 'UDP';
    case PROTO_ICMP:
      return 'ICMP';
    case PROTO_ICMPV6:
      return 'ICMPv6';
    default:
      return `proto ${p}`;
  }
}

/** `10.0.1.209:40000 -> 172.18.0.7:80 TCP` for the innermost level (ICMP: `a -> b ICMP`). */
export function flowText(frame: Uint8Array, w: FrameWalk): string {
  if (w.levels === 0) return 'non-IP';
  const i = w.levels - 1;
  const s = addrText(frame, w, i, true);
  const d = addrText(frame, w, i, false);
  const p = w.proto[i]!;
  if ((p === PROTO_TCP || p === PROTO_UDP) && w.sport[i]! >= 0) {
    const sb = w.v6[i] ? `[${s}]` : s;
    const db = w.v6[i] ? `[${d}]` : d;
    return `${sb}:${w.sport[i]} -> ${db}:${w.dport[i]} ${protoName(p)}`;
  }
  return `${s} -> ${d} ${protoName(p)}`;
}
