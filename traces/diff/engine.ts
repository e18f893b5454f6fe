/**
 * @module traces/diff/engine
 * The semantic capture diff: two captures (pcap or pcapng, any byte order or resolution: the
 * content is compared, not the container) or two replay output folders (every capture file
 * by relative path, its interfaces by if_name, and `summary.json` by JSON path).
 *
 * Both files are read in one pass, alternately, record by record. While the two streams
 * agree (the common case), each pair is compared straight out of the readers' buffers: no
 * copy, no hashing, no dissection. Only when they disagree do packets enter the per-interface
 * aligner (align.ts), and only differing pairs are dissected (compare.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openCapture } from '../open.ts';
import type { CaptureReader, CaptureRecord } from '../record.ts';
import { CaptureError, UsageError } from '../errors.ts';
import type { DiffOptions, DiffReport, FieldDiff, InterfaceReport, JsonDiff, PacketDiff, PacketDiffKind, PacketRef } from './types.ts';
import { Aligner, type AlignSink, type Pkt } from './align.ts';
import { PairComparer, bytesEqual, type PacketView } from './compare.ts';
import { FrameWalk, flowText, walkFrame } from './flow.ts';
import { diffJson } from './json-diff.ts';

export const DEFAULT_MAX_REPORT = 100;
export const DEFAULT_WINDOW = 128;

const CAPTURE_EXT = /\.(pcap|pcapng|cap)$/i;

/** RFC 3339 UTC with nanoseconds. */
export function timeText(sec: number, nsec: number): string {
  const iso = new Date(sec * 1000).toISOString();
  return `${iso.slice(0, 19)}.${String(nsec).padStart(9, '0')}Z`;
}

interface Unit {
  report: InterfaceReport;
  aligner: Aligner;
  order: number;
  seenE: boolean;
  seenA: boolean;
  kept: PacketDiff[];
  ltE?: number;
  ltA?: number;
}

class DiffRun implements AlignSink {
  readonly cmp: PairComparer;
  readonly units = new Map<string, Unit>();
  readonly unitList: Unit[] = [];
  readonly report: DiffReport;
  private readonly maxReport: number;
  private readonly window: number;
  private readonly walk = new FrameWalk();
  private listed = 0;
  /** Set while aligning a unit, so sink callbacks know where they are. */
  private cur: Unit | undefined;
  private fileE = '';
  private fileA = '';

  constructor(
    readonly opts: DiffOptions,
    mode: 'capture' | 'folder',
    expected: string,
    actual: string,
  ) {
    const ignore = [...(opts.ignore ?? [])];
    this.window = Math.max(1, opts.window ?? DEFAULT_WINDOW);
    this.maxReport = Math.max(0, opts.maxReport ?? DEFAULT_MAX_REPORT);
    const tol = opts.tsToleranceNs ?? 0;
    this.cmp = new PairComparer({ dissect: opts.dissect, ignore: new Set(ignore), tsToleranceNs: tol, canonPorts: opts.canonPorts === true });
    this.report = {
      same: true,
      mode,
      expected,
      actual,
      options: { ignore, tsToleranceNs: tol, canonPorts: opts.canonPorts === true, window: this.window },
      interfaces: [],
      packets: [],
      files: { missing: [], extra: [] },
      summaryJson: [],
      canonPorts: [],
      summary: {
        expectedPackets: 0,
        actualPackets: 0,
        identical: 0,
        changed: 0,
        missing: 0,
        extra: 0,
        moved: 0,
        byField: {},
        byFlow: {},
        canonPortMappings: 0,
        unlisted: 0,
      },
    };
  }

  private unit(key: string, name: string): Unit {
    let u = this.units.get(key);
    if (u === undefined) {
      u = {
        report: { name, status: 'compared', expectedPackets: 0, actualPackets: 0, identical: 0, changed: 0, missing: 0, extra: 0, moved: 0 },
        aligner: new Aligner(this, this.window, this.opts.canonPorts === true),
        order: this.unitList.length,
        seenE: false,
        seenA: false,
        kept: [],
      };
      this.units.set(key, u);
      this.unitList.push(u);
    }
    return u;
  }

  private ref(p: PacketView & { frame: number; index: number }, file: string): PacketRef {
    walkFrame(p.data, p.linkType, this.walk);
    return { file, frame: p.frame, index: p.index, time: timeText(p.tsSec, p.tsNsec), flow: flowText(p.data, this.walk) };
  }

