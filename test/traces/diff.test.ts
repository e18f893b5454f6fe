import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dissect } from '../../dataplane/packet/dissect.ts';
import { diffCaptures, diffFolders, diffPaths, formatText, parseDuration, parseIgnoreList, type DiffOptions, type DiffReport } from '../../traces/diff/index.ts';
import { CaptureError, UsageError } from '../../traces/errors.ts';
import { type Frame, T0, gatewayFrames, podFrames, tcp, tmpDir, vxlanFrame, writeCapture } from './diff-fixtures.ts';

const dir = tmpDir('engine');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
function pair(e: readonly Frame[], a: readonly Frame[], opts: Partial<DiffOptions> = {}, shapeA: Parameters<typeof writeCapture>[2] = { format: 'pcap' }): DiffReport {
  n++;
  const pe = writeCapture(path.join(dir, `e${n}.pcap`), e);
  const pa = writeCapture(path.join(dir, `a${n}.${shapeA.format}`), a, shapeA);
  return diffCaptures(pe, pa, { dissect, ...opts });
}
const fieldsOf = (r: DiffReport): string[][] => r.packets.map((p) => p.fields.map((f) => f.field));

describe('diff: captures', () => {
  const base = podFrames(60);

  it('reports nothing for the same packets written as pcap LE-µs and pcapng BE-ns', () => {
    const r = pair(base, base, {}, { format: 'pcapng', byteOrder: 'be', resolution: 'ns' });
    expect(r.same).toBe(true);
    expect(r.summary.identical).toBe(60);
    expect(r.packets).toEqual([]);
  });

  it('names exactly the one changed packet and field', () => {
    const a = base.slice();
    a[17] = { ...a[17]!, data: tcp({ src: '10.0.1.202', dst: '172.18.0.7', sport: 40002, dport: 80, seq: 1170, ttl: 63 }) };
    const r = pair(base, a);
    expect(r.same).toBe(false);
    expect(r.packets).toHaveLength(1);
    const p = r.packets[0]!;
    expect(p.kind).toBe('changed');
    expect(p.expected!.frame).toBe(18);
    expect(p.actual!.frame).toBe(18);
    expect(p.expected!.flow).toBe('10.0.1.202:40002 -> 172.18.0.7:80 TCP');
    // The TTL is in the IPv4 header checksum: both change, nothing else.
    expect(p.fields).toEqual([
      { field: 'ipv4.ttl', expected: 64, actual: 63 },
      { field: 'ipv4.checksum', expected: expect.any(Number), actual: expect.any(Number) },
    ]);
    const r2 = pair(base, a, { ignore: ['ipv4.checksum'] });
    expect(fieldsOf(r2)).toEqual([['ipv4.ttl']]);
    expect(r2.summary).toMatchObject({ identical: 59, changed: 1, missing: 0, extra: 0, moved: 0, byField: { 'ipv4.ttl': 1 } });
    expect(formatText(r2)).toContain('ipv4.ttl: 64 -> 63');
  });

  it('reports a changed address by name, with the packet aligned in place', () => {
    const a = base.slice();
    a[30] = { ...a[30]!, data: tcp({ src: '10.0.1.99', dst: '172.18.0.7', sport: 40000, dport: 80, seq: 1300 }) };
    const r = pair(base, a, { ignore: ['ipv4.checksum', 'tcp.checksum'] });
    expect(r.packets.map((p) => [p.kind, p.expected?.frame, p.actual?.frame])).toEqual([['changed', 31, 31]]);
    expect(r.packets[0]!.fields).toEqual([{ field: 'ipv4.src', expected: '10.0.1.200', actual: '10.0.1.99' }]);
  });

  it('reports deleted and inserted packets as missing and extra, the rest still aligned', () => {
    const a = base.slice();
    a.splice(10, 3); // expected #11..#13 gone
    a.splice(40, 0, { data: tcp({ src: '10.0.9.9', dst: '1.1.1.1', sport: 5, dport: 53, seq: 1, proto: 17 }), tsSec: T0, tsNsec: 1 });
    const r = pair(base, a);
    expect(r.summary).toMatchObject({ identical: 57, changed: 0, missing: 3, extra: 1, moved: 0 });
    expect(r.packets.filter((p) => p.kind === 'missing').map((p) => p.expected!.frame)).toEqual([11, 12, 13]);
    expect(r.packets.filter((p) => p.kind === 'extra').map((p) => [p.actual!.frame, p.actual!.flow])).toEqual([[41, '10.0.9.9:5 -> 1.1.1.1:53 UDP']]);
  });

  it('reports a reordering as moved packets, not a cascade', () => {
    const a = base.slice();
    const [x] = a.splice(20, 1);
    a.splice(24, 0, x!);
    const r = pair(base, a);
    expect(r.summary).toMatchObject({ identical: 59, changed: 0, missing: 0, extra: 0, moved: 1 });
    expect(r.packets[0]).toMatchObject({ kind: 'moved', expected: { frame: 21 }, actual: { frame: 25 }, fields: [] });
  });

  it('compares timestamps with a tolerance, and ignores them on request', () => {
    const a = base.map((f, i) => (i === 5 ? { ...f, tsNsec: f.tsNsec + 400_000 } : f));
    expect(fieldsOf(pair(base, a))).toEqual([['ts']]);
    expect(pair(base, a, { tsToleranceNs: parseDuration('500us') }).same).toBe(true);
    expect(pair(base, a, { tsToleranceNs: parseDuration('100us') }).same).toBe(false);
    expect(pair(base, a, { ignore: ['ts'] }).same).toBe(true);
  });

  it('compares pcapng comments by default; --ignore comment drops them', () => {
    const e = base.map((f, i) => (i === 3 ? { ...f, comment: 'SNAT 10.0.1.200:40000 -> 172.18.0.3:40000' } : f));
    const a = base.map((f, i) => (i === 3 ? { ...f, comment: 'SNAT 10.0.1.200:40000 -> 172.18.0.3:51234' } : f));
    n++;
    const pe = writeCapture(path.join(dir, `ce${n}.pcapng`), e, { format: 'pcapng' });
    const pa = writeCapture(path.join(dir, `ca${n}.pcapng`), a, { format: 'pcapng' });
    const r = diffCaptures(pe, pa, { dissect });
    expect(r.packets).toHaveLength(1);
    expect(r.packets[0]!.fields).toEqual([{ field: 'comment', expected: e[3]!.comment, actual: a[3]!.comment }]);
    expect(diffCaptures(pe, pa, { dissect, ignore: ['comment'] }).same).toBe(true);
  });

  it('ignores listed fields and whole layers', () => {
    const a = base.map((f, i) => (i === 8 ? { ...f, data: tcp({ src: '10.0.1.202', dst: '172.18.0.7', sport: 40002, dport: 80, seq: 1080, id: 777 }) } : f));
    expect(fieldsOf(pair(base, a))).toEqual([['ipv4.id', 'ipv4.checksum']]);
    expect(pair(base, a, { ignore: parseIgnoreList('ipv4.id,ipv4.checksum') }).same).toBe(true);
    expect(pair(base, a, { ignore: ['ipv4'] }).same).toBe(true);
    expect(pair(base, a, { ignore: ['ipv4.id'] }).same).toBe(false);
  });

  it('prefixes layers inside a tunnel with inner.', () => {
    const e = base.slice(0, 10).map((f) => ({ ...f, data: vxlanFrame(f.data) }));
    const a = e.slice();
    a[4] = { ...a[4]!, data: vxlanFrame(tcp({ src: '10.0.1.201', dst: '172.18.0.9', sport: 40001, dport: 80, seq: 1040 }), 777) };
    const r = pair(e, a, { ignore: ['checksum', 'inner.ipv4.checksum', 'inner.tcp.checksum'] });
    expect(fieldsOf(r)).toEqual([['vxlan.vni', 'inner.ipv4.dst']]);
    expect(r.packets[0]!.expected!.flow).toBe('10.0.1.201:40001 -> 172.18.0.7:80 TCP');
  });

  it('reports payload byte differences that no header field explains', () => {
    const a = base.map((f, i) => (i === 2 ? { ...f, data: tcp({ src: '10.0.1.202', dst: '172.18.0.7', sport: 40002, dport: 80, seq: 1020, payload: 'data 1021' }) } : f));
    const r = pair(base, a, { ignore: ['tcp.checksum'] });
    expect(r.packets[0]!.fields).toMatchObject([{ field: 'payload.bytes', note: 'first difference at payload byte 8' }]);
  });

  it('canon-ports: a consistent renaming is equal, only with the flag', () => {
    const e = gatewayFrames([40000, 40001, 40002]);
    const a = gatewayFrames([51000, 38000, 40002]);
    const plain = pair(e, a);
    expect(plain.same).toBe(false);
    expect(plain.summary.byField['tcp.sport']).toBe(6);
    expect(plain.summary.byField['tcp.dport']).toBe(6);
    const canon = pair(e, a, { canonPorts: true });
    expect(canon.packets).toEqual([]);
    expect(canon.canonPorts).toEqual([]);
    expect(canon.same).toBe(true);
    expect(canon.summary.canonPortMappings).toBe(3);
  });

  it('canon-ports: two flows on one translated port differ even with the flag', () => {
    const e = gatewayFrames([40000, 40001, 40002]);
    const a = gatewayFrames([51000, 51000, 40002]);
    const r = pair(e, a, { canonPorts: true });
    expect(r.same).toBe(false);
    expect(r.canonPorts).toHaveLength(1);
    expect(r.canonPorts[0]!.message).toBe('canon-ports: TCP 172.18.0.3 -> 172.18.0.7:80: expected ports 40000 and 40001 both map to actual port 51000 (inconsistent)');
    expect(r.packets[0]!.fields[0]).toMatchObject({ field: 'tcp.sport', expected: 40001, actual: 51000 });
    // One expected port onto two actual ports is as inconsistent.
    const b = gatewayFrames([51000, 52000, 40002]).map((f, i) => (i === 6 ? { ...f, data: tcp({ src: '172.18.0.3', dst: '172.18.0.7', sport: 53000, dport: 80, seq: 5001, payload: 'GET 0/1' }) } : f));
    const r2 = pair(e, b, { canonPorts: true });
    expect(r2.canonPorts.map((i) => i.message)).toEqual(['canon-ports: TCP 172.18.0.3 -> 172.18.0.7:80: expected port 40000 maps to actual ports 51000 and 53000 (inconsistent)']);
  });

  it('canon-ports: a flow renamed onto a port another flow kept unchanged differs', () => {
    // Byte-identical pairs only log their identity mapping; the log must be in the tables
    // before the renamed flow is checked against them.
    const e = gatewayFrames([40000, 40001]);
    const a = gatewayFrames([40000, 40000]);
    const r = pair(e, a, { canonPorts: true });
    expect(r.same).toBe(false);
    expect(r.canonPorts.map((i) => i.message)).toEqual(['canon-ports: TCP 172.18.0.3 -> 172.18.0.7:80: expected ports 40000 and 40001 both map to actual port 40000 (inconsistent)']);
    expect(r.summary.canonPortMappings).toBe(1);
    expect(pair(e, gatewayFrames([40000, 40005]), { canonPorts: true })).toMatchObject({ same: true, summary: { canonPortMappings: 2, identical: 12 } });
  });

  it('canon-ports: a renamed packet that also changed elsewhere still reports that change', () => {
    // Renamed pairs are compared without dissection when only the port and its checksum
    // differ; anything else sends them through the layer-by-layer comparison.
    const e = gatewayFrames([40000, 40001, 40002]);
    const a = gatewayFrames([51000, 38000, 40002]);
    a[2] = { ...a[2]!, data: tcp({ src: '172.18.0.3', dst: '172.18.0.7', sport: 38000, dport: 80, seq: 6000, payload: 'GET 1/0', ttl: 63 }) };
    const r = pair(e, a, { canonPorts: true });
    expect(r.summary).toMatchObject({ identical: 17, changed: 1 });
    expect(r.packets.map((p) => [p.expected!.frame, p.fields.map((f) => f.field)])).toEqual([[3, ['ipv4.ttl', 'ipv4.checksum']]]);
    expect(r.canonPorts).toEqual([]);
  });

  it('canon-ports: a renamed packet with a broken L4 checksum differs in checksum_ok', () => {
    const e = gatewayFrames([40000, 40001, 40002]);
    const a = gatewayFrames([51000, 38000, 41234]);
    const bad = a[4]!.data.slice(); // flow 2's first request
    const ck = 14 + 20 + 16;
    bad[ck + 1] ^= 0x01;
    a[4] = { ...a[4]!, data: bad };
    const r = pair(e, a, { canonPorts: true });
    expect(r.canonPorts).toEqual([]);
    expect(r.packets.map((p) => [p.expected!.frame, p.fields.map((f) => f.field)])).toEqual([[5, ['tcp.checksum_ok', 'tcp.checksum_status']]]);
  });

  it('fails with a CaptureError naming file and offset for an unreadable capture', () => {
    const bad = path.join(dir, 'bad.pcap');
    fs.writeFileSync(bad, Buffer.from('not a capture at all'));
    const good = writeCapture(path.join(dir, 'good.pcap'), base);
    expect(() => diffCaptures(good, bad, { dissect })).toThrow(CaptureError);
    expect(() => diffCaptures(good, bad, { dissect })).toThrow(/bad\.pcap: byte offset 0: bad magic/);
    expect(() => diffPaths(good, dir, { dissect })).toThrow(UsageError);
  });
});

