/**
 * @module dashboards/accumulate
 * Offline mode: rebuilds a StatsSnapshot from a stream of FlowEvent lines (the JSON-lines
 * log a replay writes), so `egresslab dash --events FILE` shows the same panes as a live
 * replay.
 *
 * What the event log does not say, and how it is filled in (also in dashboards/README.md):
 * - Bytes: FlowEvent has no packet length, so policy and conntrack byte counters are -1
 *   (shown as `n/a`).
 * - Conntrack: one row per flow_id, owned by the node of the flow's first event (the pod's
 *   node); the 1.17 gateway's own CT entry is not shown separately. The state is inferred
 *   from TCP flags (SYN until a packet without SYN, closing after FIN/RST both ways or an
 *   RST), the lifetime from the last packet plus the profile's timeout (TCP 21600 s in
 *   1.10, 8000 s in 1.17; SYN 60 s; non-TCP 60 s; close 10 s).
 * - GC: Cilium's interval is dynamic (starting at 5 min) and a NAT-fill-up signal triggers
 *   extra runs; neither is in the log. Entries are assumed to be collected at fixed ticks of
 *   `gcIntervalSec` from the first event, so between expiry and the next tick a row shows a
 *   negative lifetime and its port still counts as in use. A port that a later flow gets
 *   for the same remote proves the earlier mapping was gone; that row is dropped then.
 * - Ports: the NAT range is not in the log (`natPortMin`/`natPortMax`, default
 *   32768-65535); the translated port comes from `egresslab.rewrites` (`sport A -> B`),
 *   else `snat.chosen`, else the TO_NETWORK event's L4 source port.
 * - Conservation: only packets that produced events are known. `ignored` is always 0;
 *   `generated` counts packets whose input_index was already used by another packet id
 *   (the echo hosts' answers).
 * - Profile: taken from the option, else from the egress map name in lookups
 *   (`cilium_egress_v4` → 1.10, `cilium_egress_gw_policy_v4` → 1.17) or the SNAT allocator
 *   name, else 1.17.
 */
import type { FlowEvent } from '../traces/events.ts';
import type {
  Conservation,
  ConntrackRow,
  DropRow,
  EgressIpUsage,
  EventLine,
  PolicyCount,
  PortStrip,
  RemotePortUsage,
  StatsSnapshot,
} from '../traces/stats.ts';
import { eventLine, formatJourney } from '../traces/journey.ts';
import { knownDrop } from '../dataplane/lib/drop.ts';

export type Profile = '1.10' | '1.17';

export interface AccumulatorOptions {
  /** Shown in the header (the events file name). */
  input: string;
  /** Datapath profile for CT lifetimes; @default inferred from the events, else '1.17' */
  profile?: Profile;
  /** @default 32768 */
  natPortMin?: number;
  /** @default 65535 */
  natPortMax?: number;
  /** Events kept for the events pane. @default 200 */
  maxEvents?: number;
  /** Capture-clock seconds per sparkline sample. @default 1 */
  sampleSeconds?: number;
  /** Sparkline samples kept per egress IP. @default 120 */
  maxSamples?: number;
  /** Buckets of the retries histogram (last one: that many or more). @default 9 */
  retryBuckets?: number;
  /** Assumed CT GC interval on the capture clock, seconds. @default 300 */
  gcIntervalSec?: number;
  /** Events kept per flow for its journey. @default 256 */
  maxJourneyEvents?: number;
}

const LIFETIME = { tcp: { '1.10': 21600, '1.17': 8000 }, syn: 60, nonTcp: 60, close: 10 } as const;

interface FlowState {
  id: string;
  proto: string;
  tuple: string;
  /** Address of the side that opened the flow: packets from it count as tx, others as rx. */
  origin: string;
  node: string;
  firstSeen: number;
  lastSeen: number;
  seenNonSyn: boolean;
  txClosing: boolean;
  rxClosing: boolean;
  txPackets: number;
  rxPackets: number;
  lastPacket: string;
  nat: string;
  natIp: string;
  natPort: number;
  /** Node whose NAT table holds the mapping (the gateway, or the pod's node when masquerading). */
  natNode: string;
  remote: string;
  /** Egress IP the policy lookup named, to attribute a failed allocation (167). */
  policyEgressIp: string;
  policyKey: string;
  events: FlowEvent[];
}