  private record(kind: PacketDiffKind, e: PacketRef | undefined, a: PacketRef | undefined, fields: FieldDiff[]): void {
    const u = this.cur!;
    const s = this.report.summary;
    u.report[kind]++;
    s[kind]++;
    const flow = (e ?? a)!.flow;
    const f = (s.byFlow[flow] ??= { changed: 0, missing: 0, extra: 0, moved: 0 });
    f[kind]++;
    for (const d of fields) s.byField[d.field] = (s.byField[d.field] ?? 0) + 1;
    const d: PacketDiff = { interface: u.report.name, kind, fields };
    if (e !== undefined) d.expected = e;
    if (a !== undefined) d.actual = a;
    if (this.listed < this.maxReport) {
      this.listed++;
      u.kept.push(d);
    } else s.unlisted++;
  }

  pair(e: Pkt, a: Pkt): void {
    const fields = this.cmp.compare(e, a);
    if (fields === null) {
      this.cur!.report.identical++;
      this.report.summary.identical++;
    } else this.record('changed', this.ref(e, this.fileE), this.ref(a, this.fileA), fields);
  }
  missing(e: Pkt): void {
    this.record('missing', this.ref(e, this.fileE), undefined, []);
  }
  extra(a: Pkt): void {
    this.record('extra', undefined, this.ref(a, this.fileA), []);
  }
  moved(e: Pkt, a: Pkt): void {
    this.record('moved', this.ref(e, this.fileE), this.ref(a, this.fileA), this.cmp.compare(e, a) ?? []);
  }

  /** Compares two capture files; `keyOf` names the unit of an interface. */
  comparePair(pathE: string, pathA: string, labelE: string, labelA: string, byName: boolean): void {
    this.fileE = labelE;
    this.fileA = labelA;
    let rE: CaptureReader | undefined;
    let rA: CaptureReader | undefined;
    try {
      rE = openCapture(pathE);
      rA = openCapture(pathA);
      this.readPair(rE, rA, labelE, labelA, byName);
    } finally {
      rE?.close();
      rA?.close();
    }
  }

  private unitOf(r: CaptureReader, rec: CaptureRecord, side: 'e' | 'a', cache: (Unit | undefined)[], prefix: string, byName: boolean): Unit {
    let u = cache[rec.ifIndex];
    if (u !== undefined) return u;
    const iface = r.info.interfaces[rec.ifIndex];
    const ifName = iface?.name;
    const idName = `#${rec.ifIndex}`;
    let key: string;
    let name: string;
    if (byName) {
      // Folder mode: a pcap file is one interface; pcapng interfaces pair by if_name.
      const own = r.info.format === 'pcap' ? '' : `:${ifName ?? idName}`;
      key = prefix + own;
      name = key;
    } else {
      key = idName;
      name = ifName ?? idName;
    }
    u = this.unit(key, name);
    if (side === 'e') {
      u.seenE = true;
      u.report.expectedFile = this.fileE;
    } else {
      u.seenA = true;
      u.report.actualFile = this.fileA;
    }
    if (iface !== undefined) {
      if (side === 'e') u.ltE = iface.linkType;
      else u.ltA = iface.linkType;
    }
    cache[rec.ifIndex] = u;
    return u;
  }

