/**
 * @module dataplane/synth/topology-variants
 * Scenarios that need more than the lab has (more pods, a host that never answers, a
 * smaller NAT port range) derive a topology from the lab's YAML, so the variant a scenario
 * ran with can be written next to its capture and read back by `replay --topology`.
 */

import { parseDocument } from 'yaml';
import { LAB_TOPOLOGY_YAML } from '../cluster/lab.ts';

export interface LabVariantOptions {
  /** Total pods of namespace default (the lab's 3, plus `client-N` pods spread over the nodes). */
  pods?: number;
  /** Add an external host that never answers. */
  sink?: { name: string; ip: string; port: number };
  /** NAT port range for masquerade and egress-gateway SNAT. */
  natPortRange?: { min: number; max: number };
}

const NODE_PREFIXES: readonly [string, string][] = [
  ['k8s-guide-control-plane', '10.0.0.'],
  ['k8s-guide-worker', '10.0.1.'],
  ['k8s-guide-worker2', '10.0.2.'],
];

/** The lab topology as YAML text, changed as asked. */
export function labVariantYaml(o: LabVariantOptions): string {
  const doc = parseDocument(LAB_TOPOLOGY_YAML);
  const extra = Math.max(0, (o.pods ?? 3) - 3);
  if (extra > 3 * 200) throw new RangeError(`at most ${3 + 3 * 200} pods fit the lab's three /24s as generated`);
  // Clients take .50 upwards on each node, stepping over the lab's own pods (10.0.1.209).
  const taken = new Set(((doc.toJS() as { endpoints?: { ip: string }[] }).endpoints ?? []).map((e) => e.ip));
  const next = [50, 50, 50];
  for (let i = 0; i < extra; i++) {
    const k = i % 3;
    const [node, prefix] = NODE_PREFIXES[k]!;
    while (taken.has(`${prefix}${next[k]}`)) next[k]!++;
    doc.addIn(['endpoints'], {
      name: `client-${i + 1}`,
      namespace: 'default',
      labels: { name: 'client' },
      ip: `${prefix}${next[k]!++}`,
      node,
    });
  }
  if (o.sink) {
    doc.addIn(['externalHosts'], { name: o.sink.name, ip: o.sink.ip, ports: [o.sink.port], behaviour: 'sink' });
  }
  if (o.natPortRange) doc.setIn(['natPortRange'], o.natPortRange);
  return doc.toString();
}
