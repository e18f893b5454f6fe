/**
 * @module dataplane/engine
 * Moves packets between the programs of the nodes, the way the kernel and the wire do
 * (DESIGN.md "The packet's way"; cilium-datapath.md §3-§6):
 *
 * ```
 *  pod ─lxc─▶ fromContainer ─┬─ local pod ─────────────▶ toContainer ─lxc─▶ pod
 *                            ├─ tunnel ─▶ cilium_vxlan ─▶ eth0 ══▶ eth0 ─▶ cilium_vxlan ─▶ fromOverlay
 *                            └─ stack ─▶ kernel forward (TTL-1) ─▶ toNetdev ─eth0─▶ world
 *  world ─eth0─▶ fromNetdev (rev-SNAT) ─┬─ 1.17 reply hook: tunnel (VNI 2)
 *                                       ├─ local pod: local delivery
 *                                       └─ stack ─▶ kernel forward ─▶ cilium_host fromHost ─▶ tunnel
 * ```
 *
 * Observation (`DataplaneObserver.hop`) happens where tcpdump would see the packet: on
 * ingress before the tc program (so the frame is the one that arrived; the comment says
 * what the program then did), on egress after it (the frame that left). A packet dropped
 * by an egress program never shows on that device, as with tcpdump.
 *
 * Every input or generated packet ends in exactly one of: delivered (to a pod, or to a
 * node's host stack), sent (out of an eth0 to the world), dropped (a Cilium drop code) or
 * ignored (not replayed). With no observer the per-packet path allocates nothing and
 * builds no strings.
 *
 * Without a hop observer nobody sees a frame's bytes outside the IP packet, so the engine
 * skips what only captures would show: Ethernet addresses are not written (`Skb.l2`), and a
 * record passed with `injectRecord` is worked on where it lies instead of being copied.
 * Tunnelling is always done for real (outer headers built, then parsed and stripped by the
 * peer), so the benchmark's "dataplane alone" does the work the model describes. Counters,
 * drops and events are the same either way (test/dataplane/engine-fastpath.test.ts replays
 * the golden scenarios both ways).
 */

import type { FlowEvent } from '../traces/events.ts';
import { rfc3339Nano } from '../traces/events.ts';
import { MAX_REMOTE_ROWS, type Conservation, type DropRow, type EgressIpUsage, type PolicyCount, type StatsSnapshot, type Summary } from '../traces/stats.ts';
import { IdGenerator } from '../traces/ids.ts';
import type { EgressPolicy } from './cluster/policy.ts';
import type { Topology } from './cluster/topology.ts';
import { Rng } from './lib/rng.ts';
import type { Profile } from './lib/profile.ts';
import { createAllocator } from './lib/allocators.ts';
import { purgeOrphanNat, TUPLE_F_OUT, type Conntrack } from './lib/conntrack.ts';
import type { EgressPolicyMap } from './lib/egress-gateway.ts';
import { RETRY_BUCKETS, type NatTable } from './lib/nat.ts';
import { dropInfo } from './lib/drop.ts';
import { decapFrame, encapPrepend, tunnelSrcPort, type DecapResult } from './lib/encap.ts';
import {
  buildFlowEvent,
  Journey,
  TRACE_FROM_HOST,
  TRACE_FROM_LXC,
  TRACE_FROM_NETWORK,
  TRACE_FROM_OVERLAY,
  TRACE_REASON_CT_REPLY,
  TRACE_REASON_POLICY,
  TRACE_REASON_UNKNOWN,
  isFromPoint,
  TRACE_TO_LXC,
  TRACE_TO_NETWORK,
  TRACE_TO_OVERLAY,
  TRACE_TO_STACK,
  tcpFlagsText,
  traceReasonForCt,
} from './lib/trace.ts';
import { ipToString } from './packet/addr.ts';
import { TCP_ACK, TCP_SYN } from './packet/tcp.ts';
import {
  buildEnv,
  lenientMacBytes,
  DEV_ETH0,
  DEV_TUNNEL,
  IPC_ENDPOINT,
  IPC_EXTERNAL,
  IPC_NODE,
  IPC_POD_CIDR,
  NEXT_LXC,
  NEXT_NETDEV,
  NEXT_STACK,
  NEXT_TUNNEL,
  Skb,
  type EndpointState,
  type Env,
  type NodeState,
} from './node.ts';
import { fromContainer, toContainer, tupleText } from './programs/lxc.ts';
import { fromOverlay, toOverlay } from './programs/overlay.ts';
import { fromHost, fromNetdev, toNetdev } from './programs/host.ts';
import { ExternalHost, type AnswerSink } from './external.ts';
import { AddrIndex } from './lib/addr-index.ts';

export interface DataplaneOptions {
  topology: Topology;
  policies: EgressPolicy[];
  profile: Profile;
  seed: number;
  /** 'cilium' (the profile's own, default), 'cilium-1.10', 'cilium-1.17', 'linux', 'linux-random-fully'. */
  allocator?: string;
  /** Seconds of capture time between conntrack GC runs. @default 300 */
  gcInterval?: number;
  observer?: DataplaneObserver;
  /** Record SNAT candidate lists (explain). */
  recordJourney?: boolean;
  /**
   * Builds events only for the input packets this accepts (SAMPLE_*): with their journey
   * detail, without it, or none; hop captures, counters and snapshots are unaffected. The
   * live dashboard samples at top speed, where building every hop's event would cost more
   * than the replay itself.
   */
  eventSample?: (inputIndex: number) => EventSampling;
  /**
   * Flows whose event flow_id is remembered, least recently seen forgotten first: a flow
   * quiet while this many others were seen gets a new id. @default 524288 (Cilium's TCP
   * CT map size)
   */
  flowIdsKept?: number;
}

/** Conntrack rows per node in a snapshot: its most recently used entries. */
const CT_ROWS_PER_NODE = 50;

/** eventSample: no events for this packet. */
export const SAMPLE_NONE = 0;
/**
 * eventSample: events with hops and notes but without the journey detail (function walk,
 * map lookups). Once detail hooks have run, V8 recompiles the hot program functions with
 * them included, and they stay slower for the rest of the run (measured: +17% at top speed
 * for the dashboard's sampled packets), so top-speed sampling leaves the detail out.
 */
export const SAMPLE_EVENT = 1;
/** eventSample: events with their journey detail. */
export const SAMPLE_DETAIL = 2;
export type EventSampling = typeof SAMPLE_NONE | typeof SAMPLE_EVENT | typeof SAMPLE_DETAIL;

export interface Hop {
  node: string;
  device: string;
  direction: 'in' | 'out';
  /** Ethernet frame; valid during the call only (a view of `buf`, made when asked for). */
  readonly frame: Uint8Array;
  /** The frame without a view: `frameLen` bytes at `frameOff` in `buf` (valid during the call). */
  buf: Uint8Array;
  frameOff: number;
  frameLen: number;
  /** Position of the node in nodeNames() and of the device in devices(node); -1 if unknown. */
  nodeIndex: number;
  deviceIndex: number;
  tsSec: number;
  tsNsec: number;
  comment: string | undefined;
}

