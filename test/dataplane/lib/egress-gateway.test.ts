import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Text as ip } from '../../../dataplane/cluster/cidr.ts';
import { labPolicy, loadPolicies } from '../../../dataplane/cluster/policy.ts';
import type { EgressPolicy } from '../../../dataplane/cluster/policy.ts';
import { labTopology } from '../../../dataplane/cluster/topology.ts';
import type { Topology } from '../../../dataplane/cluster/topology.ts';
import {
  EGRESS_GATEWAY_EXCLUDED_CIDR, EGRESS_GATEWAY_NO_EGRESS_IP, EGRESS_GATEWAY_NO_GATEWAY, EgressPolicyMap, compileEgressPolicyMap,
  formatBpftoolDump, formatCiliumEgressList, goTabwriter, lookupIp4EgressGwPolicy,
} from '../../../dataplane/lib/egress-gateway.ts';
import { LpmTrie } from '../../../dataplane/maps/lpm.ts';
import { ConfigError } from '../../../traces/errors.ts';
import { tempYaml } from '../cluster/helpers.ts';

const seedFile = new URL('../../../../shared/seed/000_4c96b75b898f33b1.txt', import.meta.url);
const examples = new URL('../../../examples/policies/', import.meta.url);
const topo = labTopology();
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const CP = 'k8s-guide-control-plane';
const W1 = 'k8s-guide-worker';
const W2 = 'k8s-guide-worker2';

function cegp(name: string, spec: string): EgressPolicy[] {
  return loadPolicies(tempYaml(`apiVersion: cilium.io/v2\nkind: CiliumEgressGatewayPolicy\nmetadata:\n  name: ${name}\nspec:\n${spec}`));
}

describe("the seed's map dump, byte for byte, from the lab's policy", () => {
  const seed = readFileSync(seedFile, 'utf8').split('\n');
  const seedDump = seed.filter((l) => l.startsWith('key: ') || /^Found \d+ elements$/.test(l));
  it('the seed holds the three lines and the count', () => {
    expect(seedDump).toHaveLength(4);
    expect(seedDump[3]).toBe('Found 3 elements');
  });
  it('worker2 (where the chapter ran bpftool) prints exactly those lines', () => {
    const map = compileEgressPolicyMap(topo, labPolicy(), '1.10', W2);
    expect(map.name).toBe('cilium_egress_v4');
    expect(formatBpftoolDump(map)).toBe(seedDump.join('\n') + '\n');
  });
  it('the 1.10 map is the same on every node', () => {
    const dumps = topo.nodes.map((n) => formatBpftoolDump(compileEgressPolicyMap(topo, labPolicy(), '1.10', n.name)));
    expect(new Set(dumps).size).toBe(1);
  });
  it('cilium bpf egress list (1.10) shows tunnel endpoint then egress IP', () => {
    const out = formatCiliumEgressList(compileEgressPolicyMap(topo, labPolicy(), '1.10', W2), '1.10');
    expect(out.split('\n').map((l) => l.trimEnd())).toEqual([
      'SRC IP & DST CIDR          EGRESS INFO',
      '10.0.0.31 172.18.0.0/16    172.18.0.3 172.18.0.3',
      '10.0.1.209 172.18.0.0/16   172.18.0.3 172.18.0.3',
      '10.0.2.14 172.18.0.0/16    172.18.0.3 172.18.0.3',
      '',
    ]);
    // TablePrinter ends every cell with a tab, so the value column is padded too.
    expect(out.split('\n')[1]).toBe('10.0.0.31 172.18.0.0/16    172.18.0.3 172.18.0.3   ');
  });
});

