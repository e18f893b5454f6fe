/**
 * @module dataplane/packet/checksum
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624), on `Uint8Array`
 * with explicit offsets so the hot path never slices.
 *
 * Representation: an *accumulator* is a non-negative number holding a ones' complement sum
 * that has not been complemented yet (it may exceed 16 bits; `csumFold` folds the carries).
 * A *checksum* is the 16-bit field value, i.e. `csumFold(accumulator)`.
 *
 * Incremental updates use RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`, which is what the
 * kernel's `csum_replace*` / `inet_proto_csum_replace*` helpers (and so Cilium's
 * `l3_csum_replace` / `l4_csum_replace`) compute. With end-around-carry folding it gives
 * exactly the value a full recompute gives (both never produce 0xFFFF from non-zero data),
 * which the tests check on random rewrites.
 *
 * Rules for rewriting (Cilium, `bpf/lib/csum.h`, `nat.h`; see cilium-datapath.md §8) live in
 * `view.ts`; this module only has the arithmetic, the verifiers and the full fill.
 */

/** IP protocol numbers used by the checksum code. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/**
 * Adds `len` bytes of `buf` from `off` as big-endian 16-bit words to the accumulator `sum`
 * (an odd last byte is padded with zero, RFC 1071). Returns a folded accumulator (0..0xFFFF),
 * so results can be chained: `csumPartial(b, 0, 4, csumPartial(a, 0, 8))`.
 */
export function csumPartial(buf: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  const end = off + len;
  let i = off;
  // 32768 words max per call keeps s below 2^31 + sum; fold first in case sum is large.
  if (s > 0xffff) s = fold(s);
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return fold(s);
}