/**
 * The one Hop the engine hands to the observer, refilled for every hop: an object, a frame
 * copy and a view per hop were most of a replay's garbage. Observers that keep a hop copy it.
 */
class HopRecord implements Hop {
  node = '';
  device = '';
  direction: 'in' | 'out' = 'in';
  buf: Uint8Array;
  frameOff = 0;
  frameLen = 0;
  nodeIndex = -1;
  deviceIndex = -1;
  tsSec = 0;
  tsNsec = 0;
  comment: string | undefined = undefined;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  get frame(): Uint8Array {
    return this.buf.subarray(this.frameOff, this.frameOff + this.frameLen);
  }
}

export interface DataplaneObserver {
  hop?(h: Hop): void;
  event?(ev: FlowEvent): void;
}

export type DeviceKind = 'lxc' | 'eth0' | 'cilium_vxlan' | 'cilium_geneve' | 'cilium_host';

/** Ignore reasons the engine itself uses. */
export const IGNORE_IPV6 = 'IPv6 not modelled (egress gateway is IPv4-only)';
export const IGNORE_REPLY_WITHOUT_MAPPING = 'reply without mapping';
/** Unknown source addresses counted each under its own reason; the rest are counted together. */
export const UNKNOWN_SOURCES_NAMED = 16;
/** Distinct ignore reasons kept by name; later new ones count as `<kind>: other`. */
export const IGNORE_REASONS_NAMED = 64;

interface Pending {
  sec: number;
  nsec: number;
  seq: number;
  frame: Uint8Array;
  host: ExternalHost;
}

const EVENT_RING = 64;
/** drop(): no ingress snapshot to show. */
const NO_TAP = -1;

export class Dataplane {
  private readonly env: Env;
  private readonly skb = new Skb();
  private readonly obs: DataplaneObserver | undefined;
  private readonly wantHop: boolean;
  private wantEvent: boolean;
  private readonly eventObserved: boolean;
  private readonly eventSample: ((inputIndex: number) => EventSampling) | undefined;
  private readonly jr: Journey | null;
  private readonly hopRecord: HopRecord;
  /** Stands in for the journey of `entry` events, which carry none. */
  private readonly emptyJourney = new Journey();
  private readonly gcInterval: number;
  private readonly profile: Profile;
  private readonly seed: number;
  private readonly allocatorName: string;
  /** External hosts by address (index into hostList). */
  private readonly hosts: AddrIndex;
  private readonly hostList: ExternalHost[] = [];
  /** Hosts still answering by themselves (none: the per-packet silence check is skipped). */
  private answeringHosts = 0;
  private readonly decap: DecapResult = { innerOff: 0, vni: 0, outerSaddr: 0 };
  private readonly nodeByName = new Map<string, NodeState>();
  /** Address → the node that owns it on the underlay (node IPs, egress IPs), as an index into env.nodes. */
  private readonly addrOwner: AddrIndex;
  /** policy|cidr → the egress IP its gateway node holds. */
  private readonly gatewayEgressIp = new Map<string, number>();

  private cons: Conservation = { input: 0, delivered: 0, sent: 0, dropped: 0, ignored: 0, generated: 0 };
  private readonly dropCounts = new Map<number, number>();
  /** Per drop code, the last flow's numbers (formatted lazily). */
  private readonly dropLast = new Map<number, Float64Array>();
  private readonly ignored = new Map<string, number>();
  /** Distinct unknown source addresses with a reason of their own (see ignoreUnknownSource). */
  private unknownSourcesNamed = 0;
  private readonly eventRing = new Float64Array(EVENT_RING * 8);
  private eventRingPos = 0;
  private eventRingLen = 0;

  private queue: Pending[] = [];
  private queueSeq = 0;
  private lastGc = -1;
  private lastSec = 0;
  private lastNsec = 0;
  private finished = false;
  private gcRuns = 0;
  private allocSamples = new Map<string, number[]>();
  private allocLast = new Map<string, number>();
  /** Input packets at the last allocation sample (-1: none taken yet). */
  private allocSampledAt = -1;

  // observer-only state
  private readonly packetIds: IdGenerator;
  private readonly flowIds: IdGenerator;
  /** Pod-side flow key → flow_id, in least-recently-seen order (Map order, refreshed on a hit). */
  private readonly flowIdOf = new Map<string, string>();
  private readonly flowIdsKept: number;
  private packetId = '';
  private flowId = '';
  private inputIndex = -1;
  private program = '';

  constructor(o: DataplaneOptions) {
    this.profile = o.profile;
    this.seed = o.seed >>> 0;
    this.gcInterval = o.gcInterval ?? 300;
    this.flowIdsKept = Math.max(1, o.flowIdsKept ?? 524288);
    this.obs = o.observer;
    this.wantHop = typeof o.observer?.hop === 'function';
    this.eventObserved = typeof o.observer?.event === 'function';
    this.wantEvent = this.eventObserved;
    this.eventSample = this.eventObserved ? o.eventSample : undefined;
    this.jr = this.wantHop || this.wantEvent || o.recordJourney ? new Journey() : null;
    const rng = new Rng(this.seed);
    // Ids come from a fork so the SNAT port sequence is the same with or without an observer.
    const idRng = rng.fork(0x1d5);
    this.packetIds = new IdGenerator([idRng.u32(), idRng.u32(), idRng.u32(), idRng.u32()]);
    this.flowIds = new IdGenerator([idRng.u32(), idRng.u32(), idRng.u32(), idRng.u32()]);
    const name = o.allocator ?? 'cilium';
    const allocator = name === 'cilium' ? null : createAllocator(name, o.profile);
    this.allocatorName = allocator ? allocator.name : `cilium-${o.profile}`;
    this.env = buildEnv({
      topology: o.topology,
      policies: o.policies,
      profile: o.profile,
      rng,
      allocator,
      allocatorName: this.allocatorName,
      recordCandidates: o.recordJourney === true,
    });
    let owned = this.env.nodes.length;
    for (const n of this.env.nodes) owned += n.egress.size();
    this.addrOwner = new AddrIndex(owned);
    for (const n of this.env.nodes) {
      this.nodeByName.set(n.name, n);
      // replace: a later node with the same IP wins, as Map.set did.
      this.addrOwner.set(n.ip, n.index, true);
    }
    for (const n of this.env.nodes) {
      for (const e of n.egress.entries()) {
        const gw = this.env.nodes.find((x) => x.ip === e.gatewayIp);
        // Without replace: an address already owned keeps its owner.
        if (gw && e.egressIp > 1) this.addrOwner.set(e.egressIp, gw.index);
        if (gw === n && e.egressIp > 1) {
          const bits = e.bits;
          const text = `${ipToString(e.daddr)}/${bits}`;
          this.gatewayEgressIp.set(`${e.policy}|${text}`, e.egressIp);
        }
      }
    }
    this.hosts = new AddrIndex(o.topology.externalHosts.length);
    for (const h of o.topology.externalHosts) {
      const x = new ExternalHost(h);
      this.hosts.set(x.ip, this.hostList.length, true);
      this.hostList.push(x);
      if (x.answering) this.answeringHosts++;
    }
    this.skb.jr = this.jr;
    this.skb.jd = this.wantEvent || o.recordJourney ? this.jr : null;
    this.skb.l2 = this.wantHop;
    this.hopRecord = new HopRecord(this.skb.mem);
  }

