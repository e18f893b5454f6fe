/**
 * What `replay --dash` keeps of its flow events (tools/live-events.ts): bounded in flows, in
 * events per flow and overall; the first packets' detailed events stand in for the ones the
 * run built without detail.
 */
import { describe, expect, it } from 'vitest';
import type { FlowEvent } from '../../traces/events.ts';
import { LiveEvents } from '../../tools/live-events.ts';

/** A minimal event: only the ids and one marker field matter here. */
function ev(flow: string, packet: string, point = 'TO_NETWORK', functions?: string[]): FlowEvent {
  return {
    flow: { trace_observation_point: point },
    egresslab: { flow_id: flow, packet_id: packet, ...(functions ? { functions } : {}) },
  } as unknown as FlowEvent;
}

describe('LiveEvents', () => {
  it('keeps the latest events for the pane and the first ones of each flow', () => {
    const l = new LiveEvents({ recent: 3, perFlow: 2 });
    for (let i = 0; i < 10; i++) l.add(ev('f', `p${i}`));
    expect(l.recent().map((e) => e.egresslab.packet_id)).toEqual(['p7', 'p8', 'p9']);
    expect(l.flow('f').map((e) => e.egresslab.packet_id)).toEqual(['p0', 'p1']);
    expect(l.flow('nope')).toEqual([]);
  });

  it('forgets the oldest flows past maxFlows or maxEvents', () => {
    const byFlows = new LiveEvents({ maxFlows: 3 });
    for (let i = 0; i < 5; i++) byFlows.add(ev(`f${i}`, `p${i}`));
    expect(byFlows.size()).toEqual({ flows: 3, events: 3 });
    expect(byFlows.flow('f1')).toEqual([]);
    expect(byFlows.flow('f2')).toHaveLength(1);
    // 10 events per flow, at most 25 overall: two flows and a half would not fit.
    const byEvents = new LiveEvents({ maxEvents: 25 });
    for (let f = 0; f < 4; f++) for (let i = 0; i < 10; i++) byEvents.add(ev(`f${f}`, `p${f}.${i}`));
    expect(byEvents.size().events).toBeLessThanOrEqual(25);
    expect(byEvents.flow('f3')).toHaveLength(10);
    expect(byEvents.flow('f0')).toEqual([]);
  });

  it('puts the detailed events in place of the same packets\' events, once per packet', () => {
    const l = new LiveEvents();
    // Packet p0 has two hops, p1 one, p2 (not re-run) one.
    for (const [f, p, pt] of [['a', 'p0', 'FROM_ENDPOINT'], ['a', 'p0', 'TO_NETWORK'], ['b', 'p1', 'TO_NETWORK'], ['a', 'p2', 'TO_NETWORK']] as const) l.add(ev(f, p, pt));
    l.replacePackets([ev('a', 'p0', 'FROM_ENDPOINT', ['x']), ev('a', 'p0', 'TO_NETWORK', ['handle_ipv4_from_lxc']), ev('b', 'p1', 'TO_NETWORK', ['y'])]);
    const show = (list: FlowEvent[]) => list.map((e) => `${e.egresslab.packet_id}:${e.flow.trace_observation_point}:${(e.egresslab.functions ?? []).join('+')}`);
    expect(show(l.flow('a'))).toEqual(['p0:FROM_ENDPOINT:x', 'p0:TO_NETWORK:handle_ipv4_from_lxc', 'p2:TO_NETWORK:']);
    expect(show(l.flow('b'))).toEqual(['p1:TO_NETWORK:y']);
    expect(show(l.recent())).toEqual(['p0:FROM_ENDPOINT:x', 'p0:TO_NETWORK:handle_ipv4_from_lxc', 'p1:TO_NETWORK:y', 'p2:TO_NETWORK:']);
    expect(l.size()).toEqual({ flows: 2, events: 4 });
  });
});
