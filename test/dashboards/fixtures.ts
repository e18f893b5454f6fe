/**
 * Role-named fixtures for the dashboard tests: the seed's lab (three net-tshoot pods, the
 * policy egress-all, egress IP 172.18.0.3 on the control-plane node, the echo server at
 * 172.18.0.7:80), as hand-built StatsSnapshots and as hand-written FlowEvent lines.
 */
import { PassThrough } from 'node:stream';
import type { DashboardControls } from '../../dashboards/dashboard.ts';
import type { FlowEvent, ObservationPoint, Verdict } from '../../traces/events.ts';
import type { ConntrackRow, StatsSnapshot } from '../../traces/stats.ts';

export const POLICY = 'egress-all';
export const EGRESS_IP = '172.18.0.3';
export const GATEWAY_NODE = 'k8s-guide-control-plane';
export const ECHO = '172.18.0.7';
export const DEST_CIDR = '172.18.0.0/16';
export const PODS = [
  { name: 'net-tshoot-5ngbc', ip: '10.0.0.31', node: 'k8s-guide-control-plane', nodeIp: '172.18.0.3', sport: 40000 },
  { name: 'net-tshoot-pcgf8', ip: '10.0.1.209', node: 'k8s-guide-worker', nodeIp: '172.18.0.5', sport: 41000 },
  { name: 'net-tshoot-gcj27', ip: '10.0.2.14', node: 'k8s-guide-worker2', nodeIp: '172.18.0.6', sport: 42000 },
] as const;

function baseSnapshot(): StatsSnapshot {
  return {
    input: 'lab.pcap',
    datapath: '1.10',
    progress: 0.5,
    packets: 18,
    clock: '2021-08-30T10:00:02.000000000Z',
    pps: 9,
    paused: false,
    finished: false,
    conservation: { input: 18, delivered: 9, sent: 9, dropped: 0, ignored: 0, generated: 0 },
    policies: [],
    conntrack: [],
    egressIps: [],
    allocationsOverTime: {},
    portStrips: [],
    drops: [],
    events: [],
  };
}

function ctRow(pod: (typeof PODS)[number], nat: string, node: string): ConntrackRow {
  return {
    tuple: `TCP OUT ${pod.ip}:${pod.sport} -> ${ECHO}:80`,
    node,
    state: 'ESTABLISHED',
    lifetimeLeft: 21598,
    txPackets: 3,
    txBytes: 180,
    rxPackets: 3,
    rxBytes: 200,
    nat,
    flowId: `flow-${pod.name}`,
  };
}

/** The lab after `make egress-setup`: every pod's flow goes out through 172.18.0.3. */
export function labAfterPolicy(): StatsSnapshot {
  const s = baseSnapshot();
  s.policies = [{ policy: POLICY, cidr: DEST_CIDR, kind: 'hit', gateway: EGRESS_IP, egressIp: EGRESS_IP, flows: 3, packets: 9, bytes: 540 }];
  s.conntrack = PODS.map((p) => ctRow(p, `${EGRESS_IP}:${p.sport}`, p.node));
  s.egressIps = [
    {
      egressIp: EGRESS_IP,
      node: GATEWAY_NODE,
      remotes: [{ remote: `TCP ${ECHO}:80`, inUse: 3, rangeSize: 32768, allocations: 3, collisions: 0, failures: 0, retries: [3, 0, 0, 0] }],
    },
  ];
  s.allocationsOverTime = { [EGRESS_IP]: [1, 2, 0] };
  s.portStrips = [{ egressIp: EGRESS_IP, remote: `TCP ${ECHO}:80`, min: 32768, max: 65535, ports: [40000, 41000, 42000] }];
  s.events = PODS.map((p, i) => ({
    time: `2021-08-30T10:00:0${i}.000000000Z`,
    verdict: 'TRANSLATED',
    text: `${GATEWAY_NODE} TO_NETWORK TCP ${p.ip}:${p.sport} -> ${ECHO}:80 => ${EGRESS_IP}`,
  }));
  return s;
}

/** The lab before the policy: each pod is masqueraded to its own node's IP. */
export function labBeforePolicy(): StatsSnapshot {
  const s = baseSnapshot();
  s.conntrack = PODS.map((p) => ctRow(p, `${p.nodeIp}:${p.sport}`, p.node));
  s.egressIps = PODS.map((p) => ({
    egressIp: p.nodeIp,
    node: p.node,
    remotes: [{ remote: `TCP ${ECHO}:80`, inUse: 1, rangeSize: 32768, allocations: 1, collisions: 0, failures: 0, retries: [1, 0, 0, 0] }],
  }));
  return s;
}

