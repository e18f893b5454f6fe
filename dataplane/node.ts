/**
 * @module dataplane/node
 * Per-node state (the maps a Cilium agent pins on one node, its devices and MACs), the
 * cluster-wide ipcache, and the packet context the programs work on (`Skb`, after the
 * kernel's sk_buff / Cilium's `__ctx_buff`).
 *
 * One `Skb` is reused for every packet: its buffer keeps `HEADROOM` bytes in front of the
 * frame so encapsulation can prepend outer headers in place, and every field a program
 * reads or writes is a number. `jr` (the journey) is non-null only when an observer wants
 * events or comments; programs test it before building any string.
 */

import type { EndpointSpec, ExternalHostSpec, NodeSpec, Topology } from './cluster/topology.ts';
import type { EgressPolicy } from './cluster/policy.ts';
import { mask } from './cluster/cidr.ts';
import { IDENTITY_HOST, IDENTITY_REMOTE_NODE, IDENTITY_WORLD } from './cluster/identity.ts';
import { Conntrack, ctOptionsFor } from './lib/conntrack.ts';
import { compileEgressPolicyMap, type EgressPolicyMap } from './lib/egress-gateway.ts';
import { NatTable, newSnatResult, type SnatResult, type SnatTarget, type PortAllocator } from './lib/nat.ts';
import { IpMasqMap } from './lib/ipmasq.ts';
import { AddrIndex } from './lib/addr-index.ts';
import { macBytes, TUNNEL_GENEVE, TUNNEL_VXLAN, writeMacs } from './lib/encap.ts';
import type { Journey } from './lib/trace.ts';
import type { Profile } from './lib/profile.ts';
import type { Rng } from './lib/rng.ts';
import { Ipv4View } from './packet/view.ts';

/** Room in front of a frame for outer headers (two encapsulations would fit). */
export const HEADROOM = 128;
/** Largest frame the context holds (IPv4 total length max + Ethernet + slack). */
export const MAX_FRAME = 65535 + 64;

/**
 * skb->mark flags. Cilium stores magic values under one mask (MARK_MAGIC_EGW_DONE 0x0500,
 * MARK_MAGIC_SNAT_DONE 0x0300, compared by equality); the model keeps them as separate
 * bits since a packet only ever carries the state, never the raw mark.
 */
export const MARK_EGW_DONE = 1;
export const MARK_SNAT_DONE = 2;

/** What the engine does after a program returned OK/REDIRECT. */
export const NEXT_STACK = 0;
export const NEXT_TUNNEL = 1;
export const NEXT_LXC = 2;
export const NEXT_NETDEV = 3;

/** Positions in `NodeState.devices` of the devices every node has; the lxcs follow. */
export const DEV_ETH0 = 0;
export const DEV_TUNNEL = 1;
export const DEV_HOST = 2;

/** ipcache entry kinds. */
export const IPC_WORLD = 0;
export const IPC_ENDPOINT = 1;
export const IPC_NODE = 2;
export const IPC_POD_CIDR = 3;
export const IPC_EXTERNAL = 4;

export interface EndpointState {
  index: number;
  spec: EndpointSpec;
  ip: number;
  identity: number;
  /** The pod's eth0 MAC. */
  mac: Uint8Array;
  /** The host-side veth (lxc) MAC: the pod's next hop. Derived: fe + 10 hex chars of the ifName (as the synthetic generators do). */
  lxcMac: Uint8Array;
  node: NodeState;
  ifName: string;
  /** Position of the lxc device in `node.devices` (hop observers index by it). */
  devIndex: number;
}

export interface DeviceInfo {
  name: string;
  kind: 'lxc' | 'eth0' | 'cilium_vxlan' | 'cilium_geneve' | 'cilium_host';
}

