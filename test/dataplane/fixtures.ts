/**
 * Role-named fixtures for the program and engine tests, after Cilium's
 * `bpf/tests/lib/egressgw.h` (CLIENT_IP, CLIENT_NODE_IP, GATEWAY_NODE_IP, EGRESS_IP,
 * EXTERNAL_SVC_IP ...): a two-node cluster, a client pod (and a second one for collisions)
 * on the client node, a pod on the gateway node, and two external services.
 */
import { topologyFromText, type Topology } from '../../dataplane/cluster/topology.ts';
import { policiesFromDocs, type EgressPolicy } from '../../dataplane/cluster/policy.ts';
import { parseYamlText } from '../../dataplane/cluster/yaml-source.ts';
import { parseIpv4 } from '../../dataplane/packet/addr.ts';
import { buildIpv4Frame, type Ipv4FrameOptions } from '../../dataplane/packet/build.ts';
import { ipv4HeaderChecksumOk, l4ChecksumOk } from '../../dataplane/packet/checksum.ts';
import { decapFrame, TUNNEL_VXLAN, type DecapResult } from '../../dataplane/lib/encap.ts';
import { buildEnv, Skb, type Env, type NodeState, type EndpointState } from '../../dataplane/node.ts';
import { Rng } from '../../dataplane/lib/rng.ts';
import { Journey } from '../../dataplane/lib/trace.ts';
import type { Profile } from '../../dataplane/lib/profile.ts';

export const CLIENT_NODE = 'client-node';
export const GATEWAY_NODE = 'gateway-node';
export const CLIENT_NODE_IP_TEXT = '10.0.10.1';
export const GATEWAY_NODE_IP_TEXT = '10.0.10.2';
export const CLIENT_IP_TEXT = '192.168.0.1';
export const CLIENT_IP2_TEXT = '192.168.0.2';
export const GATEWAY_POD_IP_TEXT = '192.168.1.1';
export const EGRESS_IP_TEXT = '1.2.3.4';
export const EXTERNAL_SVC_IP_TEXT = '110.0.11.1';
export const ECHO_SVC_IP_TEXT = '110.0.11.2';
export const EXCLUDED_SVC_IP_TEXT = '110.0.12.1';

export const CLIENT_NODE_IP = parseIpv4(CLIENT_NODE_IP_TEXT);
export const GATEWAY_NODE_IP = parseIpv4(GATEWAY_NODE_IP_TEXT);
export const CLIENT_IP = parseIpv4(CLIENT_IP_TEXT);
export const CLIENT_IP2 = parseIpv4(CLIENT_IP2_TEXT);
export const GATEWAY_POD_IP = parseIpv4(GATEWAY_POD_IP_TEXT);
export const EGRESS_IP = parseIpv4(EGRESS_IP_TEXT);
export const EXTERNAL_SVC_IP = parseIpv4(EXTERNAL_SVC_IP_TEXT);
export const ECHO_SVC_IP = parseIpv4(ECHO_SVC_IP_TEXT);
export const EXCLUDED_SVC_IP = parseIpv4(EXCLUDED_SVC_IP_TEXT);
export const EXTERNAL_SVC_PORT = 1234;
export const CLIENT_PORT = 40000;

export const CLIENT_NODE_MAC = '02:42:0a:00:0a:01';
export const GATEWAY_NODE_MAC = '02:42:0a:00:0a:02';
export const CLIENT_MAC = '0a:00:00:00:00:01';
export const ROUTER_MAC = '02:42:0a:00:0a:fe';
export const T0 = 1630324800;

export interface TopologyOptions {
  natPortRange?: [number, number];
  tunnel?: 'vxlan' | 'geneve';
  nonMasqueradeCidrs?: string[];
}

export function fixtureTopology(o: TopologyOptions = {}): Topology {
  const range = o.natPortRange ?? [32768, 65535];
  return topologyFromText(
    '<fixture>',
    `clusterName: fixture
clusterCIDR: 192.168.0.0/16
nonMasqueradeCIDRs: [${(o.nonMasqueradeCidrs ?? []).join(', ')}]
natPortRange: { min: ${range[0]}, max: ${range[1]} }
tunnel: { protocol: ${o.tunnel ?? 'vxlan'} }
routerMac: ${ROUTER_MAC}
nodes:
  - name: ${CLIENT_NODE}
    ip: ${CLIENT_NODE_IP_TEXT}
    mac: ${CLIENT_NODE_MAC}
    podCIDR: 192.168.0.0/24
    labels: { role: worker }
  - name: ${GATEWAY_NODE}
    ip: ${GATEWAY_NODE_IP_TEXT}
    mac: ${GATEWAY_NODE_MAC}
    podCIDR: 192.168.1.0/24
    labels: { egress-node: "true" }
endpoints:
  - { name: client, namespace: default, labels: { app: client }, ip: ${CLIENT_IP_TEXT}, node: ${CLIENT_NODE}, mac: ${CLIENT_MAC} }
  - { name: client2, namespace: default, labels: { app: client }, ip: ${CLIENT_IP2_TEXT}, node: ${CLIENT_NODE} }
  - { name: gwpod, namespace: default, labels: { app: client }, ip: ${GATEWAY_POD_IP_TEXT}, node: ${GATEWAY_NODE} }
externalHosts:
  - { name: svc, ip: ${EXTERNAL_SVC_IP_TEXT}, ports: [${EXTERNAL_SVC_PORT}], behaviour: sink }
  - { name: echo, ip: ${ECHO_SVC_IP_TEXT}, ports: [80, 53], behaviour: echo }
  - { name: excluded, ip: ${EXCLUDED_SVC_IP_TEXT}, ports: [${EXTERNAL_SVC_PORT}], behaviour: sink }
`,
  );
}

