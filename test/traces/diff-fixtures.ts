/**
 * Builders for the diff tests: small lab-like packet lists and captures written with our
 * own writers (pcap LE/BE µs/ns, pcapng), so each test states its packets in a few lines.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildIpv4Frame, encapVxlan } from '../../dataplane/packet/build.ts';
import { parseIpv4 } from '../../dataplane/packet/addr.ts';
import { createPcapWriter } from '../../traces/pcap-writer.ts';
import { createPcapngWriter } from '../../traces/pcapng-writer.ts';

export interface Frame {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  comment?: string;
}

export interface CaptureShape {
  format: 'pcap' | 'pcapng';
  byteOrder?: 'le' | 'be';
  resolution?: 'us' | 'ns';
  ifName?: string;
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `egresslab-diff-${tag}-`));
}

export function writeCapture(file: string, frames: readonly Frame[], shape: CaptureShape = { format: 'pcap' }): string {
  const res = shape.resolution ?? 'us';
  const w =
    shape.format === 'pcap'
      ? createPcapWriter(file, { resolution: res, byteOrder: shape.byteOrder ?? 'le' })
      : createPcapngWriter(file, { byteOrder: shape.byteOrder ?? 'le' });
  const id = w.addInterface({ name: shape.ifName ?? 'eth0', linkType: 1, resolution: res });
  for (const f of frames) w.writePacket(id, f.tsSec, f.tsNsec, f.data, f.comment !== undefined ? { comment: f.comment } : undefined);
  w.close();
  return file;
}

export const T0 = 1_700_000_000;

export interface PacketSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ttl?: number;
  id?: number;
  payload?: string;
  proto?: 6 | 17;
}

export function tcp(p: PacketSpec): Uint8Array {
  return buildIpv4Frame({
    saddr: parseIpv4(p.src),
    daddr: parseIpv4(p.dst),
    proto: p.proto ?? 6,
    sport: p.sport,
    dport: p.dport,
    seq: p.seq,
    ttl: p.ttl ?? 64,
    id: p.id ?? 0,
    payload: new TextEncoder().encode(p.payload ?? `data ${p.seq}`),
  });
}

/**
 * `n` packets of three pod flows to 172.18.0.7:80, interleaved, each with its own sequence
 * number and payload, 1 ms apart.
 */
export function podFrames(n: number): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const pod = i % 3;
    out.push({
      data: tcp({ src: `10.0.1.${200 + pod}`, dst: '172.18.0.7', sport: 40000 + pod, dport: 80, seq: 1000 + i * 10 }),
      tsSec: T0 + Math.floor(i / 1000),
      tsNsec: (i % 1000) * 1_000_000,
    });
  }
  return out;
}

/**
 * A gateway eth0 view: SNAT'ed requests `egress:port -> server:80` and replies back,
 * `ports[f]` being flow f's translated port.
 */
export function gatewayFrames(ports: readonly number[], rounds = 3): Frame[] {
  const out: Frame[] = [];
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    for (let f = 0; f < ports.length; f++) {
      const seq = 5000 + f * 1000 + r;
      out.push({ data: tcp({ src: '172.18.0.3', dst: '172.18.0.7', sport: ports[f]!, dport: 80, seq, payload: `GET ${f}/${r}` }), tsSec: T0, tsNsec: k++ * 1000 });
      out.push({ data: tcp({ src: '172.18.0.7', dst: '172.18.0.3', sport: 80, dport: ports[f]!, seq: seq + 77, payload: `OK ${f}/${r}` }), tsSec: T0, tsNsec: k++ * 1000 });
    }
  }
  return out;
}

/** A pod packet wrapped in VXLAN toward the gateway (VNI = identity). */
export function vxlanFrame(inner: Uint8Array, vni = 12345): Uint8Array {
  return encapVxlan(inner, {
    srcMac: '02:00:00:00:00:0a',
    dstMac: '02:00:00:00:00:0b',
    saddr: parseIpv4('172.18.0.5'),
    daddr: parseIpv4('172.18.0.3'),
    sport: 51000,
    vni,
  });
}