export interface NodeState {
  index: number;
  spec: NodeSpec;
  name: string;
  ip: number;
  mac: Uint8Array;
  /** cilium_host MAC (derived: 02:c1 + the node IP). */
  hostMac: Uint8Array;
  ct: Conntrack;
  nat: NatTable;
  egress: EgressPolicyMap;
  ipmasq: IpMasqMap;
  /** Local endpoints by IP. */
  endpoints: Map<number, EndpointState>;
  /** The same addresses for per-packet membership tests (a Map boxes addresses above 2^30). */
  endpointIps: AddrIndex;
  tunnelDevice: 'cilium_vxlan' | 'cilium_geneve';
  devices: DeviceInfo[];
  /** Per egress-map entry: [flows, packets, bytes] at the EGW decision on this node. */
  policyHits: Float64Array;
  /** Per egress-map entry: the kind of decision counted (0 hit, 1 excluded, 2 no-gateway). */
  policyKind: Uint8Array;
}

/** One ipcache answer (shared objects built at start, never per packet). */
export interface IpcacheEntry {
  kind: number;
  identity: number;
  ep: EndpointState | null;
  /** Node of the endpoint / node IP / pod CIDR owner. */
  node: NodeState | null;
  ext: ExternalHostSpec | null;
  /**
   * The MAC a frame to this address gets on the underlay (the docker bridge): the node's or
   * the external host's own, else the router's. Resolved once here instead of per packet.
   */
  nhMac: Uint8Array;
}

/**
 * The cluster-wide ipcache: exact entries (endpoints, nodes, external hosts), then the pod
 * CIDRs, else WORLD. A packet's path asks about the same address several times, so the last
 * answer is kept (in fields: a closure variable would box every address above 2^30).
 */
export class IpCache {
  private readonly index: AddrIndex;
  private readonly exact: IpcacheEntry[] = [];
  private readonly cidrNets: Int32Array;
  private readonly cidrMasks: Int32Array;
  private readonly cidrEntries: IpcacheEntry[];
  private readonly world: IpcacheEntry;
  private lastAddr = -1;
  private lastEntry: IpcacheEntry;

  constructor(exact: Map<number, IpcacheEntry>, cidrs: { cidr: { addr: number; bits: number }; entry: IpcacheEntry }[], world: IpcacheEntry) {
    this.index = new AddrIndex(exact.size);
    for (const [addr, e] of exact) {
      this.index.set(addr, this.exact.length);
      this.exact.push(e);
    }
    this.cidrNets = new Int32Array(cidrs.length);
    this.cidrMasks = new Int32Array(cidrs.length);
    for (let i = 0; i < cidrs.length; i++) {
      // As `contains`: the CIDR's address is the masked network.
      this.cidrMasks[i] = mask(cidrs[i]!.cidr.bits);
      this.cidrNets[i] = cidrs[i]!.cidr.addr | 0;
    }
    this.cidrEntries = cidrs.map((c) => c.entry);
    this.world = world;
    this.lastEntry = world;
  }

  lookup(addr: number): IpcacheEntry {
    if (addr === this.lastAddr) return this.lastEntry;
    const i = this.index.get(addr);
    let r = this.world;
    if (i >= 0) r = this.exact[i]!;
    else {
      const nets = this.cidrNets;
      const masks = this.cidrMasks;
      const a = addr | 0;
      for (let k = 0; k < nets.length; k++) {
        if ((a & masks[k]!) === nets[k]) {
          r = this.cidrEntries[k]!;
          break;
        }
      }
    }
    this.lastAddr = addr;
    this.lastEntry = r;
    return r;
  }
}

/** Bytes of `Skb.buf`; the ingress snapshot lies right after it in the same memory. */
const SKB_BYTES = HEADROOM + MAX_FRAME + HEADROOM;

