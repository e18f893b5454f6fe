/**
 * @module dataplane/lib/trace
 * Trace observation points and reasons (`bpf/lib/trace.h`), and the building of flow
 * events in Hubble's schema (cilium-datapath.md §9).
 *
 * Nothing here runs unless an observer asked for events or comments: programs write into a
 * `Journey` only when the packet context holds one (`ctx.jr !== null`), so the hot path
 * without an observer builds no strings and allocates nothing.
 */

import type { FlowEvent, MapLookup, ObservationPoint, SnatDetail, Verdict } from '../../traces/events.ts';
import { rfc3339Nano } from '../../traces/events.ts';
import { ipToString } from '../packet/addr.ts';
import { dropInfo } from './drop.ts';

/** `enum trace_point` (bpf/lib/trace.h). */
export const TRACE_TO_LXC = 0;
export const TRACE_TO_PROXY = 1;
export const TRACE_TO_HOST = 2;
export const TRACE_TO_STACK = 3;
export const TRACE_TO_OVERLAY = 4;
export const TRACE_FROM_LXC = 5;
export const TRACE_FROM_PROXY = 6;
export const TRACE_FROM_HOST = 7;
export const TRACE_FROM_STACK = 8;
export const TRACE_FROM_OVERLAY = 9;
export const TRACE_FROM_NETWORK = 10;
export const TRACE_TO_NETWORK = 11;

/** `enum trace_reason`. */
export const TRACE_REASON_POLICY = 0; // new connection
export const TRACE_REASON_CT_ESTABLISHED = 1;
export const TRACE_REASON_CT_REPLY = 2;
export const TRACE_REASON_CT_RELATED = 3;
export const TRACE_REASON_UNKNOWN = 5;

/** Monitor message types (bpf/lib/common.h). */
export const CILIUM_NOTIFY_DROP = 1;
export const CILIUM_NOTIFY_TRACE = 4;

const POINT_NAMES: readonly ObservationPoint[] = [
  'TO_ENDPOINT', // TO_LXC, as Hubble prints it
  'TO_PROXY',
  'TO_HOST',
  'TO_STACK',
  'TO_OVERLAY',
  'FROM_ENDPOINT', // FROM_LXC
  'FROM_PROXY',
  'FROM_HOST',
  'FROM_STACK',
  'FROM_OVERLAY',
  'FROM_NETWORK',
  'TO_NETWORK',
];

/** The ingress trace points (FROM_LXC, FROM_PROXY, FROM_HOST, FROM_STACK, FROM_OVERLAY, FROM_NETWORK). */
export function isFromPoint(point: number): boolean {
  return point >= TRACE_FROM_LXC && point <= TRACE_FROM_NETWORK;
}

/** Hubble's name of a trace point. */
export function observationPointName(point: number): ObservationPoint {
  return POINT_NAMES[point] ?? 'TO_STACK';
}

/** Maps a CT lookup result (CT_NEW 0, ESTABLISHED 1, REPLY 2, RELATED 3, REOPENED 4) to a trace reason. */
export function traceReasonForCt(ct: number): number {
  switch (ct) {
    case 0:
    case 4:
      return TRACE_REASON_POLICY;
    case 1:
      return TRACE_REASON_CT_ESTABLISHED;
    case 2:
      return TRACE_REASON_CT_REPLY;
    case 3:
      return TRACE_REASON_CT_RELATED;
    default:
      return TRACE_REASON_UNKNOWN;
  }
}

/**
 * What the programs did at one hop, recorded only when an observer is attached. The engine
 * turns it into a flow event and a capture comment, then clears it for the next hop.
 */
export class Journey {
  functions: string[] = [];
  lookups: MapLookup[] = [];
  rewrites: string[] = [];
  notes: string[] = [];
  policy: string | undefined = undefined;
  snat: SnatDetail | undefined = undefined;

  fn(name: string): void {
    this.functions.push(name);
  }
  lookup(map: string, key: string, result: string): void {
    this.lookups.push({ map, key, result, at: this.functions.length });
  }
  rewrite(text: string): void {
    this.rewrites.push(text);
  }
  note(text: string): void {
    this.notes.push(text);
  }
  /**
   * Empties the journey in place (once per packet): nothing keeps these arrays, since
   * events copy them and comments join them, so reusing them saves four arrays a packet.
   */
  clear(): void {
    // Setting `length` is a builtin call even on an empty array: skip the empty ones (with
    // hop comments only, all but the notes always are).
    if (this.functions.length !== 0) this.functions.length = 0;
    if (this.lookups.length !== 0) this.lookups.length = 0;
    if (this.rewrites.length !== 0) this.rewrites.length = 0;
    this.clearNotes();
    this.policy = undefined;
    this.snat = undefined;
  }

  clearNotes(): void {
    if (this.notes.length !== 0) this.notes.length = 0;
  }

  /** The capture comment for the notes so far (one note, the usual case, is used as is). */
  comment(): string | undefined {
    const n = this.notes;
    return n.length === 0 ? undefined : n.length === 1 ? n[0] : n.join('; ');
  }
}

