/**
 * @module traces/journey
 * A packet's or a flow's way through the dataplane as text, hop by hop, in the order the
 * seed walks it: program and observation point, the Cilium functions, each map lookup with
 * its key and result, the egress policy that matched, the SNAT allocation (allocator,
 * candidates, retries, chosen port), each rewrite, and the verdict with the drop reason and
 * the translated source. One formatter for `egresslab explain`, the live dashboard (`replay
 * --dash`) and the offline one (`egresslab dash`); it reads only FlowEvents, so it lives
 * here where dashboards/ may import it.
 *
 * The strings are not sanitised here: the dashboard sanitises every line it shows.
 */
import type { FlowEvent } from './events.ts';
import type { EventLine } from './stats.ts';

function l4Text(ev: FlowEvent): { sport: string; dport: string; proto: string; extra: string } {
  const l4 = ev.flow.l4;
  if (!l4) return { sport: '', dport: '', proto: '', extra: '' };
  if ('TCP' in l4) {
    const flags = Object.keys(l4.TCP.flags ?? {}).join(',');
    return { sport: `:${l4.TCP.source_port}`, dport: `:${l4.TCP.destination_port}`, proto: 'TCP', extra: flags ? ` [${flags}]` : '' };
  }
  if ('UDP' in l4) return { sport: `:${l4.UDP.source_port}`, dport: `:${l4.UDP.destination_port}`, proto: 'UDP', extra: '' };
  if ('ICMPv4' in l4) return { sport: '', dport: '', proto: 'ICMP', extra: ` type ${l4.ICMPv4.type} code ${l4.ICMPv4.code}` };
  return { sport: '', dport: '', proto: 'ICMPv6', extra: ` type ${l4.ICMPv6.type} code ${l4.ICMPv6.code}` };
}

/** One line naming a packet as it was at an event: `10.0.1.209:40000 -> 172.18.0.7:80 TCP [SYN]`. */
export function eventTuple(ev: FlowEvent): string {
  const t = l4Text(ev);
  return `${ev.flow.IP.source}${t.sport} -> ${ev.flow.IP.destination}${t.dport} ${t.proto}${t.extra}`;
}

/**
 * The packet as it leaves this hop. A Hubble event after SNAT keeps the pre-translation
 * source in `IP.source` (the trace's orig_ip) and the translated one in `IP.source_xlated`,
 * while its ports are read from the rewritten packet: printed as is, that would pair the old
 * address with the new port. "now" is the packet on the wire, so the translated source goes
 * in the tuple and the original is named beside it.
 */
function nowTuple(ev: FlowEvent): string {
  const xl = ev.flow.IP.source_xlated;
  if (!xl) return eventTuple(ev);
  const t = l4Text(ev);
  return `${xl}${t.sport} -> ${ev.flow.IP.destination}${t.dport} ${t.proto}${t.extra}  (source_xlated ${xl}, from ${ev.flow.IP.source})`;
}

function endpoint(ip: string, port: number | undefined): string {
  return port === undefined ? ip : `${ip}:${port}`;
}

/** Protocol first, for the dashboard's event and flow lines: `TCP 10.0.1.209:40000 -> 172.18.0.7:80 [SYN]`. */
export function describeTuple(ev: FlowEvent): string {
  const f = ev.flow;
  const l4 = f.l4;
  if (l4 && 'TCP' in l4) {
    const flags = l4.TCP.flags ? Object.keys(l4.TCP.flags).join(',') : '';
    return `TCP ${endpoint(f.IP.source, l4.TCP.source_port)} -> ${endpoint(f.IP.destination, l4.TCP.destination_port)}${flags ? ` [${flags}]` : ''}`;
  }
  if (l4 && 'UDP' in l4) return `UDP ${endpoint(f.IP.source, l4.UDP.source_port)} -> ${endpoint(f.IP.destination, l4.UDP.destination_port)}`;
  if (l4 && 'ICMPv4' in l4) return `ICMP ${f.IP.source} -> ${f.IP.destination} type ${l4.ICMPv4.type} code ${l4.ICMPv4.code}`;
  if (l4 && 'ICMPv6' in l4) return `ICMPv6 ${f.IP.source} -> ${f.IP.destination} type ${l4.ICMPv6.type} code ${l4.ICMPv6.code}`;
  return `IP ${f.IP.source} -> ${f.IP.destination}`;
}