/** The packet context (one, reused). */
export class Skb {
  /**
   * One allocation for the frame and the ingress snapshot, so taking a snapshot is a
   * `copyWithin` (no per-packet array, as `slice()` was). `buf` covers only the frame area:
   * its length bounds the view's parsing exactly as before. The snapshot area is as large
   * as the frame area, so any frame fits.
   */
  readonly mem = new Uint8Array(2 * SKB_BYTES);
  /** The context's own frame area (headroom in front): copies and generated frames go here. */
  readonly own = this.mem.subarray(0, SKB_BYTES);
  /**
   * The bytes the current frame lives in: `own`, or a caller's record lent by `borrow`. The
   * view parses it and programs rewrite it; encapsulation, snapshots and hop records need
   * `own`, so only a run without captures borrows.
   */
  buf: Uint8Array = this.own;
  /** Offset in `mem` of the snapshot (the frame as it arrived at an ingress tap) and its length. */
  readonly snapOff = SKB_BYTES;
  snapLen = 0;
  /** Frame (Ethernet) start and end in `buf`. */
  off = HEADROOM;
  end = HEADROOM;
  readonly view = new Ipv4View();
  /** Capture clock: seconds for the maps, and the exact stamp for hops/events. */
  now = 0;
  tsSec = 0;
  tsNsec = 0;
  mark = 0;
  /** Security identity of the source as this node resolved it. */
  srcIdentity = 0;
  /** CT result of the packet's own endpoint lookup (CT_* constant), for reply skips. */
  ctState = 0;
  /** Redirect targets. */
  next = NEXT_STACK;
  tunnelEndpoint = 0;
  vni = 0;
  redirectEp: EndpointState | null = null;
  /** Egress map entry that matched at this node, or -1. */
  policyIdx = -1;
  /** Source address before SNAT at the current hop, when a translation happened. */
  origSaddr = 0;
  translated = false;
  /** Reply direction (trace reason CT_REPLY). */
  isReply = false;
  /**
   * Whether Ethernet headers are written. Only hop captures show them: no program, host or
   * event reads a frame's MACs, so a run without captures leaves the bytes as they are.
   */
  l2 = true;
  /** Hop comments: the notes of the journey (non-null when hops or events are observed). */
  jr: Journey | null = null;
  /**
   * The same journey when its detail is wanted too (functions, lookups, rewrites, SNAT,
   * policy: events and explain); null when only hop comments are written, so the programs
   * skip building those strings.
   */
  jd: Journey | null = null;

  /**
   * Parses the IPv4 header of the current frame (after the 14-byte Ethernet header),
   * bounded by the frame's end: a borrowed buffer goes on with the reader's next records.
   */
  parse(): number {
    return this.view.parse(this.buf, this.off + 14, this.end);
  }

  /** Copies the current frame to the snapshot area (what an ingress tap saw before the program). Needs `own`. */
  snapshot(): void {
    this.mem.copyWithin(this.snapOff, this.off, this.end);
    this.snapLen = this.end - this.off;
  }

  /** The current frame (a view; valid until the next change). */
  frame(): Uint8Array {
    return this.buf.subarray(this.off, this.end);
  }

  /** Loads `len` bytes of an IPv4 packet with a fresh Ethernet header. */
  loadIp(data: Uint8Array, l3: number, len: number, dstMac: Uint8Array, srcMac: Uint8Array): void {
    this.off = HEADROOM;
    const b = this.own;
    this.buf = b;
    const at = HEADROOM + 14 - l3;
    if (at >= 0 && at + data.length <= b.length) {
      // Copy the whole record without a subarray view (no allocation): what lands in front
      // of the IP header is the Ethernet header's place, what follows the IP total length
      // lies beyond `end`.
      b.set(data, at);
    } else {
      for (let i = 0; i < len; i++) b[HEADROOM + 14 + i] = data[l3 + i]!;
    }
    if (this.l2) {
      writeMacs(b, HEADROOM, dstMac, srcMac);
      b[HEADROOM + 12] = 0x08;
      b[HEADROOM + 13] = 0x00;
    }
    this.end = HEADROOM + 14 + len;
    this.resetMeta();
  }

