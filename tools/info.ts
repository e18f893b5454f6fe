/**
 * @module tools/info
 * `egresslab info <capture|-> [--json]`: a capinfos-like summary of one capture (format,
 * byte order, resolution, interfaces, packet count, first/last timestamps) plus a decode
 * breakdown (IPv4/IPv6, TCP/UDP/ICMP/ICMPv6, VXLAN/Geneve, not decoded by reason).
 *
 * The L4 breakdown is a few byte reads here on purpose: `info` must work on any capture
 * without the dataplane's packet layers, and only needs protocol numbers and ports.
 * On a capture error, what was read so far is printed first, then the error (exit 2).
 */
import { parseArgs } from 'node:util';
import type { Subcommand } from './cli.ts';
import type { CaptureInfo } from '../traces/record.ts';
import { CaptureError, EXIT_OK, EXIT_USAGE, UsageError } from '../traces/errors.ts';
import { flagError } from './args.ts';
import { openCapture } from '../traces/open.ts';
import { decodeLinkType, linkTypeName, type L3Location } from '../traces/linktype.ts';
import { inert } from '../traces/inert.ts';
import { rfc3339Nano } from '../traces/events.ts';

export interface InfoInterface {
  index: number;
  section: number;
  id: number;
  linkType: number;
  linkTypeName: string;
  linkTypeFlags: number;
  snaplen: number;
  name?: string;
  description?: string;
  resolution: string;
  tsoffset: number;
}

export interface DecodeBreakdown {
  ipv4: number;
  ipv6: number;
  tcp: number;
  udp: number;
  icmp: number;
  icmpv6: number;
  /** IP packets with another (or no reachable) L4 protocol. */
  otherL4: number;
  /** Non-first fragments (no L4 header) . */
  fragments: number;
  /** IP header cut short by the snap length or malformed. */
  truncatedIp: number;
  vxlan: number;
  geneve: number;
  /** Records not decoded to IP, by reason ('not decoded: link type 127', 'not IP: ethertype 0x0806'). */
  notDecoded: Record<string, number>;
}

export interface InfoSummary {
  file: string;
  format: string;
  byteOrder: string;
  version: string;
  /** pcapng only: each section's byte order and version, in file order. */
  sections?: { byteOrder: string; version: string }[];
  interfaces: InfoInterface[];
  packets: number;
  capturedBytes: number;
  wireBytes: number;
  /** RFC 3339 with nanoseconds, UTC, of the first and last timed packets; null when none has a timestamp (no packets, or only simple packet blocks). */
  firstTime: string | null;
  lastTime: string | null;
  decode: DecodeBreakdown;
  /** Set when reading stopped on a capture error. */
  error?: { file: string; offset: number; reason: string };
}

// Terminal safety: names and descriptions come from the file.
function clean(s: string): string {
  return inert(s);
}

export function resolutionText(base: number, exp: number): string {
  if (base === 10) {
    if (exp === 0) return 'seconds';
    if (exp === 3) return 'milliseconds';
    if (exp === 6) return 'microseconds';
    if (exp === 9) return 'nanoseconds';
  }
  return `${base}^-${exp} s`;
}

const TUNNEL_VXLAN = 4789;
const TUNNEL_VXLAN_LINUX = 8472;
const TUNNEL_GENEVE = 6081;

/**
 * Classifies the IP packet at `l3` into the breakdown; the frame ends at `end` (it is read in
 * the reader's window, so no view is made per packet).
 */
