/**
 * dataplane/synth/topology-variants: the collisions and exhaustion scenarios add client
 * pods to the lab. Up to the 603 that `synth collisions --pods` accepts, every client gets
 * an address of its node's pod CIDR that no other endpoint has (the lab's 10.0.1.209 was
 * handed out again from 482 pods on).
 */
import { describe, expect, it } from 'vitest';
import { topologyFromText } from '../../../dataplane/cluster/topology.ts';
import { labVariantYaml } from '../../../dataplane/synth/topology-variants.ts';

describe('labVariantYaml', () => {
  it('gives 603 pods distinct addresses inside their nodes\' pod CIDRs, the first clients from .50', () => {
    const topo = topologyFromText('<603 pods>', labVariantYaml({ pods: 603 }));
    expect(topo.endpoints).toHaveLength(603);
    expect(new Set(topo.endpoints.map((e) => e.ip)).size).toBe(603);
    const byName = new Map(topo.endpoints.map((e) => [e.name, e]));
    expect(['client-1', 'client-2', 'client-3', 'client-4'].map((n) => byName.get(n)!.ipText)).toEqual(['10.0.0.50', '10.0.1.50', '10.0.2.50', '10.0.0.51']);
    // The lab's own worker pod keeps its address; the client that would have had it moves on.
    expect(topo.endpoints.filter((e) => e.ipText === '10.0.1.209').map((e) => e.name)).toEqual([expect.stringMatching(/^net-tshoot/)]);
  });
  it('refuses more pods than the three /24s hold as generated', () => {
    expect(() => labVariantYaml({ pods: 604 })).toThrow(RangeError);
  });
});