/** Exhaustion toward one remote: the whole (small) range in use and drops 167. */
export function exhausted(): StatsSnapshot {
  const s = labAfterPolicy();
  s.egressIps = [
    {
      egressIp: EGRESS_IP,
      node: GATEWAY_NODE,
      remotes: [{ remote: `TCP ${ECHO}:80`, inUse: 8, rangeSize: 8, allocations: 8, collisions: 5, failures: 4, retries: [3, 2, 1, 2] }],
    },
  ];
  s.portStrips = [{ egressIp: EGRESS_IP, remote: `TCP ${ECHO}:80`, min: 40000, max: 40007, ports: [40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007] }];
  s.drops = [{ code: 167, text: 'No mapping for NAT masquerade', name: 'NO_MAPPING_FOR_NAT_MASQUERADE', count: 4, lastFlow: `10.0.1.77:40000 -> ${ECHO}:80 TCP` }];
  return s;
}

/** Controls that record each call (pause also marks the snapshot paused, as the replay does). */
export function recorder(snap: StatsSnapshot, journey: (id: string) => string[] = (id) => [`journey of ${id}`]) {
  const calls: string[] = [];
  const controls: DashboardControls = {
    pause: () => {
      calls.push('pause');
      snap.paused = true;
    },
    resume: () => {
      calls.push('resume');
      snap.paused = false;
    },
    step: () => calls.push('step'),
    faster: () => calls.push('faster'),
    slower: () => calls.push('slower'),
    quit: () => calls.push('quit'),
    journey: (id) => {
      calls.push(`journey ${id}`);
      return journey(id);
    },
  };
  return { calls, controls };
}

/** A fake terminal: output with a size that claims to be a TTY, and an input to type into. */
export function fakeTerminal(cols = 160, rows = 48): { input: PassThrough; output: PassThrough & { columns: number; rows: number; isTTY: boolean }; written: () => string } {
  const input = new PassThrough();
  const output = Object.assign(new PassThrough(), { columns: cols, rows, isTTY: true });
  const chunks: Buffer[] = [];
  output.on('data', (c: Buffer) => chunks.push(c));
  return { input, output, written: () => Buffer.concat(chunks).toString('utf8') };
}

// ---------- FlowEvent lines ----------

let packetSeq = 0;
export interface HopSpec {
  node: string;
  point?: ObservationPoint;
  verdict?: Verdict;
  program: string;
  device: string;
  xlated?: string;
  dropReason?: number;
  lookups?: FlowEvent['egresslab']['lookups'];
  rewrites?: string[];
  snat?: FlowEvent['egresslab']['snat'];
  functions?: string[];
}

/** All hops of one packet (same packet_id), at capture time `sec`. */
export function packetEvents(o: {
  flowId: string;
  index: number;
  sec: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string[];
  reply: boolean;
  policy?: string;
  pod?: { name: string; namespace: string };
  hops: HopSpec[];
}): FlowEvent[] {
  const packetId = `pkt-${packetSeq++}`;
  return o.hops.map((h) => {
    const time = new Date(o.sec * 1000).toISOString().slice(0, 19) + '.000000000Z';
    const ev: FlowEvent = {
      flow: {
        time,
        verdict: h.verdict ?? 'FORWARDED',
        IP: { source: o.src, destination: o.dst, ipVersion: 'IPv4', ...(h.xlated ? { source_xlated: h.xlated } : {}) },
        l4: { TCP: { source_port: o.sport, destination_port: o.dport, flags: Object.fromEntries(o.flags.map((f) => [f, true as const])) } },
        Type: 'L3_L4',
        node_name: h.node,
        event_type: { type: h.verdict === 'DROPPED' ? 1 : 4 },
        is_reply: o.reply,
        ...(h.point ? { trace_observation_point: h.point } : {}),
        ...(h.dropReason ? { drop_reason: h.dropReason, drop_reason_desc: h.dropReason === 167 ? 'NO_MAPPING_FOR_NAT_MASQUERADE' : 'NO_EGRESS_GATEWAY' } : {}),
        ...(o.pod ? { [o.reply ? 'destination' : 'source']: { identity: 2, namespace: o.pod.namespace, pod_name: o.pod.name } } : {}),
        interface: { name: h.device },
      },
      node_name: h.node,
      time,
      egresslab: {
        packet_id: packetId,
        flow_id: o.flowId,
        input_index: o.index,
        program: h.program,
        device: h.device,
        ...(h.functions ? { functions: h.functions } : {}),
        ...(h.lookups ? { lookups: h.lookups } : {}),
        ...(h.rewrites ? { rewrites: h.rewrites } : {}),
        ...(h.snat ? { snat: h.snat } : {}),
        ...(o.policy ? { policy: o.policy } : {}),
        ts_ns: `${o.sec}000000000`,
      },
    };
    return ev;
  });
}

/**
 * The lab replay after the policy, as the engine would log it (1.10): for each pod a TCP
 * handshake (SYN, SYN-ACK, ACK) to the echo server, redirected to the gateway and SNATed to
 * 172.18.0.3 keeping the pod's port. `podName` lets a test put hostile text in a pod name.
 */
