/**
 * @module traces/diff/compare
 * Field comparison of one matched pair. Raw bytes first: equal bytes need no dissection
 * (only the record fields ts, origlen and comment, and canon-ports bookkeeping). Differing
 * bytes are dissected on both sides and compared layer by layer; layers inside a tunnel are
 * prefixed `inner.`, a repeated layer at one depth is `vlan#2`. A byte difference that no
 * dissected field explains is reported as `<layer>.bytes` with the first differing offset.
 */
import type { DiffLayer, Dissector, FieldDiff, FieldValue } from './types.ts';
import { FrameWalk, walkFrame } from './flow.ts';
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
  private readonly suppress = new Int32Array(4);
  private readonly inconsBits = new Int32Array(4);
  private readonly inconsNote: string[] = ['', '', '', ''];
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
      this.canon === undefined &&
      e.tsSec === a.tsSec &&
      e.tsNsec === a.tsNsec &&
      e.origLen === a.origLen &&
      e.linkType === a.linkType &&
      e.comments === undefined &&
      a.comments === undefined
    ) {
      return null;
    }
    return this.compareSlow(e, a, same);
  }

  private compareSlow(e: PacketView, a: PacketView, same: boolean): FieldDiff[] | null {
    let out: FieldDiff[] | null = null;
    const push = (d: FieldDiff): void => {
      (out ??= []).push(d);
    };
    if (!this.ignTs && (e.tsSec !== a.tsSec || e.tsNsec !== a.tsNsec)) {
      const dns = (e.tsSec - a.tsSec) * 1e9 + (e.tsNsec - a.tsNsec);
      if (Math.abs(dns) > this.tolNs) push({ field: 'ts', expected: tsText(e.tsSec, e.tsNsec), actual: tsText(a.tsSec, a.tsNsec) });
    }
    if (!this.ignOrig && e.origLen !== a.origLen) push({ field: 'origlen', expected: e.origLen, actual: a.origLen });
    if (!this.ignCaplen && e.data.length !== a.data.length) push({ field: 'caplen', expected: e.data.length, actual: a.data.length });
    if (!this.ignComment && !commentsEqual(e.comments, a.comments)) {
      push({ field: 'comment', expected: e.comments?.join('\n') ?? null, actual: a.comments?.join('\n') ?? null });
    }
    if (!this.ignLinktype && e.linkType !== a.linkType) push({ field: 'linktype', expected: e.linkType, actual: a.linkType });
    let inconsistent = false;
    const canon = this.canon;
    if (canon !== undefined) {
      walkFrame(e.data, e.linkType, this.we);
      const wa = same && e.linkType === a.linkType ? this.we : this.wa;
      if (wa !== this.we) walkFrame(a.data, a.linkType, wa);
      const levels = Math.min(this.we.levels, wa.levels);
      this.suppress.fill(0);
      this.inconsBits.fill(0);
      for (let i = 0; i < levels; i++) {
        this.suppress[i] = canon.check(this.we, wa, i, this.incons);
        if (this.incons.bits !== 0) {
          this.inconsBits[i] = this.incons.bits;
          this.inconsNote[i] = this.incons.note;
          inconsistent = true;
        }
      }
    }
    if (same && !inconsistent) return out;
    for (const d of this.fieldDiffs(e, a, same, canon !== undefined)) push(d);
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
      const sup = canon && isL4 && ne.depth < 4 ? this.suppress[ne.depth]! : 0;
      const inc = canon && isL4 && ne.depth < 4 ? this.inconsBits[ne.depth]! : 0;
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