interface PolicyState extends PolicyCount {
  flowIds: Set<string>;
  lastPacket: string;
}

interface RemoteState {
  egressIp: string;
  remote: string;
  allocations: number;
  collisions: number;
  failures: number;
  retries: number[];
}

const IP_RE = /\d{1,3}(?:\.\d{1,3}){3}/;
const CIDR_RE = /\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}/;

function l4Ports(ev: FlowEvent): { proto: string; sport: number | undefined; dport: number | undefined; flags: string[] } {
  const l4 = ev.flow.l4;
  if (l4 && 'TCP' in l4) return { proto: 'TCP', sport: l4.TCP.source_port, dport: l4.TCP.destination_port, flags: Object.keys(l4.TCP.flags ?? {}) };
  if (l4 && 'UDP' in l4) return { proto: 'UDP', sport: l4.UDP.source_port, dport: l4.UDP.destination_port, flags: [] };
  if (l4 && 'ICMPv4' in l4) return { proto: 'ICMP', sport: undefined, dport: undefined, flags: [] };
  if (l4 && 'ICMPv6' in l4) return { proto: 'ICMPv6', sport: undefined, dport: undefined, flags: [] };
  return { proto: 'IP', sport: undefined, dport: undefined, flags: [] };
}

function ep(ip: string, port: number | undefined): string {
  return port === undefined ? ip : `${ip}:${port}`;
}

function eventSeconds(ev: FlowEvent): number {
  const ns = ev.egresslab?.ts_ns;
  if (typeof ns === 'string' && /^\d+$/.test(ns)) {
    // Split so the seconds stay exact in a double; sub-microsecond precision is not needed here.
    const sec = ns.length > 9 ? Number(ns.slice(0, -9)) : 0;
    return sec + Number(ns.slice(-9)) / 1e9;
  }
  const t = Date.parse(ev.flow?.time ?? ev.time);
  return Number.isFinite(t) ? t / 1000 : 0;
}

function isFlowEvent(v: unknown): v is FlowEvent {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as { flow?: { IP?: unknown; verdict?: unknown }; egresslab?: { flow_id?: unknown; packet_id?: unknown } };
  return (
    typeof o.flow === 'object' && o.flow !== null && typeof o.flow.IP === 'object' && o.flow.IP !== null &&
    typeof o.flow.verdict === 'string' && typeof o.egresslab === 'object' && o.egresslab !== null &&
    typeof o.egresslab.flow_id === 'string' && typeof o.egresslab.packet_id === 'string'
  );
}

/**
 * Folds FlowEvents into the counters a StatsSnapshot needs.
 * @example
 * const acc = new EventAccumulator({ input: 'events.jsonl' });
 * for (const line of lines) acc.addLine(line);
 * render(acc.snapshot());
 */
export class EventAccumulator {
  private readonly o: Required<Omit<AccumulatorOptions, 'profile'>>;
  private profileOpt: Profile | undefined;
  private inferred: Profile | undefined;
  private readonly flows = new Map<string, FlowState>();
  private readonly policies = new Map<string, PolicyState>();
  private readonly remotes = new Map<string, RemoteState>();
  private readonly egressNode = new Map<string, string>();
  private readonly nodeEgressIp = new Map<string, string>();
  /** `egressIp remote port` → flow id holding that NAT mapping. */
  private readonly natOwner = new Map<string, string>();
  private readonly samples = new Map<string, { base: number; counts: number[] }>();
  private readonly drops = new Map<number, DropRow>();
  private readonly recent: EventLine[] = [];
  private readonly cons: Conservation = { input: 0, delivered: 0, sent: 0, dropped: 0, ignored: 0, generated: 0 };
  private readonly packetIndex = new Map<number, string>();
  private lastPacket = '';
  private firstTs: number | undefined;
  private nowTs = 0;
  private clock = '';
  private nextGc = 0;
  /** Lines that were not a FlowEvent (blank lines are not counted). */
  badLines = 0;
  /** Events folded in. */
  events = 0;