describe('lookup', () => {
  const map = compileEgressPolicyMap(topo, labPolicy(), '1.10', W1);
  it('hits for a selected pod and a destination inside the CIDR', () => {
    const i = lookupIp4EgressGwPolicy(map, ip('10.0.1.209'), ip('172.18.0.7'));
    expect(i).toBeGreaterThanOrEqual(0);
    expect(map.egressIp(i)).toBe(ip('172.18.0.3'));
    expect(map.gatewayIp(i)).toBe(ip('172.18.0.3'));
    expect(map.policyName(i)).toBe('egress-all');
    expect(map.cidrText(i)).toBe('172.18.0.0/16');
  });
  it('misses outside the CIDR, and for any source that is not exactly a selected pod /32', () => {
    expect(map.lookup(ip('10.0.1.209'), ip('172.19.0.7'))).toBe(-1);
    expect(map.lookup(ip('10.0.1.208'), ip('172.18.0.7'))).toBe(-1);
    expect(map.lookup(ip('172.18.0.5'), ip('172.18.0.7'))).toBe(-1);
  });
  it('the most specific destination CIDR wins, across policies', () => {
    const ps = cegp('wide', `  selectors:\n  - podSelector: {matchLabels: {name: net-tshoot}}\n  destinationCIDRs: [0.0.0.0/0, 172.18.0.0/24]\n  egressGateway:\n    nodeSelector: {matchLabels: {kubernetes.io/hostname: ${W1}}}\n`);
    const narrow = cegp('narrow', `  selectors:\n  - podSelector: {matchLabels: {name: net-tshoot}}\n  destinationCIDRs: [172.18.0.7/32]\n  egressGateway:\n    nodeSelector: {matchLabels: {kubernetes.io/hostname: ${W2}}}\n`);
    const m = compileEgressPolicyMap(topo, [...labPolicy(), ...ps, ...narrow], '1.17', CP);
    const gw = (d: string): string => {
      const i = m.lookup(ip('10.0.0.31'), ip(d));
      return `${m.policyName(i)} ${m.cidrText(i)} ${m.gatewayIp(i)}`;
    };
    expect(gw('172.18.0.7')).toBe(`narrow 172.18.0.7/32 ${ip('172.18.0.6')}`);
    expect(gw('172.18.0.8')).toBe(`wide 172.18.0.0/24 ${ip('172.18.0.5')}`);
    expect(gw('172.18.1.8')).toBe(`egress-all 172.18.0.0/16 ${ip('172.18.0.3')}`);
    expect(gw('8.8.8.8')).toBe(`wide 0.0.0.0/0 ${ip('172.18.0.5')}`);
  });
});

