/**
 * @module traces/events
 * The flow-event log: one JSON object per line, one line per trace event (a packet seen at
 * an observation point, or dropped). Field names follow Hubble's flow schema
 * (`api/v1/flow/flow.proto`, as printed by `hubble observe -o json`) where one exists; what
 * Hubble has no field for lives under `egresslab`.
 */

/** Hubble's TraceObservationPoint names (TO_LXC is printed by Hubble as TO_ENDPOINT). */
export type ObservationPoint =
  | 'TO_ENDPOINT'
  | 'TO_PROXY'
  | 'TO_HOST'
  | 'TO_STACK'
  | 'TO_OVERLAY'
  | 'FROM_ENDPOINT'
  | 'FROM_PROXY'
  | 'FROM_HOST'
  | 'FROM_STACK'
  | 'FROM_OVERLAY'
  | 'FROM_NETWORK'
  | 'TO_NETWORK';

export type Verdict = 'FORWARDED' | 'DROPPED' | 'TRANSLATED' | 'REDIRECTED';

/** One SNAT allocation (`snat_v4_new_mapping`) as the events record it. */
export interface SnatDetail {
  /** Ports tried, in order (recorded with --journey; empty without it). */
  candidates: number[];
  retries: number;
  /** The port taken; absent when every candidate collided (drop 167). */
  chosen?: number;
  allocator: string;
  /** SIGNAL_NAT_FILL_UP when the retries passed SNAT_SIGNAL_THRES. */
  signal?: 'SIGNAL_NAT_FILL_UP';
}

/** A map lookup a program made, for `explain` and the dashboard's journey view. */
export interface MapLookup {
  /** Map name as Cilium pins it, e.g. `cilium_egress_v4`, `cilium_snat_v4_external`. */
  map: string;
  /** Human form of the key, e.g. `10.0.1.209 -> 172.18.0.7` or a NAT tuple line. */
  key: string;
  /** Human form of the result, or `miss`. */
  result: string;
  /** How many of the hop's `functions` had been walked when the lookup was made (its place in the walk). */
  at?: number;
}

export interface FlowEvent {
  flow: {
    /** RFC 3339 with nanoseconds, from the capture clock. */
    time: string;
    verdict: Verdict;
    /** Hubble DropReason enum name, e.g. NO_MAPPING_FOR_NAT_MASQUERADE (drops only). */
    drop_reason_desc?: string;
    /** Numeric drop reason (absolute value of Cilium's DROP_* code). */
    drop_reason?: number;
    IP: {
      source: string;
      destination: string;
      ipVersion: 'IPv4' | 'IPv6';
      /** Post-SNAT source (Hubble's `IP.source_xlated`), when a translation happened at this point. */
      source_xlated?: string;
      encrypted?: boolean;
    };
    l4?:
      | { TCP: { source_port: number; destination_port: number; flags?: Record<string, true> } }
      | { UDP: { source_port: number; destination_port: number } }
      | { ICMPv4: { type: number; code: number } }
      | { ICMPv6: { type: number; code: number } };
    source?: { identity: number; labels?: string[]; namespace?: string; pod_name?: string };
    destination?: { identity: number; labels?: string[]; namespace?: string; pod_name?: string };
    Type: 'L3_L4';
    node_name: string;
    event_type: { type: number; sub_type?: number };
    trace_observation_point?: ObservationPoint;
    /** Absent when unknown, as Hubble leaves it: FROM_* trace points (no CT lookup yet) and drops. */
    is_reply?: boolean;
    interface?: { name: string };
    Summary?: string;
  };
  node_name: string;
  time: string;
  egresslab: {
    /** hyperid of the input packet this event belongs to (all its hops share it). */
    packet_id: string;
    /** hyperid of the connection (both directions share it). */
    flow_id: string;
    /** 0-based index of the input packet in the capture. */
    input_index: number;
    /** Program that emitted it, e.g. `bpf_lxc:from-container`, `bpf_host:to-netdev`. */
    program: string;
    /** Device the packet was on, e.g. `lxc-net-tshoot-pcgf8`, `cilium_vxlan`, `eth0`. */
    device: string;
    /** Cilium function names walked at this hop, in order (`handle_ipv4_from_lxc`, ...). */
    functions?: string[];
    lookups?: MapLookup[];
    /** Rewrites done at this hop, e.g. `saddr 10.0.1.209 -> 172.18.0.3`, `sport 40000 -> 52768`. */
    rewrites?: string[];
    /** SNAT allocation detail when a new mapping was made. */
    snat?: SnatDetail;
    /** Egress policy that matched, if any. */
    policy?: string;
    /** Capture clock in nanoseconds since the epoch as a decimal string (exact). */
    ts_ns: string;
  };
}

/** Serialises one event as a JSON line (no trailing newline). Key order is fixed for byte-identical output. */
export function formatFlowEvent(ev: FlowEvent): string {
  return JSON.stringify(ev);
}

/**
 * Formats a capture-clock instant as RFC 3339 UTC with nanoseconds. Beyond year 9999
 * (pcapng's 64-bit timestamps reach it) the year takes ISO 8601's expanded form
 * (`+055840-11-08T22:13:20.000006000Z`); outside Date's range, plain seconds.
 */
export function rfc3339Nano(sec: number, nsec: number): string {
  const ms = sec * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `${sec}.${String(nsec).padStart(9, '0')}s`;
  const iso = new Date(ms).toISOString(); // [±YY]YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, iso.length - 5)}.${String(nsec).padStart(9, '0')}Z`;
}
