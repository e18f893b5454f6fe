/**
 * @module dataplane/cluster/topology
 * The cluster the dataplane runs in: nodes, endpoints (pods), external hosts, and the
 * cluster-wide settings the datapath consults (cluster CIDR, ip-masq-agent
 * nonMasqueradeCIDRs, NAT port range, tunnel, map sizes).
 *
 * File format (YAML, every key optional unless marked):
 * ```yaml
 * clusterName: k8s-guide
 * clusterCIDR: 10.0.0.0/8            # or a list
 * nonMasqueradeCIDRs: []             # ip-masq-agent; empty = not configured
 * natPortRange: { min: 32768, max: 65535 }
 * tunnel: { protocol: vxlan, port: 8472 }   # geneve defaults to 6081
 * mapSizes: { egressPolicy: 16384, ctTcp: 524288, ctAny: 262144, nat: 524288 }
 * routerMac: 02:42:ac:12:00:01       # next hop of every node's eth0 (the bridge/router)
 * largeInsnLimit: true               # the kernel's 1M-instruction BPF limit (HAVE_LARGE_INSN_LIMIT);
 *                                    # false: datapath 1.10 retries SNAT 32 times, signals past 16
 * namespaces: [ { name: default, labels: { team: a } } ]   # namespace labels for namespaceSelector
 * nodes:         [ { name*, ip*, podCIDR*, mac, labels } ]
 * endpoints:     [ { name*, namespace, ip*, node*, labels, mac } ]
 * externalHosts: [ { name*, ip*, ports, behaviour: echo|sink, mac } ]
 * ```
 * Derived, never written in the file: identities, lxc names, the implicit labels
 * (`io.kubernetes.pod.namespace` on pods, `kubernetes.io/hostname` on nodes,
 * `kubernetes.io/metadata.name` on namespaces), and default MACs (docker's 02:42+IP for
 * nodes and external hosts, a hash-derived one for pods).
 */
import { ConfigError } from '../../traces/errors.ts';
import type { Cidr } from './cidr.ts';
import { cidrWithin, contains, ipv4Text, parseCidr, tryParseIpv4 } from './cidr.ts';
import { IDENTITY_REMOTE_NODE, allocateIdentities, dockerMac, lxcIfName, podMac } from './identity.ts';
import { NAMESPACE_NAME_LABEL, POD_NAMESPACE_LABEL } from './labels.ts';
import type { DocContext as Ctx } from './yaml-source.ts';
import { DocContext, parseYamlText, readYamlFile } from './yaml-source.ts';

export type { Cidr } from './cidr.ts';
export { labTopology } from './lab.ts';

export interface NodeSpec {
  name: string;
  ip: number;
  ipText: string;
  mac: string;
  podCidr: Cidr;
  labels: Record<string, string>;
  /** Identity other nodes see for this node's address: remote-node (6). On itself it is host (1). */
  identity: number;
}

export interface EndpointSpec {
  name: string;
  namespace: string;
  /** The pod's labels plus the implicit `io.kubernetes.pod.namespace`. */
  labels: Record<string, string>;
  ip: number;
  ipText: string;
  mac: string;
  node: string;
  identity: number;
  /** 'lxc' + 11 hex chars, as Cilium names veths. */
  ifName: string;
}

export interface ExternalHostSpec {
  name: string;
  ip: number;
  ipText: string;
  mac: string;
  ports: number[];
  behaviour: 'echo' | 'sink';
}

export interface Topology {
  file: string;
  clusterName: string;
  clusterCidrs: Cidr[];
  nonMasqueradeCidrs: Cidr[];
  natPortMin: number;
  natPortMax: number;
  tunnel: { protocol: 'vxlan' | 'geneve'; port: number };
  mapSizes: { egressPolicy: number; ctTcp: number; ctAny: number; nat: number };
  routerMac: string;
  /**
   * HAVE_LARGE_INSN_LIMIT, the agent's probe of the kernel (5.2+ verifier limit). Without it
   * datapath 1.10 compiles SNAT with 32 retries and SNAT_SIGNAL_THRES 16 (fact sheet §5);
   * 1.17 has one set of constants. Optional so a hand-built Topology stays valid; default true.
   */
  largeInsnLimit?: boolean;
  nodes: NodeSpec[];
  endpoints: EndpointSpec[];
  externalHosts: ExternalHostSpec[];
  /**
   * Labels per namespace, for namespaceSelector (addition to the contract; optional so a
   * hand-built Topology stays valid). Absent namespace → `{ kubernetes.io/metadata.name: ns }`.
   */
  namespaces?: Record<string, Record<string, string>>;
}

