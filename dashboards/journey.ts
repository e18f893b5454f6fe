/**
 * @module dashboards/journey
 * The journey of one flow (the enter key on a conntrack row): every hop of every packet of
 * the flow, with the Cilium functions walked, the map lookups and the rewrites, in the shape
 * `egresslab explain` prints. Offline mode builds it from the saved events; live mode gets
 * the lines from the replay (DashboardControls.journey).
 */
import type { FlowEvent } from '../traces/events.ts';

function endpoint(ip: string, port: number | undefined): string {
  return port === undefined ? ip : `${ip}:${port}`;
}

/** `TCP 10.0.1.209:40000 -> 172.18.0.7:80 [SYN]` for one event. */
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

/**
 * Formats the events of one flow (in log order) as journey lines. The strings are NOT
 * sanitized here: the dashboard sanitizes every line it shows.
 */
export function formatJourney(flowId: string, events: readonly FlowEvent[]): string[] {
  if (events.length === 0) return [`flow ${flowId}: no events recorded`];
  const out: string[] = [`flow ${flowId}: ${describeTuple(events[0]!)}`];
  let packet = '';
  let hop = 0;
  for (const ev of events) {
    const x = ev.egresslab;
    if (x.packet_id !== packet) {
      packet = x.packet_id;
      hop = 0;
      out.push('', `packet #${x.input_index} ${ev.flow.is_reply ? '(reply) ' : ''}${describeTuple(ev)}  ${ev.flow.time}`);
    }
    hop++;
    const point = ev.flow.trace_observation_point ?? (ev.flow.verdict === 'DROPPED' ? 'DROP' : '-');
    const xlated = ev.flow.IP.source_xlated ? `  source_xlated ${ev.flow.IP.source_xlated}` : '';
    out.push(`  ${hop}. ${ev.node_name} ${x.device} ${point} ${x.program}  ${ev.flow.verdict}${xlated}`);
    if (ev.flow.verdict === 'DROPPED') out.push(`     drop ${ev.flow.drop_reason ?? '?'} ${ev.flow.drop_reason_desc ?? ''}`);
    if (x.policy) out.push(`     policy ${x.policy}`);
    if (x.functions && x.functions.length > 0) out.push(`     functions ${x.functions.join(' -> ')}`);
    for (const l of x.lookups ?? []) out.push(`     lookup ${l.map} [${l.key}] => ${l.result}`);
    for (const r of x.rewrites ?? []) out.push(`     rewrite ${r}`);
    if (x.snat) {
      out.push(`     snat ${x.snat.allocator}: retries ${x.snat.retries}${x.snat.chosen !== undefined ? `, chose ${x.snat.chosen}` : ', no port'}; candidates ${x.snat.candidates.join(' ')}`);
    }
  }
  return out;
}
