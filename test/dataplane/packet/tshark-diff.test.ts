/**
 * Differential decode against tshark over the corpus: for every IPv4/IPv6 TCP/UDP packet of
 * the Ethernet, Linux SLL/SLL2 and raw-IP captures, our addresses, protocol and ports must
 * equal tshark's, and our checksum verdicts (IPv4 header, TCP, UDP) must equal tshark's
 * where tshark verified them (status Good/Bad).
 *
 * To keep the run short, the IP packets of all files are gathered into one classic pcap per
 * link type (original lengths kept, so truncation stays visible) and tshark runs once per
 * file. Only the outermost IP packet is compared: packets with a second IP header before the
 * first TCP/UDP header (IP-in-IP, 6in4) are left out, as are the layers inside tunnels.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dissect, type Layer } from '../../../dataplane/packet/dissect.ts';
import { decodeLinkType, openCapture, type L3Location } from '../../../traces/open.ts';

const CORPUS = fileURLToPath(new URL('../../../../shared/corpus/tcpdump/', import.meta.url));
const TSHARK = '/usr/bin/tshark';
const hasTshark = existsSync(TSHARK);
/** Files above this size are skipped (a few huge captures would dominate tshark's time). */
const MAX_FILE_BYTES = 16 << 20;
/** Per-file cap on IP packets gathered. */
const MAX_PER_FILE = 5000;
const SNAPLEN = 262144;

/** Output link type per input link type: raw IP aliases (12, 14, 228, 229) go out as 101. */
function outLinkType(lt: number): number {
  if (lt === 1 || lt === 113 || lt === 276) return lt;
  if (lt === 101 || lt === 12 || lt === 14 || lt === 228 || lt === 229) return 101;
  return -1;
}

interface Pkt {
  file: string;
  index: number;
  data: Uint8Array;
  origLen: number;
}

function gather(): Map<number, Pkt[]> {
  const groups = new Map<number, Pkt[]>();
  const loc: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
  for (const name of readdirSync(CORPUS).sort()) {
    const path = join(CORPUS, name);
    if (statSync(path).size > MAX_FILE_BYTES) continue;
    let r;
    try {
      r = openCapture(path);
    } catch {
      continue;
    }
    let n = 0;
    try {
      for (let rec = r.next(); rec !== null && n < MAX_PER_FILE; rec = r.next()) {
        const lt = outLinkType(rec.linkType);
        if (lt < 0 || rec.data.length > SNAPLEN || !decodeLinkType(rec, loc)) continue;
        let g = groups.get(lt);
        if (g === undefined) groups.set(lt, (g = []));
        g.push({ file: name, index: rec.index, data: rec.data.slice(), origLen: Math.max(rec.origLen, rec.data.length) });
        n++;
      }
    } catch {
      // Malformed files end with a CaptureError; the packets before it are kept.
    } finally {
      r.close();
    }
  }
  return groups;
}

function writePcap(path: string, linkType: number, pkts: Pkt[]): void {
  let size = 24;
  for (const p of pkts) size += 16 + p.data.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, SNAPLEN, true);
  dv.setUint32(20, linkType, true);
  let o = 24;
  pkts.forEach((p, i) => {
    dv.setUint32(o, i, true);
    dv.setUint32(o + 8, p.data.length, true);
    dv.setUint32(o + 12, p.origLen, true);
    out.set(p.data, o + 16);
    o += 16 + p.data.length;
  });
  writeFileSync(path, out);
}

const FIELDS = [
  'frame.number', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'ip.proto',
  'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport',
  'tcp.checksum.status', 'udp.checksum.status', 'ip.checksum.status',
] as const;