/** Cilium's defaults (fact sheet): egress policy map, CT TCP/any, NAT map sizes. */
export const DEFAULT_MAP_SIZES = { egressPolicy: 16384, ctTcp: 524288, ctAny: 262144, nat: 524288 } as const;
/** NODEPORT_PORT_MIN_NAT .. NODEPORT_PORT_MAX_NAT. */
export const DEFAULT_NAT_PORT_MIN = 32768;
export const DEFAULT_NAT_PORT_MAX = 65535;
export const DEFAULT_VXLAN_PORT = 8472;
export const DEFAULT_GENEVE_PORT = 6081;
/** cluster-pool IPAM default (`clusterPoolIPv4PodCIDR`). */
export const DEFAULT_CLUSTER_CIDR = '10.0.0.0/8';

/** Labels of a namespace as a namespaceSelector sees them. */
export function namespaceLabels(topo: Topology, namespace: string): Record<string, string> {
  return topo.namespaces?.[namespace] ?? { [NAMESPACE_NAME_LABEL]: namespace };
}

export function findNode(topo: Topology, name: string): NodeSpec | undefined {
  return topo.nodes.find((n) => n.name === name);
}

export function loadTopology(file: string): Topology {
  return topologyFromDocs(file, readYamlFile(file));
}

/** Same as loadTopology, from text already in memory (`file` is used in messages). */
export function topologyFromText(file: string, text: string): Topology {
  return topologyFromDocs(file, parseYamlText(file, text));
}

const TOP_KEYS = [
  'clusterName', 'clusterCIDR', 'nonMasqueradeCIDRs', 'natPortRange', 'tunnel', 'mapSizes', 'routerMac',
  'largeInsnLimit', 'namespaces', 'nodes', 'endpoints', 'externalHosts',
] as const;
const TOP_HINTS: Record<string, string> = {
  clusterCIDRs: 'clusterCIDR', clusterCidr: 'clusterCIDR', nonMasqueradeCidrs: 'nonMasqueradeCIDRs',
  pods: 'endpoints', external: 'externalHosts', externals: 'externalHosts',
};

