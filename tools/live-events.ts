/**
 * @module tools/live-events
 * What `replay --dash` keeps of the flow events it is given: the latest ones for the events
 * pane, and per flow the first ones for the journey view. Bounded in flows, in events per
 * flow and in events overall, so a long paced replay (every packet's events, with their
 * detail) does not grow with its length.
 */
import type { FlowEvent } from '../traces/events.ts';

export interface LiveEventsOptions {
  /** Events the pane shows. @default 200 */
  recent?: number;
  /** Flows whose events are kept (the least recently started go first). @default 20000 */
  maxFlows?: number;
  /** Events kept per flow (its first ones: the journey starts there). @default 200 */
  perFlow?: number;
  /** Events kept over all flows. @default 100000 */
  maxEvents?: number;
}

export class LiveEvents {
  private readonly recentMax: number;
  private readonly maxFlows: number;
  private readonly perFlow: number;
  private readonly maxEvents: number;
  private readonly latest: FlowEvent[] = [];
  /** Flow id → its events, in the order the flows started (Map order). */
  private readonly byFlow = new Map<string, FlowEvent[]>();
  /** Events held in byFlow. */
  private held = 0;

  constructor(o: LiveEventsOptions = {}) {
    this.recentMax = o.recent ?? 200;
    this.maxFlows = o.maxFlows ?? 20_000;
    this.perFlow = o.perFlow ?? 200;
    this.maxEvents = o.maxEvents ?? 100_000;
  }

  add(ev: FlowEvent): void {
    this.latest.push(ev);
    // Trimmed in steps: a splice per event would copy the list every time.
    if (this.latest.length > 2 * this.recentMax) this.latest.splice(0, this.latest.length - this.recentMax);
    const id = ev.egresslab.flow_id;
    let list = this.byFlow.get(id);
    if (!list) {
      while (this.byFlow.size > 0 && (this.byFlow.size >= this.maxFlows || this.held >= this.maxEvents)) this.dropOldestFlow();
      list = [];
      this.byFlow.set(id, list);
    }
    if (list.length < this.perFlow) {
      list.push(ev);
      this.held++;
      while (this.held > this.maxEvents && this.byFlow.size > 1) this.dropOldestFlow();
    }
  }

  /** The latest events, oldest first (at most `recent`). */
  recent(): FlowEvent[] {
    return this.latest.slice(-this.recentMax);
  }

  /** The kept events of one flow (empty when none). */
  flow(flowId: string): FlowEvent[] {
    return this.byFlow.get(flowId) ?? [];
  }

  /** Flows and events held (for tests and the bounds). */
  size(): { flows: number; events: number } {
    return { flows: this.byFlow.size, events: this.held };
  }

  /**
   * Puts `detailed` (the same packets' events again, with their journey detail; see
   * detailFirstPackets) in place of the events held for those packets, by packet id.
   */
  replacePackets(detailed: FlowEvent[]): void {
    const byPacket = new Map<string, FlowEvent[]>();
    for (const e of detailed) {
      const l = byPacket.get(e.egresslab.packet_id);
      if (l) l.push(e);
      else byPacket.set(e.egresslab.packet_id, [e]);
    }
    const swap = (list: FlowEvent[]): FlowEvent[] => {
      const out: FlowEvent[] = [];
      const swapped = new Set<string>();
      for (const e of list) {
        const id = e.egresslab.packet_id;
        const d = byPacket.get(id);
        if (d === undefined) out.push(e);
        else if (!swapped.has(id)) {
          swapped.add(id);
          out.push(...d);
        }
      }
      return out;
    };
    const r = swap(this.latest);
    this.latest.length = 0;
    this.latest.push(...r);
    for (const [flow, list] of this.byFlow) {
      if (!list.some((e) => byPacket.has(e.egresslab.packet_id))) continue;
      const next = swap(list);
      this.held += next.length - list.length;
      this.byFlow.set(flow, next);
    }
  }

  private dropOldestFlow(): void {
    const [id, list] = this.byFlow.entries().next().value!;
    this.held -= list.length;
    this.byFlow.delete(id);
  }
}