  // ---------------------------------------------------------------- input

  /** Replays one input record (already located: l3Offset of IPv4/IPv6 in data). `data` is not changed. */
  inject(data: Uint8Array, l3Offset: number, tsSec: number, tsNsec: number, inputIndex: number): void {
    this.injectAt(data, 0, data.length, l3Offset, tsSec, tsNsec, inputIndex, false);
  }

  /**
   * As `inject`, for a record the caller is done with: its bytes `buf[start, end)` (l3Offset
   * counted from `start`) may be rewritten in place. A run without hop captures then works on
   * them where they lie instead of copying them into the packet context.
   */
  injectRecord(buf: Uint8Array, start: number, end: number, l3Offset: number, tsSec: number, tsNsec: number, inputIndex: number): void {
    this.injectAt(buf, start, end, l3Offset, tsSec, tsNsec, inputIndex, true);
  }

  private injectAt(
    data: Uint8Array,
    start: number,
    end: number,
    l3Offset: number,
    tsSec: number,
    tsNsec: number,
    inputIndex: number,
    mayRewrite: boolean,
  ): void {
    this.cons.input++;
    if (this.eventSample) {
      // Decided before the queue flush, so generated answers due now follow the same choice.
      const sampling = this.eventSample(inputIndex);
      this.wantEvent = sampling !== SAMPLE_NONE;
      this.skb.jd = sampling === SAMPLE_DETAIL ? this.jr : null;
      // Notes exist for hop comments and events: an unsampled packet without captures needs none.
      this.skb.jr = this.wantEvent || this.wantHop ? this.jr : null;
    }
    // A packet from an answering external host means the capture holds its real answers:
    // silence it before the queue flush, so an answer the model queued for an earlier
    // request (the pod's SYN) is not sent as well.
    if (this.answeringHosts > 0 && l3Offset >= 0) this.silenceIfFromHost(data, start + l3Offset, end);
    this.flushQueue(tsSec, tsNsec);
    this.advanceClock(tsSec, tsNsec);
    this.inputIndex = inputIndex;
    const size = end - start;
    if (l3Offset < 0 || l3Offset >= size) return this.ignoreOne('no IP header');
    const l3 = start + l3Offset;
    const ver = data[l3]! >> 4;
    if (ver === 6) return this.ignoreOne(IGNORE_IPV6);
    if (ver !== 4 || l3Offset + 20 > size) return this.ignoreOne('not an IPv4 header');
    const ihl = (data[l3]! & 0x0f) * 4;
    const totalLen = (data[l3 + 2]! << 8) | data[l3 + 3]!;
    if (ihl < 20 || totalLen < ihl) return this.ignoreOne('invalid IPv4 header');
    if (l3Offset + totalLen > size) return this.ignoreOne('IPv4 packet cut by the capture snap length');
    const saddr = ((data[l3 + 12]! << 24) | (data[l3 + 13]! << 16) | (data[l3 + 14]! << 8) | data[l3 + 15]!) >>> 0;
    const daddr = ((data[l3 + 16]! << 24) | (data[l3 + 17]! << 16) | (data[l3 + 18]! << 8) | data[l3 + 19]!) >>> 0;
    const env = this.env;
    const src = env.ipcache(saddr);
    const skb = this.skb;
    skb.now = tsSec;
    skb.tsSec = tsSec;
    skb.tsNsec = tsNsec;
    // In place when allowed, nothing needs the context's own frame area (hop captures do:
    // snapshots, encapsulation) and the record has room for the Ethernet header.
    const inPlace = mayRewrite && !this.wantHop && l3Offset >= 14;
    if (src.kind === IPC_ENDPOINT && src.ep !== null) {
      const ep = src.ep;
      if (inPlace) skb.borrow(data, l3, totalLen, ep.lxcMac, ep.mac);
      else skb.loadIp(recordBytes(data, start, end), l3Offset, totalLen, ep.lxcMac, ep.mac);
      if (skb.parse() < 0) return this.ignoreOne('invalid IPv4 header');
      if (this.jr) this.beginPacket(false);
      this.fromPod(ep);
      return;
    }
    if (src.kind === IPC_NODE) return this.ignoreOne(`host traffic not modelled: ${ipToString(saddr)}`);
    const dst = env.ipcache(daddr);
    const host = src.kind === IPC_EXTERNAL ? this.hostAt(saddr) : undefined;
    if (host || dst.kind === IPC_ENDPOINT) {
      // The frame comes from the host itself (its own MAC) or through the router.
      if (inPlace) skb.borrow(data, l3, totalLen, env.routerMac, src.nhMac);
      else skb.loadIp(recordBytes(data, start, end), l3Offset, totalLen, env.routerMac, src.nhMac);
      if (skb.parse() < 0) return this.ignoreOne('invalid IPv4 header');
      this.recordedReply(src.nhMac);
      return;
    }
    this.ignoreUnknownSource(saddr);
  }

  /** The node owning `addr` on the underlay, or undefined. */
  private ownerOf(addr: number): NodeState | undefined {
    const i = this.addrOwner.get(addr);
    return i < 0 ? undefined : this.env.nodes[i];
  }

  /** The external host at `addr`, or undefined. */
  private hostAt(addr: number): ExternalHost | undefined {
    const i = this.hosts.get(addr);
    return i < 0 ? undefined : this.hostList[i];
  }

  /** Counts an input record that could not be replayed (not IP, link type...). */
  ignore(reason: string): void {
    this.cons.input++;
    this.ignoreOne(reason);
  }

  /**
   * An input from an address the topology does not know, counted by address for the first
   * UNKNOWN_SOURCES_NAMED of them and together after that: a capture of many strangers
   * (a scan, a busy uplink) must not grow the reasons, the summary and stderr per address.
   */
  private ignoreUnknownSource(saddr: number): void {
    const named = `source not in topology: ${ipToString(saddr)}`;
    const known = this.ignored.has(named);
    if (known || this.unknownSourcesNamed < UNKNOWN_SOURCES_NAMED) {
      if (!known) this.unknownSourcesNamed++;
      return this.ignoreOne(named);
    }
    this.ignoreOne('source not in topology: other addresses');
  }

  private ignoreOne(reason: string): void {
    this.cons.ignored++;
    let n = this.ignored.get(reason);
    if (n === undefined && this.ignored.size >= IGNORE_REASONS_NAMED) {
      // A hostile or odd capture can name a new reason per record (an address family, an
      // ethertype each): past the bound they count under their kind, `not IP: other`.
      const colon = reason.indexOf(':');
      reason = `${colon > 0 ? reason.slice(0, colon) : reason}: other`;
      n = this.ignored.get(reason);
    }
    this.ignored.set(reason, (n ?? 0) + 1);
  }

