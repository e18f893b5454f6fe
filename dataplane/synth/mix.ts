/**
 * @module dataplane/synth/mix
 * The benchmark's mixed traffic (shared/design/performance.md's inputs, scaled to a
 * topology): pods talk to a handful of servers over TCP 443/80/8080 and UDP 53/443/514/123.
 * 5% SYN, 30% pure ACK, 45% TCP data, 20% UDP; a third of the TCP data comes back from the
 * server (recorded replies, as a capture in the pod sees them). Frame sizes 60-1514 bytes.
 * A flow's first packet is always the pod's, so its replies have a mapping to go back on.
 */

import { buildIpv4Frame } from '../packet/build.ts';
import { parseIpv4 } from '../packet/addr.ts';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../packet/tcp.ts';
import type { Rng } from '../lib/rng.ts';
import type { Topology } from '../cluster/topology.ts';
import { addNs, lxcMac, SYNTH_EPOCH, type SynthPacket } from './types.ts';

export interface MixOptions {
  /** @default 1_000_000 */
  packets?: number;
  /** Concurrent flows. @default 60_000 */
  flows?: number;
  /** Mean gap between packets in nanoseconds. @default 1000 (1 Mpps of capture time) */
  gapNs?: number;
}

const DESTS: readonly [string, number, 6 | 17][] = [
  ['172.18.0.10', 443, 6], ['172.18.0.11', 443, 6], ['172.18.3.7', 8080, 6], ['1.1.1.1', 443, 6], ['1.1.1.3', 80, 6],
  ['1.1.1.1', 53, 17], ['1.1.1.2', 443, 17], ['172.18.0.20', 514, 17], ['172.18.0.21', 123, 17],
];
const TCP_DESTS = DESTS.filter((d) => d[2] === 6);
const UDP_DESTS = DESTS.filter((d) => d[2] === 17);

export function* synthMix(topo: Topology, rng: Rng, o: MixOptions = {}): Generator<SynthPacket> {
  const total = o.packets ?? 1_000_000;
  const nFlows = Math.max(1, o.flows ?? 60_000);
  const gap = o.gapNs ?? 1000;
  const pods = topo.endpoints;
  if (pods.length === 0) throw new Error('the mix scenario needs at least one pod');
  // Flow table as parallel arrays: pod index, source port, destination index, started?, seq.
  const fPod = new Uint16Array(nFlows);
  const fPort = new Uint16Array(nFlows);
  const fDst = new Uint8Array(nFlows);
  const fStarted = new Uint8Array(nFlows);
  const fSeq = new Uint32Array(nFlows);
  const perPod = Math.ceil(nFlows / pods.length);
  if (perPod > 65535 - 1024) throw new RangeError(`${nFlows} flows need more source ports than ${pods.length} pods have`);
  for (let f = 0; f < nFlows; f++) {
    const udp = rng.float() < 0.2;
    fPod[f] = f % pods.length;
    fPort[f] = 1024 + Math.floor(f / pods.length) + (rng.below(2) ? 30000 : 0) % (65535 - 1024 - perPod);
    fDst[f] = udp ? DESTS.indexOf(UDP_DESTS[rng.below(UDP_DESTS.length)]!) : DESTS.indexOf(TCP_DESTS[rng.below(TCP_DESTS.length)]!);
    fSeq[f] = rng.u32();
  }
  const dstIp = DESTS.map((d) => parseIpv4(d[0]));
  const payloadPool = new Uint8Array(1514);
  for (let i = 0; i < payloadPool.length; i++) payloadPool[i] = rng.below(256);
  const HDRS = 14 + 20 + 20;
  for (let n = 0; n < total; n++) {
    const f = rng.below(nFlows);
    const pod = pods[fPod[f]!]!;
    const [, dport, proto] = DESTS[fDst[f]!]!;
    const daddr = dstIp[fDst[f]!]!;
    const sport = fPort[f]!;
    const ts = addNs(SYNTH_EPOCH, 0, n * gap);
    const r = rng.float();
    let frame: Uint8Array;
    const podSide = { srcMac: pod.mac, dstMac: lxcMac(pod.ifName), saddr: pod.ip, daddr, sport, dport };
    if (proto === 17) {
      const len = 16 + rng.below(500);
      frame = buildIpv4Frame({ ...podSide, proto: 17, payload: payloadPool.subarray(0, len), id: n & 0xffff });
    } else if (!fStarted[f] || r < 0.05 / 0.8) {
      frame = buildIpv4Frame({ ...podSide, proto: 6, tcpFlags: TCP_SYN, seq: fSeq[f]!, id: n & 0xffff });
    } else if (r < 0.4375) {
      frame = buildIpv4Frame({ ...podSide, proto: 6, tcpFlags: TCP_ACK, seq: fSeq[f]!, ack: 1, id: n & 0xffff });
    } else {
      const len = Math.min(1514 - HDRS, 6 + rng.below(2 * 342));
      const payload = payloadPool.subarray(0, len);
      if (rng.below(3) === 0) {
        // A recorded reply: from the server to the pod, as the pod's capture shows it.
        frame = buildIpv4Frame({
          srcMac: lxcMac(pod.ifName), dstMac: pod.mac, saddr: daddr, daddr: pod.ip, sport: dport, dport: sport,
          proto: 6, tcpFlags: TCP_ACK | TCP_PSH, seq: 1, ack: fSeq[f]!, payload, id: n & 0xffff,
        });
      } else {
        frame = buildIpv4Frame({ ...podSide, proto: 6, tcpFlags: TCP_ACK | TCP_PSH, seq: fSeq[f]!, ack: 1, payload, id: n & 0xffff });
        fSeq[f] = (fSeq[f]! + len) >>> 0;
      }
    }
    fStarted[f] = 1;
    yield { tsSec: ts.tsSec, tsNsec: ts.tsNsec, frame };
  }
}
