/**
 * @module dataplane/cluster/cidr
 * IPv4 addresses and CIDRs for configuration files. Addresses are u32 numbers (`>>> 0`,
 * network order as a number: 10.0.0.31 → 0x0a00001f), the form the hot path uses.
 *
 * These parsers are strict on purpose (no leading zeros, no shorthand like `10.1`), like
 * Go's `net.ParseIP` / `net.ParseCIDR` that Cilium's CRD validation relies on: a text
 * that Cilium would reject must not be silently accepted here. They live in the cluster
 * folder so configuration loading does not wait on `dataplane/packet`.
 */

export interface Cidr {
  /** Network address, already masked (u32). */
  addr: number;
  /** Prefix length, 0..32. */
  bits: number;
  /** Canonical text `a.b.c.d/n` of the masked network. */
  text: string;
}

/** Parses dotted-quad IPv4 text; returns -1 when the text is not an IPv4 address. */
export function tryParseIpv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Parses dotted-quad IPv4 text; throws an Error with a short reason on bad text. */
export function parseIpv4Text(s: string): number {
  const v = tryParseIpv4(s);
  if (v < 0) throw new Error(`not an IPv4 address: '${s}'`);
  return v;
}

export function ipv4Text(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/** Netmask of a prefix length as a u32 (bits 0 → 0). */
export function mask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Parses `a.b.c.d/n` (or a bare address, read as /32). Host bits are masked off, the way
 * Go's ParseCIDR returns the network, so `172.18.0.3/16` means 172.18.0.0/16.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const ipPart = slash < 0 ? text : text.slice(0, slash);
  const bitsPart = slash < 0 ? '32' : text.slice(slash + 1);
  if (ipPart.includes(':')) throw new Error(`IPv6 CIDR '${text}' is not supported (the model is IPv4 only)`);
  const ip = tryParseIpv4(ipPart);
  if (ip < 0) throw new Error(`not an IPv4 CIDR: '${text}'`);
  if (!/^(0|[1-9][0-9]?)$/.test(bitsPart) || Number(bitsPart) > 32) {
    throw new Error(`bad prefix length in CIDR '${text}'`);
  }
  return makeCidr(ip, Number(bitsPart));
}

export function makeCidr(addr: number, bits: number): Cidr {
  const net = (addr & mask(bits)) >>> 0;
  return { addr: net, bits, text: `${ipv4Text(net)}/${bits}` };
}

export function contains(c: Cidr, addr: number): boolean {
  return ((addr & mask(c.bits)) >>> 0) === c.addr;
}

/** True when every address of `inner` is inside `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.bits >= outer.bits && contains(outer, inner.addr);
}