export function labEvents(o: { start?: number; spacing?: number; podName?: (i: number) => string; natPortOffset?: number } = {}): FlowEvent[] {
  const out: FlowEvent[] = [];
  let index = 0;
  let sec = o.start ?? 1630317600;
  const spacing = o.spacing ?? 1;
  PODS.forEach((p, i) => {
    const flowId = `flow-${i}`;
    const natPort = p.sport + (o.natPortOffset ?? 0);
    const pod = { name: o.podName ? o.podName(i) : p.name, namespace: 'default' };
    const lxc = `lxc${p.name.slice(-5)}`;
    const lookups = [{ map: 'cilium_egress_v4', key: `${p.ip} -> ${ECHO}`, result: `${DEST_CIDR}: egress ${EGRESS_IP} gateway ${EGRESS_IP}` }];
    for (const [k, flags] of [['SYN'], ['ACK'], ['ACK', 'PSH']].entries()) {
      out.push(
        ...packetEvents({
          flowId, index: index++, sec, src: p.ip, dst: ECHO, sport: p.sport, dport: 80, flags, reply: false, policy: POLICY, pod,
          hops: [
            { node: p.node, point: 'FROM_ENDPOINT', program: 'bpf_lxc:from-container', device: lxc, functions: ['handle_ipv4_from_lxc', 'lookup_ip4_egress_endpoint'], lookups },
            { node: p.node, point: 'TO_OVERLAY', program: 'bpf_lxc:from-container', device: 'cilium_vxlan' },
            { node: GATEWAY_NODE, point: 'FROM_OVERLAY', program: 'bpf_overlay:from-overlay', device: 'cilium_vxlan' },
            {
              node: GATEWAY_NODE, point: 'TO_NETWORK', verdict: 'TRANSLATED', program: 'bpf_host:to-netdev', device: 'eth0', xlated: EGRESS_IP,
              rewrites: [`saddr ${p.ip} -> ${EGRESS_IP}`, `sport ${p.sport} -> ${natPort}`],
              ...(k === 0 ? { snat: { candidates: [natPort], retries: 0, chosen: natPort, allocator: 'cilium-1.10' } } : {}),
            },
          ],
        }),
      );
      sec += spacing;
      if (k === 0) {
        out.push(
          ...packetEvents({
            flowId, index: index++, sec, src: ECHO, dst: p.ip, sport: 80, dport: p.sport, flags: ['SYN', 'ACK'], reply: true, pod,
            hops: [
              { node: GATEWAY_NODE, point: 'FROM_NETWORK', program: 'bpf_host:from-netdev', device: 'eth0', rewrites: [`daddr ${EGRESS_IP} -> ${p.ip}`] },
              { node: GATEWAY_NODE, point: 'TO_OVERLAY', program: 'bpf_host:from-netdev', device: 'cilium_vxlan' },
              { node: p.node, point: 'FROM_OVERLAY', program: 'bpf_overlay:from-overlay', device: 'cilium_vxlan' },
              { node: p.node, point: 'TO_ENDPOINT', program: 'bpf_lxc:to-container', device: lxc },
            ],
          }),
        );
        sec += spacing;
      }
    }
  });
  return out;
}

/**
 * Exhaustion: `flows` pods open a connection each to the echo server through a NAT range of
 * `range` ports starting at 40000; the allocations past the range are dropped with 167.
 */
export function exhaustionEvents(flows: number, range: number): FlowEvent[] {
  const out: FlowEvent[] = [];
  for (let i = 0; i < flows; i++) {
    const ip = `10.0.1.${10 + i}`;
    const lookups = [{ map: 'cilium_egress_v4', key: `${ip} -> ${ECHO}`, result: `${DEST_CIDR}: egress ${EGRESS_IP} gateway ${EGRESS_IP}` }];
    const ok = i < range;
    out.push(
      ...packetEvents({
        flowId: `ex-${i}`, index: i, sec: 1630317600 + i, src: ip, dst: ECHO, sport: 50000, dport: 80, flags: ['SYN'], reply: false, policy: POLICY,
        hops: [
          { node: 'k8s-guide-worker', point: 'FROM_ENDPOINT', program: 'bpf_lxc:from-container', device: 'lxc0001', lookups },
          { node: 'k8s-guide-worker', point: 'TO_OVERLAY', program: 'bpf_lxc:from-container', device: 'cilium_vxlan' },
          { node: GATEWAY_NODE, point: 'FROM_OVERLAY', program: 'bpf_overlay:from-overlay', device: 'cilium_vxlan' },
          ok
            ? {
                node: GATEWAY_NODE, point: 'TO_NETWORK', verdict: 'TRANSLATED', program: 'bpf_host:to-netdev', device: 'eth0', xlated: EGRESS_IP,
                rewrites: [`saddr ${ip} -> ${EGRESS_IP}`, `sport 50000 -> ${40000 + i}`],
                snat: { candidates: [40000 + i], retries: Math.min(i, 3), chosen: 40000 + i, allocator: 'cilium-1.10' },
              }
            : { node: GATEWAY_NODE, verdict: 'DROPPED', dropReason: 167, program: 'bpf_host:to-netdev', device: 'eth0', snat: { candidates: [40000], retries: 32, allocator: 'cilium-1.10' } },
        ],
      }),
    );
  }
  return out;
}

export function toLines(events: FlowEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + '\n';
}