function topologyFromDocs(file: string, docs: ReturnType<typeof parseYamlText>): Topology {
  if (docs.length === 0) throw new ConfigError(file, undefined, undefined, 'empty topology file');
  if (docs.length > 1) throw new ConfigError(file, docs[1]!.line, undefined, 'a topology file holds one YAML document');
  const doc = docs[0]!;
  const ctx = new DocContext(doc);
  const o = ctx.obj(doc.value, '');
  ctx.keys(o, '', TOP_KEYS, TOP_HINTS);

  const clusterName = o.clusterName === undefined ? 'default' : ctx.str(o.clusterName, 'clusterName');
  const clusterCidrs =
    o.clusterCIDR === undefined ? [parseCidr(DEFAULT_CLUSTER_CIDR)] : cidrList(ctx, o.clusterCIDR, 'clusterCIDR', true);
  const nonMasqueradeCidrs = o.nonMasqueradeCIDRs == null ? [] : cidrList(ctx, o.nonMasqueradeCIDRs, 'nonMasqueradeCIDRs', false);

  let natPortMin: number = DEFAULT_NAT_PORT_MIN;
  let natPortMax: number = DEFAULT_NAT_PORT_MAX;
  if (o.natPortRange !== undefined) {
    const r = ctx.obj(o.natPortRange, 'natPortRange');
    ctx.keys(r, 'natPortRange', ['min', 'max']);
    if (r.min !== undefined) natPortMin = ctx.int(r.min, 'natPortRange.min', 1, 65535);
    if (r.max !== undefined) natPortMax = ctx.int(r.max, 'natPortRange.max', 1, 65535);
    if (natPortMin > natPortMax) throw ctx.error('natPortRange', `min ${natPortMin} is above max ${natPortMax}`);
  }

  let tunnel: Topology['tunnel'] = { protocol: 'vxlan', port: DEFAULT_VXLAN_PORT };
  if (o.tunnel !== undefined) {
    const t = ctx.obj(o.tunnel, 'tunnel');
    ctx.keys(t, 'tunnel', ['protocol', 'port']);
    const protocol = t.protocol === undefined ? 'vxlan' : ctx.str(t.protocol, 'tunnel.protocol');
    if (protocol !== 'vxlan' && protocol !== 'geneve') throw ctx.error('tunnel.protocol', `expected vxlan or geneve, got '${protocol}'`);
    const port = t.port === undefined ? (protocol === 'vxlan' ? DEFAULT_VXLAN_PORT : DEFAULT_GENEVE_PORT) : ctx.int(t.port, 'tunnel.port', 1, 65535);
    tunnel = { protocol, port };
  }

  const mapSizes: Topology['mapSizes'] = { ...DEFAULT_MAP_SIZES };
  if (o.mapSizes !== undefined) {
    const m = ctx.obj(o.mapSizes, 'mapSizes');
    ctx.keys(m, 'mapSizes', Object.keys(DEFAULT_MAP_SIZES));
    for (const k of Object.keys(DEFAULT_MAP_SIZES) as (keyof Topology['mapSizes'])[]) {
      if (m[k] !== undefined) mapSizes[k] = ctx.int(m[k], `mapSizes.${k}`, 1, 1 << 30);
    }
  }

  const routerMac = o.routerMac === undefined ? '02:42:ac:12:00:01' : macField(ctx, o.routerMac, 'routerMac');
  if (o.largeInsnLimit !== undefined && typeof o.largeInsnLimit !== 'boolean') {
    throw ctx.error('largeInsnLimit', `expected true or false, got ${JSON.stringify(o.largeInsnLimit)}`);
  }
  const largeInsnLimit = o.largeInsnLimit === undefined ? true : o.largeInsnLimit;

  const seenIps = new Map<number, string>();
  const claimIp = (ip: number, field: string): void => {
    const prev = seenIps.get(ip);
    if (prev !== undefined) throw ctx.error(field, `IP ${ipv4Text(ip)} is already used by ${prev}`);
    seenIps.set(ip, field);
  };

  // ---- namespaces ----
  const namespaces: Record<string, Record<string, string>> = {};
  if (o.namespaces != null) {
    ctx.list(o.namespaces, 'namespaces').forEach((v, i) => {
      const f = `namespaces[${i}]`;
      const n = ctx.obj(v, f);
      ctx.keys(n, f, ['name', 'labels']);
      const name = ctx.str(n.name, `${f}.name`);
      if (namespaces[name]) throw ctx.error(`${f}.name`, `duplicate namespace '${name}'`);
      namespaces[name] = { ...ctx.labels(n.labels, `${f}.labels`), [NAMESPACE_NAME_LABEL]: name };
    });
  }

  // ---- nodes ----
  const nodes: NodeSpec[] = [];
  ctx.list(o.nodes ?? [], 'nodes').forEach((v, i) => {
    const f = `nodes[${i}]`;
    const n = ctx.obj(v, f);
    ctx.keys(n, f, ['name', 'ip', 'mac', 'podCIDR', 'labels'], { podCidr: 'podCIDR', address: 'ip' });
    const name = ctx.str(n.name, `${f}.name`);
    if (nodes.some((x) => x.name === name)) throw ctx.error(`${f}.name`, `duplicate node name '${name}'`);
    const ip = ipField(ctx, n.ip, `${f}.ip`);
    claimIp(ip, `${f}.ip`);
    if (n.podCIDR === undefined) throw ctx.error(`${f}.podCIDR`, 'missing (the node\'s pod CIDR, e.g. 10.0.0.0/24)');
    const podCidr = cidrField(ctx, n.podCIDR, `${f}.podCIDR`);
    for (const other of nodes) {
      if (cidrWithin(podCidr, other.podCidr) || cidrWithin(other.podCidr, podCidr)) {
        throw ctx.error(`${f}.podCIDR`, `${podCidr.text} overlaps node ${other.name}'s pod CIDR ${other.podCidr.text}`);
      }
    }
    const labels = { 'kubernetes.io/hostname': name, ...ctx.labels(n.labels, `${f}.labels`) };
    const mac = n.mac === undefined ? dockerMac(ip) : macField(ctx, n.mac, `${f}.mac`);
    nodes.push({ name, ip, ipText: ipv4Text(ip), mac, podCidr, labels, identity: IDENTITY_REMOTE_NODE });
  });

  // ---- endpoints ----
  const endpoints: EndpointSpec[] = [];
  ctx.list(o.endpoints ?? [], 'endpoints').forEach((v, i) => {
    const f = `endpoints[${i}]`;
    const e = ctx.obj(v, f);
    ctx.keys(e, f, ['name', 'namespace', 'labels', 'ip', 'node', 'mac'], { nodeName: 'node', podIP: 'ip' });
    const name = ctx.str(e.name, `${f}.name`);
    const namespace = e.namespace === undefined ? 'default' : ctx.str(e.namespace, `${f}.namespace`);
    if (endpoints.some((x) => x.name === name && x.namespace === namespace)) {
      throw ctx.error(`${f}.name`, `duplicate endpoint '${namespace}/${name}'`);
    }
    const ip = ipField(ctx, e.ip, `${f}.ip`);
    claimIp(ip, `${f}.ip`);
    const nodeName = ctx.str(e.node, `${f}.node`);
    const node = nodes.find((x) => x.name === nodeName);
    if (!node) throw ctx.error(`${f}.node`, `unknown node '${nodeName}' (nodes: ${nodes.map((x) => x.name).join(', ') || 'none'})`);
    if (!contains(node.podCidr, ip)) {
      throw ctx.error(`${f}.ip`, `${ipv4Text(ip)} is outside node ${node.name}'s pod CIDR ${node.podCidr.text}`);
    }
    const user = ctx.labels(e.labels, `${f}.labels`);
    if (user[POD_NAMESPACE_LABEL] !== undefined && user[POD_NAMESPACE_LABEL] !== namespace) {
      throw ctx.error(`${f}.labels.${POD_NAMESPACE_LABEL}`, `contradicts namespace '${namespace}' (the label is implicit)`);
    }
    const labels = { ...user, [POD_NAMESPACE_LABEL]: namespace };
    const mac = e.mac === undefined ? podMac(namespace, name) : macField(ctx, e.mac, `${f}.mac`);
    endpoints.push({ name, namespace, labels, ip, ipText: ipv4Text(ip), mac, node: node.name, identity: 0, ifName: lxcIfName(namespace, name) });
    if (!namespaces[namespace]) namespaces[namespace] = { [NAMESPACE_NAME_LABEL]: namespace };
  });
  const ids = allocateIdentities(endpoints.map((e) => e.labels));
  endpoints.forEach((e, i) => (e.identity = ids[i]!));

  // ---- external hosts ----
  const externalHosts: ExternalHostSpec[] = [];
  ctx.list(o.externalHosts ?? [], 'externalHosts').forEach((v, i) => {
    const f = `externalHosts[${i}]`;
    const h = ctx.obj(v, f);
    ctx.keys(h, f, ['name', 'ip', 'mac', 'ports', 'behaviour'], { behavior: 'behaviour' });
    const name = ctx.str(h.name, `${f}.name`);
    if (externalHosts.some((x) => x.name === name)) throw ctx.error(`${f}.name`, `duplicate external host '${name}'`);
    const ip = ipField(ctx, h.ip, `${f}.ip`);
    claimIp(ip, `${f}.ip`);
    for (const c of clusterCidrs) {
      if (contains(c, ip)) throw ctx.error(`${f}.ip`, `${ipv4Text(ip)} is inside the cluster CIDR ${c.text}; external hosts live outside it`);
    }
    const ports = h.ports == null ? [] : ctx.list(h.ports, `${f}.ports`).map((p, j) => ctx.int(p, `${f}.ports[${j}]`, 1, 65535));
    const behaviour = h.behaviour === undefined ? 'echo' : ctx.str(h.behaviour, `${f}.behaviour`);
    if (behaviour !== 'echo' && behaviour !== 'sink') throw ctx.error(`${f}.behaviour`, `expected echo or sink, got '${behaviour}'`);
    const mac = h.mac === undefined ? dockerMac(ip) : macField(ctx, h.mac, `${f}.mac`);
    externalHosts.push({ name, ip, ipText: ipv4Text(ip), mac, ports, behaviour });
  });

  return {
    file, clusterName, clusterCidrs, nonMasqueradeCidrs, natPortMin, natPortMax, tunnel, mapSizes, routerMac,
    largeInsnLimit, nodes, endpoints, externalHosts, namespaces,
  };
}

function ipField(ctx: Ctx, v: unknown, field: string): number {
  const s = ctx.str(v, field);
  const ip = tryParseIpv4(s);
  if (ip < 0) throw ctx.error(field, `not an IPv4 address: '${s}'`);
  return ip;
}

function cidrField(ctx: Ctx, v: unknown, field: string): Cidr {
  const s = ctx.str(v, field);
  if (!s.includes('/')) throw ctx.error(field, `not a CIDR (missing /prefix): '${s}'`);
  try {
    return parseCidr(s);
  } catch (e) {
    throw ctx.error(field, (e as Error).message);
  }
}

function cidrList(ctx: Ctx, v: unknown, field: string, nonEmpty: boolean): Cidr[] {
  const items = typeof v === 'string' ? [v] : ctx.list(v, field);
  if (nonEmpty && items.length === 0) throw ctx.error(field, 'needs at least one CIDR');
  return items.map((x, i) => cidrField(ctx, x, typeof v === 'string' ? field : `${field}[${i}]`));
}

function macField(ctx: Ctx, v: unknown, field: string): string {
  const s = ctx.str(v, field);
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(s)) throw ctx.error(field, `not a MAC address: '${s}'`);
  return s.toLowerCase();
}

