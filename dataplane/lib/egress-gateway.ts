/**
 * @module dataplane/lib/egress-gateway
 * The egress policy map: compiled from the policies exactly as Cilium's agent writes it,
 * looked up per packet as the datapath does, and dumped as `bpftool map dump` and
 * `cilium bpf egress list` print it.
 *
 * Map layout (fact sheet §1; the same in every version):
 * ```
 *  key, 12 bytes                                       value, 8 bytes
 *  0        4              8              12           0           4              8
 *  +--------+--------------+--------------+            +-----------+--------------+
 *  |prefixlen| saddr (/32) | daddr network|            | egress_ip | 1.10 tunnel_endpoint
 *  | u32 LE | network order| network order|            |           | 1.12+ gateway_ip
 *  +--------+--------------+--------------+            +-----------+--------------+
 *  prefixlen = 32 + destination CIDR bits; the datapath looks up with 64.
 * ```
 * Profile '1.10' (`cilium_egress_v4`, pkg/egresspolicy): every (selected pod IP,
 * destinationCIDR) gets egress_ip = tunnel_endpoint = egressSourceIP, on every node.
 *
 * Profile '1.17' (`cilium_egress_gw_policy_v4`, pkg/egressgateway): gateway_ip is the node
 * IP of the first node, in lexical order of names, matching egressGateway.nodeSelector, or
 * 0.0.0.0 (NO_GATEWAY) when none does. egress_ip is filled only in the gateway node's own
 * map: egressIP if given, else the first IPv4 address of `interface`, or of the
 * default-route interface. The model's nodes have one interface, eth0, whose address is
 * the node IP: `interface: eth0` or none gives the node IP, any other interface 0.0.0.0
 * (NO_EGRESS_IP, so the gateway drops with 204), see gatewayEgressIp. Every other node
 * has egress_ip 0.0.0.0 (NO_EGRESS_IP), never consulted there. Each excludedCIDR adds an
 * entry (pod IP, excludedCIDR) with gateway_ip 0.0.0.1 (EXCLUDED_CIDR) and the policy's
 * egress_ip; being more specific it wins the lookup.
 *
 * Cross-version replays (documented choices, not Cilium behaviour, since neither version
 * knows the other's CRD):
 * - CENP under 1.17: "gateway = the node whose IP is egressSourceIP" (0.0.0.0 if no node
 *   has it), egress_ip = egressSourceIP on that node only.
 * - CEGP under 1.10: tunnel_endpoint = the gateway node's IP, egress_ip = egressIP or that
 *   node IP. 1.10 has no way to say "no gateway" or "excluded": a CEGP whose nodeSelector
 *   matches no node writes no entry (EGW does not apply), and excludedCIDRs are ignored.
 *
 * When two policies write the same key the later one in the list wins, as a second
 * BPF_ANY update would.
 */
import { ConfigError } from '../../traces/errors.ts';
import type { Cidr } from '../cluster/cidr.ts';
import { ipv4Text } from '../cluster/cidr.ts';
import type { EgressPolicy, Profile } from '../cluster/policy.ts';
import { selectedEndpoints } from '../cluster/policy.ts';
import type { NodeSpec, Topology } from '../cluster/topology.ts';
import { matchesSelector } from '../cluster/labels.ts';
import type { LabelSelector } from '../cluster/labels.ts';
import { LpmTrie } from '../maps/lpm.ts';
import { AddrIndex } from './addr-index.ts';

export type { Profile } from '../cluster/policy.ts';

/** gateway_ip 0.0.0.0: no node matches the gateway nodeSelector (1.17 drops with 194). */
export const EGRESS_GATEWAY_NO_GATEWAY = 0;
/** gateway_ip 0.0.0.1: an excludedCIDRs entry; skip egress gateway entirely. */
export const EGRESS_GATEWAY_EXCLUDED_CIDR = 1;
/** egress_ip 0.0.0.0: no egress IP here (normal on non-gateway nodes; 204 on the gateway). */
export const EGRESS_GATEWAY_NO_EGRESS_IP = 0;