  constructor(opts: AccumulatorOptions) {
    this.o = {
      input: opts.input,
      natPortMin: opts.natPortMin ?? 32768,
      natPortMax: opts.natPortMax ?? 65535,
      maxEvents: opts.maxEvents ?? 200,
      sampleSeconds: opts.sampleSeconds ?? 1,
      maxSamples: opts.maxSamples ?? 120,
      retryBuckets: Math.max(1, opts.retryBuckets ?? 9),
      gcIntervalSec: opts.gcIntervalSec ?? 300,
      maxJourneyEvents: opts.maxJourneyEvents ?? 256,
    };
    this.profileOpt = opts.profile;
  }

  /** The profile in use: the option, else inferred from the events, else 1.17. */
  profile(): Profile {
    return this.profileOpt ?? this.inferred ?? '1.17';
  }

  /** Parses one JSON line and folds it in; false (and counted in badLines) if it is not a FlowEvent. */
  addLine(line: string): boolean {
    const t = line.trim();
    if (t === '') return false;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      this.badLines++;
      return false;
    }
    if (!isFlowEvent(v)) {
      this.badLines++;
      return false;
    }
    this.add(v);
    return true;
  }

  add(ev: FlowEvent): void {
    this.events++;
    const x = ev.egresslab;
    const f = ev.flow;
    const ts = eventSeconds(ev);
    if (this.firstTs === undefined) {
      this.firstTs = ts;
      this.nextGc = ts + this.o.gcIntervalSec;
    }
    if (ts >= this.nowTs) {
      this.nowTs = ts;
      this.clock = f.time ?? ev.time;
    }
    while (this.o.gcIntervalSec > 0 && this.nowTs >= this.nextGc) {
      this.gc(this.nextGc);
      this.nextGc += this.o.gcIntervalSec;
    }
    this.inferProfile(ev);

    const newPacket = x.packet_id !== this.lastPacket;
    this.lastPacket = x.packet_id;
    if (newPacket && typeof x.input_index === 'number' && x.input_index < 0) {
      // A packet a host generated (an echo answer) has no input record.
      this.cons.generated++;
    } else if (newPacket && typeof x.input_index === 'number') {
      this.cons.input = Math.max(this.cons.input, x.input_index + 1);
      const owner = this.packetIndex.get(x.input_index);
      if (owner === undefined) this.packetIndex.set(x.input_index, x.packet_id);
      else if (owner !== x.packet_id) this.cons.generated++;
      if (this.packetIndex.size > 4096) this.packetIndex.delete(this.packetIndex.keys().next().value as number);
    }
    if (f.verdict === 'DROPPED') this.cons.dropped++;
    else if (f.trace_observation_point === 'TO_NETWORK') this.cons.sent++;
    else if (f.trace_observation_point === 'TO_ENDPOINT') this.cons.delivered++;

    const flow = this.flowFor(ev, ts);
    this.countPolicy(ev, flow);
    this.countNat(ev, flow, ts);
    if (f.verdict === 'DROPPED') this.countDrop(ev, flow);
    this.pushEvent(ev);
  }

  private inferProfile(ev: FlowEvent): void {
    if (this.inferred) return;
    for (const l of ev.egresslab.lookups ?? []) {
      if (l.map === 'cilium_egress_v4') this.inferred = '1.10';
      else if (l.map === 'cilium_egress_gw_policy_v4') this.inferred = '1.17';
    }
    const a = ev.egresslab.snat?.allocator;
    if (!this.inferred && a === 'cilium-1.10') this.inferred = '1.10';
    if (!this.inferred && a === 'cilium-1.17') this.inferred = '1.17';
  }

  private flowFor(ev: FlowEvent, ts: number): FlowState {
    const x = ev.egresslab;
    const f = ev.flow;
    const p = l4Ports(ev);
    let st = this.flows.get(x.flow_id);
    if (!st) {
      const [src, sport, dst, dport] = f.is_reply
        ? [f.IP.destination, p.dport, f.IP.source, p.sport]
        : [f.IP.source, p.sport, f.IP.destination, p.dport];
      st = {
        id: x.flow_id,
        proto: p.proto,
        tuple: `${p.proto} OUT ${ep(src, sport)} -> ${ep(dst, dport)}`,
        origin: src,
        node: ev.node_name ?? f.node_name,
        firstSeen: ts,
        lastSeen: ts,
        seenNonSyn: false,
        txClosing: false,
        rxClosing: false,
        txPackets: 0,
        rxPackets: 0,
        lastPacket: '',
        nat: '',
        natIp: '',
        natPort: 0,
        natNode: '',
        remote: '',
        policyEgressIp: '',
        policyKey: '',
        events: [],
      };
      this.flows.set(x.flow_id, st);
    }
    if (st.events.length < this.o.maxJourneyEvents) st.events.push(ev);
    if (x.packet_id !== st.lastPacket) {
      st.lastPacket = x.packet_id;
      st.lastSeen = Math.max(st.lastSeen, ts);
      // The packet's first event decides its direction. is_reply cannot: a reply's first
      // event is its arrival (FROM_NETWORK), before any conntrack lookup, where it is false.
      const isReply = f.IP.source !== st.origin;
      if (isReply) st.rxPackets++;
      else st.txPackets++;
      if (p.proto === 'TCP') {
        if (!p.flags.includes('SYN')) st.seenNonSyn = true;
        if (p.flags.includes('RST')) {
          st.txClosing = true;
          st.rxClosing = true;
        } else if (p.flags.includes('FIN')) {
          if (isReply) st.rxClosing = true;
          else st.txClosing = true;
        }
        // A new SYN on a closing entry re-opens it (CT_REOPENED).
        if (p.flags.includes('SYN') && !p.flags.includes('ACK') && st.txClosing && st.rxClosing && !isReply) {
          st.txClosing = st.rxClosing = false;
          st.seenNonSyn = false;
        }
      }
    }
    return st;
  }

  private timeout(st: FlowState): number {
    if (st.proto !== 'TCP') return LIFETIME.nonTcp;
    if (st.txClosing && st.rxClosing) return LIFETIME.close;
    if (!st.seenNonSyn) return LIFETIME.syn;
    return LIFETIME.tcp[this.profile()];
  }

  private state(st: FlowState): ConntrackRow['state'] {
    if (st.proto !== 'TCP') return 'ANY';
    // As the live rows (and Cilium's ct_entry_closing): a FIN or RST either way is closing;
    // the close timeout needs both (timeout() above).
    if (st.txClosing || st.rxClosing) return 'CLOSING';
    return st.seenNonSyn ? 'ESTABLISHED' : 'SYN';
  }

  private gc(at: number): void {
    for (const [id, st] of this.flows) {
      if (st.lastSeen + this.timeout(st) < at) this.removeFlow(id, st);
    }
  }

  private removeFlow(id: string, st: FlowState): void {
    this.flows.delete(id);
    // CT GC deletes a flow's NAT pair on the node that holds both. A 1.10 gateway has no CT
    // entry for the flows it SNATs for other nodes, so its mapping (and port) outlives the
    // pod node's CT entry, as live: the port stays taken.
    if (st.nat && !(this.profile() === '1.10' && st.natNode !== st.node)) {
      const k = `${st.natIp} ${st.remote} ${st.natPort}`;
      if (this.natOwner.get(k) === id) this.natOwner.delete(k);
    }
  }

  private countPolicy(ev: FlowEvent, flow: FlowState): void {
    const x = ev.egresslab;
    const f = ev.flow;
    const egressLookup = (x.lookups ?? []).find((l) => /egress/.test(l.map));
    if (!x.policy && !(egressLookup && egressLookup.result !== 'miss') && f.drop_reason !== 194) return;
    // Later hops of a redirected packet repeat the policy name without the lookup, and the
    // gateway's own lookup in to-netdev (1.10's SNAT decision) names no policy: count them
    // under the entry the pod node's lookup chose.
    if ((!egressLookup || !x.policy) && f.drop_reason !== 194 && flow.policyKey) {
      const known = this.policies.get(flow.policyKey);
      if (known && known.lastPacket !== x.packet_id) {
        known.lastPacket = x.packet_id;
        known.packets++;
      }
      return;
    }
    const text = egressLookup ? `${egressLookup.result}` : '';
    let kind: PolicyCount['kind'] = 'hit';
    if (/exclu|0\.0\.0\.1\b/i.test(text)) kind = 'excluded';
    else if (f.drop_reason === 194 || /not found|no.gateway|gateway[ =:]+0\.0\.0\.0\b/i.test(text)) kind = 'no-gateway';
    const cidr = CIDR_RE.exec(text)?.[0] ?? CIDR_RE.exec(egressLookup?.key ?? '')?.[0] ?? '?';
    let gateway = /(?:gateway|tunnel)(?:[ _]?ip)?[ =:]+(\d{1,3}(?:\.\d{1,3}){3})/i.exec(text)?.[1] ?? '';
    let egressIp = /egress(?:[ _]?ip)?[ =:]+(\d{1,3}(?:\.\d{1,3}){3})/i.exec(text)?.[1] ?? '';
    if (!gateway && !egressIp) {
      // `cilium bpf egress list` value order: tunnel endpoint, then egress IP (1.10).
      const ips = text.replace(CIDR_RE, '').match(new RegExp(IP_RE.source, 'g')) ?? [];
      if (ips.length >= 2) [gateway, egressIp] = [ips[0]!, ips[1]!];
    }
    const policy = x.policy ?? '?';
    const key = `${policy}\u0000${cidr}\u0000${kind}`;
    let p = this.policies.get(key);
    if (!p) {
      p = { policy, cidr, kind, gateway, egressIp, flows: 0, packets: 0, bytes: -1, flowIds: new Set(), lastPacket: '' };
      this.policies.set(key, p);
    }
    if (!p.gateway && gateway) p.gateway = gateway;
    if (!p.egressIp && egressIp) p.egressIp = egressIp;
    if (!p.flowIds.has(flow.id)) {
      p.flowIds.add(flow.id);
      p.flows++;
    }
    if (p.lastPacket !== x.packet_id) {
      p.lastPacket = x.packet_id;
      p.packets++;
    }
    flow.policyKey = key;
    if (egressIp) flow.policyEgressIp = egressIp;
  }

  private remoteState(egressIp: string, remote: string): RemoteState {
    const k = `${egressIp} ${remote}`;
    let r = this.remotes.get(k);
    if (!r) {
      r = { egressIp, remote, allocations: 0, collisions: 0, failures: 0, retries: new Array<number>(this.o.retryBuckets).fill(0) };
      this.remotes.set(k, r);
    }
    return r;
  }

  private countNat(ev: FlowEvent, flow: FlowState, ts: number): void {
    const f = ev.flow;
    const x = ev.egresslab;
    const xl = f.IP.source_xlated;
    if (!xl || f.is_reply || f.verdict === 'DROPPED') return;
    const p = l4Ports(ev);
    let port: number | undefined;
    for (const r of x.rewrites ?? []) {
      const m = /sport\s+(\d+)\s*->\s*(\d+)/.exec(r);
      if (m) port = Number(m[2]);
    }
    port ??= x.snat?.chosen ?? p.sport;
    const remote = `${p.proto} ${ep(f.IP.destination, p.dport)}`;
    const nat = ep(xl, port);
    this.egressNode.set(xl, ev.node_name ?? f.node_name);
    this.nodeEgressIp.set(ev.node_name ?? f.node_name, xl);
    if (flow.policyKey) {
      const pol = this.policies.get(flow.policyKey);
      if (pol && !pol.egressIp) pol.egressIp = xl;
      if (pol && !pol.gateway) pol.gateway = ev.node_name;
    }
    if (flow.nat === nat) return;
    flow.nat = nat;
    flow.natIp = xl;
    flow.natPort = port ?? 0;
    flow.natNode = ev.node_name ?? f.node_name;
    flow.remote = remote;
    const r = this.remoteState(xl, remote);
    r.allocations++;
    const retries = x.snat?.retries ?? 0;
    if (retries > 0) r.collisions++;
    r.retries[Math.min(r.retries.length - 1, retries)]! += 1;
    this.sample(xl, ts);
    if (port !== undefined) {
      const k = `${xl} ${remote} ${port}`;
      const prev = this.natOwner.get(k);
      // The same egress ip:port toward the same remote again: the older mapping had been collected.
      if (prev !== undefined && prev !== flow.id) {
        const old = this.flows.get(prev);
        if (old) this.removeFlow(prev, old);
      }
      this.natOwner.set(k, flow.id);
    }
  }

  private sample(egressIp: string, ts: number): void {
    const idx = Math.floor((ts - (this.firstTs ?? ts)) / this.o.sampleSeconds);
    let s = this.samples.get(egressIp);
    if (!s) {
      s = { base: idx, counts: [] };
      this.samples.set(egressIp, s);
    }
    const pos = idx - s.base;
    if (pos >= s.counts.length) {
      const gap = Math.min(pos - s.counts.length + 1, this.o.maxSamples);
      for (let i = 0; i < gap; i++) s.counts.push(0);
      s.base = idx - (s.counts.length - 1);
    }
    const at = Math.max(0, idx - s.base);
    s.counts[at] = (s.counts[at] ?? 0) + 1;
    if (s.counts.length > this.o.maxSamples) {
      const cut = s.counts.length - this.o.maxSamples;
      s.counts.splice(0, cut);
      s.base += cut;
    }
  }

  private countDrop(ev: FlowEvent, flow: FlowState): void {
    const f = ev.flow;
    const code = f.drop_reason ?? 0;
    // The dataplane's own table (a constant, not its state): the names a saved event log
    // carries are the Hubble ones, the monitor text is looked up here.
    const known = knownDrop(code);
    const p = l4Ports(ev);
    const lastFlow = `${ep(f.IP.source, p.sport)} -> ${ep(f.IP.destination, p.dport)} ${p.proto}`;
    let d = this.drops.get(code);
    if (!d) {
      d = { code, text: known?.text ?? f.drop_reason_desc ?? 'unknown', name: f.drop_reason_desc ?? known?.name ?? 'UNKNOWN', count: 0, lastFlow };
      this.drops.set(code, d);
    }
    d.count++;
    d.lastFlow = lastFlow;
    if (code === 167) {
      const egressIp = flow.policyEgressIp || this.nodeEgressIp.get(ev.node_name ?? f.node_name) || '?';
      const r = this.remoteState(egressIp, `${p.proto} ${ep(f.IP.destination, p.dport)}`);
      r.failures++;
      // A failed attempt is an allocation attempt too, whose every candidate collided, as
      // the dataplane counts it (summary.json, the live dashboard).
      const retries = ev.egresslab.snat?.retries;
      if (retries !== undefined) {
        r.allocations++;
        if (retries > 0) r.collisions++;
        r.retries[Math.min(r.retries.length - 1, retries)]! += 1;
      }
      if (!this.egressNode.has(egressIp)) this.egressNode.set(egressIp, ev.node_name ?? f.node_name);
    }
  }

  private pushEvent(ev: FlowEvent): void {
    this.recent.push(eventLine(ev));
    if (this.recent.length > this.o.maxEvents) this.recent.splice(0, this.recent.length - this.o.maxEvents);
  }

  /** The journey lines of one flow (enter key), from the events kept for it. */
  journey(flowId: string): string[] {
    const st = this.flows.get(flowId);
    if (!st) return [`flow ${flowId}: no longer tracked (collected, or never seen)`];
    return formatJourney(st.events, { flowId });
  }

  /**
   * The current counters. `live` carries what only the player knows.
   */
  snapshot(live: { progress?: number | undefined; pps?: number; paused?: boolean; finished?: boolean } = {}): StatsSnapshot {
    const now = this.nowTs;
    const conntrack: ConntrackRow[] = [];
    const inUse = new Map<string, number[]>();
    for (const st of this.flows.values()) {
      conntrack.push({
        tuple: st.tuple,
        node: st.node,
        state: this.state(st),
        lifetimeLeft: Math.round((st.lastSeen + this.timeout(st) - now) * 10) / 10,
        txPackets: st.txPackets,
        txBytes: -1,
        rxPackets: st.rxPackets,
        rxBytes: -1,
        nat: st.nat,
        flowId: st.id,
      });
    }
    // Ports in use are the NAT mappings held, not the live flows: a 1.10 gateway's outlive
    // the pod node's CT entries (removeFlow).
    for (const k of this.natOwner.keys()) {
      const sp = k.lastIndexOf(' ');
      const key = k.slice(0, sp);
      let ports = inUse.get(key);
      if (!ports) inUse.set(key, (ports = []));
      ports.push(Number(k.slice(sp + 1)));
    }
    const rangeSize = this.o.natPortMax - this.o.natPortMin + 1;
    const byIp = new Map<string, EgressIpUsage>();
    const portStrips: PortStrip[] = [];
    for (const r of this.remotes.values()) {
      let u = byIp.get(r.egressIp);
      if (!u) byIp.set(r.egressIp, (u = { egressIp: r.egressIp, node: this.egressNode.get(r.egressIp) ?? '', remotes: [] }));
      const ports = (inUse.get(`${r.egressIp} ${r.remote}`) ?? []).sort((a, b) => a - b);
      const usage: RemotePortUsage = {
        remote: r.remote,
        inUse: ports.length,
        rangeSize,
        allocations: r.allocations,
        collisions: r.collisions,
        failures: r.failures,
        retries: r.retries.slice(),
      };
      u.remotes.push(usage);
      portStrips.push({ egressIp: r.egressIp, remote: r.remote, min: this.o.natPortMin, max: this.o.natPortMax, ports });
    }
    const allocationsOverTime: Record<string, number[]> = {};
    for (const [ip, s] of this.samples) {
      // Pad up to the current sample so a quiet period shows as a gap, not a frozen line.
      const idx = Math.floor((now - (this.firstTs ?? now)) / this.o.sampleSeconds);
      const counts = s.counts.slice();
      for (let i = s.base + counts.length; i <= idx && counts.length < this.o.maxSamples * 2; i++) counts.push(0);
      allocationsOverTime[ip] = counts.slice(-this.o.maxSamples);
    }
    const policies: PolicyCount[] = [...this.policies.values()].map(({ flowIds: _f, lastPacket: _l, ...p }) => ({ ...p }));
    return {
      input: this.o.input,
      // Not profile(): its 1.17 fallback is for lifetimes, the header should not claim it.
      datapath: this.profileOpt ?? this.inferred ?? '?',
      progress: live.progress,
      packets: this.cons.input,
      clock: this.clock,
      pps: live.pps ?? 0,
      paused: live.paused ?? false,
      finished: live.finished ?? false,
      conservation: { ...this.cons },
      policies,
      conntrack,
      egressIps: [...byIp.values()],
      allocationsOverTime,
      portStrips,
      drops: [...this.drops.values()].map((d) => ({ ...d })),
      events: this.recent.slice(),
    };
  }
}
