/**
 * @module dataplane/synth/exhaustion
 * More concurrent connections to one remote ip:port than the NAT port range holds. One pod
 * opens a connection from every port of the range (each keeps its port: no collision), so
 * the range toward that remote endpoint is used up exactly; then a second pod opens `extra`
 * more from the same ports, and each of those finds every candidate taken: drop 167
 * (DROP_NAT_NO_MAPPING). The server is a sink, so every connection stays half-open and
 * holds its port.
 */

import { buildIpv4Frame } from '../packet/build.ts';
import { TCP_SYN } from '../packet/tcp.ts';
import type { Rng } from '../lib/rng.ts';
import type { Topology } from '../cluster/topology.ts';
import { addNs, lxcMac, SYNTH_EPOCH, type SynthPacket } from './types.ts';

export interface ExhaustionOptions {
  /** Server name in the topology. @default the first `sink` host */
  server?: string;
  /** Connections beyond the range. @default 64 */
  extra?: number;
  /** Microseconds between two SYNs. @default 10 */
  gapUs?: number;
}

export function* synthExhaustion(topo: Topology, rng: Rng, o: ExhaustionOptions = {}): Generator<SynthPacket> {
  const server = o.server ? topo.externalHosts.find((h) => h.name === o.server) : topo.externalHosts.find((h) => h.behaviour === 'sink');
  if (!server) throw new Error('topology has no sink host for the exhaustion scenario');
  // Two pods on one node exhaust that node's masquerade range as well as the gateway's.
  const first = topo.endpoints[0];
  const second = topo.endpoints.find((e) => e !== first && e.node === first?.node) ?? topo.endpoints[1];
  if (!first || !second) throw new Error('the exhaustion scenario needs two pods');
  const port = server.ports[0] ?? 443;
  const gap = (o.gapUs ?? 10) * 1000;
  const extra = o.extra ?? 64;
  let n = 0;
  const syn = (pod: typeof first, sport: number): SynthPacket => ({
    ...addNs(SYNTH_EPOCH, 0, n++ * gap),
    frame: buildIpv4Frame({
      srcMac: pod.mac, dstMac: lxcMac(pod.ifName), saddr: pod.ip, daddr: server.ip, proto: 6,
      sport, dport: port, tcpFlags: TCP_SYN, seq: rng.u32(), id: n & 0xffff,
    }),
  });
  for (let p = topo.natPortMin; p <= topo.natPortMax; p++) yield syn(first, p);
  for (let i = 0; i < extra; i++) yield syn(second, topo.natPortMin + (i % (topo.natPortMax - topo.natPortMin + 1)));
}