function countIp(d: Uint8Array, l3: number, end: number, ethertype: number, out: DecodeBreakdown): void {
  let proto: number;
  let l4: number;
  if (ethertype === 0x0800) {
    out.ipv4++;
    if (l3 + 20 > end) {
      out.truncatedIp++;
      return;
    }
    const ihl = (d[l3]! & 0x0f) * 4;
    if (ihl < 20 || l3 + ihl > end) {
      out.truncatedIp++;
      return;
    }
    if (((d[l3 + 6]! & 0x1f) << 8 | d[l3 + 7]!) !== 0) {
      out.fragments++;
      return;
    }
    proto = d[l3 + 9]!;
    l4 = l3 + ihl;
  } else {
    out.ipv6++;
    if (l3 + 40 > end) {
      out.truncatedIp++;
      return;
    }
    proto = d[l3 + 6]!;
    l4 = l3 + 40;
    // Walk the extension-header chain (bounded: each step advances at least 8 bytes).
    for (;;) {
      if (proto === 0 || proto === 43 || proto === 60 || proto === 135 || proto === 139 || proto === 140) {
        if (l4 + 2 > end) break;
        const next = d[l4]!;
        l4 += (d[l4 + 1]! + 1) * 8;
        proto = next;
      } else if (proto === 44) {
        if (l4 + 8 > end) break;
        const off = (d[l4 + 2]! << 8 | d[l4 + 3]!) & 0xfff8;
        if (off !== 0) {
          out.fragments++;
          return;
        }
        proto = d[l4]!;
        l4 += 8;
      } else if (proto === 51) {
        if (l4 + 2 > end) break;
        const next = d[l4]!;
        l4 += (d[l4 + 1]! + 2) * 4;
        proto = next;
      } else {
        break;
      }
    }
  }
  switch (proto) {
    case 6:
      out.tcp++;
      return;
    case 17: {
      out.udp++;
      if (l4 + 4 <= end) {
        const sport = d[l4]! << 8 | d[l4 + 1]!;
        const dport = d[l4 + 2]! << 8 | d[l4 + 3]!;
        if (dport === TUNNEL_VXLAN || dport === TUNNEL_VXLAN_LINUX || sport === TUNNEL_VXLAN || sport === TUNNEL_VXLAN_LINUX) out.vxlan++;
        else if (dport === TUNNEL_GENEVE || sport === TUNNEL_GENEVE) out.geneve++;
      }
      return;
    }
    case 1:
      out.icmp++;
      return;
    case 58:
      out.icmpv6++;
      return;
    default:
      out.otherL4++;
  }
}

function interfacesOf(info: CaptureInfo): InfoInterface[] {
  return info.interfaces.map((i, index) => {
    const x: InfoInterface = {
      index,
      section: i.section,
      id: i.id,
      linkType: i.linkType,
      linkTypeName: linkTypeName(i.linkType),
      linkTypeFlags: i.linkTypeFlags,
      snaplen: i.snaplen,
      resolution: resolutionText(i.tsresol.base, i.tsresol.exp),
      tsoffset: i.tsoffset,
    };
    if (i.name !== undefined) x.name = clean(i.name);
    if (i.description !== undefined) x.description = clean(i.description);
    return x;
  });
}

/** Reads the whole capture; a CaptureError mid-file ends up in `error`, not thrown. Open errors are thrown. */
export function summarize(path: string): InfoSummary {
  const reader = openCapture(path);
  const decode: DecodeBreakdown = {
    ipv4: 0, ipv6: 0, tcp: 0, udp: 0, icmp: 0, icmpv6: 0, otherL4: 0, fragments: 0, truncatedIp: 0, vxlan: 0, geneve: 0,
    notDecoded: {},
  };
  const loc: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
  let packets = 0;
  let capturedBytes = 0;
  let wireBytes = 0;
  // Over timed records only: a simple packet block has no timestamp.
  let timed = 0;
  let firstSec = 0, firstNsec = 0, lastSec = 0, lastNsec = 0;
  let error: InfoSummary['error'];
  try {
    for (let rec = reader.next(); rec !== null; rec = reader.next()) {
      if (!rec.untimed) {
        if (timed++ === 0) {
          firstSec = rec.tsSec;
          firstNsec = rec.tsNsec;
        }
        lastSec = rec.tsSec;
        lastNsec = rec.tsNsec;
      }
      packets++;
      capturedBytes += rec.caplen;
      wireBytes += rec.origLen;
      const at = rec.dataOffset;
      if (decodeLinkType(rec, loc)) countIp(rec.buf, at + loc.l3Offset, at + rec.caplen, loc.ethertype, decode);
      else decode.notDecoded[loc.reason] = (decode.notDecoded[loc.reason] ?? 0) + 1;
    }
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    error = { file: err.file, offset: err.offset, reason: err.reason };
  } finally {
    reader.close();
  }
  const info = reader.info;
  const summary: InfoSummary = {
    file: reader.path,
    format: info.format,
    byteOrder: info.byteOrder === 'le' ? 'little-endian' : 'big-endian',
    version: info.version,
    ...(info.sections ? { sections: info.sections.map((x) => ({ byteOrder: x.byteOrder === 'le' ? 'little-endian' : 'big-endian', version: x.version })) } : {}),
    interfaces: interfacesOf(info),
    packets,
    capturedBytes,
    wireBytes,
    firstTime: timed > 0 ? rfc3339Nano(firstSec, firstNsec) : null,
    lastTime: timed > 0 ? rfc3339Nano(lastSec, lastNsec) : null,
    decode,
  };
  if (error) summary.error = error;
  return summary;
}