  private readPair(rE: CaptureReader, rA: CaptureReader, labelE: string, labelA: string, byName: boolean): void {
    const cacheE: (Unit | undefined)[] = [];
    const cacheA: (Unit | undefined)[] = [];
    const prefix = byName ? labelE : '';
    const prefixA = byName ? labelA : '';
    const mine: Unit[] = [];
    let endE = false;
    let endA = false;
    const s = this.report.summary;
    const canon = this.cmp.canon !== undefined;
    // Which side to read next: both, unless one unit has packets of one side queued ahead
    // (after an insertion or deletion); then the side that is behind catches up first.
    let skipE = false;
    let skipA = false;
    while (!endE || !endA) {
      const readE = !endE && (!skipE || endA);
      const readA = !endA && (!skipA || endE);
      const recE = readE ? rE.next() : null;
      if (readE && recE === null) endE = true;
      let uE: Unit | undefined;
      if (recE !== null) {
        uE = this.unitOf(rE, recE, 'e', cacheE, prefix, byName);
        uE.report.expectedPackets++;
        s.expectedPackets++;
        if (uE.aligner.seenE === 0 && !mine.includes(uE)) mine.push(uE);
      }
      // recE stays valid until rE.next(): read the other file now.
      const recA = readA ? rA.next() : null;
      if (readA && recA === null) endA = true;
      let uA: Unit | undefined;
      if (recA !== null) {
        uA = this.unitOf(rA, recA, 'a', cacheA, prefixA, byName);
        uA.report.actualPackets++;
        s.actualPackets++;
        if (uA.aligner.seenA === 0 && !mine.includes(uA)) mine.push(uA);
      }
      if (recE !== null && recA !== null && uE === uA && uE!.aligner.idle) {
        const u = uE!;
        if (bytesEqual(recE.data, recA.data)) {
          const fields = this.cmp.compare(recE, recA, true);
          if (fields === null) {
            u.report.identical++;
            s.identical++;
          } else this.fastChanged(u, recE, recE.index + 1, u.aligner.seenE, recA, recA.index + 1, u.aligner.seenA, fields, labelE, labelA);
          u.aligner.skipPair();
          continue;
        }
        // canon-ports between runs with other seeds: most pairs differ only by a renamed
        // port. The aligner would pair them at once (same flow key); skip its copies.
        if (canon && this.cmp.renamedOnly(recE, recA)) {
          u.report.identical++;
          s.identical++;
          u.aligner.skipPair();
          continue;
        }
      }
      let pendE = recE;
      let pendA = recA;
      if (recE !== null) {
        const h = uE!.aligner.headA();
        if (h !== undefined && bytesEqual(recE.data, h.data)) {
          const fields = this.cmp.compare(recE, h, true);
          const idx = uE!.aligner.seenE;
          uE!.aligner.takeA();
          if (fields === null) {
            uE!.report.identical++;
            s.identical++;
          } else this.fastChanged(uE!, recE, recE.index + 1, idx, h, h.frame, h.index, fields, labelE, labelA);
          pendE = null;
        }
      }
      if (recA !== null) {
        const h = uA!.aligner.headE();
        if (h !== undefined && bytesEqual(recA.data, h.data)) {
          const fields = this.cmp.compare(h, recA, true);
          const idx = uA!.aligner.seenA;
          uA!.aligner.takeE();
          if (fields === null) {
            uA!.report.identical++;
            s.identical++;
          } else this.fastChanged(uA!, h, h.frame, h.index, recA, recA.index + 1, idx, fields, labelE, labelA);
          pendA = null;
        }
      }
      if (pendE !== null) uE!.aligner.pushExpected(pendE, pendE.index + 1);
      if (pendA !== null) uA!.aligner.pushActual(pendA, pendA.index + 1);
      if (uE !== undefined) this.runUnit(uE, endE, endA);
      if (uA !== undefined && uA !== uE) this.runUnit(uA, endE, endA);
      skipE = false;
      skipA = false;
      for (const u of [uE, uA]) {
        if (u === undefined) continue;
        if (u.aligner.queuedA > u.aligner.queuedE) skipA = true;
        else if (u.aligner.queuedE > u.aligner.queuedA) skipE = true;
      }
      if (skipE && skipA) skipE = skipA = false;
    }
    for (const u of mine) this.runUnit(u, true, true);
  }

  private fastChanged(u: Unit, e: PacketView, frameE: number, ie: number, a: PacketView, frameA: number, ia: number, fields: FieldDiff[], labelE: string, labelA: string): void {
    this.cur = u;
    this.record('changed', this.ref({ ...viewOf(e), frame: frameE, index: ie }, labelE), this.ref({ ...viewOf(a), frame: frameA, index: ia }, labelA), fields);
  }

  private runUnit(u: Unit, endE: boolean, endA: boolean): void {
    this.cur = u;
    u.aligner.run(endE, endA);
  }

  finish(): DiffReport {
    const r = this.report;
    for (const u of this.unitList) {
      const ir = u.report;
      if (!u.seenA) ir.status = 'missing';
      else if (!u.seenE) ir.status = 'extra';
      if (u.ltE !== undefined && u.ltA !== undefined && u.ltE !== u.ltA) ir.linkType = { expected: u.ltE, actual: u.ltA };
      r.interfaces.push(ir);
      u.kept.sort((x, y) => (x.expected?.index ?? x.actual!.index) - (y.expected?.index ?? y.actual!.index));
      // A whole interface on one side is one difference, not a list of its packets.
      if (ir.status === 'compared') r.packets.push(...u.kept);
    }
    const canon = this.cmp.canon;
    if (canon !== undefined) {
      r.canonPorts = canon.issues;
      r.summary.canonPortMappings = canon.mappings;
    }
    const s = r.summary;
    r.same =
      s.changed + s.missing + s.extra + s.moved === 0 &&
      r.interfaces.every((i) => i.status === 'compared' && i.linkType === undefined) &&
      r.files.missing.length + r.files.extra.length === 0 &&
      r.summaryJson.length === 0 &&
      r.canonPorts.length === 0;
    return r;
  }
}