export const EGRESS_MAP_NAME_110 = 'cilium_egress_v4';
export const EGRESS_MAP_NAME_117 = 'cilium_egress_gw_policy_v4';
/** Bits of the key's source address part (`EGRESS_STATIC_PREFIX` / `PolicyStaticPrefixBits`). */
export const EGRESS_STATIC_PREFIX = 32;
export const EGRESS_KEY_SIZE = 12;
export const EGRESS_VALUE_SIZE = 8;

export interface EgressMapEntry {
  saddr: number;
  daddr: number;
  bits: number;
  egressIp: number;
  gatewayIp: number;
  policy: string;
}

export class EgressPolicyMap {
  /** cilium_egress_v4 or cilium_egress_gw_policy_v4 */
  readonly name: string;
  readonly profile: Profile;
  /** The node whose copy of the map this is (egress_ip differs per node in 1.17). */
  readonly node: string;
  readonly maxEntries: number;
  private readonly trie: LpmTrie;
  private readonly saddrs: number[] = [];
  private readonly daddrs: number[] = [];
  private readonly bitsArr: number[] = [];
  private readonly egressIps: number[] = [];
  private readonly gatewayIps: number[] = [];
  private readonly policies: string[] = [];
  private readonly cidrTexts: string[] = [];
  /** The per-packet lookup table, compiled from the trie on first use after a change. */
  private table: LookupTable | null = null;

  constructor(profile: Profile, node: string, maxEntries: number) {
    this.profile = profile;
    this.name = profile === '1.10' ? EGRESS_MAP_NAME_110 : EGRESS_MAP_NAME_117;
    this.node = node;
    this.maxEntries = maxEntries;
    this.trie = new LpmTrie(maxEntries);
  }

  /** Writes (saddr, dst) → value (BPF_ANY). False when the map is full. */
  update(saddr: number, dst: Cidr, egressIp: number, gatewayIp: number, policy: string): boolean {
    this.table = null;
    const prefixlen = EGRESS_STATIC_PREFIX + dst.bits;
    const existing = this.trie.lookupExact(prefixlen, saddr, dst.addr);
    if (existing >= 0) {
      this.egressIps[existing] = egressIp >>> 0;
      this.gatewayIps[existing] = gatewayIp >>> 0;
      this.policies[existing] = policy;
      return true;
    }
    const row = this.saddrs.length;
    if (!this.trie.update(prefixlen, saddr, dst.addr, row)) return false;
    this.saddrs.push(saddr >>> 0);
    this.daddrs.push(dst.addr >>> 0);
    this.bitsArr.push(dst.bits);
    this.egressIps.push(egressIp >>> 0);
    this.gatewayIps.push(gatewayIp >>> 0);
    this.policies.push(policy);
    this.cidrTexts.push(dst.text);
    return true;
  }

  /**
   * Most specific entry for (saddr /32, daddr), or -1. Allocation-free (per packet). Asks a
   * table compiled from the trie (same answers): the trie finds a source's entries through a
   * Map, which was a measurable share of a replay at two lookups per packet.
   */
  lookup(saddr: number, daddr: number): number {
    const t = this.table ?? this.compile();
    if (t.viaTrie) return this.trie.lookup(saddr, daddr);
    const g = t.sources.get(saddr);
    if (g < 0) return -1;
    const d = daddr | 0;
    const nets = t.nets;
    const masks = t.masks;
    const end = t.start[g + 1]!;
    for (let i = t.start[g]!; i < end; i++) if ((d & masks[i]!) === nets[i]) return t.rows[i]!;
    return -1;
  }

