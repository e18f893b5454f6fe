/**
 * @module traces/diff/compare
 * Field comparison of one matched pair. Raw bytes first: equal bytes need no dissection
 * (only the record fields ts, origlen and comment, and canon-ports bookkeeping). Differing
 * bytes are dissected on both sides and compared layer by layer; layers inside a tunnel are
 * prefixed `inner.`, a repeated layer at one depth is `vlan#2`. A byte difference that no
 * dissected field explains is reported as `<layer>.bytes` with the first differing offset.
 */
import type { DiffLayer, Dissector, FieldDiff, FieldValue } from './types.ts';
import { FrameWalk, MAX_LEVELS, walkFrame } from './flow.ts';
import { CANON_DPORT, CANON_SPORT, PortCanon } from './canon-ports.ts';

/** What the comparison reads of a packet (a CaptureRecord fits). */
export interface PacketView {
  data: Uint8Array;
  linkType: number;
  origLen: number;
  tsSec: number;
  tsNsec: number;
  comments?: readonly string[] | undefined;
}

/** Record-level fields (not in any layer). */
export const PACKET_FIELDS = ['ts', 'comment', 'caplen', 'origlen', 'linktype'] as const;

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  if (n < 48) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Buffer.compare(a, b) === 0;
}

/** RFC 1624 eqn. 3: the checksum after a 16-bit field changes from `oldVal` to `newVal`. */
function csumReplace16(check: number, oldVal: number, newVal: number): number {
  let sum = (~check & 0xffff) + (~oldVal & 0xffff) + newVal;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** UDP ports that the dissector decodes as a tunnel (dataplane/packet/ports.ts). */
function isTunnelPort(p: number): boolean {
  return p === 4789 || p === 8472 || p === 6081;
}

function add(out: FieldDiff[] | null, d: FieldDiff): FieldDiff[] {
  if (out === null) return [d];
  out.push(d);
  return out;
}

function commentsEqual(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  const na = a === undefined ? 0 : a.length;
  const nb = b === undefined ? 0 : b.length;
  if (na !== nb) return false;
  for (let i = 0; i < na; i++) if (a![i] !== b![i]) return false;
  return true;
}

/** `1700000000.000001000` (seconds with nanoseconds). */
export function tsText(sec: number, nsec: number): string {
  return `${sec}.${String(nsec).padStart(9, '0')}`;
}

function hex(b: Uint8Array, off: number, n: number): string {
  let s = '';
  for (let i = off; i < Math.min(b.length, off + n); i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

interface NamedLayer {
  layer: DiffLayer;
  /** `inner.ipv4`, `vlan#2` */
  path: string;
  /** `ipv4`, `vlan#2` (no depth prefix) */
  base: string;
  depth: number;
}

function nameLayers(layers: readonly DiffLayer[]): NamedLayer[] {
  const out: NamedLayer[] = [];
  const seen = new Map<string, number>();
  let depth = 0;
  for (const l of layers) {
    const d = l.depth ?? depth;
    const prefix = 'inner.'.repeat(d);
    const k = `${d}|${l.name}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    const base = n === 1 ? l.name : `${l.name}#${n}`;
    out.push({ layer: l, path: prefix + base, base, depth: d });
    if (l.name === 'vxlan' || l.name === 'geneve') depth = d + 1;
  }
  return out;
}

export class PairComparer {
  private readonly ignore: ReadonlySet<string>;
  private readonly tolNs: number;
  private readonly dissect: Dissector;
  readonly canon: PortCanon | undefined;
  private readonly we = new FrameWalk();
  private readonly wa = new FrameWalk();
  private readonly incons = { bits: 0, note: '' };
  private readonly suppress = new Int32Array(MAX_LEVELS);
  private readonly inconsBits = new Int32Array(MAX_LEVELS);
  private readonly inconsNote: string[] = ['', '', '', ''];
  /** renamedOnly: offsets of the 2-byte fields allowed to differ. */
  private readonly skipOff = new Int32Array(2 * MAX_LEVELS);
  private readonly ignTs: boolean;
  private readonly ignComment: boolean;
  private readonly ignOrig: boolean;
  private readonly ignCaplen: boolean;
  private readonly ignLinktype: boolean;

  constructor(o: { dissect: Dissector; ignore: ReadonlySet<string>; tsToleranceNs: number; canonPorts: boolean }) {
    this.ignore = o.ignore;
    this.tolNs = o.tsToleranceNs;
    this.dissect = o.dissect;
    this.canon = o.canonPorts ? new PortCanon() : undefined;
    this.ignTs = o.ignore.has('ts');
    this.ignComment = o.ignore.has('comment');
    this.ignOrig = o.ignore.has('origlen');
    this.ignCaplen = o.ignore.has('caplen');
    this.ignLinktype = o.ignore.has('linktype');
  }

  private ignored(nl: NamedLayer, field: string): boolean {
    const ig = this.ignore;
    if (ig.size === 0) return false;
    const name = nl.layer.name;
    return (
      ig.has(name) ||
      ig.has(nl.base) ||
      ig.has(nl.path) ||
      ig.has(`${name}.${field}`) ||
      ig.has(`${nl.base}.${field}`) ||
      ig.has(`${nl.path}.${field}`)
    );
  }

  /** Differing fields of a matched pair, or null when they are the same. */
  compare(e: PacketView, a: PacketView, knownSame = false): FieldDiff[] | null {
    const same = knownSame || bytesEqual(e.data, a.data);
    if (
      same &&
      e.tsSec === a.tsSec &&
      e.tsNsec === a.tsNsec &&
      e.origLen === a.origLen &&
      e.linkType === a.linkType &&
      e.comments === undefined &&
      a.comments === undefined
    ) {
      // The common case: only canon-ports has anything to do (learn the identity mapping,
      // which a later renamed flow may collide with).
      if (this.canon === undefined || this.canonLevels(e, a, true)) return null;
      return this.compareSlow(e, a, same, true);
    }
    if (!same && this.canon !== undefined && this.renamedOnly(e, a)) return null;
    return this.compareSlow(e, a, same, false);
  }

  /**
   * canon-ports without dissection: true when `a` is `e` with translated ports renamed
   * consistently and nothing else changed but those ports' L4 checksums, updated by RFC 1624
   * (so checksum_ok and checksum_status are the same on both sides): the pair has no
   * difference to report. The renaming is learned either way; false sends the pair through
   * the general comparison, which checks the same renaming again (consistent, or the same
   * deduplicated issue).
   */
  renamedOnly(e: PacketView, a: PacketView): boolean {
    const canon = this.canon;
    const ed = e.data;
    const ad = a.data;
    if (
      canon === undefined ||
      ed.length !== ad.length ||
      e.linkType !== a.linkType ||
      e.tsSec !== a.tsSec ||
      e.tsNsec !== a.tsNsec ||
      e.origLen !== a.origLen ||
      e.comments !== undefined ||
      a.comments !== undefined
    ) {
      return false;
    }
    const we = this.we;
    const wa = this.wa;
    walkFrame(ed, e.linkType, we);
    walkFrame(ad, a.linkType, wa);
    const levels = we.levels;
    if (levels === 0 || wa.levels !== levels) return false;
    // Bytes that may differ: per renamed level, the port (or ICMP identifier) and the L4
    // checksum, as offsets in increasing order (levels nest outward-in, fields in order).
    const skip = this.skipOff;
    let nSkip = 0;
    for (let i = 0; i < levels; i++) {
      const l4 = we.l4Off[i]!;
      if (l4 !== wa.l4Off[i] || we.l3Off[i] !== wa.l3Off[i] || we.proto[i] !== wa.proto[i]) return false;
      if (l4 < 0) continue;
      const es = we.sport[i]!;
      const eds = we.dport[i]!;
      const as = wa.sport[i]!;
      const ads = wa.dport[i]!;
      if (es === as && eds === ads) continue;
      const bits = canon.check(we, wa, i, this.incons);
      if (this.incons.bits !== 0) return false;
      const proto = we.proto[i]!;
      let port: number;
      let ck: number;
      let ep: number;
      let ap: number;
      if (proto === 6 || proto === 17) {
        // One renamed port, covered by the renaming, and no tunnel port (the dissector picks
        // the next layer by port) on either side.
        if (es !== as && eds !== ads) return false;
        const src = es !== as;
        if ((bits & (src ? CANON_SPORT : CANON_DPORT)) === 0) return false;
        ep = src ? es : eds;
        ap = src ? as : ads;
        if (isTunnelPort(ep) || isTunnelPort(ap)) return false;
        port = src ? l4 : l4 + 2;
        ck = proto === 6 ? l4 + 16 : l4 + 6;
      } else {
        if (bits === 0) return false;
        ep = es;
        ap = as;
        port = l4 + 4;
        ck = l4 + 2;
      }
      const ce = (ed[ck]! << 8) | ed[ck + 1]!;
      const ca = (ad[ck]! << 8) | ad[ck + 1]!;
      if (proto === 17 && ce === 0) {
        if (ca !== 0) return false;
      } else {
        let want = csumReplace16(ce, ep, ap);
        if (proto === 17 && want === 0) want = 0xffff;
        if (ca !== want) return false;
      }
      if (nSkip + 2 > skip.length) return false;
      if (port < ck) {
        skip[nSkip++] = port;
        skip[nSkip++] = ck;
      } else {
        skip[nSkip++] = ck;
        skip[nSkip++] = port;
      }
    }
    if (nSkip === 0) return false;
    // Still learn the levels whose ports did not change, as the general comparison would.
    for (let i = 0; i < levels; i++) {
      if (we.l4Off[i]! < 0 || (we.sport[i] !== wa.sport[i] || we.dport[i] !== wa.dport[i])) continue;
      canon.check(we, wa, i, this.incons);
      if (this.incons.bits !== 0) return false;
    }
    let from = 0;
    for (let k = 0; k < nSkip; k++) {
      const off = skip[k]!;
      if (off < from) return false;
      for (let j = from; j < off; j++) if (ed[j] !== ad[j]) return false;
      from = off + 2;
    }
    const n = ed.length;
    if (n - from < 64) {
      for (let j = from; j < n; j++) if (ed[j] !== ad[j]) return false;
      return true;
    }
    return Buffer.compare(ed.subarray(from), ad.subarray(from)) === 0;
  }

  /**
   * Runs canon-ports over every IP level of a pair: fills `suppress` and `inconsBits`
   * per level; true when no renaming was inconsistent.
   */
  private canonLevels(e: PacketView, a: PacketView, same: boolean): boolean {
    const canon = this.canon!;
    const we = this.we;
    walkFrame(e.data, e.linkType, we);
    const wa = same && e.linkType === a.linkType ? we : this.wa;
    if (wa !== we) walkFrame(a.data, a.linkType, wa);
    const levels = Math.min(we.levels, wa.levels);
    const sup = this.suppress;
    const inc = this.inconsBits;
    const ic = this.incons;
    let ok = true;
    for (let i = 0; i < MAX_LEVELS; i++) {
      sup[i] = 0;
      inc[i] = 0;
    }
    for (let i = 0; i < levels; i++) {
      sup[i] = canon.check(we, wa, i, ic);
      if (ic.bits !== 0) {
        inc[i] = ic.bits;
        this.inconsNote[i] = ic.note;
        ok = false;
      }
    }
    return ok;
  }

  /** `canonDone`: canonLevels already ran for this pair (and found an inconsistency). */
  private compareSlow(e: PacketView, a: PacketView, same: boolean, canonDone: boolean): FieldDiff[] | null {
    let out: FieldDiff[] | null = null;
    if (!this.ignTs && (e.tsSec !== a.tsSec || e.tsNsec !== a.tsNsec)) {
      const dns = (e.tsSec - a.tsSec) * 1e9 + (e.tsNsec - a.tsNsec);
      if (Math.abs(dns) > this.tolNs) out = add(out, { field: 'ts', expected: tsText(e.tsSec, e.tsNsec), actual: tsText(a.tsSec, a.tsNsec) });
    }
    if (!this.ignOrig && e.origLen !== a.origLen) out = add(out, { field: 'origlen', expected: e.origLen, actual: a.origLen });
    if (!this.ignCaplen && e.data.length !== a.data.length) out = add(out, { field: 'caplen', expected: e.data.length, actual: a.data.length });
    if (!this.ignComment && !commentsEqual(e.comments, a.comments)) {
      out = add(out, { field: 'comment', expected: e.comments?.join('\n') ?? null, actual: a.comments?.join('\n') ?? null });
    }
    if (!this.ignLinktype && e.linkType !== a.linkType) out = add(out, { field: 'linktype', expected: e.linkType, actual: a.linkType });
    const canon = this.canon !== undefined;
    const inconsistent = canon && (canonDone || !this.canonLevels(e, a, same));
    if (same && !inconsistent) return out;
    for (const d of this.fieldDiffs(e, a, same, canon)) out = add(out, d);
    return out;
  }

  private fieldDiffs(e: PacketView, a: PacketView, same: boolean, canon: boolean): FieldDiff[] {
    const out: FieldDiff[] = [];
    const le = nameLayers(this.dissect(e.data, e.linkType));
    const la = same && e.linkType === a.linkType ? le : nameLayers(this.dissect(a.data, a.linkType));
    const byPath = new Map<string, NamedLayer>();
    for (const nl of la) byPath.set(nl.path, nl);
    let anyRaw = false;
    const done = new Set<string>();
    for (const ne of le) {
      const na = byPath.get(ne.path);
      done.add(ne.path);
      if (na === undefined) {
        anyRaw = true;
        if (!this.ignored(ne, '')) out.push({ field: ne.path, expected: 'present', actual: null });
        continue;
      }
      const fe = ne.layer.fields;
      const fa = na.layer.fields;
      const isL4 = ne.layer.name === 'tcp' || ne.layer.name === 'udp' || ne.layer.name === 'icmp' || ne.layer.name === 'icmpv6';
      const sup = canon && isL4 && ne.depth < MAX_LEVELS ? this.suppress[ne.depth]! : 0;
      const inc = canon && isL4 && ne.depth < MAX_LEVELS ? this.inconsBits[ne.depth]! : 0;
      const keys = new Set([...Object.keys(fe), ...Object.keys(fa)]);
      for (const f of keys) {
        const ve: FieldValue = f in fe ? fe[f]! : null;
        const va: FieldValue = f in fa ? fa[f]! : null;
        const portBit = f === 'sport' ? CANON_SPORT : f === 'dport' ? CANON_DPORT : f === 'id' ? CANON_SPORT : 0;
        if (inc & portBit && !(f === 'id' && !ne.layer.name.startsWith('icmp'))) {
          if (!this.ignored(ne, f)) out.push({ field: `${ne.path}.${f}`, expected: ve, actual: va, note: this.inconsNote[ne.depth] });
          continue;
        }
        if (ve === va) continue;
        anyRaw = true;
        if (sup !== 0) {
          // A renamed port changes the L4 checksum; checksum_ok / checksum_status still compare.
          if (f === 'checksum') continue;
          if (portBit !== 0 && sup & portBit && (f !== 'id' || ne.layer.name.startsWith('icmp'))) continue;
        }
        if (!this.ignored(ne, f)) out.push({ field: `${ne.path}.${f}`, expected: ve, actual: va });
      }
      if (ne.layer.name === 'payload' && !same) {
        const off = ne.layer.offset;
        const end = off + ne.layer.length;
        const aOff = na.layer.offset;
        const n = Math.max(end - off, na.layer.length);
        for (let i = 0; i < n; i++) {
          if (e.data[off + i] !== a.data[aOff + i]) {
            anyRaw = true;
            if (!this.ignored(ne, 'bytes')) {
              out.push({ field: `${ne.path}.bytes`, expected: hex(e.data, off + i, 8), actual: hex(a.data, aOff + i, 8), note: `first difference at payload byte ${i}` });
            }
            break;
          }
        }
      }
    }
    for (const na of la) {
      if (done.has(na.path)) continue;
      anyRaw = true;
      if (!this.ignored(na, '')) out.push({ field: na.path, expected: null, actual: 'present' });
    }
    if (!same && !anyRaw) {
      // Bytes differ where no decoded field looks (padding, trailers, undecoded options).
      let i = 0;
      const n = Math.min(e.data.length, a.data.length);
      while (i < n && e.data[i] === a.data[i]) i++;
      let where: NamedLayer | undefined;
      for (const nl of le) if (nl.layer.offset <= i && i < nl.layer.offset + nl.layer.length) where = nl;
      const field = where === undefined ? 'frame.bytes' : `${where.path}.bytes`;
      if (where === undefined ? !this.ignore.has('frame') && !this.ignore.has('frame.bytes') : !this.ignored(where, 'bytes')) {
        out.push({ field, expected: hex(e.data, i, 8), actual: hex(a.data, i, 8), note: `first difference at frame byte ${i}` });
      }
    }
    return out;
  }
}