describe('1.17 (CiliumEgressGatewayPolicy)', () => {
  const excluded = loadPolicies(new URL('cegp-excluded.yaml', examples).pathname);
  it('egress_ip only on the gateway node; gateway_ip everywhere', () => {
    const onGw = compileEgressPolicyMap(topo, excluded, '1.17', CP);
    const onWorker = compileEgressPolicyMap(topo, excluded, '1.17', W1);
    expect(onGw.name).toBe('cilium_egress_gw_policy_v4');
    const a = onGw.lookup(ip('10.0.1.209'), ip('172.18.0.50'));
    const b = onWorker.lookup(ip('10.0.1.209'), ip('172.18.0.50'));
    expect([onGw.egressIp(a), onGw.gatewayIp(a)]).toEqual([ip('172.18.0.3'), ip('172.18.0.3')]);
    expect([onWorker.egressIp(b), onWorker.gatewayIp(b)]).toEqual([EGRESS_GATEWAY_NO_EGRESS_IP, ip('172.18.0.3')]);
  });
  it('an excludedCIDRs entry (gateway 0.0.0.1) wins the lookup', () => {
    const m = compileEgressPolicyMap(topo, excluded, '1.17', W2);
    const i = m.lookup(ip('10.0.2.14'), ip('172.18.0.7'));
    expect(m.gatewayIp(i)).toBe(EGRESS_GATEWAY_EXCLUDED_CIDR);
    expect(m.cidrText(i)).toBe('172.18.0.7/32');
    expect(m.entries()).toHaveLength(6);
    expect(formatBpftoolDump(m)).toBe(
      [
        'key: 40 00 00 00 0a 00 00 1f  ac 12 00 07  value: 00 00 00 00 00 00 00 01',
        'key: 30 00 00 00 0a 00 00 1f  ac 12 00 00  value: 00 00 00 00 ac 12 00 03',
        'key: 40 00 00 00 0a 00 01 d1  ac 12 00 07  value: 00 00 00 00 00 00 00 01',
        'key: 30 00 00 00 0a 00 01 d1  ac 12 00 00  value: 00 00 00 00 ac 12 00 03',
        'key: 40 00 00 00 0a 00 02 0e  ac 12 00 07  value: 00 00 00 00 00 00 00 01',
        'key: 30 00 00 00 0a 00 02 0e  ac 12 00 00  value: 00 00 00 00 ac 12 00 03',
        'Found 6 elements',
        '',
      ].join('\n'),
    );
    expect(formatCiliumEgressList(m, '1.17')).toBe(
      [
        'Source IP    Destination CIDR   Egress IP   Gateway IP',
        '10.0.0.31    172.18.0.7/32      0.0.0.0     Excluded CIDR',
        '10.0.0.31    172.18.0.0/16      0.0.0.0     172.18.0.3',
        '10.0.1.209   172.18.0.7/32      0.0.0.0     Excluded CIDR',
        '10.0.1.209   172.18.0.0/16      0.0.0.0     172.18.0.3',
        '10.0.2.14    172.18.0.7/32      0.0.0.0     Excluded CIDR',
        '10.0.2.14    172.18.0.0/16      0.0.0.0     172.18.0.3',
        '',
      ].join('\n'),
    );
  });
  it('no matching gateway node → gateway 0.0.0.0, printed Not Found', () => {
    const ps = loadPolicies(new URL('cegp-no-gateway.yaml', examples).pathname);
    for (const n of topo.nodes) {
      const m = compileEgressPolicyMap(topo, ps, '1.17', n.name);
      const i = m.lookup(ip('10.0.0.31'), ip('172.18.0.7'));
      expect([m.egressIp(i), m.gatewayIp(i)]).toEqual([EGRESS_GATEWAY_NO_EGRESS_IP, EGRESS_GATEWAY_NO_GATEWAY]);
      expect(formatCiliumEgressList(m, '1.17').split('\n')[1]).toBe('10.0.0.31    172.18.0.0/16      0.0.0.0     Not Found');
    }
  });
  it('picks the first matching node in lexical order; interface → node IP; selectors.nodeSelector filters pods', () => {
    const ps = cegp('workers', `  selectors:\n  - podSelector: {}\n    nodeSelector:\n      matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: DoesNotExist}]\n  destinationCIDRs: [0.0.0.0/0]\n  egressGateway:\n    nodeSelector: {matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [${W2}, ${W1}]}]}\n    interface: eth0\n`);
    const m = compileEgressPolicyMap(topo, ps, '1.17', W1);
    expect(m.entries().map((e) => [e.saddr, e.egressIp, e.gatewayIp])).toEqual([
      [ip('10.0.1.209'), ip('172.18.0.5'), ip('172.18.0.5')],
      [ip('10.0.2.14'), ip('172.18.0.5'), ip('172.18.0.5')],
    ]);
  });
  it('an interface the gateway does not have: egress IP 0.0.0.0 (NO_EGRESS_IP) on the gateway itself', () => {
    const ps = cegp('eth7', `  selectors:\n  - podSelector: {}\n  destinationCIDRs: [0.0.0.0/0]\n  egressGateway:\n    nodeSelector: {matchLabels: {kubernetes.io/hostname: ${W2}}}\n    interface: eth7\n`);
    const onGw = compileEgressPolicyMap(topo, ps, '1.17', W2);
    const e = onGw.entries();
    expect(e.length).toBeGreaterThan(0);
    for (const x of e) expect([x.egressIp, x.gatewayIp]).toEqual([EGRESS_GATEWAY_NO_EGRESS_IP, ip('172.18.0.6')]);
    expect(formatCiliumEgressList(onGw, '1.17').split('\n')[1]).toBe('10.0.0.31    0.0.0.0/0          0.0.0.0     172.18.0.6');
  });
  it('the lab CENP replayed as 1.17: gateway = the node owning egressSourceIP', () => {
    const cp = compileEgressPolicyMap(topo, labPolicy(), '1.17', CP);
    const w2 = compileEgressPolicyMap(topo, labPolicy(), '1.17', W2);
    expect(formatBpftoolDump(cp).split('\n')[0]).toBe('key: 30 00 00 00 0a 00 00 1f  ac 12 00 00  value: ac 12 00 03 ac 12 00 03');
    expect(formatBpftoolDump(w2).split('\n')[0]).toBe('key: 30 00 00 00 0a 00 00 1f  ac 12 00 00  value: 00 00 00 00 ac 12 00 03');
  });
  it('a CEGP replayed as 1.10: tunnel to the gateway node, no excluded entries', () => {
    const m = compileEgressPolicyMap(topo, excluded, '1.10', W1);
    expect(m.name).toBe('cilium_egress_v4');
    expect(m.entries().every((e) => e.egressIp === ip('172.18.0.3') && e.gatewayIp === ip('172.18.0.3') && e.bits === 16)).toBe(true);
    expect(m.entries()).toHaveLength(3);
    const none = loadPolicies(new URL('cegp-no-gateway.yaml', examples).pathname);
    expect(compileEgressPolicyMap(topo, none, '1.10', W1).entries()).toEqual([]);
  });
});

