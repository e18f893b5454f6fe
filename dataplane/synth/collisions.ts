/**
 * @module dataplane/synth/collisions
 * N pods open a connection from the same source port to the same server ip:port, one
 * millisecond apart: the first keeps its port at SNAT, every later one collides on the
 * reverse tuple and goes through `snat_v4_new_mapping`'s retries.
 */

import type { Rng } from '../lib/rng.ts';
import type { Topology } from '../cluster/topology.ts';
import { synthLab } from './lab.ts';
import type { EchoModel, SynthPacket } from './types.ts';

export interface CollisionsOptions {
  /** The shared source port. @default 40000 */
  sourcePort?: number;
  /** Seconds between two pods. @default 0.001 */
  spacing?: number;
  /** Pods taking part: the first N in the lab's order (by node). @default every pod */
  pods?: number;
}

export function* synthCollisions(topo: Topology, rng: Rng, echo: EchoModel, o: CollisionsOptions = {}): Generator<SynthPacket> {
  const byNode = [...topo.endpoints].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const pods = o.pods === undefined ? undefined : byNode.slice(0, o.pods);
  yield* synthLab(topo, rng, echo, { sourcePort: o.sourcePort ?? 40000, spacing: o.spacing ?? 0.001, ...(pods ? { pods } : {}) });
}
