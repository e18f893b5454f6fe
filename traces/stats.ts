/**
 * @module traces/stats
 * Two shapes of counters: `Summary` is what a replay writes as `summary.json` (stable,
 * diffable, no wall-clock values); `StatsSnapshot` is what the dashboard reads, at most ten
 * times a second, live from a replay or rebuilt from a saved event log. The dashboard never
 * sees dataplane state, only these.
 */

/** Per-reason counter with Cilium's code and texts. */
export interface DropCount {
  /** Absolute Cilium drop code, e.g. 167. */
  code: number;
  /** Cilium monitor text, e.g. "No mapping for NAT masquerade". */
  text: string;
  /** Hubble enum name, e.g. NO_MAPPING_FOR_NAT_MASQUERADE. */
  name: string;
  count: number;
}

export interface PolicyCount {
  policy: string;
  /** Destination CIDR of the matching map entry (or excluded CIDR). */
  cidr: string;
  /** 'hit' (redirected to a gateway), 'excluded' (0.0.0.1), 'no-gateway' (0.0.0.0, drop 194). */
  kind: 'hit' | 'excluded' | 'no-gateway';
  gateway: string;
  egressIp: string;
  flows: number;
  packets: number;
  bytes: number;
}

/** Port allocation toward one remote endpoint from one egress (SNAT) address. */
export interface RemotePortUsage {
  /** e.g. `TCP 172.18.0.7:80`. */
  remote: string;
  /** Ports in use now (reverse NAT entries live). */
  inUse: number;
  /** Size of the NAT port range (max - min + 1). */
  rangeSize: number;
  allocations: number;
  /** Allocations that needed at least one retry. */
  collisions: number;
  /** Allocations that failed (drop 167). */
  failures: number;
  /** retries[i] = allocations that took i retries (last bucket: that many or more). */
  retries: number[];
}

export interface EgressIpUsage {
  egressIp: string;
  node: string;
  /** One row per remote, at most MAX_REMOTE_ROWS (those with the most ports in use). */
  remotes: RemotePortUsage[];
  /**
   * The remotes not listed: those beyond MAX_REMOTE_ROWS, and those the NAT table forgot
   * once their last port was released (past 4096 remotes; see NatOptions.keepRemotes).
   * Present only when there are such remotes.
   */
  otherRemotes?: OtherRemotes;
}

/** Totals of the remotes an EgressIpUsage does not list one by one. */
export interface OtherRemotes {
  /**
   * Rows folded in: one per remote beyond the listed ones, plus one each time a remote was
   * forgotten on releasing its last port (a remote used again after that counts again).
   */
  remotes: number;
  inUse: number;
  allocations: number;
  collisions: number;
  failures: number;
  retries: number[];
}

/** Rows per egress IP in summary.json and snapshots; the rest are summed in otherRemotes. */
export const MAX_REMOTE_ROWS = 1000;

export interface Conservation {
  /** Input records read. */
  input: number;
  /**
   * Delivered to a pod (replies, echo answers), or to a node's own host stack (e.g. a
   * reply to an egress IP that has no NAT mapping any more).
   * Invariant (test/dataplane/engine.test.ts): input + generated = delivered + sent + dropped + ignored.
   */
  delivered: number;
  /** Sent to the world out of a node's eth0. */
  sent: number;
  /** Dropped by the dataplane with a Cilium reason. */
  dropped: number;
  /** Not replayed: not IP, unknown link type, source not in the topology, ... */
  ignored: number;
  /** Packets the topology's echo hosts generated (they add to what is delivered). */
  generated: number;
}

export interface Summary {
  tool: 'egresslab';
  input: string;
  datapath: '1.10' | '1.17';
  seed: number;
  allocator: string;
  conservation: Conservation;
  dropsByReason: DropCount[];
  ignoredByReason: Record<string, number>;
  policies: PolicyCount[];
  egressIps: EgressIpUsage[];
  /**
   * Signals the datapath sent the agent, per node: `SIGNAL_NAT_FILL_UP` when an allocation
   * took more than SNAT_SIGNAL_THRES retries (the agent then runs CT GC and purges orphan NAT
   * entries). Nodes that sent none are not listed.
   */
  signals: { signal: 'SIGNAL_NAT_FILL_UP'; node: string; count: number }[];
  /** Observed source address per external host connection, as the server saw it. */
  seenByServers: { server: string; client: string; pod: string; answered: string }[];
  /** Requests left out of seenByServers: each host lists its first 1000 (MAX_SEEN). */
  seenByServersOmitted: number;
  /** Output files written, relative to the output folder. */
  outputs: string[];
}

export interface ConntrackRow {
  /** `TCP OUT 10.0.1.209:40000 -> 172.18.0.7:80` (un-swapped, as `cilium bpf ct list` prints). */
  tuple: string;
  node: string;
  state: 'SYN' | 'ESTABLISHED' | 'CLOSING' | 'ANY';
  /** Seconds of lifetime left on the capture clock (negative: expired, awaiting GC). */
  lifetimeLeft: number;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** `172.18.0.3:52768` if SNAT'ed, else ''. */
  nat: string;
  flowId?: string;
  /**
   * The counts are one total for both directions, in tx (rx is 0): a live row of a datapath
   * whose CT entry has `Packets`/`Bytes` instead of Cilium 1.10's Rx and Tx pairs.
   */
  combined?: boolean;
}

export interface EventLine {
  time: string;
  text: string;
  verdict: string;
}

export interface DropRow extends DropCount {
  /** Last flow dropped for this reason, e.g. `10.0.1.209:40000 -> 172.18.0.7:80 TCP`. */
  lastFlow: string;
}

export interface PortStrip {
  egressIp: string;
  remote: string;
  min: number;
  max: number;
  /** Sorted list of ports in use. */
  ports: number[];
}

export interface StatsSnapshot {
  input: string;
  /** '?' offline until the events say which (no --profile given). */
  datapath: '1.10' | '1.17' | '?';
  /** 0..1, or undefined when the input size is unknown (stdin). */
  progress: number | undefined;
  packets: number;
  /** Capture clock of the last packet, RFC 3339. */
  clock: string;
  /** Replay rate, input packets per second of wall time (live only). */
  pps: number;
  paused: boolean;
  finished: boolean;
  conservation: Conservation;
  policies: PolicyCount[];
  conntrack: ConntrackRow[];
  /** Entries in all nodes' CT tables, when `conntrack` holds only some of them (live). */
  conntrackTotal?: number;
  egressIps: EgressIpUsage[];
  /** Allocations per sampling interval, per egress IP, oldest first (for the sparkline). */
  allocationsOverTime: Record<string, number[]>;
  portStrips: PortStrip[];
  drops: DropRow[];
  events: EventLine[];
}
