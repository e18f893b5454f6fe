/**
 * @module dataplane/synth/lab
 * The seed's lab as a client-side capture: each net-tshoot pod, one after the other (as
 * `kubectl exec ... wget -q -O - echo` runs them), opens a TCP connection to the echo
 * server on port 80, sends wget's GET, acknowledges the answer and closes.
 *
 * Not generated: the DNS lookup of `echo` (CoreDNS lives in kube-system, which the lab's
 * policy does not select, and its upstream query is not the pod's traffic).
 */

import { buildIpv4Frame } from '../packet/build.ts';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../packet/tcp.ts';
import type { Rng } from '../lib/rng.ts';
import type { EndpointSpec, ExternalHostSpec, Topology } from '../cluster/topology.ts';
import { addNs, lxcMac, SYNTH_EPOCH, type EchoModel, type SynthPacket } from './types.ts';

export interface LabSynthOptions {
  /** Pods that run wget, in order. @default every endpoint of the topology, sorted by node name */
  pods?: EndpointSpec[];
  /** The server. @default the topology's first `echo` host */
  server?: ExternalHostSpec;
  /** Server port. @default the server's first port (80 in the lab) */
  port?: number;
  /** Seconds between two pods' requests. @default 1 */
  spacing?: number;
  /**
   * The address each pod expects the server to see (decides the length of the answer it
   * acknowledges). @default the pod's node IP (the lab before the policy)
   */
  expectedSeen?: (pod: EndpointSpec) => string;
  /** Fixed client source port instead of a random ephemeral one (the collisions scenario). */
  sourcePort?: number;
}

/** wget 1.21's request line and headers as `wget -q -O - echo` sends them. */
export const WGET_REQUEST = 'GET / HTTP/1.1\r\nHost: echo\r\nUser-Agent: Wget/1.21\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: Keep-Alive\r\n\r\n';

const MS = 1_000_000;

export function* synthLab(topo: Topology, rng: Rng, echo: EchoModel, o: LabSynthOptions = {}): Generator<SynthPacket> {
  const server = o.server ?? topo.externalHosts.find((h) => h.behaviour === 'echo');
  if (!server) throw new Error('topology has no echo host for the lab scenario');
  const port = o.port ?? server.ports[0] ?? 80;
  const pods = o.pods ?? [...topo.endpoints].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const spacing = o.spacing ?? 1;
  const nodeIp = new Map(topo.nodes.map((n) => [n.name, n.ipText]));
  const request = new TextEncoder().encode(WGET_REQUEST);
  // Pods closer together than one exchange (the collisions scenario) interleave: collect
  // every packet, then hand them out in capture-time order (stable for equal times).
  const all: SynthPacket[] = [];
  let t = 0;
  for (const pod of pods) {
    const sport = o.sourcePort ?? 32768 + rng.below(60999 - 32768 + 1);
    const isn = rng.u32();
    const seen = o.expectedSeen ? o.expectedSeen(pod) : (nodeIp.get(pod.node) ?? pod.ipText);
    const srvIsn = echo.serverIsn(isn);
    const respLen = echo.responseLength(seen);
    const base = { srcMac: pod.mac, dstMac: lxcMac(pod.ifName), saddr: pod.ip, daddr: server.ip, proto: 6 as const, sport, dport: port };
    const at = (ms: number) => addNs(SYNTH_EPOCH, 0, Math.round(t * 1e9 + ms * MS));
    let id = rng.below(0x10000);
    const pkt = (ms: number, flags: number, seq: number, ack: number, payload?: Uint8Array): SynthPacket => ({
      ...at(ms),
      frame: buildIpv4Frame({ ...base, tcpFlags: flags, seq: seq >>> 0, ack: ack >>> 0, id: id++ & 0xffff, payload }),
    });
    all.push(pkt(0, TCP_SYN, isn, 0));
    all.push(pkt(1, TCP_ACK, isn + 1, srvIsn + 1));
    all.push(pkt(1.1, TCP_ACK | TCP_PSH, isn + 1, srvIsn + 1, request));
    // The echo host answers with its response and FIN together; wget acknowledges both, then closes.
    all.push(pkt(3, TCP_ACK, isn + 1 + request.length, srvIsn + 1 + respLen + 1));
    all.push(pkt(3.1, TCP_ACK | TCP_FIN, isn + 1 + request.length, srvIsn + 1 + respLen + 1));
    t += spacing;
  }
  all.sort((a, b) => a.tsSec - b.tsSec || a.tsNsec - b.tsNsec);
  yield* all;
}