  /** Runs the final GC and flushes pending echo answers. */
  finish(): void {
    if (this.finished) return;
    this.flushQueue(Infinity, 0);
    for (const n of this.env.nodes) this.gcNode(n, this.lastSec);
    this.finished = true;
  }

  /** The capture clock (seconds) of the latest packet seen: the `now` of map dumps. */
  clock(): number {
    return this.lastSec;
  }

  private advanceClock(sec: number, nsec: number): void {
    if (sec > this.lastSec || (sec === this.lastSec && nsec > this.lastNsec)) {
      this.lastSec = sec;
      this.lastNsec = nsec;
    }
    if (this.lastGc < 0) this.lastGc = sec;
    else if (sec - this.lastGc >= this.gcInterval) {
      this.lastGc = sec;
      for (const n of this.env.nodes) this.gcNode(n, sec);
    }
  }

  private gcNode(n: NodeState, now: number): void {
    this.gcRuns++;
    n.ct.gc(now, n.nat);
  }

  /** SIGNAL_NAT_FILL_UP: the agent runs CT GC and purges orphan NAT entries. */
  private fillUpGc(n: NodeState): void {
    this.gcNode(n, this.skb.now);
    purgeOrphanNat(n.nat, n.ct);
  }

  // ---------------------------------------------------------------- generated packets

  private readonly sink: AnswerSink = {
    answer: (frame, sec, nsec, host) => {
      const p: Pending = { sec, nsec, seq: this.queueSeq++, frame, host };
      const q = this.queue;
      let i = q.length;
      while (i > 0 && (q[i - 1]!.sec > sec || (q[i - 1]!.sec === sec && q[i - 1]!.nsec > nsec))) i--;
      q.splice(i, 0, p);
    },
    podFor: (proto, server, serverPort, client, clientPort) => {
      const owner = this.ownerOf(client);
      const nodes = owner ? [owner, ...this.env.nodes] : this.env.nodes;
      for (const n of nodes) {
        const s = n.nat.findIn(proto, server, serverPort, client, clientPort);
        if (s >= 0) return `${ipToString(n.nat.toAddrOf(s))}:${n.nat.toPortOf(s)}`;
      }
      return `${ipToString(client)}:${clientPort}`;
    },
  };

  private flushQueue(sec: number, nsec: number): void {
    const q = this.queue;
    while (q.length > 0) {
      const p = q[0]!;
      if (p.sec > sec || (p.sec === sec && p.nsec > nsec)) break;
      q.shift();
      this.injectGenerated(p);
    }
  }

  /** silence(), when the record's IPv4 source is an answering host. */
  private silenceIfFromHost(data: Uint8Array, l3: number, end: number): void {
    if (l3 + 20 > end || data[l3]! >> 4 !== 4) return;
    const saddr = ((data[l3 + 12]! << 24) | (data[l3 + 13]! << 16) | (data[l3 + 14]! << 8) | data[l3 + 15]!) >>> 0;
    const h = this.hostAt(saddr);
    if (h && h.answering) this.silence(h);
  }

  /** The capture holds this host's own packets: stop answering for it. */
  private silence(h: ExternalHost): void {
    h.answering = false;
    this.answeringHosts--;
    const before = this.queue.length;
    this.queue = this.queue.filter((p) => p.host !== h);
    const removed = before - this.queue.length;
    h.generated -= removed;
  }

  private injectGenerated(p: Pending): void {
    this.cons.generated++;
    const skb = this.skb;
    this.advanceClock(p.sec, p.nsec);
    skb.now = p.sec;
    skb.tsSec = p.sec;
    skb.tsNsec = p.nsec;
    skb.loadFrame(p.frame);
    skb.parse();
    this.inputIndex = -1;
    if (this.jr) this.beginPacket(true);
    this.fromWorld(macBytesCached(p.host.spec.mac));
  }

  /** A packet from the world arrives on the underlay, addressed to skb's daddr; `srcMac` is its sender's. */
  private fromWorld(srcMac: Uint8Array): void {
    const skb = this.skb;
    const v = skb.view;
    let node = this.ownerOf(v.daddr);
    if (!node) {
      const e = this.env.ipcache(v.daddr);
      // Un-NATed flows (nonMasqueradeCIDRs): the underlay routes pod CIDRs to their node.
      if ((e.kind === IPC_ENDPOINT || e.kind === IPC_POD_CIDR) && e.node) node = e.node;
    }
    if (!node) {
      // Nothing in the topology owns the address: it leaves into the world.
      this.cons.sent++;
      return;
    }
    skb.setMacs(node.mac, srcMac);
    this.netdevIn(node);
  }