/** Human text; the file line is first so stdin and path runs differ only there. */
export function formatSummary(s: InfoSummary): string {
  const lines: string[] = [];
  const row = (k: string, v: string | number): void => {
    lines.push(`${k.padEnd(17)} ${v}`);
  };
  row('File:', s.file);
  row('Format:', `${s.format} ${s.version}, ${s.byteOrder}`);
  // Several sections may differ in byte order and version: list them all.
  if (s.sections && s.sections.length > 1) {
    row('Sections:', `${s.sections.length}: ${s.sections.map((x, i) => `#${i} ${x.version} ${x.byteOrder}`).join(', ')}`);
  }
  const res = [...new Set(s.interfaces.map((i) => i.resolution))];
  row('Resolution:', res.length > 0 ? res.join(', ') : '-');
  row('Interfaces:', s.interfaces.length);
  for (const i of s.interfaces) {
    const parts = [`link type ${i.linkType} (${i.linkTypeName})`];
    if (i.linkTypeFlags !== 0) parts.push(`flags 0x${i.linkTypeFlags.toString(16).padStart(8, '0')}`);
    parts.push(`snaplen ${i.snaplen}`);
    if (s.format === 'pcapng') {
      parts.push(i.resolution);
      if (i.tsoffset !== 0) parts.push(`tsoffset ${i.tsoffset}s`);
    }
    if (i.name !== undefined) parts.push(`name "${i.name}"`);
    if (i.description !== undefined) parts.push(`description "${i.description}"`);
    const label = s.format === 'pcapng' ? `#${i.index} (section ${i.section}, id ${i.id})` : `#${i.index}`;
    lines.push(`  ${label}: ${parts.join(', ')}`);
  }
  row('Packets:', s.packets);
  row('Captured bytes:', s.capturedBytes);
  row('Wire bytes:', s.wireBytes);
  // Packets but no time: every one was a simple packet block.
  const untimed = s.packets > 0 ? '- (no timestamps: simple packet blocks)' : '-';
  row('First packet:', s.firstTime ?? untimed);
  row('Last packet:', s.lastTime ?? untimed);
  const d = s.decode;
  lines.push('Decode:');
  const sub = (k: string, v: number): void => {
    lines.push(`  ${k.padEnd(30)} ${v}`);
  };
  sub('IPv4', d.ipv4);
  sub('IPv6', d.ipv6);
  sub('TCP', d.tcp);
  sub('UDP', d.udp);
  sub('  VXLAN (UDP 4789/8472)', d.vxlan);
  sub('  Geneve (UDP 6081)', d.geneve);
  sub('ICMP', d.icmp);
  sub('ICMPv6', d.icmpv6);
  sub('other L4', d.otherL4);
  sub('fragments (no L4)', d.fragments);
  sub('truncated IP header', d.truncatedIp);
  const reasons = Object.entries(d.notDecoded).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [reason, n] of reasons) sub(reason, n);
  return lines.join('\n');
}

const usage = `usage: egresslab info <capture|-> [--json]

Summarises a pcap or pcapng capture ('-' reads stdin): format, byte order, timestamp
resolution, interfaces and link types, packet count, first and last timestamps, and a
decode breakdown (IPv4/IPv6, TCP/UDP/ICMP/ICMPv6, VXLAN, Geneve, not decoded by reason).

options:
  --json   print the summary as one JSON object
  -h, --help

Exit codes: 0 ok, 2 usage error or unreadable capture (what was read is still printed).`;

function parse(argv: string[]): { path: string; json: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw flagError(err);
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(parsed.positionals.length === 0 ? 'missing capture path (or - for stdin)' : 'expected exactly one capture');
  }
  return { path: parsed.positionals[0]!, json: parsed.values.json === true };
}

const info: Subcommand = {
  summary: 'summarise a capture: format, interfaces, packets, decode breakdown',
  usage,
  async run(argv: string[]): Promise<number> {
    const { path, json } = parse(argv);
    const s = summarize(path);
    process.stdout.write((json ? JSON.stringify(s, null, 2) : formatSummary(s)) + '\n');
    if (s.error) {
      process.stderr.write(`egresslab info: ${s.error.file}: byte offset ${s.error.offset}: ${s.error.reason}\n`);
      return EXIT_USAGE;
    }
    return EXIT_OK;
  },
};

export default info;