function runTshark(path: string): Map<number, Record<(typeof FIELDS)[number], string>> {
  const args = ['-r', path, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f',
    '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
    '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE'];
  for (const f of FIELDS) args.push('-e', f);
  const text = execFileSync(TSHARK, args, { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const rows = new Map<number, Record<(typeof FIELDS)[number], string>>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const cols = line.split('\t');
    const row = {} as Record<(typeof FIELDS)[number], string>;
    FIELDS.forEach((f, i) => (row[f] = cols[i] ?? ''));
    rows.set(Number(row['frame.number']), row);
  }
  return rows;
}

/** tshark checksum status: 0 Bad, 1 Good, 2 Unverified, 3 Not present, 4 Illegal. */
function tsharkVerdict(s: string): 'good' | 'bad' | null {
  return s === '1' ? 'good' : s === '0' ? 'bad' : null;
}

interface Ours {
  ip: Layer;
  l4: Layer | undefined;
  /** IPv4 protocol, or the last IPv6 next header of the extension chain */
  finalProto: number;
}

/** Our outermost IP layer and the TCP/UDP layer right after it (through IPv6 extension headers). */
function outer(layers: Layer[]): Ours | null {
  const i = layers.findIndex((l) => l.name === 'ipv4' || l.name === 'ipv6');
  if (i < 0) return null;
  let j = i + 1;
  while (j < layers.length && layers[j]!.name === 'ipv6ext') j++;
  const n = layers[j];
  if (n !== undefined && (n.name === 'ipv4' || n.name === 'ipv6')) return null; // IP in IP
  const last = layers[j - 1]!;
  const finalProto = Number(last.name === 'ipv4' ? last.fields.proto : last.fields.nh);
  return { ip: layers[i]!, l4: n !== undefined && (n.name === 'tcp' || n.name === 'udp') ? n : undefined, finalProto };
}

/**
 * Packets where tshark gives a TCP/UDP checksum verdict and we say 'unverified', each with
 * the verdict tshark gives and why. All four have an IP length field larger than the bytes
 * that follow the IP header, with the frame not cut by the snap length (caplen = len): a
 * lying header, not a short capture. We do not verify a segment whose IP length runs past
 * the buffer (locateL4: complete = false), since we cannot tell which bytes the sender
 * checksummed. tshark flags the length ("... exceeds packet length"), clamps the payload to
 * the bytes present and verifies over them: for UDP over the UDP length field when that
 * fits, for TCP over the clamped payload.
 */
const UNVERIFIED_BY_US: Record<string, { tshark: 'good' | 'bad'; why: string }> = {
  'ipv4_invalid_total_length.pcap#1': {
    tshark: 'good',
    why: 'IPv4 total length 85, 84 bytes present; the UDP length (64) fits in them, so tshark checksums those 64 bytes: good',
  },
  'ipv6_invalid_length_2.pcap#1': {
    tshark: 'good',
    why: 'IPv6 payload length 65, 64 bytes present; the UDP length (64) fits in them, so tshark checksums those 64 bytes: good',
  },
  'kday4.pcap#10': {
    tshark: 'bad',
    why: 'IPv4 total length 820, 52 bytes present: tshark checksums the 32 bytes of TCP header it has, not the 800 the sender covered: bad',
  },
  'kday7.pcap#10': {
    tshark: 'bad',
    why: 'same packet as kday4.pcap#10 (IPv4 total length 820, 52 bytes present): tshark bad over the clamped 32 TCP bytes',
  },
};

describe.skipIf(!hasTshark)('tshark differential decode (corpus)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egresslab-tshark-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('should agree with tshark on addresses, protocol, ports and checksum verdicts', () => {
    const groups = gather();
    const mismatches: string[] = [];
    let compared = 0;
    let l4Compared = 0;
    let csumCompared = 0;
    const unverifiedSeen: string[] = [];
    for (const [lt, pkts] of groups) {
      const path = join(dir, `lt${lt}.pcap`);
      writePcap(path, lt, pkts);
      const rows = runTshark(path);
      pkts.forEach((p, k) => {
        const row = rows.get(k + 1);
        const where = `${p.file}#${p.index + 1}`;
        if (row === undefined) {
          mismatches.push(`${where}: no tshark row`);
          return;
        }
        const layers = dissect(p.data, lt === 101 ? 101 : lt);
        const o = outer(layers);
        const tsTcp = row['tcp.srcport'] !== '';
        const tsUdp = row['udp.srcport'] !== '';
        if (o === null) return;
        const f = o.ip.fields;
        const isV4 = o.ip.name === 'ipv4';
        const frag = isV4 ? (f.mf as boolean) || (f.frag as number) !== 0 : layers.some((l) => l.name === 'ipv6ext' && l.fields.type === 44);
        // Only unfragmented TCP/UDP packets (ours or tshark's) are in scope; an ICMP error
        // quoting a UDP header shows tshark ports of the quoted packet.
        if (frag) return;
        if (o.l4 === undefined && !(tsTcp || tsUdp)) return;
        // tshark ports with no TCP/UDP of ours count only when our outer IP says TCP/UDP: otherwise
        // they belong to something tshark decodes further (GRE, ERSPAN, PIM register, ICMP quotes).
        if (o.l4 === undefined && o.finalProto !== 6 && o.finalProto !== 17) return;
        // IPv6 payload length 0 (TSO / BIG TCP): tshark 4.0 marks the TCP header malformed.
        if (!isV4 && f.plen === 0) return;
        compared++;
        const diff = (what: string, ours: unknown, theirs: unknown): void => {
          if (String(ours) !== String(theirs)) mismatches.push(`${where}: ${what}: ours ${String(ours)} tshark ${String(theirs)}`);
        };
        if (isV4) {
          diff('ipv4.src', f.src, row['ip.src']);
          diff('ipv4.dst', f.dst, row['ip.dst']);
          diff('ipv4.proto', f.proto, row['ip.proto']);
        } else {
          diff('ipv6.src', f.src, row['ipv6.src']);
          diff('ipv6.dst', f.dst, row['ipv6.dst']);
        }
        if (o.l4 === undefined) {
          // A TCP/UDP header cut short: tshark shows the ports that fit, we decode no partial header.
          if (/^truncated (tcp|udp) header/.test(String(layers.at(-1)?.fields.error ?? ''))) return;
          mismatches.push(`${where}: tshark sees ${tsTcp ? 'tcp' : 'udp'}, we see ${layers.map((l) => l.name).join('/')} ${String(layers.at(-1)?.fields.error ?? '')}`);
          return;
        }
        l4Compared++;
        const pre = o.l4.name === 'tcp' ? 'tcp' : 'udp';
        diff(`${pre}.sport`, o.l4.fields.sport, row[`${pre}.srcport`]);
        diff(`${pre}.dport`, o.l4.fields.dport, row[`${pre}.dstport`]);
        // Checksum verdicts, where both sides verified.
        if (isV4) {
          const t = tsharkVerdict(row['ip.checksum.status']);
          if (t !== null) {
            csumCompared++;
            diff('ipv4.checksum_ok', f.checksum_ok, t === 'good');
          }
        }
        const ours = o.l4.fields.checksum_status;
        const t = tsharkVerdict(row[`${pre}.checksum.status`]);
        if (t !== null && (ours === 'good' || ours === 'bad')) {
          csumCompared++;
          diff(`${pre}.checksum`, ours, t);
        } else if (t !== null) {
          // tshark verified, we did not: only the listed packets, with the verdict listed.
          const known = UNVERIFIED_BY_US[where];
          if (known === undefined) mismatches.push(`${where}: ${pre}.checksum: ours ${String(ours)}, tshark ${t} (not in UNVERIFIED_BY_US)`);
          else diff(`${pre}.checksum (listed unverified)`, known.tshark, t);
          unverifiedSeen.push(where);
        }
      });
    }
    console.log(`tshark differential: ${compared} packets, ${l4Compared} with TCP/UDP ports, ${csumCompared} checksum verdicts`);
    // The corpus has thousands of such packets; a near-empty comparison means the test is broken.
    expect(compared).toBeGreaterThan(2000);
    expect(l4Compared).toBeGreaterThan(2000);
    expect(csumCompared).toBeGreaterThan(2000);
    expect(mismatches.slice(0, 40)).toEqual([]);
    // Every listed exception still occurs (a fix on either side shows up here), once.
    expect(unverifiedSeen.sort()).toEqual(Object.keys(UNVERIFIED_BY_US).sort());
  });
});

if (!hasTshark) {
  describe('tshark differential decode (corpus)', () => {
    it.skip(`skipped: ${TSHARK} is not installed (apt-get install tshark)`, () => {});
  });
}