export interface JourneyOptions {
  /**
   * The flow the events belong to (the dashboard's enter key on a conntrack row): adds a
   * first line `flow <id>: <tuple of its first event>`, and a line saying so when there are
   * no events.
   */
  flowId?: string;
}

/** Lines for a list of events (one packet, or every packet of a flow), grouped by input packet. */
export function formatJourney(events: readonly FlowEvent[], opts: JourneyOptions = {}): string[] {
  const lines: string[] = [];
  if (opts.flowId !== undefined) {
    if (events.length === 0) return [`flow ${opts.flowId}: no events recorded`];
    lines.push(`flow ${opts.flowId}: ${describeTuple(events[0]!)}`);
  }
  let lastPacket = '';
  let lastPolicy: string | undefined;
  let hop = 0;
  for (const ev of events) {
    const x = ev.egresslab;
    if (x.packet_id !== lastPacket) {
      lastPacket = x.packet_id;
      lastPolicy = undefined;
      hop = 0;
      if (lines.length) lines.push('');
      const origin = x.input_index >= 0 ? `input packet ${x.input_index}` : 'generated packet';
      lines.push(`${origin}  ${ev.time}  ${eventTuple(ev)}${ev.flow.is_reply ? '  (reply)' : ''}`);
    }
    hop++;
    const point = ev.flow.trace_observation_point ?? (ev.flow.verdict === 'DROPPED' ? 'DROP' : '');
    lines.push(`  ${String(hop).padStart(2)}. ${ev.node_name}  ${x.device}  ${x.program}  ${point}`);
    // Each lookup under the function that made it (its `at`), so the walk reads in order;
    // lookups without a place (older event files) come after the functions.
    const fns = x.functions ?? [];
    const lookups = x.lookups ?? [];
    const lookupLine = (l: (typeof lookups)[number]) => `        lookup ${l.map} [${l.key}] -> ${l.result}`;
    for (const l of lookups) if (l.at === 0) lines.push(lookupLine(l));
    fns.forEach((f, i) => {
      lines.push(`        ${f}`);
      for (const l of lookups) if (l.at === i + 1) lines.push(lookupLine(l));
    });
    for (const l of lookups) if (l.at === undefined || l.at > fns.length) lines.push(lookupLine(l));
    // Every hop of a matched packet carries the policy: say it where it first applies.
    if (x.policy && x.policy !== lastPolicy) lines.push(`        policy ${x.policy}`);
    lastPolicy = x.policy;
    if (x.snat) {
      const c = x.snat.candidates.join(', ');
      const signal = x.snat.signal ? `; ${x.snat.signal} (the agent runs CT GC and purges orphan NAT entries)` : '';
      lines.push(`        snat_v4_new_mapping (${x.snat.allocator}): candidates ${c || '-'}; retries ${x.snat.retries}${x.snat.chosen !== undefined ? `; chosen ${x.snat.chosen}` : '; none free'}${signal}`);
    }
    for (const r of x.rewrites ?? []) lines.push(`        rewrite ${r}`);
    const drop = ev.flow.verdict === 'DROPPED' ? ` ${ev.flow.drop_reason ?? '?'} ${ev.flow.drop_reason_desc ?? ''}` : '';
    lines.push(`        verdict ${ev.flow.verdict}${drop}  now ${nowTuple(ev)}`);
  }
  return lines;
}

/** One line for the dashboard's events pane: observation point, tuple, translation, drop, where. */
export function eventLine(ev: FlowEvent): EventLine {
  const f = ev.flow;
  const x = ev.egresslab;
  const pod = f.is_reply ? f.destination : f.source;
  const podName = pod?.pod_name ? `${pod.namespace ? `${pod.namespace}/` : ''}${pod.pod_name} ` : '';
  const point = f.trace_observation_point ?? '-';
  const xl = f.IP.source_xlated ? ` => ${f.IP.source_xlated}` : '';
  const drop = f.verdict === 'DROPPED' ? ` drop ${f.drop_reason ?? '?'} ${f.drop_reason_desc ?? ''}` : '';
  const dev = f.interface?.name ?? x.device;
  const text = `${point} ${describeTuple(ev)}${xl}${drop} ${podName}${ev.node_name} ${dev} ${x.program}`;
  return { time: f.time ?? ev.time, text, verdict: f.verdict };
}