/** Folds an accumulator to 16 bits and complements it: the checksum field value. */
export function csumFold(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** RFC 1624 eqn. 3 for one 16-bit word changing from `oldVal` to `newVal`. */
export function csumReplace16(check: number, oldVal: number, newVal: number): number {
  const s = (~check & 0xffff) + (~oldVal & 0xffff) + (newVal & 0xffff);
  return ~fold(s) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit value (an IPv4 address) changing from `oldVal` to `newVal`. */
export function csumReplace32(check: number, oldVal: number, newVal: number): number {
  const s =
    (~check & 0xffff) +
    (~(oldVal >>> 16) & 0xffff) +
    (~oldVal & 0xffff) +
    ((newVal >>> 16) & 0xffff) +
    (newVal & 0xffff);
  return ~fold(s) & 0xffff;
}

function fold(s: number): number {
  // Every per-packet caller (incremental updates, a 20-byte header) stays below 2^32, where
  // two rounds of integer folding are exact (the first leaves at most 0x1FFFE, the second at
  // most 0xFFFF) and far cheaper than `%` and Math.floor on doubles.
  if (s <= 0xffff) return s;
  if (s <= 0xffffffff) {
    s = (s >>> 16) + (s & 0xffff);
    return (s >>> 16) + (s & 0xffff);
  }
  // Arithmetic rather than bit ops: the accumulator may exceed 32 bits when callers chain sums.
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** True when the IPv4 header at `l3Off` is complete and its header checksum verifies. */
export function ipv4HeaderChecksumOk(buf: Uint8Array, l3Off: number): boolean {
  if (l3Off < 0 || l3Off + 20 > buf.length) return false;
  const ihl = (buf[l3Off]! & 0x0f) * 4;
  if (ihl < 20 || l3Off + ihl > buf.length) return false;
  return csumPartial(buf, l3Off, ihl) === 0xffff;
}

/** Where the transport layer of an IP packet is, found without allocating. */
interface L4Loc {
  ok: boolean;
  /** the whole L4 segment is present (not a fragment, not cut by the snap length) */
  complete: boolean;
  proto: number;
  l4Off: number;
  l4Len: number;
  /** pseudo-header address sum, folded (protocol and length are added by `l4Sum`) */
  addrSum: number;
}
const loc: L4Loc = { ok: false, complete: false, proto: 0, l4Off: 0, l4Len: 0, addrSum: 0 };

/**
 * Locates the L4 header of the IPv4 or IPv6 packet at `l3Off` (IPv6: after the extension
 * header chain). The IPv6 pseudo-header uses the final destination when a routing header
 * (type 0, 2 or 4/SRH) has segments left, as RFC 8200 §8.1 says and Wireshark does.
 */
function locateL4(buf: Uint8Array, l3Off: number): L4Loc {
  loc.ok = false;
  loc.complete = false;
  if (l3Off < 0 || l3Off + 1 > buf.length) return loc;
  const version = buf[l3Off]! >> 4;
  if (version === 4) {
    if (l3Off + 20 > buf.length) return loc;
    const ihl = (buf[l3Off]! & 0x0f) * 4;
    let totalLen = (buf[l3Off + 2]! << 8) | buf[l3Off + 3]!;
    // Total length 0: TSO / BIG TCP (the kernel leaves it 0 above 64 KiB); the capture has the length.
    if (totalLen === 0) totalLen = buf.length - l3Off;
    if (ihl < 20 || totalLen < ihl || l3Off + ihl > buf.length) return loc;
    const frag = ((buf[l3Off + 6]! << 8) | buf[l3Off + 7]!) & 0x3fff;
    loc.proto = buf[l3Off + 9]!;
    loc.l4Off = l3Off + ihl;
    loc.l4Len = totalLen - ihl;
    loc.complete = frag === 0 && l3Off + totalLen <= buf.length;
    loc.addrSum = csumPartial(buf, l3Off + 12, 8);
    loc.ok = true;
    return loc;
  }
  if (version === 6) {
    if (l3Off + 40 > buf.length) return loc;
    const plen = (buf[l3Off + 4]! << 8) | buf[l3Off + 5]!;
    let nh = buf[l3Off + 6]!;
    let off = l3Off + 40;
    // Payload length 0: TSO / BIG TCP (jumbogram with the hop-by-hop option stripped).
    const end = plen === 0 ? buf.length : l3Off + 40 + plen;
    let fragmented = false;
    let dstOff = l3Off + 24;
    for (let guard = 0; guard < 16; guard++) {
      if (nh === 0 || nh === 43 || nh === 60 || nh === 51 || nh === 44) {
        if (off + 8 > buf.length || off + 8 > end) return loc;
        const next = buf[off]!;
        let len: number;
        if (nh === 44) {
          len = 8;
          if ((((buf[off + 2]! << 8) | buf[off + 3]!) & 0xfff9) !== 0) fragmented = true;
        } else if (nh === 51) len = (buf[off + 1]! + 2) * 4;
        else len = (buf[off + 1]! + 1) * 8;
        if (nh === 43 && buf[off + 3]! > 0 && off + len <= buf.length) {
          // RFC 8200 §8.1: with segments left, the pseudo-header uses the final destination.
          const rtype = buf[off + 2]!;
          const n = Math.floor((len - 8) / 16);
          if (rtype === 0 && n > 0) dstOff = off + 8 + (n - 1) * 16; // last listed address
          else if ((rtype === 2 || rtype === 4) && n > 0) dstOff = off + 8; // home address / SRH segment[0]
        }
        nh = next;
        off += len;
      } else break;
    }
    if (off > end) return loc;
    loc.proto = nh;
    loc.l4Off = off;
    loc.l4Len = end - off;
    loc.complete = !fragmented && end <= buf.length;
    loc.addrSum = fold(csumPartial(buf, l3Off + 8, 16) + csumPartial(buf, dstOff, 16));
    loc.ok = true;
    return loc;
  }
  return loc;
}

/**
 * Verifies the TCP, UDP, ICMP or ICMPv6 checksum of the IP packet at `l3Off` (IPv4 or IPv6).
 * A UDP checksum of 0 ("none sent") counts as ok. Returns false when the segment cannot be
 * verified: a fragment, bytes cut off by the snap length, a malformed header, or another
 * protocol.
 */
export function l4ChecksumOk(buf: Uint8Array, l3Off: number): boolean {
  const s = l4ChecksumStatus(buf, l3Off);
  return s === 'good' || s === 'none';
}

/**
 * The number of bytes the L4 checksum covers, or -1 if it cannot be computed. UDP covers
 * its own length field (RFC 768), which may be shorter than the IP payload (the rest is
 * trailer); a UDP length above the IP payload or below 8 is not checkable.
 */
function coveredLen(buf: Uint8Array, l: L4Loc): number {
  if (!l.ok || !l.complete) return -1;
  const csOff = l4ChecksumOffset(l.proto);
  if (csOff < 0 || l.l4Len < csOff + 2) return -1;
  if (l.proto !== IPPROTO_UDP) return l.l4Len;
  const ulen = (buf[l.l4Off + 4]! << 8) | buf[l.l4Off + 5]!;
  return ulen < 8 || ulen > l.l4Len ? -1 : ulen;
}

function l4Sum(buf: Uint8Array, l: L4Loc, len: number): number {
  // ICMPv4 has no pseudo-header.
  const pseudo = l.proto === IPPROTO_ICMP ? 0 : l.addrSum + l.proto + len;
  return csumPartial(buf, l.l4Off, len, pseudo);
}

/** Verdict on an L4 checksum: verified good or bad, not verifiable, or UDP "no checksum" (0). */
export type ChecksumStatus = 'good' | 'bad' | 'unverified' | 'none';

/**
 * Like `l4ChecksumOk` but says why: 'unverified' for fragments, snap-length-cut segments,
 * malformed headers and protocols without a checksum we know; 'none' for a UDP checksum of 0
 * over IPv4 ('bad' over IPv6, where 0 is not allowed).
 */
export function l4ChecksumStatus(buf: Uint8Array, l3Off: number): ChecksumStatus {
  const l = locateL4(buf, l3Off);
  const len = coveredLen(buf, l);
  if (len < 0) return 'unverified';
  if (l.proto === IPPROTO_UDP && buf[l.l4Off + 6] === 0 && buf[l.l4Off + 7] === 0) {
    // "No checksum" exists over IPv4 only: over IPv6 a zero UDP checksum is illegal (RFC 8200
    // §8.1; tshark's "Illegal"), and the receiver discards the datagram.
    return buf[l3Off]! >> 4 === 6 ? 'bad' : 'none';
  }
  return l4Sum(buf, l, len) === 0xffff ? 'good' : 'bad';
}

/** Offset of the checksum field inside the L4 header, or -1 for protocols we do not checksum. */
export function l4ChecksumOffset(proto: number): number {
  switch (proto) {
    case IPPROTO_TCP:
      return 16;
    case IPPROTO_UDP:
      return 6;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return 2;
    default:
      return -1;
  }
}

/**
 * Recomputes every checksum of the IP packet at `l3Off` from scratch: the IPv4 header
 * checksum and the TCP/UDP/ICMP/ICMPv6 checksum. A computed UDP checksum of 0 is written as
 * 0xFFFF (RFC 768). Lengths come from the IP header, clipped to the buffer; fragments get
 * only their IPv4 header checksum. Never throws.
 */
export function fillChecksums(buf: Uint8Array, l3Off: number): void {
  if (l3Off < 0 || l3Off + 20 > buf.length) return;
  if (buf[l3Off]! >> 4 === 4) {
    const ihl = (buf[l3Off]! & 0x0f) * 4;
    if (ihl >= 20 && l3Off + ihl <= buf.length) {
      buf[l3Off + 10] = 0;
      buf[l3Off + 11] = 0;
      const c = csumFold(csumPartial(buf, l3Off, ihl));
      buf[l3Off + 10] = c >> 8;
      buf[l3Off + 11] = c & 0xff;
    }
  }
  const l = locateL4(buf, l3Off);
  const len = coveredLen(buf, l);
  if (len < 0) return;
  const at = l.l4Off + l4ChecksumOffset(l.proto);
  buf[at] = 0;
  buf[at + 1] = 0;
  let c = csumFold(l4Sum(buf, l, len));
  if (c === 0 && l.proto === IPPROTO_UDP) c = 0xffff;
  buf[at] = c >> 8;
  buf[at + 1] = c & 0xff;
}
