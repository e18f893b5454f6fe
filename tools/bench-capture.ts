/**
 * @module tools/bench-capture
 * The capture jobs of `npm run bench` (issue 2): read, read + decode to L4, read + write.
 * One job per process, timed whole-process against editcap and tshark; prints one JSON line
 * { packets, bytes, extra? } as tools/bench-job.ts does.
 *
 * Why a file of its own: it is bundled alone, without code splitting (tools/build.mjs). The
 * split bundle of the other jobs loads nine chunks and node:stream before the first record;
 * on this machine that was ~20 ms of a ~0.25 s job whose target is set by editcap.
 */
import { openCapture, decodeLinkType, type L3Location } from '../traces/open.ts';
import { Ipv4View } from '../dataplane/packet/view.ts';

type Result = { packets: number; bytes: number; extra?: Record<string, number | string> };

function read(file: string): Result {
  const r = openCapture(file);
  let packets = 0;
  let bytes = 0;
  for (let rec = r.next(); rec; rec = r.next()) {
    packets++;
    bytes += rec.caplen;
  }
  r.close();
  return { packets, bytes };
}

function decode(file: string): Result {
  const r = openCapture(file);
  const loc: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
  const v = new Ipv4View();
  let packets = 0;
  let bytes = 0;
  let l4 = 0;
  for (let rec = r.next(); rec; rec = r.next()) {
    packets++;
    bytes += rec.caplen;
    // In the reader's window: no view of the record is made.
    const at = rec.dataOffset;
    if (decodeLinkType(rec, loc) && loc.ethertype === 0x0800 && v.parse(rec.buf, at + loc.l3Offset, at + rec.caplen) === 0 && v.l4Off >= 0) l4 += v.sport & 1;
  }
  r.close();
  return { packets, bytes, extra: { checksum: l4 } };
}

async function readWrite(file: string, out: string, format: string): Promise<Result> {
  const r = openCapture(file);
  // The writers run only here: in the one-file bundle their code is parsed lazily, not run,
  // by read and decode.
  const w = format === 'pcapng'
    ? (await import('../traces/pcapng-writer.ts')).createPcapngWriter(out)
    : (await import('../traces/pcap-writer.ts')).createPcapWriter(out, { resolution: 'us' });
  const ifId = w.addInterface({ name: 'eth0', linkType: r.info.interfaces[0]?.linkType ?? 1, resolution: 'us' });
  let packets = 0;
  let bytes = 0;
  for (let rec = r.next(); rec; rec = r.next()) {
    packets++;
    bytes += rec.data.length;
    // An options object only when needed: none per packet for unsnapped captures.
    w.writePacket(ifId, rec.tsSec, rec.tsNsec, rec.data, rec.origLen !== rec.caplen ? { origLen: rec.origLen } : undefined);
  }
  w.close();
  r.close();
  return { packets, bytes };
}

const [job, ...args] = process.argv.slice(2);
let result: Result;
switch (job) {
  case 'read': result = read(args[0]!); break;
  case 'decode': result = decode(args[0]!); break;
  case 'readwrite': result = await readWrite(args[0]!, args[1]!, args[2] ?? 'pcap'); break;
  default:
    process.stderr.write(`bench-capture: unknown job '${job}'\n`);
    process.exit(2);
}
process.stdout.write(JSON.stringify(result) + '\n');