function viewOf(p: PacketView): PacketView {
  return { data: p.data, linkType: p.linkType, origLen: p.origLen, tsSec: p.tsSec, tsNsec: p.tsNsec, comments: p.comments };
}

/** Compares two capture files. Throws CaptureError (file, offset) on unreadable input. */
export function diffCaptures(expected: string, actual: string, opts: DiffOptions): DiffReport {
  const run = new DiffRun(opts, 'capture', expected, actual);
  run.comparePair(expected, actual, expected, actual, false);
  return run.finish();
}

function listFiles(root: string, rel = '', out: string[] = []): string[] {
  for (const ent of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
    if (ent.isDirectory()) listFiles(root, r, out);
    else if (ent.isFile()) out.push(r);
  }
  return out.sort();
}

function readSummary(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CaptureError(file, 0, `cannot read summary.json: ${(err as Error).message}`, { cause: err });
  }
}

/** Compares two replay output folders: captures pairwise, summary.json by JSON path. */
export function diffFolders(expected: string, actual: string, opts: DiffOptions): DiffReport {
  const run = new DiffRun(opts, 'folder', expected, actual);
  const r = run.report;
  const fe = listFiles(expected);
  const fa = listFiles(actual);
  const setA = new Set(fa);
  const setE = new Set(fe);
  const missing = new Set<string>();
  const extra = new Set<string>();
  for (const f of fe) {
    if (!CAPTURE_EXT.test(f) && f !== 'summary.json') continue;
    if (!setA.has(f)) missing.add(f);
    else if (f !== 'summary.json') run.comparePair(path.join(expected, f), path.join(actual, f), f, f, true);
  }
  for (const f of fa) if ((CAPTURE_EXT.test(f) || f === 'summary.json') && !setE.has(f)) extra.add(f);
  if (setE.has('summary.json') && setA.has('summary.json')) {
    const se = readSummary(path.join(expected, 'summary.json'));
    const sa = readSummary(path.join(actual, 'summary.json'));
    const ig = new Set(r.options.ignore);
    const out: JsonDiff[] = [];
    const ignored = (p: string): boolean => p === 'summary.outputs' || ig.has(p);
    diffJson(se, sa, 'summary', ignored, out);
    const oe = outputsOf(se);
    const oa = outputsOf(sa);
    if (!ig.has('summary.outputs')) {
      const soa = new Set(oa);
      const soe = new Set(oe);
      for (const o of oe) if (!soa.has(o)) missing.add(o);
      for (const o of oa) if (!soe.has(o)) extra.add(o);
      const common = oe.filter((o) => soa.has(o));
      const commonA = oa.filter((o) => soe.has(o));
      if (common.join('\n') !== commonA.join('\n')) out.push({ path: 'summary.outputs', expected: JSON.stringify(oe), actual: JSON.stringify(oa) });
    }
    r.summaryJson = out;
  }
  r.files.missing = [...missing].sort();
  r.files.extra = [...extra].sort();
  return run.finish();
}

function outputsOf(s: unknown): string[] {
  const o = typeof s === 'object' && s !== null ? (s as { outputs?: unknown }).outputs : undefined;
  return Array.isArray(o) ? o.filter((x): x is string => typeof x === 'string') : [];
}

/** Two folders → diffFolders; two files → diffCaptures; a file and a folder → UsageError. */
export function diffPaths(expected: string, actual: string, opts: DiffOptions): DiffReport {
  const de = isDir(expected);
  const da = isDir(actual);
  if (de !== da) throw new UsageError(`cannot compare a folder with a file: ${de ? expected : actual} is a folder, ${de ? actual : expected} is not`);
  return de ? diffFolders(expected, actual, opts) : diffCaptures(expected, actual, opts);
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch (err) {
    throw new CaptureError(p, 0, `cannot open: ${(err as Error).message}`, { cause: err });
  }
}