/** A CiliumEgressGatewayPolicy for the client pods: 0.0.0.0/0 via the gateway node, excluding 110.0.12.0/24. */
export function cegp(o: { egressIp?: string | null; nodeSelector?: string } = {}): EgressPolicy[] {
  const egressIp = o.egressIp === undefined ? EGRESS_IP_TEXT : o.egressIp;
  return policiesFromDocs(
    parseYamlText(
      '<fixture-policy>',
      `apiVersion: cilium.io/v2
kind: CiliumEgressGatewayPolicy
metadata:
  name: egress-sample
spec:
  selectors:
  - podSelector:
      matchLabels:
        app: client
  destinationCIDRs:
  - 0.0.0.0/0
  excludedCIDRs:
  - 110.0.12.0/24
  egressGateway:
    nodeSelector:
      matchLabels:
        ${o.nodeSelector ?? 'egress-node: "true"'}
${egressIp === null ? '' : `    egressIP: ${egressIp}\n`}`,
    ),
  );
}

/** A CiliumEgressNATPolicy (1.10) for the client pods via the gateway node's IP. */
export function cenp(): EgressPolicy[] {
  return policiesFromDocs(
    parseYamlText(
      '<fixture-cenp>',
      `apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata:
  name: egress-all
spec:
  egress:
  - podSelector:
      matchLabels:
        app: client
  destinationCIDRs:
  - 110.0.0.0/8
  egressSourceIP: "${GATEWAY_NODE_IP_TEXT}"
`,
    ),
  );
}

export interface Fixture {
  env: Env;
  client: NodeState;
  gateway: NodeState;
  clientEp: EndpointState;
  client2Ep: EndpointState;
  gatewayEp: EndpointState;
}

export function makeEnv(profile: Profile, topo: Topology, policies: EgressPolicy[], seed = 1): Fixture {
  const env = buildEnv({ topology: topo, policies, profile, rng: new Rng(seed), allocator: null, allocatorName: `cilium-${profile}`, recordCandidates: true });
  const client = env.nodes.find((n) => n.name === CLIENT_NODE)!;
  const gateway = env.nodes.find((n) => n.name === GATEWAY_NODE)!;
  return {
    env,
    client,
    gateway,
    clientEp: client.endpoints.get(CLIENT_IP)!,
    client2Ep: client.endpoints.get(CLIENT_IP2)!,
    gatewayEp: gateway.endpoints.get(GATEWAY_POD_IP)!,
  };
}

/** PKTGEN: an Ethernet frame with every checksum filled. */
export function pkt(o: Ipv4FrameOptions): Uint8Array {
  return buildIpv4Frame({ srcMac: CLIENT_MAC, dstMac: '02:00:00:00:00:02', ...o });
}

/** SETUP: loads a frame into a fresh context and parses it. */
export function skbOf(frame: Uint8Array, now = T0, journey = true): Skb {
  const skb = new Skb();
  skb.loadFrame(frame);
  skb.now = now;
  skb.tsSec = now;
  if (skb.parse() !== 0) throw new Error('fixture frame does not parse');
  if (journey) skb.jr = new Journey();
  return skb;
}

/** Full-recompute verification of an Ethernet frame (and of the inner frame of a tunnel packet). */
export function frameChecksumsOk(frame: Uint8Array): boolean {
  if (!ipv4HeaderChecksumOk(frame, 14) || !l4ChecksumOk(frame, 14)) return false;
  const d: DecapResult = { innerOff: 0, vni: 0, outerSaddr: 0 };
  for (const port of [8472, 6081]) {
    const kind = port === 8472 ? TUNNEL_VXLAN : 1;
    if (decapFrame(frame, 0, frame.length, kind, port, d)) {
      const inner = frame.subarray(d.innerOff);
      return ipv4HeaderChecksumOk(inner, 14) && l4ChecksumOk(inner, 14);
    }
  }
  return true;
}

export function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}
export function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}
