/**
 * @module dataplane/packet/addr
 * Address text conversions. IPv4 addresses are u32 numbers (`>>> 0`) everywhere in the
 * dataplane; text exists only at the edges (configuration, events, dissector output).
 */

/** Formats a u32 IPv4 address as dotted quad. */
export function ipToString(u32: number): string {
  const a = u32 >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses dotted-quad text into a u32. Throws a `RangeError` naming the text when it is not
 * exactly four decimal octets 0..255 (no leading zeros beyond "0", which would be ambiguous
 * with octal in inet_aton).
 */
export function parseIpv4(s: string): number {
  const m = IPV4_RE.exec(s);
  if (m === null) throw new RangeError(`not an IPv4 address: ${JSON.stringify(s)}`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const t = m[i]!;
    const n = Number(t);
    if (n > 255 || (t.length > 1 && t[0] === '0')) throw new RangeError(`not an IPv4 address: ${JSON.stringify(s)}`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Reads a big-endian u32 IPv4 address at `off`. */
export function readIpv4(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** Writes a u32 IPv4 address big-endian at `off`. */
export function writeIpv4(buf: Uint8Array, off: number, addr: number): void {
  buf[off] = addr >>> 24;
  buf[off + 1] = (addr >>> 16) & 0xff;
  buf[off + 2] = (addr >>> 8) & 0xff;
  buf[off + 3] = addr & 0xff;
}

/** Formats the 16 bytes at `off` as an RFC 5952 IPv6 address (longest zero run compressed). */
export function ipv6ToString(buf: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // RFC 5952: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped ::ffff:a.b.c.d, as inet_ntop prints it
  if (bestStart === 0 && bestLen === 5 && w[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  const hex = (a: number, b: number): string => w.slice(a, b).map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Formats 6 bytes at `off` as a lowercase colon-separated MAC address. */
export function macToString(buf: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = buf[off + i]!;
    s += (i ? ':' : '') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

/** Formats `len` bytes at `off` as colon-separated hex (link-layer addresses of any length). */
export function hwAddrToString(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len && off + i < buf.length; i++) {
    const b = buf[off + i]!;
    s += (i ? ':' : '') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

const MAC_RE = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/;

/** Writes the MAC text `mac` ("aa:bb:cc:dd:ee:ff") as 6 bytes at `off`; throws a RangeError on bad text. */
export function writeMac(buf: Uint8Array, off: number, mac: string): void {
  const m = MAC_RE.exec(mac);
  if (m === null) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  for (let i = 0; i < 6; i++) buf[off + i] = parseInt(m[i + 1]!, 16);
}
