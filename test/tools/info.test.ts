/**
 * `egresslab info`: the summary's numbers on known corpus files, text vs --json, stdin vs
 * path, partial output then exit 2 on a broken capture, usage errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { summarize, formatSummary } from '../../tools/info.ts';
import { rfc3339Nano as rfc3339 } from '../../traces/events.ts';
import { epb, idb, shb } from '../traces/capture-helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../../shared/corpus/tcpdump/', import.meta.url));
const BIN = path.join(ROOT, 'tools/bin.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egresslab-info-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], input?: Buffer): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'info', ...args], { cwd: ROOT, input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('info summary', () => {
  it('counts VXLAN over IPv4/UDP (vxlan.pcap, 10 packets, as tshark shows)', () => {
    const s = summarize(path.join(CORPUS, 'vxlan.pcap'));
    expect(s).toMatchObject({ format: 'pcap', byteOrder: 'little-endian', version: '2.4', packets: 10, capturedBytes: 1368 });
    expect(s.interfaces).toEqual([
      { index: 0, section: 0, id: 0, linkType: 1, linkTypeName: 'EN10MB', linkTypeFlags: 0, snaplen: 1500, resolution: 'microseconds', tsoffset: 0 },
    ]);
    expect(s.firstTime).toBe('2013-05-18T20:21:44.837063000Z');
    expect(s.lastTime).toBe('2013-05-18T20:21:47.885359000Z');
    expect(s.decode).toMatchObject({ ipv4: 10, ipv6: 0, udp: 10, tcp: 0, vxlan: 10, geneve: 0, notDecoded: {} });
    expect(s.error).toBeUndefined();
  });

  it('counts Geneve, not-decoded link types and non-IP ethertypes', () => {
    expect(summarize(path.join(CORPUS, 'geneve.pcap')).decode).toMatchObject({ ipv4: 39, udp: 39, geneve: 39, vxlan: 0 });
    const radiotap = summarize(path.join(CORPUS, 'radiotap-heapoverflow.pcap'));
    expect(radiotap.packets).toBeGreaterThan(0);
    expect(Object.keys(radiotap.decode.notDecoded)).toEqual(['not decoded: link type 127']);
    expect(radiotap.decode.notDecoded['not decoded: link type 127']).toBe(radiotap.packets);
    const arp = summarize(path.join(CORPUS, 'arp-oobr.pcap'));
    expect(arp.decode.notDecoded['not IP: ethertype 0x0806']).toBeGreaterThan(0);
  });

  it('describes pcapng interfaces and a nanosecond pcap', () => {
    const s = summarize(path.join(CORPUS, 'OSPFv2_Capture_FINAL.pcapng'));
    expect(s.format).toBe('pcapng');
    expect(s.version).toBe('1.0');
    expect(s.interfaces[0]!.name).toBe('\\Device\\NPF_{08CBC0D0-BD89-48BE-9696-8047B3534AD3}');
    expect(s.packets).toBe(30);
    const ns = summarize(path.join(CORPUS, 'tcp-handshake-nano.pcap'));
    expect(ns.interfaces[0]!.resolution).toBe('nanoseconds');
    expect(ns.firstTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });

  it('formats RFC 3339 with nanoseconds and survives absurd seconds', () => {
    expect(rfc3339(0, 1)).toBe('1970-01-01T00:00:00.000000001Z');
    expect(rfc3339(1_700_000_000, 123_456_789)).toBe('2023-11-14T22:13:20.123456789Z');
    expect(rfc3339(2 ** 60, 5)).toBe(`${2 ** 60}.000000005s`);
    // Past year 9999 (pcapng's 64-bit clock): the expanded year, seconds still there.
    expect(rfc3339(1_700_000_000_000, 6000)).toBe('+055840-11-08T22:13:20.000006000Z');
    expect(rfc3339(-62_200_000_000, 0)).toMatch(/^-000\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000000Z$/);
  });

  it('escapes control characters from the file in names and descriptions', () => {
    const f = path.join(dir, 'names.pcapng');
    fs.writeFileSync(f, Buffer.concat([shb(true), idb(true, 1, 0, [[2, 'eth0\u001b[2J'], [3, 'x\u009by']]), epb(true, 0, 1n, new Uint8Array(14))]));
    const s = summarize(f);
    expect(s.interfaces[0]!.name).toBe('eth0\\x1b[2J');
    expect(s.interfaces[0]!.description).toBe('x\\x9by');
    expect(formatSummary(s)).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(s.decode.notDecoded).toEqual({ 'not IP: 802.3 length field (LLC)': 1 });
  });
});

describe('egresslab info (CLI)', () => {
  it('prints the same summary from a path and from stdin', () => {
    const file = path.join(CORPUS, 'afs.pcap');
    const a = cli([file]);
    const b = cli(['-'], fs.readFileSync(file));
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stderr).toBe('');
    expect(b.stderr).toBe('');
    const body = (t: string): string => t.split('\n').slice(1).join('\n');
    expect(a.stdout.split('\n')[0]).toBe(`File:             ${file}`);
    expect(b.stdout.split('\n')[0]).toBe('File:             <stdin>');
    expect(body(b.stdout)).toBe(body(a.stdout));
    expect(a.stdout).toMatch(/Packets:\s+\d+/);
    const ja = JSON.parse(cli([file, '--json']).stdout);
    const jb = JSON.parse(cli(['--json', '-'], fs.readFileSync(file)).stdout);
    expect({ ...jb, file: ja.file }).toEqual(ja);
    expect(ja.packets).toBe(summarize(file).packets);
  });

  it('prints what was read, then the error (file, offset, reason) and exits 2', () => {
    const src = fs.readFileSync(path.join(CORPUS, 'vxlan.pcap'));
    const f = path.join(dir, 'cut.pcap');
    fs.writeFileSync(f, src.subarray(0, src.length - 10));
    const r = cli([f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/Packets:\s+9\n/);
    expect(r.stderr).toMatch(new RegExp(`^egresslab info: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: byte offset \\d+: truncated record`));
    const j = cli([f, '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.reason).toMatch(/truncated/);
  });

  it('exits 2 on an unreadable file and on usage errors', () => {
    const bad = cli([path.join(CORPUS, 'LICENSE')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/byte offset 0: bad magic/);
    const unknown = cli(['--frobnicate', 'x.pcap']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--frobnicate'\n/);
    expect(cli([]).code).toBe(2);
    expect(cli(['a.pcap', 'b.pcap']).code).toBe(2);
    expect(cli(['--help']).stdout).toMatch(/usage: egresslab info/);
  });
});