/** Everything one flow event needs; filled by the engine from the packet after the program ran. */
export interface EventInput {
  node: string;
  device: string;
  program: string;
  point: number;
  /** 0 for a trace, else the negative drop code. */
  drop: number;
  /** TRANSLATED when a rewrite happened at this hop. */
  translated: boolean;
  reason: number;
  saddr: number;
  daddr: number;
  /** Source before SNAT at this hop (orig_ip), when it changed. */
  origSaddr: number | undefined;
  proto: number;
  sport: number;
  dport: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  srcIdentity: number;
  dstIdentity: number;
  srcPod: { namespace: string; name: string; labels: Record<string, string> } | undefined;
  dstPod: { namespace: string; name: string; labels: Record<string, string> } | undefined;
  tsSec: number;
  tsNsec: number;
  packetId: string;
  flowId: string;
  inputIndex: number;
  summary: string | undefined;
  journey: Journey;
}

const TCP_FLAG_NAMES: readonly [number, string][] = [
  [0x01, 'FIN'],
  [0x02, 'SYN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x10, 'ACK'],
  [0x20, 'URG'],
  [0x40, 'ECE'],
  [0x80, 'CWR'],
];

export function tcpFlagsText(flags: number): string {
  const out: string[] = [];
  for (const [bit, name] of TCP_FLAG_NAMES) if (flags & bit) out.push(name);
  return out.join('|');
}

function labelList(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .sort()
    .map((k) => `k8s:${k}=${labels[k]}`);
}

/** Builds one Hubble-shaped flow event (observer path only). */
export function buildFlowEvent(e: EventInput): FlowEvent {
  const time = rfc3339Nano(e.tsSec, e.tsNsec);
  const isDrop = e.drop < 0;
  const verdict: Verdict = isDrop ? 'DROPPED' : e.translated ? 'TRANSLATED' : 'FORWARDED';
  let l4: FlowEvent['flow']['l4'];
  if (e.proto === 6) {
    const flags: Record<string, true> = {};
    for (const [bit, name] of TCP_FLAG_NAMES) if (e.tcpFlags & bit) flags[name] = true;
    l4 = { TCP: { source_port: e.sport, destination_port: e.dport, flags } };
  } else if (e.proto === 17) {
    l4 = { UDP: { source_port: e.sport, destination_port: e.dport } };
  } else if (e.proto === 1) {
    l4 = { ICMPv4: { type: e.icmpType, code: e.icmpCode } };
  }
  const ip: FlowEvent['flow']['IP'] = { source: ipToString(e.saddr), destination: ipToString(e.daddr), ipVersion: 'IPv4' };
  if (e.origSaddr !== undefined && e.origSaddr !== e.saddr) {
    // Hubble reports the pre-SNAT address as source and the translated one as source_xlated.
    ip.source = ipToString(e.origSaddr);
    ip.source_xlated = ipToString(e.saddr);
  }
  const src: NonNullable<FlowEvent['flow']['source']> = { identity: e.srcIdentity };
  if (e.srcPod) {
    src.labels = labelList(e.srcPod.labels);
    src.namespace = e.srcPod.namespace;
    src.pod_name = e.srcPod.name;
  }
  const dst: NonNullable<FlowEvent['flow']['destination']> = { identity: e.dstIdentity };
  if (e.dstPod) {
    dst.labels = labelList(e.dstPod.labels);
    dst.namespace = e.dstPod.namespace;
    dst.pod_name = e.dstPod.name;
  }
  const d = isDrop ? dropInfo(e.drop) : undefined;
  const flow: FlowEvent['flow'] = {
    time,
    verdict,
    ...(d ? { drop_reason_desc: d.name, drop_reason: d.code } : {}),
    IP: ip,
    ...(l4 ? { l4 } : {}),
    source: src,
    destination: dst,
    Type: 'L3_L4',
    node_name: e.node,
    event_type: d ? { type: CILIUM_NOTIFY_DROP, sub_type: d.code } : { type: CILIUM_NOTIFY_TRACE, sub_type: e.point },
    ...(d ? {} : { trace_observation_point: observationPointName(e.point) }),
    // Hubble sets is_reply only when the trace's reason is known: the FROM_* trace points
    // run before any CT lookup and send TRACE_REASON_UNKNOWN, and drops carry no reason.
    ...(d || e.reason === TRACE_REASON_UNKNOWN ? {} : { is_reply: e.reason === TRACE_REASON_CT_REPLY }),
    interface: { name: e.device },
    ...(e.summary !== undefined ? { Summary: e.summary } : {}),
  };
  const j = e.journey;
  const egl: FlowEvent['egresslab'] = {
    packet_id: e.packetId,
    flow_id: e.flowId,
    input_index: e.inputIndex,
    program: e.program,
    device: e.device,
    ...(j.functions.length ? { functions: j.functions.slice() } : {}),
    ...(j.lookups.length ? { lookups: j.lookups.slice() } : {}),
    ...(j.rewrites.length ? { rewrites: j.rewrites.slice() } : {}),
    ...(j.snat ? { snat: j.snat } : {}),
    ...(j.policy !== undefined ? { policy: j.policy } : {}),
    ts_ns: (BigInt(e.tsSec) * 1_000_000_000n + BigInt(e.tsNsec)).toString(),
  };
  return { flow, node_name: e.node, time, egresslab: egl };
}