  /**
   * Per source address, its entries by prefix length, longest first: the first that covers
   * the destination is the trie's longest-prefix answer (two entries of one source with the
   * same length cannot both cover an address). Entries with a prefix shorter than the
   * source's /32 (never written here; legal in the kernel) leave the lookups to the trie.
   */
  private compile(): LookupTable {
    const keys = this.trie.keys();
    const bySource = new Map<number, { bits: number; net: number; row: number }[]>();
    let viaTrie = false;
    for (const k of keys) {
      if (k.prefixlen < EGRESS_STATIC_PREFIX) viaTrie = true;
      const bits = k.prefixlen - EGRESS_STATIC_PREFIX;
      let list = bySource.get(k.hi);
      if (!list) bySource.set(k.hi, (list = []));
      list.push({ bits, net: k.lo | 0, row: k.value });
    }
    const sources = new AddrIndex(bySource.size);
    const start = new Int32Array(bySource.size + 1);
    const nets = new Int32Array(keys.length);
    const masks = new Int32Array(keys.length);
    const rows = new Int32Array(keys.length);
    let n = 0;
    let g = 0;
    for (const [hi, list] of bySource) {
      list.sort((a, b) => b.bits - a.bits);
      sources.set(hi, g);
      start[g] = n;
      for (const e of list) {
        const m = e.bits <= 0 ? 0 : e.bits >= 32 ? -1 : (-1 << (32 - e.bits)) | 0;
        masks[n] = m;
        nets[n] = e.net & m;
        rows[n] = e.row;
        n++;
      }
      g++;
    }
    start[g] = n;
    this.table = { viaTrie, sources, start, nets, masks, rows };
    return this.table;
  }

  size(): number {
    return this.trie.size();
  }

  egressIp(i: number): number {
    return this.egressIps[i]!;
  }

  gatewayIp(i: number): number {
    return this.gatewayIps[i]!;
  }

  policyName(i: number): string {
    return this.policies[i]!;
  }

  /** Destination CIDR text of entry i, e.g. `172.18.0.0/16`. */
  cidrText(i: number): string {
    return this.cidrTexts[i]!;
  }

  /** All entries in the order bpftool walks them (trie post-order). */
  entries(): EgressMapEntry[] {
    return this.trie.keys().map((k) => {
      const i = k.value;
      return {
        saddr: this.saddrs[i]!,
        daddr: this.daddrs[i]!,
        bits: this.bitsArr[i]!,
        egressIp: this.egressIps[i]!,
        gatewayIp: this.gatewayIps[i]!,
        policy: this.policies[i]!,
      };
    });
  }
}

interface LookupTable {
  /** Entries the table cannot answer for exist: ask the trie. */
  viaTrie: boolean;
  /** Source address → group; group g's entries are [start[g], start[g + 1]). */
  sources: AddrIndex;
  start: Int32Array;
  nets: Int32Array;
  masks: Int32Array;
  rows: Int32Array;
}

/** `lookup_ip4_egress_gw_policy` (1.10: `lookup_ip4_egress_endpoint`): entry index or -1. */
export function lookupIp4EgressGwPolicy(map: EgressPolicyMap, saddr: number, daddr: number): number {
  return map.lookup(saddr, daddr);
}