describe('diff: replay output folders', () => {
  function folder(name: string, frames: Frame[], summary: object, extraFile?: string): string {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true });
    writeCapture(path.join(d, 'kind-worker.pcapng'), frames, { format: 'pcapng', ifName: 'eth0' });
    writeCapture(path.join(d, 'kind-control-plane-eth0.pcap'), frames.slice(0, 5));
    if (extraFile) writeCapture(path.join(d, extraFile), frames.slice(0, 1));
    fs.writeFileSync(path.join(d, 'summary.json'), JSON.stringify(summary));
    return d;
  }
  const summary = { tool: 'egresslab', input: 'x.pcap', conservation: { input: 60, dropped: 0 }, outputs: ['kind-worker.pcapng', 'kind-control-plane-eth0.pcap'] };

  it('compares every capture and summary.json; equal folders are the same', () => {
    const frames = podFrames(20);
    const r = diffFolders(folder('f1', frames, summary), folder('f2', frames, summary), { dissect });
    expect(r.same).toBe(true);
    expect(r.interfaces.map((i) => [i.name, i.status, i.identical])).toEqual([
      ['kind-control-plane-eth0.pcap', 'compared', 5],
      ['kind-worker.pcapng:eth0', 'compared', 20],
    ]);
  });

  it('reports summary.json fields by JSON path and output files on one side', () => {
    const frames = podFrames(20);
    const changed = frames.slice();
    changed.splice(7, 1);
    const s2 = { ...summary, input: 'y.pcap', conservation: { input: 60, dropped: 3 }, outputs: [...summary.outputs, 'gw.pcap'] };
    const r = diffFolders(folder('g1', frames, summary), folder('g2', changed, s2, 'gw.pcap'), { dissect, ignore: ['summary.input'] });
    expect(r.same).toBe(false);
    expect(r.summaryJson).toEqual([{ path: 'summary.conservation.dropped', expected: '0', actual: '3' }]);
    expect(r.files).toEqual({ missing: [], extra: ['gw.pcap'] });
    expect(r.packets.map((p) => [p.interface, p.kind, p.expected?.frame])).toEqual([['kind-worker.pcapng:eth0', 'missing', 8]]);
    const text = formatText(r);
    expect(text).toContain('summary.conservation.dropped: 0 -> 3');
    expect(text).toContain('extra file: gw.pcap');
  });
});