  /**
   * A recorded reply (loaded and parsed): re-addressed to the translated tuple and injected at
   * the translating node's eth0.
   */
  private recordedReply(srcMac: Uint8Array): void {
    const env = this.env;
    const skb = this.skb;
    const v = skb.view;
    // Not every packet from the world to a pod is a reply: a TCP SYN or an ICMP echo request
    // opens an inbound connection. The underlay routes the pod CIDR to the pod's node, which
    // delivers it through from-netdev and the stack; the pod's answer is then a CT reply
    // (1.17 skips the egress gateway and masquerade for it; 1.10 tunnels it to the gateway).
    const opens = (v.proto === 6 && (v.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) || (v.proto === 1 && v.icmpType === 8);
    if (opens) {
      const e = env.ipcache(v.daddr);
      if (e.kind === IPC_ENDPOINT && e.node !== null) {
        if (this.jr) {
          this.beginPacket(false);
          skb.jr?.note(`inbound connection to a pod: routed to ${e.node.name}`);
        }
        return this.fromWorld(srcMac);
      }
    }
    let sport: number;
    let dport: number;
    if (v.proto === 6 || v.proto === 17) {
      sport = v.dport; // the pod's port
      dport = v.sport;
    } else if (v.proto === 1 && v.icmpType === 0) {
      sport = v.sport;
      dport = 0;
    } else return this.ignoreOne(IGNORE_REPLY_WITHOUT_MAPPING);
    const pod = env.ipcache(v.daddr);
    // Which node translated the flow: the gateway of the policy the pod's node matches it
    // to, else the pod's own node (masquerade), else any. The likely owner is probed first:
    // a NAT map probe is a cache miss, and with a policy the pod's node holds no mapping.
    // (Plain loops, no closure: this runs once per recorded reply.)
    let found: NodeState | null = null;
    let slot = -1;
    if (pod.node !== null) {
      const i = pod.node.egress.lookup(v.daddr, v.saddr);
      const gw = i < 0 ? undefined : this.ownerOf(pod.node.egress.gatewayIp(i));
      const first = gw ?? pod.node;
      slot = first.nat.findOut(v.proto, v.daddr, v.saddr, sport, dport);
      if (slot >= 0) found = first;
      else if (first !== pod.node) {
        slot = pod.node.nat.findOut(v.proto, v.daddr, v.saddr, sport, dport);
        if (slot >= 0) found = pod.node;
      }
    }
    if (found === null) {
      const nodes = env.nodes;
      for (let k = 0; k < nodes.length; k++) {
        slot = nodes[k]!.nat.findOut(v.proto, v.daddr, v.saddr, sport, dport);
        if (slot >= 0) {
          found = nodes[k]!;
          break;
        }
      }
    }
    if (found === null) {
      // A flow that left un-NATed (ip-masq-agent's nonMasqueradeCIDRs): no mapping, but the
      // pod's node tracked it at from-container, and the reply comes back to the pod's own
      // address, which the underlay routes to that node.
      if (pod.node !== null && v.proto !== 1 && pod.node.ct.has4(v.proto, v.daddr, v.saddr, v.dport, v.sport, TUPLE_F_OUT)) {
        if (this.jr) this.beginPacket(false);
        return this.fromWorld(srcMac);
      }
      return this.ignoreOne(IGNORE_REPLY_WITHOUT_MAPPING);
    }
    const node: NodeState = found;
    const toAddr = node.nat.toAddrOf(slot);
    const toPort = node.nat.toPortOf(slot);
    if (this.jr) this.beginPacket(false);
    if (v.daddr !== toAddr) v.setDaddr(toAddr);
    if (v.proto === 1) {
      if (v.sport !== toPort) v.setDport(toPort);
    } else if (v.dport !== toPort) v.setDport(toPort);
    this.fromWorld(srcMac);
  }

  // ---------------------------------------------------------------- the walk

  private fromPod(ep: EndpointState): void {
    const node = ep.node;
    const skb = this.skb;
    // The ingress tap sees the frame before the program rewrites it in place.
    if (this.wantHop) skb.snapshot();
    this.program = 'bpf_lxc:from-container';
    if (this.wantEvent) this.event(node, ep.ifName, TRACE_FROM_LXC, 0, true);
    const verdict = fromContainer(this.env, node, ep, skb);
    if (verdict < 0) return this.drop(verdict, node, ep.ifName, this.wantHop ? ep.devIndex : NO_TAP);
    this.hopFrame(node, ep.ifName, ep.devIndex, 'in', true);
    this.afterRedirect(node, ep.ifName);
  }

  /** Dispatch on skb.next after a program returned OK/REDIRECT on `node`. */
  private afterRedirect(node: NodeState, device: string): void {
    const skb = this.skb;
    switch (skb.next) {
      case NEXT_LXC:
        return this.deliverLocal(node, skb.redirectEp!);
      case NEXT_TUNNEL:
        return this.tunnelOut(node);
      case NEXT_NETDEV:
        return this.netdevOut(node);
      case NEXT_STACK:
      default:
        if (this.wantEvent) this.event(node, device, TRACE_TO_STACK, 0, false);
        return this.stack(node);
    }
  }

  private deliverLocal(node: NodeState, ep: EndpointState): void {
    const skb = this.skb;
    this.program = 'bpf_lxc:to-container';
    const verdict = toContainer(this.env, node, ep, skb);
    if (verdict < 0) return this.drop(verdict, node, ep.ifName, NO_TAP);
    if (this.wantEvent) this.event(node, ep.ifName, TRACE_TO_LXC, 0, false);
    this.hopFrame(node, ep.ifName, ep.devIndex, 'out', false);
    this.cons.delivered++;
  }

  private tunnelOut(node: NodeState): void {
    const env = this.env;
    const skb = this.skb;
    const v = skb.view;
    toOverlay(env, node, skb);
    const dev = node.tunnelDevice;
    if (skb.jr && skb.jr.notes.length === 0) {
      skb.jr.note(`encapsulate to ${ipToString(skb.tunnelEndpoint)} VNI ${skb.vni}`);
    }
    if (this.wantEvent) this.event(node, dev, TRACE_TO_OVERLAY, 0, false);
    this.hopFrame(node, dev, DEV_TUNNEL, 'out', false);
    const tep = skb.tunnelEndpoint;
    const vni = skb.vni;
    const peer = this.ownerOf(tep);
    const peerNode = peer && peer.ip === tep ? peer : null;
    const sport = tunnelSrcPort(env.tunnelKind, v.saddr, v.daddr, v.proto, v.sport, v.dport);
    skb.unborrow();
    skb.off = encapPrepend(skb.buf, skb.off, skb.end, env.tunnelKind, node.mac, peerNode ? peerNode.mac : env.routerMac, node.ip, tep, sport, env.tunnelPort, vni);
    if (this.wantHop) {
      const self = peerNode === node;
      const c = `${dev === 'cilium_geneve' ? 'Geneve' : 'VXLAN'} ${ipToString(node.ip)} -> ${ipToString(tep)} VNI ${vni} sport ${sport}` +
        (self ? ' (to this node itself: the kernel routes it via lo; shown on eth0 once)' : '');
      this.hop(node, 'eth0', DEV_ETH0, 'out', false, c);
    }
    if (!peerNode) {
      this.cons.sent++;
      return;
    }
    if (peerNode !== node && this.wantHop) this.hop(peerNode, 'eth0', DEV_ETH0, 'in', false, `${dev === 'cilium_geneve' ? 'Geneve' : 'VXLAN'} from ${ipToString(node.ip)} VNI ${vni}`);
    if (!decapFrame(skb.buf, skb.off, skb.end, env.tunnelKind, env.tunnelPort, this.decap)) {
      return this.drop(-147, peerNode, dev, NO_TAP);
    }
    skb.off = this.decap.innerOff;
    skb.resetMeta();
    skb.vni = this.decap.vni;
    skb.parse();
    this.overlayIn(peerNode);
  }

  private overlayIn(node: NodeState): void {
    const skb = this.skb;
    const dev = node.tunnelDevice;
    if (this.wantHop) skb.snapshot();
    this.program = 'bpf_overlay:from-overlay';
    if (this.wantEvent) this.event(node, dev, TRACE_FROM_OVERLAY, 0, true);
    const verdict = fromOverlay(this.env, node, skb);
    if (verdict < 0) return this.drop(verdict, node, dev, this.wantHop ? DEV_TUNNEL : NO_TAP);
    this.hopFrame(node, dev, DEV_TUNNEL, 'in', true);
    this.afterRedirect(node, dev);
  }

  /** The kernel: local address, route to a pod CIDR via cilium_host, or out of eth0. */
  private stack(node: NodeState): void {
    const env = this.env;
    const skb = this.skb;
    const v = skb.view;
    if (v.daddr === node.ip || this.ownerOf(v.daddr) === node) {
      if (skb.jr) skb.jr.note('delivered to the host stack');
      this.cons.delivered++;
      return;
    }
    const dst = env.ipcache(v.daddr);
    // Kernel forwarding decrements the TTL (ip_forward). An expiry here is the kernel's drop
    // (it answers ICMP time exceeded; Hubble sees nothing): counted as 134, like the BPF
    // ipv4_dec_ttl, but named after the kernel, not the program that ran before it.
    if (!v.decTtl()) {
      this.program = 'kernel:ip_forward';
      if (skb.jr) skb.jr.note('TTL exceeded in the kernel forward (ip_forward)');
      return this.drop(-134, node, 'eth0', NO_TAP);
    }
    if (dst.kind === IPC_ENDPOINT || dst.kind === IPC_POD_CIDR) {
      this.program = 'bpf_host:from-host';
      if (this.wantEvent) this.event(node, 'cilium_host', TRACE_FROM_HOST, 0, true);
      const verdict = fromHost(env, node, skb);
      if (verdict < 0) return this.drop(verdict, node, 'cilium_host', NO_TAP);
      return this.afterRedirect(node, 'cilium_host');
    }
    skb.setMacs(dst.nhMac, node.mac);
    this.netdevOut(node);
  }

  private netdevOut(node: NodeState): void {
    const env = this.env;
    const skb = this.skb;
    this.program = 'bpf_host:to-netdev';
    const verdict = toNetdev(env, node, skb);
    if (env.fillUp !== null) {
      const n = env.fillUp;
      env.fillUp = null;
      this.fillUpGc(n);
    }
    if (verdict < 0) return this.drop(verdict, node, 'eth0', NO_TAP);
    if (skb.next === NEXT_TUNNEL && verdict !== 0) return this.tunnelOut(node);
    // redirect_neigh / the neighbour: the next hop's MAC on the docker bridge.
    const v = skb.view;
    const dst = env.ipcache(v.daddr);
    skb.setMacs(dst.nhMac, node.mac);
    if (this.wantEvent) this.event(node, 'eth0', TRACE_TO_NETWORK, 0, false);
    this.hopFrame(node, 'eth0', DEV_ETH0, 'out', false);
    this.wire(node);
  }

  /** The frame left `from`'s eth0 (not tunnelled): the bridge delivers it. */
  private wire(from: NodeState): void {
    const skb = this.skb;
    const v = skb.view;
    const dst = this.env.ipcache(v.daddr);
    if (dst.kind === IPC_NODE && dst.node && dst.node !== from) {
      skb.resetMeta();
      return this.netdevIn(dst.node);
    }
    this.cons.sent++;
    const h = this.hostAt(v.daddr);
    // A silenced host (its answers are in the capture) still records what it saw.
    if (h) h.receive(v, from.spec.mac, skb.tsSec, skb.tsNsec, this.sink);
  }

  private netdevIn(node: NodeState): void {
    const skb = this.skb;
    skb.resetMeta();
    if (this.wantHop) skb.snapshot();
    this.program = 'bpf_host:from-netdev';
    if (this.wantEvent) this.event(node, 'eth0', TRACE_FROM_NETWORK, 0, true);
    const verdict = fromNetdev(this.env, node, skb);
    if (verdict < 0) return this.drop(verdict, node, 'eth0', this.wantHop ? DEV_ETH0 : NO_TAP);
    this.hopFrame(node, 'eth0', DEV_ETH0, 'in', true);
    this.afterRedirect(node, 'eth0');
  }

  /** `tap`: the ingress device whose snapshot shows the dropped packet, or NO_TAP. */
  private drop(code: number, node: NodeState, device: string, tap: number): void {
    this.cons.dropped++;
    const abs = -code;
    this.dropCounts.set(abs, (this.dropCounts.get(abs) ?? 0) + 1);
    const v = this.skb.view;
    let last = this.dropLast.get(abs);
    if (!last) {
      last = new Float64Array(5);
      this.dropLast.set(abs, last);
    }
    last[0] = v.proto;
    last[1] = v.saddr;
    last[2] = v.sport;
    last[3] = v.daddr;
    last[4] = v.dport;
    const r = this.eventRing;
    const o = this.eventRingPos * 8;
    r[o] = this.skb.tsSec;
    r[o + 1] = this.skb.tsNsec;
    r[o + 2] = abs;
    r[o + 3] = v.proto;
    r[o + 4] = v.saddr;
    r[o + 5] = v.sport;
    r[o + 6] = v.daddr;
    r[o + 7] = v.dport;
    this.eventRingPos = (this.eventRingPos + 1) % EVENT_RING;
    if (this.eventRingLen < EVENT_RING) this.eventRingLen++;
    const jr = this.skb.jr;
    if (jr) {
      const d = dropInfo(code);
      jr.note(`DROP ${d.code} ${d.text}`);
      if (this.wantEvent) this.event(node, device, 0, code, false);
      // Ingress taps run before the program: the dropped packet shows there. Egress ones do not.
      if (tap !== NO_TAP && this.wantHop) this.hopFrame(node, device, tap, 'in', true);
      else jr.clearNotes();
    }
  }

  // ---------------------------------------------------------------- observation

  private beginPacket(generated: boolean): void {
    const jr = this.jr!;
    jr.clear();
    if (!this.wantEvent) return;
    this.packetId = this.packetIds.next();
    const v = this.skb.view;
    // Flow key from the pod's side when known, else the packet's own orientation.
    let a = v.saddr;
    let ap = v.sport;
    let b = v.daddr;
    let bp = v.dport;
    const se = this.env.ipcache(v.saddr);
    if (se.kind !== IPC_ENDPOINT) {
      a = v.daddr;
      ap = v.dport;
      b = v.saddr;
      bp = v.sport;
      if (generated) {
        const pod = this.sink.podFor(v.proto, v.saddr, v.sport, v.daddr, v.dport);
        const i = pod.lastIndexOf(':');
        a = 0;
        const key = `${v.proto}|${pod.slice(0, i)}|${pod.slice(i + 1)}|${ipToString(b)}|${bp}`;
        this.flowId = this.flowIdFor(key);
        return;
      }
    }
    this.flowId = this.flowIdFor(`${v.proto}|${ipToString(a)}|${ap}|${ipToString(b)}|${bp}`);
  }

  /**
   * The flow id events gave a conntrack entry's flow, for the dashboard's journey view: flows
   * get one with their first observed packet (at top speed, a sampled one). Keys are made
   * pod side first (beginPacket), so both orientations are tried.
   */
  private readonly rowFlowId = (proto: number, saddr: number, sport: number, daddr: number, dport: number): string | undefined => {
    if (this.flowIdOf.size === 0) return undefined;
    const s = ipToString(saddr);
    const d = ipToString(daddr);
    return this.flowIdOf.get(`${proto}|${s}|${sport}|${d}|${dport}`) ?? this.flowIdOf.get(`${proto}|${d}|${dport}|${s}|${sport}`);
  };

  private flowIdFor(key: string): string {
    const m = this.flowIdOf;
    let id = m.get(key);
    if (id !== undefined) {
      // To the young end, so a long-lived flow keeps its id however many come and go.
      m.delete(key);
    } else {
      id = this.flowIds.next();
      if (m.size >= this.flowIdsKept) m.delete(m.keys().next().value!);
    }
    m.set(key, id);
    return id;
  }

  /**
   * A hop whose comment is the notes so far (then cleared for the next hop). Without hop
   * captures the notes are cleared at the same points, so an event's summary says the same
   * whether or not captures are written (`explain` and `replay --events --out` agree).
   */
  private hopFrame(node: NodeState, device: string, devIndex: number, dir: 'in' | 'out', snapshot: boolean): void {
    if (!this.wantHop) {
      const notes = this.skb.jr;
      if (notes !== null) notes.clearNotes();
      return;
    }
    const jr = this.jr!;
    const c = jr.comment();
    jr.clearNotes();
    this.hop(node, device, devIndex, dir, snapshot, c);
  }

  /** Hands the observer the current frame, or the ingress snapshot, without copying either. */
  private hop(node: NodeState, device: string, devIndex: number, dir: 'in' | 'out', snapshot: boolean, comment: string | undefined): void {
    const skb = this.skb;
    const h = this.hopRecord;
    h.node = node.name;
    h.nodeIndex = node.index;
    h.device = device;
    h.deviceIndex = devIndex;
    h.direction = dir;
    if (snapshot) {
      h.frameOff = skb.snapOff;
      h.frameLen = skb.snapLen;
    } else {
      h.frameOff = skb.off;
      h.frameLen = skb.end - skb.off;
    }
    h.tsSec = skb.tsSec;
    h.tsNsec = skb.tsNsec;
    h.comment = comment;
    this.obs!.hop!(h);
  }

  /** Emits one flow event for the current packet; `entry` events carry no journey. */
  private event(node: NodeState, device: string, point: number, drop: number, entry: boolean): void {
    const skb = this.skb;
    const v = skb.view;
    const jr = this.jr!;
    const env = this.env;
    const se = env.ipcache(v.saddr);
    const de = env.ipcache(v.daddr);
    const empty = entry ? this.emptyJourney : jr;
    const ev = buildFlowEvent({
      node: node.name,
      device,
      program: this.program,
      point,
      drop,
      translated: !entry && skb.translated,
      // The FROM_* points trace before any CT lookup (Cilium passes TRACE_REASON_UNKNOWN).
      reason: isFromPoint(point) ? TRACE_REASON_UNKNOWN : skb.isReply ? TRACE_REASON_CT_REPLY : skb.ctState ? traceReasonForCt(skb.ctState) : TRACE_REASON_POLICY,
      saddr: v.saddr,
      daddr: v.daddr,
      origSaddr: !entry && skb.translated && skb.origSaddr !== 0 ? skb.origSaddr : undefined,
      proto: v.proto,
      sport: v.sport,
      dport: v.dport,
      tcpFlags: v.tcpFlags,
      icmpType: v.icmpType,
      icmpCode: v.icmpCode,
      srcIdentity: skb.srcIdentity !== 0 ? skb.srcIdentity : v.saddr === node.ip ? 1 : se.identity,
      dstIdentity: v.daddr === node.ip ? 1 : de.identity,
      srcPod: se.ep ? { namespace: se.ep.spec.namespace, name: se.ep.spec.name, labels: se.ep.spec.labels } : undefined,
      dstPod: de.ep ? { namespace: de.ep.spec.namespace, name: de.ep.spec.name, labels: de.ep.spec.labels } : undefined,
      tsSec: skb.tsSec,
      tsNsec: skb.tsNsec,
      packetId: this.packetId,
      flowId: this.flowId,
      inputIndex: this.inputIndex,
      summary: entry ? undefined : jr.notes.length ? jr.comment() : v.proto === 6 ? `TCP Flags: ${tcpFlagsText(v.tcpFlags)}` : undefined,
      journey: empty,
    });
    if (!entry) {
      // In place: buildFlowEvent copied what it keeps.
      if (jr.functions.length !== 0) jr.functions.length = 0;
      if (jr.lookups.length !== 0) jr.lookups.length = 0;
      if (jr.rewrites.length !== 0) jr.rewrites.length = 0;
      jr.snat = undefined;
      jr.policy = undefined;
    }
    this.obs!.event!(ev);
  }

  // ---------------------------------------------------------------- results

  nodeNames(): string[] {
    return this.env.nodes.map((n) => n.name);
  }

  private node(name: string): NodeState {
    const n = this.nodeByName.get(name);
    if (!n) throw new RangeError(`no node named '${name}' (nodes: ${this.nodeNames().join(', ')})`);
    return n;
  }

  egressMap(node: string): EgressPolicyMap {
    return this.node(node).egress;
  }

  natTable(node: string): NatTable {
    return this.node(node).nat;
  }

  conntrack(node: string): Conntrack {
    return this.node(node).ct;
  }

  devices(node: string): { name: string; kind: DeviceKind }[] {
    return this.node(node).devices.map((d) => ({ name: d.name, kind: d.kind }));
  }

  /** Counters so far (a copy). */
  conservation(): Conservation {
    return { ...this.cons };
  }

  private policyCounts(): PolicyCount[] {
    const rows = new Map<string, PolicyCount>();
    const kinds: PolicyCount['kind'][] = ['hit', 'excluded', 'no-gateway'];
    for (const n of this.env.nodes) {
      const m = n.egress;
      for (let i = 0; i < m.size(); i++) {
        const pk = n.policyHits[i * 3 + 1]!;
        if (pk === 0) continue;
        const kind = kinds[n.policyKind[i]!]!;
        const key = `${m.policyName(i)}|${m.cidrText(i)}|${kind}`;
        let r = rows.get(key);
        if (!r) {
          const gw = m.gatewayIp(i);
          // The egress IP as the gateway knows it (non-gateway nodes hold 0.0.0.0 in 1.17).
          const egressIp = this.gatewayEgressIp.get(`${m.policyName(i)}|${m.cidrText(i)}`) ?? m.egressIp(i);
          r = {
            policy: m.policyName(i),
            cidr: m.cidrText(i),
            kind,
            gateway: kind === 'hit' ? ipToString(gw) : kind === 'excluded' ? 'Excluded CIDR' : 'Not Found',
            egressIp: kind === 'hit' ? ipToString(egressIp) : '',
            flows: 0,
            packets: 0,
            bytes: 0,
          };
          rows.set(key, r);
        }
        r.flows += n.policyHits[i * 3]!;
        r.packets += pk;
        r.bytes += n.policyHits[i * 3 + 2]!;
      }
    }
    return [...rows.values()].sort((a, b) => (a.policy + a.cidr + a.kind < b.policy + b.cidr + b.kind ? -1 : 1));
  }

  private egressIps(): EgressIpUsage[] {
    const out: EgressIpUsage[] = [];
    for (const n of this.env.nodes) {
      // By egress address, so the rows come out in address order.
      const byAddr = new Map<number, EgressIpUsage>();
      const usage = (addr: number, ip: string): EgressIpUsage => {
        let u = byAddr.get(addr);
        if (!u) {
          u = { egressIp: ip, node: n.name, remotes: [] };
          byAddr.set(addr, u);
        }
        return u;
      };
      for (const r of n.nat.remoteUsage()) {
        usage(r.egressAddr, r.egressIp).remotes.push({
          remote: r.remote,
          inUse: r.inUse,
          rangeSize: r.rangeSize,
          allocations: r.allocations,
          collisions: r.collisions,
          failures: r.failures,
          retries: r.retries,
        });
      }
      for (const t of n.nat.retiredUsage()) addOther(usage(t.egressAddr, t.egressIp), t.remotes, 0, t);
      for (const u of byAddr.values()) {
        if (u.remotes.length <= MAX_REMOTE_ROWS) continue;
        // The busiest stay listed, in the table's order; the rest are summed.
        const keep = new Set(u.remotes.slice().sort((a, b) => b.inUse - a.inUse).slice(0, MAX_REMOTE_ROWS));
        for (const r of u.remotes) if (!keep.has(r)) addOther(u, 1, r.inUse, r);
        u.remotes = u.remotes.filter((r) => keep.has(r));
      }
      out.push(...[...byAddr.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]));
    }
    return out;
  }

