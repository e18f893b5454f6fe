/**
 * @module traces/diff/canon-ports
 * `--canon-ports`: translated ports are equal up to a consistent one-to-one renaming.
 *
 * Which port of a packet is the translated (client) one: the higher of the two in the
 * expected packet (servers listen on the lower port; NAT and ephemeral ranges are high),
 * source on a tie; for ICMP echo the identifier, as the source of a request and the
 * destination of a reply. The renaming is kept per key (protocol, local address, remote
 * address, remote port), all taken from the expected packet, so a request `egress IP:p ->
 * server:80` and its reply `server:80 -> egress IP:p` share one key, on every interface and
 * at every tunnel depth. Within a key, expected → actual must stay a bijection: two expected
 * ports onto one actual port, or one expected port onto two actual ports, is inconsistent
 * (two flows on one port) and reported; such ports compare as different.
 *
 * This runs for every matched packet, byte-identical ones included (an identity mapping
 * learned there is what a later renamed flow collides with), so it allocates nothing per
 * packet. Keys get dense ids from a small open-addressing table; both directions of the
 * renaming are (key id, port) → port tables of the same kind, two words a slot. While a key
 * has only ever mapped ports onto themselves, an identity pair cannot break its bijection:
 * it is appended to a log instead of looked up (a lookup in a table the size of the flow
 * count misses the cache while the readers stream), and the log is folded into the tables
 * in one pass when it fills, before any other check, and before `mappings` is read. Exact
 * either way: the tables hold every mapping whenever one is consulted.
 */
import type { CanonPortsIssue } from './types.ts';
import { type FrameWalk, ipv4Text, protoName } from './flow.ts';

/** Result bits of `PortCanon.check` per port position. */
export const CANON_SPORT = 1;
export const CANON_DPORT = 2;

function hash2(a: number, b: number): number {
  const h = Math.imul(a ^ Math.imul(b, 0x85ebca6b), 0x9e3779b1);
  return h ^ (h >>> 15);
}

function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x2545f491, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/**
 * (local, remote, remote port * 4 + protocol class) → dense key id. Four words a slot
 * (local, remote, rk, id); rk is -1 in an empty slot. Addresses as int32 bit patterns.
 */
class KeyTable {
  private t: Int32Array;
  private mask: number;
  count = 0;

  constructor(slots = 1 << 10) {
    this.t = new Int32Array(slots * 4).fill(-1);
    this.mask = slots - 1;
  }

  idOf(local: number, remote: number, rk: number): number {
    const t = this.t;
    const mask = this.mask;
    let i = hash4(local, remote, rk, 0) & mask;
    for (;;) {
      const o = i * 4;
      const k = t[o + 2]!;
      if (k === -1) break;
      if (k === rk && t[o] === local && t[o + 1] === remote) return t[o + 3]!;
      i = (i + 1) & mask;
    }
    if ((this.count + 1) * 2 > mask + 1) {
      this.grow();
      return this.idOf(local, remote, rk);
    }
    const o = i * 4;
    t[o] = local;
    t[o + 1] = remote;
    t[o + 2] = rk;
    t[o + 3] = this.count;
    return this.count++;
  }

  private grow(): void {
    const old = this.t;
    const slots = (this.mask + 1) * 2;
    const t = new Int32Array(slots * 4).fill(-1);
    const mask = slots - 1;
    for (let j = 0; j < old.length; j += 4) {
      if (old[j + 2] === -1) continue;
      let i = hash4(old[j]!, old[j + 1]!, old[j + 2]!, 0) & mask;
      while (t[i * 4 + 2] !== -1) i = (i + 1) & mask;
      t.set(old.subarray(j, j + 4), i * 4);
    }
    this.t = t;
    this.mask = mask;
  }
}

/**
 * (key id, port) → port, -1 when absent. Two words a slot: the key id (-1 empty) and
 * port << 16 | value, so a probe reads 8 bytes. Grows at half load; nothing is deleted.
 */
class PortTable {
  private t: Int32Array;
  private mask: number;
  private used = 0;

  constructor(slots = 1 << 14) {
    this.t = new Int32Array(slots * 2).fill(-1);
    this.mask = slots - 1;
  }

  get(kid: number, port: number): number {
    const t = this.t;
    const mask = this.mask;
    for (let i = hash2(kid, port) & mask; ; i = (i + 1) & mask) {
      const k = t[i * 2]!;
      if (k === -1) return -1;
      if (k === kid) {
        const pv = t[i * 2 + 1]!;
        if (pv >>> 16 === port) return pv & 0xffff;
      }
    }
  }

  /** Only for a (kid, port) not yet present. */
  add(kid: number, port: number, value: number): void {
    if ((this.used + 1) * 2 > this.mask + 1) this.grow();
    this.insert(kid, (port << 16) | value);
    this.used++;
  }

  private insert(kid: number, pv: number): void {
    const t = this.t;
    const mask = this.mask;
    let i = hash2(kid, pv >>> 16) & mask;
    while (t[i * 2] !== -1) i = (i + 1) & mask;
    t[i * 2] = kid;
    t[i * 2 + 1] = pv;
  }

  private grow(): void {
    const old = this.t;
    const slots = (this.mask + 1) * 2;
    this.t = new Int32Array(slots * 2).fill(-1);
    this.mask = slots - 1;
    for (let j = 0; j < old.length; j += 2) if (old[j] !== -1) this.insert(old[j]!, old[j + 1]!);
  }
}