  /**
   * Takes the IPv4 packet at `data[l3, l3 + len)` where it lies, instead of copying it as
   * `loadIp` does: the 14 bytes in front of it become the Ethernet header, and programs
   * rewrite the caller's bytes. For a record the caller is done with (l3 >= 14 in `data`),
   * in a run that takes no snapshots and no hop records; encapsulation calls `unborrow`.
   * Copying a record was the largest single cost of the engine's own per-packet work.
   */
  borrow(data: Uint8Array, l3: number, len: number, dstMac: Uint8Array, srcMac: Uint8Array): void {
    const o = l3 - 14;
    this.buf = data;
    this.off = o;
    if (this.l2) {
      writeMacs(data, o, dstMac, srcMac);
      data[o + 12] = 0x08;
      data[o + 13] = 0x00;
    }
    this.end = l3 + len;
    this.resetMeta();
  }

  /**
   * Moves a borrowed frame into `own` (with headroom in front) before something prepends
   * to it: encapsulation writes outer headers in front of the frame, which in a caller's
   * record would land on bytes before it, or before the buffer's start for the first one.
   */
  unborrow(): void {
    if (this.buf === this.own) return;
    const len = this.end - this.off;
    this.own.set(this.buf.subarray(this.off, this.end), HEADROOM);
    this.buf = this.own;
    this.off = HEADROOM;
    this.end = HEADROOM + len;
    // Same bytes at a new offset: parsing again moves the view's offsets with them.
    this.view.parse(this.own, HEADROOM + 14, this.end);
  }

  /** Loads a whole Ethernet frame. */
  loadFrame(frame: Uint8Array): void {
    this.off = HEADROOM;
    this.buf = this.own;
    this.buf.set(frame, HEADROOM);
    this.end = HEADROOM + frame.length;
    this.resetMeta();
  }

  /** Moves the frame back to HEADROOM (after a decapsulation left it deeper in the buffer). */
  recentre(): void {
    if (this.buf !== this.own) {
      // A borrowed frame comes home (no headroom can be assumed in the caller's bytes).
      this.own.set(this.buf.subarray(this.off, this.end), HEADROOM);
      this.buf = this.own;
    } else if (this.off === HEADROOM) return;
    else this.own.copyWithin(HEADROOM, this.off, this.end);
    this.end = HEADROOM + (this.end - this.off);
    this.off = HEADROOM;
  }

  resetMeta(): void {
    this.mark = 0;
    this.srcIdentity = 0;
    this.ctState = 0;
    this.next = NEXT_STACK;
    this.tunnelEndpoint = 0;
    this.vni = 0;
    this.redirectEp = null;
    this.policyIdx = -1;
    this.origSaddr = 0;
    this.translated = false;
    this.isReply = false;
  }

  setMacs(dst: Uint8Array, src: Uint8Array): void {
    if (this.l2) writeMacs(this.buf, this.off, dst, src);
  }
}

/** Host-side veth MAC: real ones are random; this one is `fe` + the first 10 hex chars of the lxc name. */
export function lxcMacOf(ifName: string): Uint8Array {
  const hex = ifName.replace(/^lxc/, '').padEnd(10, '0').slice(0, 10);
  const b = new Uint8Array(6);
  b[0] = 0xfe;
  for (let i = 0; i < 5; i++) b[i + 1] = parseInt(hex.slice(2 * i, 2 * i + 2), 16) || 0;
  return b;
}

function derivedMac(a: number, b: number, ip: number): Uint8Array {
  return new Uint8Array([a, b, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]);
}

export interface BuildOptions {
  topology: Topology;
  policies: EgressPolicy[];
  profile: Profile;
  rng: Rng;
  allocator: PortAllocator | null;
  allocatorName: string;
  recordCandidates: boolean;
}