  private dropsByReason(): { code: number; text: string; name: string; count: number }[] {
    return [...this.dropCounts.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([code, count]) => {
        const d = dropInfo(code);
        return { code: d.code, text: d.text, name: d.name, count };
      });
  }

  summary(): Omit<Summary, 'input' | 'outputs'> {
    const ignoredByReason: Record<string, number> = {};
    for (const k of [...this.ignored.keys()].sort()) ignoredByReason[k] = this.ignored.get(k)!;
    const seen = this.hostList.flatMap((h) => h.seen);
    return {
      tool: 'egresslab',
      datapath: this.profile,
      seed: this.seed,
      allocator: this.allocatorName,
      conservation: { ...this.cons },
      dropsByReason: this.dropsByReason(),
      ignoredByReason,
      policies: this.policyCounts(),
      egressIps: this.egressIps(),
      signals: this.env.nodes
        .filter((n) => n.nat.natFillUpSignals > 0)
        .map((n) => ({ signal: 'SIGNAL_NAT_FILL_UP' as const, node: n.name, count: n.nat.natFillUpSignals })),
      seenByServers: seen.map((s) => ({ ...s })),
      seenByServersOmitted: this.hostList.reduce((n, h) => n + h.seenOmitted, 0),
    };
  }

  /**
   * The dashboard's view. `strips: false` leaves out the port-space strips, which scan the
   * whole NAT map: a live caller asks for them less often than for the counters.
   */
  snapshot(o: { strips?: boolean } = {}): Omit<StatsSnapshot, 'input' | 'progress' | 'pps' | 'paused'> {
    const egressIps = this.egressIps();
    // Allocations per sampling interval (one sample per snapshot call), per egress IP. Only
    // while packets move: paused or finished, the sparkline keeps what it showed instead of
    // filling with zeros.
    const moved = this.cons.input !== this.allocSampledAt;
    this.allocSampledAt = this.cons.input;
    for (const u of moved ? egressIps : []) {
      // otherRemotes too: a remote folded in there takes its allocations with it.
      const total = u.remotes.reduce((s, r) => s + r.allocations, u.otherRemotes?.allocations ?? 0);
      const prev = this.allocLast.get(u.egressIp) ?? 0;
      this.allocLast.set(u.egressIp, total);
      let arr = this.allocSamples.get(u.egressIp);
      if (!arr) {
        arr = [];
        this.allocSamples.set(u.egressIp, arr);
      }
      arr.push(total - prev);
      if (arr.length > 120) arr.shift();
    }
    const allocationsOverTime: Record<string, number[]> = {};
    for (const [k, v] of this.allocSamples) allocationsOverTime[k] = v.slice();
    const drops: DropRow[] = this.dropsByReason().map((d) => {
      const l = this.dropLast.get(d.code);
      return { ...d, lastFlow: l ? flowText(l[0]!, l[1]!, l[2]!, l[3]!, l[4]!) : '' };
    });
    const events = [];
    for (let k = 0; k < this.eventRingLen; k++) {
      const idx = (this.eventRingPos - 1 - k + EVENT_RING) % EVENT_RING;
      const o = idx * 8;
      const r = this.eventRing;
      const d = dropInfo(r[o + 2]!);
      events.push({
        time: rfc3339Nano(r[o]!, r[o + 1]!),
        text: `DROP ${d.code} ${d.text}: ${flowText(r[o + 3]!, r[o + 4]!, r[o + 5]!, r[o + 6]!, r[o + 7]!)}`,
        verdict: 'DROPPED',
      });
    }
    const now = this.lastSec;
    return {
      datapath: this.profile,
      packets: this.cons.input,
      clock: rfc3339Nano(this.lastSec, this.lastNsec),
      finished: this.finished,
      conservation: { ...this.cons },
      policies: this.policyCounts(),
      conntrack: this.env.nodes.flatMap((n) =>
        n.ct.rows(now, CT_ROWS_PER_NODE, [n.nat, ...this.env.nodes.filter((m) => m !== n).map((m) => m.nat)], this.rowFlowId).map((r) => ({ ...r, node: n.name })),
      ),
      conntrackTotal: this.env.nodes.reduce((t, n) => t + n.ct.size(), 0),
      egressIps,
      allocationsOverTime,
      portStrips: o.strips === false ? [] : this.env.nodes.flatMap((n) => n.nat.portStrips()),
      drops,
      events,
    };
  }

