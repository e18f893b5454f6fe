/**
 * @module dataplane/packet/geneve
 * Geneve header (RFC 8926 §3), carried in UDP to 6081.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |        Virtual Network Identifier (VNI)       |    Reserved   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Variable-Length Options                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Option (TLV):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Option Class         |      Type     |R|R|R| Length  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Variable-Length Option Data (Length * 4)      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   Opt Len and Length count 4-byte words. O: control (OAM) packet, C: critical option present.
 * ```
 * Protocol type 0x6558 (Transparent Ethernet Bridging) carries an Ethernet frame, which is
 * what Cilium sends; 0x0800 / 0x86DD carry bare IP.
 * Fields: `version`, `optlen` (bytes), `oam`, `critical`, `proto`, `vni`, `opt_count`,
 * `options` (text "class/type:hexdata" per option, comma-separated).
 */

import { ETHERTYPE_TEB } from './ethernet.ts';
import { truncated, type DecodeState, type Layer, type NextDecoder } from './layer.ts';

export const GENEVE_HLEN = 8;
/** Largest options block: 6 bits of 4-byte words. */
export const GENEVE_OPTIONS_MAX = 63 * 4;

/** Decodes a Geneve header with its options; what follows is one tunnel level deeper. */
export function decodeGeneve(st: DecodeState, out: Layer[]): NextDecoder {
  const { buf, off } = st;
  if (off + GENEVE_HLEN > st.end) return truncated(st, 'geneve header', GENEVE_HLEN);
  const version = buf[off]! >> 6;
  const optlen = (buf[off]! & 0x3f) * 4;
  const proto = (buf[off + 2]! << 8) | buf[off + 3]!;
  const hlen = GENEVE_HLEN + optlen;
  if (off + hlen > st.end) return truncated(st, 'geneve options', hlen);
  const opts: string[] = [];
  let o = off + GENEVE_HLEN;
  const oend = off + hlen;
  let optError = '';
  while (o + 4 <= oend) {
    const cls = (buf[o]! << 8) | buf[o + 1]!;
    const type = buf[o + 2]!;
    const dlen = (buf[o + 3]! & 0x1f) * 4;
    if (o + 4 + dlen > oend) {
      optError = 'geneve: option overruns the options block';
      break;
    }
    let hex = '';
    for (let i = o + 4; i < o + 4 + dlen; i++) hex += buf[i]!.toString(16).padStart(2, '0');
    opts.push(`0x${cls.toString(16).padStart(4, '0')}/0x${type.toString(16).padStart(2, '0')}:${hex}`);
    o += 4 + dlen;
  }
  out.push({
    name: 'geneve',
    offset: off,
    length: hlen,
    fields: {
      version,
      optlen,
      oam: (buf[off + 1]! & 0x80) !== 0,
      critical: (buf[off + 1]! & 0x40) !== 0,
      proto,
      vni: (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!,
      opt_count: opts.length,
      options: opts.join(','),
    },
    depth: st.depth,
  });
  st.off = off + hlen;
  if (optError) {
    st.error = optError;
    return 'payload';
  }
  if (version !== 0) {
    st.error = `geneve: version ${version}`;
    return 'payload';
  }
  st.depth += 1;
  st.l3Off = -1;
  st.fragment = false;
  if (proto === ETHERTYPE_TEB) return 'eth';
  if (proto === 0x0800) return 'ipv4';
  if (proto === 0x86dd) return 'ipv6';
  st.depth -= 1;
  return 'payload';
}

/**
 * Writes a Geneve header plus `options` (already TLV-encoded, a multiple of 4 bytes, at most
 * 252) at `off`; returns the bytes written. Protocol type defaults to 0x6558 (Ethernet).
 * Throws a RangeError on a VNI over 24 bits or a bad options length.
 */
export function encodeGeneve(buf: Uint8Array, off: number, vni: number, options?: Uint8Array, proto = ETHERTYPE_TEB): number {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`Geneve VNI ${vni} does not fit 24 bits`);
  const olen = options?.length ?? 0;
  if (olen % 4 !== 0 || olen > GENEVE_OPTIONS_MAX) throw new RangeError(`Geneve options length ${olen} is not a multiple of 4 up to 252`);
  buf[off] = olen / 4;
  buf[off + 1] = 0;
  buf[off + 2] = proto >> 8;
  buf[off + 3] = proto & 0xff;
  buf[off + 4] = vni >>> 16;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
  if (options !== undefined && olen > 0) buf.set(options, off + GENEVE_HLEN);
  return GENEVE_HLEN + olen;
}

/** Encodes one Geneve option TLV (data padded to a multiple of 4 bytes). */
export function geneveOption(cls: number, type: number, data: Uint8Array): Uint8Array {
  const dlen = Math.ceil(data.length / 4) * 4;
  if (dlen > 31 * 4) throw new RangeError(`Geneve option data of ${data.length} bytes exceeds 124`);
  const out = new Uint8Array(4 + dlen);
  out[0] = cls >> 8;
  out[1] = cls & 0xff;
  out[2] = type;
  out[3] = dlen / 4;
  out.set(data, 4);
  return out;
}