export class PortCanon {
  private readonly keys = new KeyTable();
  /** Per key id: expected port → actual port, and back. */
  private readonly fwd = new PortTable();
  private readonly rev = new PortTable();
  /** Per key id: 1 once the key has mapped a port onto another one. */
  private renamed = new Uint8Array(1024);
  /** Identity pairs of pure keys not yet in the tables: key id, port, key id, port... */
  private readonly log = new Int32Array(2 * 65536);
  private logged = 0;
  private learned = 0;
  /** The previous key: a run of one flow (or one server) skips the key table. */
  private prevLocal = 0;
  private prevRemote = 0;
  private prevRk = -1;
  private prevId = -1;
  private readonly issueKeys = new Set<string>();
  readonly issues: CanonPortsIssue[] = [];

  /** Distinct (key, expected port) pairs learned. */
  get mappings(): number {
    this.flush();
    return this.learned;
  }

  /** Folds the identity log into the tables. */
  private flush(): void {
    const log = this.log;
    const n = this.logged;
    for (let j = 0; j < n; j += 2) {
      const id = log[j]!;
      const p = log[j + 1]!;
      if (this.fwd.get(id, p) === -1) {
        this.fwd.add(id, p, p);
        this.rev.add(id, p, p);
        this.learned++;
      }
    }
    this.logged = 0;
  }

  /**
   * Learns and checks the renaming for IP level `i` of a matched pair (walks of the expected
   * and actual frames; the same walk for byte-identical frames). Returns which port
   * positions differ but are equal under a consistent renaming (CANON_SPORT / CANON_DPORT
   * bits); `inconsistent` gets the same bits for ports whose renaming broke the bijection
   * (only then is an issue recorded).
   */
  check(e: FrameWalk, a: FrameWalk, i: number, inconsistent: { bits: number; note: string }): number {
    inconsistent.bits = 0;
    if (i >= e.levels || i >= a.levels) return 0;
    const proto = e.proto[i]!;
    const es = e.sport[i]!;
    const ed = e.dport[i]!;
    if (es < 0 || ed < 0 || a.sport[i]! < 0 || proto !== a.proto[i]) return 0;
    let srcSide: boolean;
    let pk: number;
    if (proto === 1 || proto === 58) {
      const t = e.icmpType[i]!;
      srcSide = t === 8 || t === 128;
      pk = 2;
    } else if (proto === 6 || proto === 17) {
      srcSide = es >= ed;
      pk = proto === 6 ? 0 : 1;
    } else return 0;
    const icmp = pk === 2;
    const rport = icmp ? 0 : srcSide ? ed : es;
    // The remote (server) port is not renamed: if it differs, this is not a renaming.
    if (!icmp && rport !== (srcSide ? a.dport[i]! : a.sport[i]!)) return 0;
    const ep = srcSide ? es : ed;
    const ap = srcSide ? a.sport[i]! : a.dport[i]!;
    const bit = icmp ? CANON_SPORT | CANON_DPORT : srcSide ? CANON_SPORT : CANON_DPORT;
    const local = (srcSide ? e.saddr[i]! : e.daddr[i]!) | 0;
    const remote = (srcSide ? e.daddr[i]! : e.saddr[i]!) | 0;
    const rk = rport * 4 + pk;
    let id = this.prevId;
    if (rk !== this.prevRk || local !== this.prevLocal || remote !== this.prevRemote) {
      id = this.keys.idOf(local, remote, rk);
      if (id >= this.renamed.length) {
        const r = new Uint8Array(this.renamed.length * 2);
        r.set(this.renamed);
        this.renamed = r;
      }
      this.prevLocal = local;
      this.prevRemote = remote;
      this.prevRk = rk;
      this.prevId = id;
    }
    if (ep === ap && this.renamed[id] === 0) {
      const log = this.log;
      log[this.logged] = id;
      log[this.logged + 1] = ep;
      this.logged += 2;
      if (this.logged === log.length) this.flush();
      return 0;
    }
    if (this.logged !== 0) this.flush();
    if (ep !== ap) this.renamed[id] = 1;
    const known = this.fwd.get(id, ep);
    if (known === ap) return ep !== ap ? bit : 0;
    if (known === -1) {
      const back = this.rev.get(id, ap);
      if (back !== -1) {
        inconsistent.bits = bit;
        inconsistent.note = this.issue(e, i, srcSide, rport, [back, ep], [ap], `expected ports ${back} and ${ep} both map to actual port ${ap}`);
        return 0;
      }
      this.fwd.add(id, ep, ap);
      this.rev.add(id, ap, ep);
      this.learned++;
      return ep !== ap ? bit : 0;
    }
    inconsistent.bits = bit;
    inconsistent.note = this.issue(e, i, srcSide, rport, [ep], [known, ap], `expected port ${ep} maps to actual ports ${known} and ${ap}`);
    return 0;
  }

  private issue(e: FrameWalk, i: number, srcSide: boolean, rport: number, ep: number[], ap: number[], what: string): string {
    const local = e.v6[i] ? 'IPv6' : ipv4Text(srcSide ? e.saddr[i]! : e.daddr[i]!);
    const remote = e.v6[i] ? 'IPv6' : ipv4Text(srcSide ? e.daddr[i]! : e.saddr[i]!);
    const p = e.proto[i]!;
    const label = `${protoName(p)} ${local} -> ${remote}${p === 1 || p === 58 ? '' : `:${rport}`}`;
    const message = `canon-ports: ${label}: ${what} (inconsistent)`;
    const dedupe = `${label}|${ep.join(',')}|${ap.join(',')}`;
    if (!this.issueKeys.has(dedupe)) {
      this.issueKeys.add(dedupe);
      this.issues.push({ key: label, expectedPorts: ep, actualPorts: ap, message });
    }
    return message;
  }
}