describe('bounds and errors', () => {
  it('a map over mapSizes.egressPolicy is a ConfigError naming the policy', () => {
    const small: Topology = { ...topo, mapSizes: { ...topo.mapSizes, egressPolicy: 2 } };
    let err: unknown;
    try {
      compileEgressPolicyMap(small, labPolicy(), '1.10', W1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^<built-in: egress-all>:5: spec\.destinationCIDRs: policy 'egress-all' does not fit: cilium_egress_v4 is full at 2 entries/);
  });
  it('an unknown node is refused', () => {
    expect(() => compileEgressPolicyMap(topo, labPolicy(), '1.10', 'nope')).toThrow(/no node named 'nope'/);
  });
  it('an empty map', () => {
    const m = compileEgressPolicyMap(topo, [], '1.17', W1);
    expect(formatBpftoolDump(m)).toBe('Found 0 elements\n');
    expect(formatCiliumEgressList(m, '1.17')).toBe('No entries found.\n');
  });
});

describe('LpmTrie', () => {
  it('keeps the kernel semantics: longest prefix, replace, delete, ENOSPC, post-order walk', () => {
    const t = new LpmTrie(4);
    expect(t.update(48, ip('10.0.0.2'), ip('172.18.0.0'), 1)).toBe(true);
    expect(t.update(40, ip('10.0.0.2'), ip('172.0.0.0'), 2)).toBe(true);
    expect(t.update(56, ip('10.0.0.2'), ip('172.18.5.9'), 3)).toBe(true); // host bits ignored
    expect(t.update(24, ip('10.0.0.0'), 0, 4)).toBe(true); // source prefix /24: any daddr
    expect(t.update(64, ip('10.0.0.9'), ip('1.1.1.1'), 5)).toBe(false); // full
    expect(t.update(48, ip('10.0.0.2'), ip('172.18.0.0'), 6)).toBe(true); // replace is fine when full
    expect(t.lookup(ip('10.0.0.2'), ip('172.18.5.1'))).toBe(3);
    expect(t.lookup(ip('10.0.0.2'), ip('172.18.6.1'))).toBe(6);
    expect(t.lookup(ip('10.0.0.2'), ip('172.19.6.1'))).toBe(2);
    expect(t.lookup(ip('10.0.0.2'), ip('8.8.8.8'))).toBe(4);
    expect(t.lookup(ip('10.0.1.2'), ip('8.8.8.8'))).toBe(-1);
    expect(t.keys().map((k) => k.value)).toEqual([3, 6, 2, 4]);
    expect(t.delete(56, ip('10.0.0.2'), ip('172.18.5.0'))).toBe(true);
    expect(t.lookup(ip('10.0.0.2'), ip('172.18.5.1'))).toBe(6);
    expect(t.size()).toBe(3);
  });
});

describe('tabwriter emulation', () => {
  it('pads each column block to its widest cell + 3, min 5', () => {
    expect(goTabwriter('a\tb\tc\nlonger\tx\ty\n', 5, 3)).toBe('a        b    c\nlonger   x    y\n');
    // A line without a tab ends the column block.
    expect(goTabwriter('aaaaaaaaa\tb\nno tabs\nc\td\n', 5, 3)).toBe('aaaaaaaaa   b\nno tabs\nc    d\n');
  });
});

// A "lookup is fast" figure (ns per lookup) belongs in `npm run bench`, not here: a
// wall-clock bound either flakes on a loaded machine or is too loose to ever fail.
describe('lookup over a mixed map', () => {
  it('gives the longest match, the excluded /32 and misses as the map says', () => {
    const ps = cegp('bench', `  selectors:\n  - podSelector: {}\n  destinationCIDRs: [0.0.0.0/0, 172.18.0.0/16, 172.18.0.0/24, 172.18.0.7/32, 192.168.0.0/16]\n  excludedCIDRs: [172.18.0.8/32]\n  egressGateway:\n    nodeSelector: {}\n`);
    const m = compileEgressPolicyMap(topo, ps, '1.17', W1);
    const hit = (s: string, d: string): string => {
      const i = m.lookup(ip(s), ip(d));
      return i < 0 ? 'miss' : `${m.cidrText(i)} ${m.gatewayIp(i) === EGRESS_GATEWAY_EXCLUDED_CIDR ? 'excluded' : 'gw'}`;
    };
    expect(hit('10.0.0.31', '172.18.0.7')).toBe('172.18.0.7/32 gw');
    expect(hit('10.0.1.209', '172.18.0.8')).toBe('172.18.0.8/32 excluded');
    expect(hit('10.0.2.14', '172.18.0.200')).toBe('172.18.0.0/24 gw');
    expect(hit('10.0.2.14', '172.18.1.1')).toBe('172.18.0.0/16 gw');
    expect(hit('10.0.2.14', '8.8.8.8')).toBe('0.0.0.0/0 gw');
    expect(hit('10.0.2.15', '172.18.0.7')).toBe('miss'); // not a pod of the topology
  });
});

describe('lookup against a scan of the entries', () => {
  // A few sources and overlapping destination CIDRs, so most lookups have several candidates.
  const sources = [ip('10.0.0.31'), ip('10.0.1.209'), ip('172.18.0.9'), ip('255.255.255.255'), 0];
  const cidr = (addr: number, bits: number): { addr: number; bits: number; text: string } => {
    const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const a = (addr & m) >>> 0;
    return { addr: a, bits, text: `${a}/${bits}` };
  };
  /** Longest prefix among the entries of `saddr` that cover `daddr`, as the kernel answers. */
  const scan = (m: EgressPolicyMap, saddr: number, daddr: number): string => {
    let best: { bits: number; egressIp: number } | undefined;
    for (const e of m.entries()) {
      const mask = e.bits === 0 ? 0 : (0xffffffff << (32 - e.bits)) >>> 0;
      if (e.saddr === saddr && ((daddr & mask) >>> 0) === e.daddr && (!best || e.bits > best.bits)) best = e;
    }
    return best ? `${best.bits} ${best.egressIp}` : 'miss';
  };
  const answer = (m: EgressPolicyMap, saddr: number, daddr: number): string => {
    const i = m.lookup(saddr, daddr);
    if (i < 0) return 'miss';
    const e = m.entries().find((x) => x.egressIp === m.egressIp(i) && x.saddr === saddr)!;
    return `${e.bits} ${m.egressIp(i)}`;
  };

  it('gives the longest covering prefix of the source, also after entries are added and replaced', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ s: fc.nat(sources.length - 1), d: u32, bits: fc.integer({ min: 0, max: 32 }) }), { minLength: 1, maxLength: 24 }),
        fc.array(fc.record({ s: fc.nat(sources.length - 1), d: u32 }), { minLength: 1, maxLength: 40 }),
        (entries, probes) => {
          const m = new EgressPolicyMap('1.17', W1, 1024);
          // Every entry's egress IP is unique, so an answer names exactly one entry.
          entries.forEach((e, k) => {
            m.update(sources[e.s]!, cidr(e.d, e.bits), 1000 + k, 7, 'p');
            // Lookups between updates: the table compiled for them must not outlive a change.
            const p = probes[k % probes.length]!;
            expect(answer(m, sources[p.s]!, p.d >>> 0)).toBe(scan(m, sources[p.s]!, p.d >>> 0));
          });
          for (const p of probes) {
            expect(answer(m, sources[p.s]!, p.d >>> 0)).toBe(scan(m, sources[p.s]!, p.d >>> 0));
            // A covered address inside each entry's own network, too.
            const e = entries[p.s % entries.length]!;
            const inside = cidr(e.d, e.bits).addr;
            expect(answer(m, sources[e.s]!, inside)).toBe(scan(m, sources[e.s]!, inside));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