/** First node, in lexical order of names, whose labels match `sel` (Cilium's gateway choice). */
export function selectGatewayNode(topo: Topology, sel: LabelSelector): NodeSpec | undefined {
  const sorted = [...topo.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.find((n) => matchesSelector(sel, n.labels));
}

/** The device every model node has; its first IPv4 address is the node IP. */
export const NODE_DEVICE = 'eth0';

/**
 * The egress IP the gateway derives for a CiliumEgressGatewayPolicy (1.17): `egressIP`, else
 * the first IPv4 address of `interface`, else of the default-route interface (eth0). A
 * model node has only eth0, so any other `interface` has no address: NO_EGRESS_IP, and the
 * gateway drops the policy's traffic with DROP_NO_EGRESS_IP (204), as Cilium does when it
 * cannot derive one.
 */
function gatewayEgressIp(g: NonNullable<EgressPolicy['gateway']>, gw: NodeSpec): number {
  if (g.egressIp !== undefined) return g.egressIp;
  if (g.interface !== undefined && g.interface !== NODE_DEVICE) return EGRESS_GATEWAY_NO_EGRESS_IP;
  return gw.ip;
}

/** Builds node `nodeName`'s copy of the egress policy map. */
export function compileEgressPolicyMap(topo: Topology, policies: EgressPolicy[], profile: Profile, nodeName: string): EgressPolicyMap {
  if (!topo.nodes.some((n) => n.name === nodeName)) {
    throw new ConfigError(topo.file, undefined, 'nodes', `no node named '${nodeName}'`);
  }
  const map = new EgressPolicyMap(profile, nodeName, topo.mapSizes.egressPolicy);
  for (const p of policies) {
    let egressIp: number;
    let gatewayIp: number;
    let excluded: Cidr[] = [];
    if (p.kind === 'CiliumEgressNATPolicy') {
      const src = p.egressSourceIp ?? 0;
      if (profile === '1.10') {
        egressIp = src;
        gatewayIp = src;
      } else {
        const gw = topo.nodes.find((n) => n.ip === src);
        gatewayIp = gw ? gw.ip : EGRESS_GATEWAY_NO_GATEWAY;
        egressIp = gw && gw.name === nodeName ? src : EGRESS_GATEWAY_NO_EGRESS_IP;
      }
    } else {
      const g = p.gateway;
      const gw = g ? selectGatewayNode(topo, g.nodeSelector) : undefined;
      if (profile === '1.10') {
        if (!gw) continue;
        gatewayIp = gw.ip;
        egressIp = g?.egressIp ?? gw.ip;
      } else {
        gatewayIp = gw ? gw.ip : EGRESS_GATEWAY_NO_GATEWAY;
        egressIp = gw && gw.name === nodeName ? gatewayEgressIp(g!, gw) : EGRESS_GATEWAY_NO_EGRESS_IP;
        excluded = p.excludedCidrs;
      }
    }
    for (const ep of selectedEndpoints(topo, p)) {
      for (const dst of p.destinationCidrs) {
        if (!map.update(ep.ip, dst, egressIp, gatewayIp, p.name)) throw mapFull(map, p);
      }
      for (const ex of excluded) {
        if (!map.update(ep.ip, ex, egressIp, EGRESS_GATEWAY_EXCLUDED_CIDR, p.name)) throw mapFull(map, p);
      }
    }
  }
  return map;
}

function mapFull(map: EgressPolicyMap, p: EgressPolicy): ConfigError {
  return new ConfigError(
    p.file,
    p.line,
    'spec.destinationCIDRs',
    `policy '${p.name}' does not fit: ${map.name} is full at ${map.maxEntries} entries ` +
      `(one per selected pod and CIDR; raise mapSizes.egressPolicy in the topology)`,
  );
}

// ---- dumps ----------------------------------------------------------------------------

/** bpftool's `fprint_hex`: bytes separated by one space, two before every 8th. */
function fprintHex(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0) s += i % 8 === 0 ? '  ' : ' ';
    s += bytes[i]!.toString(16).padStart(2, '0');
  }
  return s;
}