/** Builds every node's maps and the ipcache. */
export function buildEnv(o: BuildOptions): Env {
  const topo = o.topology;
  const nodes: NodeState[] = [];
  const byName = new Map<string, NodeState>();
  const tunnelDevice = topo.tunnel.protocol === 'geneve' ? 'cilium_geneve' : 'cilium_vxlan';
  for (const spec of topo.nodes) {
    const ct = new Conntrack(
      ctOptionsFor(o.profile, { maxTcp: topo.mapSizes.ctTcp, maxAny: topo.mapSizes.ctAny, initialCapacity: 1024 }),
      o.profile,
    );
    // Linux's allocators map most originals into 1024-65535 (the usage gauges' range), but
    // an original below 1024 keeps a port below 1024 (600-1023 or 1-511), and Linux
    // conntrack translates a reply whatever its port: rev-SNAT looks at every port. Cilium's
    // rev-SNAT looks only at its own NAT range.
    const linux = o.allocatorName.startsWith('linux');
    const nat = new NatTable(topo.mapSizes.nat, o.profile, {
      minPort: linux ? 1024 : topo.natPortMin,
      maxPort: linux ? 65535 : topo.natPortMax,
      ...(linux ? { revNatMinPort: 1, revNatMaxPort: 65535 } : {}),
      reservedPorts: [topo.tunnel.port],
      smallInsnLimit: topo.largeInsnLimit === false,
      record: o.recordCandidates,
      ...(o.allocator ? { allocator: o.allocator } : {}),
    });
    const egress = compileEgressPolicyMap(topo, o.policies, o.profile, spec.name);
    const n: NodeState = {
      index: nodes.length,
      spec,
      name: spec.name,
      ip: spec.ip >>> 0,
      mac: macBytes(spec.mac),
      hostMac: derivedMac(0x02, 0xc1, spec.ip),
      ct,
      nat,
      egress,
      ipmasq: new IpMasqMap(topo.nonMasqueradeCidrs),
      endpoints: new Map(),
      endpointIps: new AddrIndex(0),
      tunnelDevice,
      devices: [],
      policyHits: new Float64Array(Math.max(1, egress.size()) * 3),
      policyKind: new Uint8Array(Math.max(1, egress.size())),
    };
    nodes.push(n);
    byName.set(spec.name, n);
  }
  const endpoints: EndpointState[] = [];
  for (const spec of topo.endpoints) {
    const node = byName.get(spec.node);
    if (!node) continue; // the topology loader rejects this; a hand-built one is skipped
    const ep: EndpointState = {
      index: endpoints.length,
      spec,
      ip: spec.ip >>> 0,
      identity: spec.identity,
      mac: macBytes(spec.mac),
      lxcMac: lxcMacOf(spec.ifName),
      node,
      ifName: spec.ifName,
      devIndex: -1,
    };
    endpoints.push(ep);
    node.endpoints.set(ep.ip, ep);
  }
  for (const n of nodes) {
    n.endpointIps = new AddrIndex(n.endpoints.size);
    for (const ep of n.endpoints.values()) n.endpointIps.set(ep.ip, ep.index);
    n.devices.push({ name: 'eth0', kind: 'eth0' }, { name: tunnelDevice, kind: tunnelDevice }, { name: 'cilium_host', kind: 'cilium_host' });
    for (const ep of n.endpoints.values()) {
      ep.devIndex = n.devices.length;
      n.devices.push({ name: ep.ifName, kind: 'lxc' });
    }
  }

  const routerMac = macBytes(topo.routerMac);
  const exact = new Map<number, IpcacheEntry>();
  for (const ep of endpoints) {
    exact.set(ep.ip, { kind: IPC_ENDPOINT, identity: ep.identity, ep, node: ep.node, ext: null, nhMac: routerMac });
  }
  for (const n of nodes) {
    exact.set(n.ip, { kind: IPC_NODE, identity: IDENTITY_REMOTE_NODE, ep: null, node: n, ext: null, nhMac: n.mac });
  }
  for (const h of topo.externalHosts) {
    if (!exact.has(h.ip >>> 0)) {
      exact.set(h.ip >>> 0, { kind: IPC_EXTERNAL, identity: IDENTITY_WORLD, ep: null, node: null, ext: h, nhMac: lenientMacBytes(h.mac) });
    }
  }
  const cidrs = nodes.map((n) => ({
    cidr: n.spec.podCidr,
    entry: { kind: IPC_POD_CIDR, identity: IDENTITY_WORLD, ep: null, node: n, ext: null, nhMac: routerMac } as IpcacheEntry,
  }));
  const world: IpcacheEntry = { kind: IPC_WORLD, identity: IDENTITY_WORLD, ep: null, node: null, ext: null, nhMac: routerMac };
  const ipc = new IpCache(exact, cidrs, world);

  return new Env({
    profile: o.profile,
    topo,
    nodes,
    endpoints,
    tunnelKind: topo.tunnel.protocol === 'geneve' ? TUNNEL_GENEVE : TUNNEL_VXLAN,
    tunnelPort: topo.tunnel.port,
    natMin: topo.natPortMin,
    natMax: topo.natPortMax,
    rng: o.rng,
    target: { addr: 0, minPort: topo.natPortMin, maxPort: topo.natPortMax, needsCt: false, fromEndpoint: true },
    snat: newSnatResult(),
    allocatorName: o.allocatorName,
    fillUp: null,
    routerMac,
    clusterNets: Int32Array.from(topo.clusterCidrs, (c) => c.addr | 0),
    clusterMasks: Int32Array.from(topo.clusterCidrs, (c) => mask(c.bits)),
    ipc,
  });
}