  /** Number of GC runs so far (tests). */
  gcCount(): number {
    return this.gcRuns;
  }
}

/** The record's own bytes, as `loadIp` copies a whole array (a view only when it is part of a larger one). */
function recordBytes(data: Uint8Array, start: number, end: number): Uint8Array {
  return start === 0 && end === data.length ? data : data.subarray(start, end);
}

function flowText(proto: number, saddr: number, sport: number, daddr: number, dport: number): string {
  const p = proto === 6 ? 'TCP' : proto === 17 ? 'UDP' : proto === 1 ? 'ICMP' : `proto ${proto}`;
  return `${ipToString(saddr)}:${sport} -> ${ipToString(daddr)}:${dport} ${p}`;
}

const macCache = new Map<string, Uint8Array>();
function macBytesCached(mac: string): Uint8Array {
  let b = macCache.get(mac);
  if (!b) {
    b = lenientMacBytes(mac);
    macCache.set(mac, b);
  }
  return b;
}

export { tupleText };

/**
 * Adds a remote's (or a total's) counters to `u.otherRemotes`, made on first use: a replay
 * that lists every remote has none (summary.json keeps its shape).
 */
function addOther(u: EgressIpUsage, remotes: number, inUse: number, r: { allocations: number; collisions: number; failures: number; retries: number[] }): void {
  const o = (u.otherRemotes ??= { remotes: 0, inUse: 0, allocations: 0, collisions: 0, failures: 0, retries: new Array<number>(RETRY_BUCKETS).fill(0) });
  o.remotes += remotes;
  o.inUse += inUse;
  o.allocations += r.allocations;
  o.collisions += r.collisions;
  o.failures += r.failures;
  for (let i = 0; i < o.retries.length; i++) o.retries[i]! += r.retries[i] ?? 0;
}