function be32(v: number): number[] {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

function le32(v: number): number[] {
  return be32(v).reverse();
}

/** The key and value bytes of each entry, as the kernel stores them (x86: prefixlen LE). */
export function entryBytes(e: EgressMapEntry): { key: number[]; value: number[] } {
  return {
    key: [...le32(EGRESS_STATIC_PREFIX + e.bits), ...be32(e.saddr), ...be32(e.daddr)],
    value: [...be32(e.egressIp), ...be32(e.gatewayIp)],
  };
}

/**
 * `bpftool map dump pinned /sys/fs/bpf/tc/globals/<map>`, plain output. Key and value fit
 * one line (bpftool does that when key+value <= 24 bytes), with two spaces between them.
 */
export function formatBpftoolDump(map: EgressPolicyMap): string {
  const lines: string[] = [];
  const entries = map.entries();
  for (const e of entries) {
    const { key, value } = entryBytes(e);
    lines.push(`key: ${fprintHex(key)}  value: ${fprintHex(value)}`);
  }
  lines.push(`Found ${entries.length} element${entries.length === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}

/**
 * `cilium bpf egress list`.
 * - 1.10 (`cilium/cmd/bpf_egress_list.go` + `TablePrinter`): Go map of "src dst/bits" →
 *   "tunnel egress" printed through a tabwriter with every line ending in a tab (so both
 *   columns are padded, trailing spaces included). Cilium's TablePrinter has two variants
 *   of the header line (`"%s\t%s\t\n"`, older; `"%s\t%s\n"`, newer); which one the
 *   1.10.3 CLI carries was not verified, the model uses the older one, and the only
 *   difference is trailing spaces after `EGRESS INFO`. Go's map iteration is random; the
 *   model sorts the rows by their key text.
 * - 1.17 (`cilium-dbg/cmd/bpf_egress_list.go`): four columns, rows in map iteration order,
 *   gateway 0.0.0.0 as "Not Found" and 0.0.0.1 as "Excluded CIDR".
 * An empty map prints "No entries found." (Cilium writes that to stderr).
 */
export function formatCiliumEgressList(map: EgressPolicyMap, profile: Profile): string {
  const entries = map.entries();
  if (entries.length === 0) return 'No entries found.\n';
  if (profile === '1.10') {
    const rows = entries.map((e) => [`${ipv4Text(e.saddr)} ${ipv4Text(e.daddr)}/${e.bits}`, `${ipv4Text(e.gatewayIp)} ${ipv4Text(e.egressIp)}`] as const);
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let text = 'SRC IP & DST CIDR\tEGRESS INFO\t\n';
    for (const [k, v] of rows) text += `${k}\t${v}\t\n`;
    return goTabwriter(text, 5, 3);
  }
  let text = 'Source IP\tDestination CIDR\tEgress IP\tGateway IP\n';
  for (const e of entries) {
    const gw =
      e.gatewayIp === EGRESS_GATEWAY_NO_GATEWAY ? 'Not Found' : e.gatewayIp === EGRESS_GATEWAY_EXCLUDED_CIDR ? 'Excluded CIDR' : ipv4Text(e.gatewayIp);
    text += `${ipv4Text(e.saddr)}\t${ipv4Text(e.daddr)}/${e.bits}\t${ipv4Text(e.egressIp)}\t${gw}\n`;
  }
  return goTabwriter(text, 5, 3);
}

/**
 * Go's text/tabwriter with padchar ' ', tabwidth 0 and flags 0, as Cilium's CLI creates it
 * (`NewWriter(w, 5, 0, 3, ' ', 0)`), over a complete text. Cells are tab-terminated; the
 * text after a line's last tab is not part of any column. A column block is a run of
 * consecutive lines that all have a cell in that column; its width is the widest cell plus
 * `padding`, at least `minwidth`, and blocks nest column by column.
 */
export function goTabwriter(text: string, minwidth: number, padding: number): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[][] = lines.map(() => []);
  const assign = (col: number, l0: number, l1: number): void => {
    let i = l0;
    while (i < l1) {
      if (col >= lines[i]!.length - 1) {
        i++;
        continue;
      }
      let w = minwidth;
      let j = i;
      for (; j < l1 && col < lines[j]!.length - 1; j++) w = Math.max(w, lines[j]![col]!.length + padding);
      for (let k = i; k < j; k++) widths[k]![col] = w;
      assign(col + 1, i, j);
      i = j;
    }
  };
  assign(0, 0, lines.length);
  return lines
    .map((cells, i) => cells.map((c, j) => (j < cells.length - 1 ? c.padEnd(widths[i]![j]!, ' ') : c)).join(''))
    .join('\n');
}