/**
 * The cluster as every node's programs see it. A class, so that `env.ipcache(addr)` is a
 * monomorphic method call the optimizing compiler can inline (a closure in an object
 * literal was not).
 */
export class Env {
  profile!: Profile;
  topo!: Topology;
  nodes!: NodeState[];
  endpoints!: EndpointState[];
  tunnelKind!: number;
  tunnelPort!: number;
  natMin!: number;
  natMax!: number;
  rng!: Rng;
  /** Scratch objects reused by every program call. */
  target!: SnatTarget;
  snat!: SnatResult;
  allocatorName!: string;
  /** Set by toNetdev when a mapping attempt signalled SIGNAL_NAT_FILL_UP. */
  fillUp!: NodeState | null;
  routerMac!: Uint8Array;
  /** `topo.clusterCidrs` as int32 (network, mask) pairs, for the per-packet membership test. */
  clusterNets!: Int32Array;
  clusterMasks!: Int32Array;
  private readonly ipc: IpCache;

  constructor(o: Omit<Env, 'ipcache'> & { ipc: IpCache }) {
    const { ipc, ...fields } = o;
    Object.assign(this, fields);
    this.ipc = ipc;
  }

  ipcache(addr: number): IpcacheEntry {
    return this.ipc.lookup(addr);
  }
}

/**
 * "aa:bb:..." to bytes, a missing or bad part giving 0 (the engine's long-standing reading
 * of an external host's MAC; the strict `macBytes` would throw).
 */
export function lenientMacBytes(mac: string): Uint8Array {
  const b = new Uint8Array(6);
  const parts = mac.split(':');
  for (let i = 0; i < 6; i++) b[i] = parseInt(parts[i] ?? '0', 16) || 0;
  return b;
}

/**
 * `identity_is_cluster` (1.17 skip rule): everything but WORLD and CIDR identities, i.e.
 * pods, hosts and remote nodes. Our ipcache gives WORLD to external hosts, unknown
 * addresses and pod-CIDR addresses without an endpoint.
 */
export function identityIsCluster(identity: number): boolean {
  return identity !== IDENTITY_WORLD;
}

/** Identity a node gives to an address it sees as a source (resolve_srcid_ipv4). */
export function resolveSrcIdentity(env: Env, node: NodeState, addr: number): number {
  if (addr === node.ip) return IDENTITY_HOST;
  return env.ipcache(addr).identity;
}
