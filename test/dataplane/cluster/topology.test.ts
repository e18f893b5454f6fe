import { describe, expect, it } from 'vitest';
import { IDENTITY_HOST, IDENTITY_REMOTE_NODE, IDENTITY_WORLD, allocateIdentities, dockerMac, lxcIfName } from '../../../dataplane/cluster/identity.ts';
import { contains, ipv4Text, parseCidr, tryParseIpv4 } from '../../../dataplane/cluster/cidr.ts';
import { labTopology, loadTopology, namespaceLabels } from '../../../dataplane/cluster/topology.ts';
import { expectConfigError, tempYaml } from './helpers.ts';

const examples = new URL('../../../examples/', import.meta.url);

describe('cidr', () => {
  it('parses strictly and masks host bits like Go ParseCIDR', () => {
    expect(tryParseIpv4('172.18.0.3')).toBe(0xac120003);
    for (const bad of ['172.18.0', '172.18.0.256', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d', '']) expect(tryParseIpv4(bad)).toBe(-1);
    const c = parseCidr('172.18.0.3/16');
    expect(c).toEqual({ addr: 0xac120000, bits: 16, text: '172.18.0.0/16' });
    expect(contains(c, 0xac12ffff)).toBe(true);
    expect(contains(c, 0xac130000)).toBe(false);
    expect(parseCidr('0.0.0.0/0').text).toBe('0.0.0.0/0');
    expect(contains(parseCidr('0.0.0.0/0'), 0xffffffff)).toBe(true);
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => parseCidr('fd00::/64')).toThrow(/IPv6/);
    expect(ipv4Text(0x0a0001d1)).toBe('10.0.1.209');
  });
});

describe('identities and names', () => {
  it('allocates per distinct label set from 256, deterministically', () => {
    const ids = allocateIdentities([{ app: 'b' }, { app: 'a' }, { app: 'b' }, { app: 'a', tier: 'x' }]);
    expect(ids).toEqual([258, 256, 258, 257]);
    expect([IDENTITY_HOST, IDENTITY_WORLD, IDENTITY_REMOTE_NODE]).toEqual([1, 2, 6]);
  });
  it('names veths lxc + 11 hex chars, stable per endpoint', () => {
    const a = lxcIfName('default', 'net-tshoot-5ngbc');
    expect(a).toMatch(/^lxc[0-9a-f]{11}$/);
    expect(lxcIfName('default', 'net-tshoot-5ngbc')).toBe(a);
    expect(lxcIfName('default', 'net-tshoot-pcgf8')).not.toBe(a);
    expect(dockerMac(0xac120003)).toBe('02:42:ac:12:00:03');
  });
});

describe('labTopology', () => {
  const t = labTopology();
  it('has the seed lab figures', () => {
    expect(t.clusterName).toBe('k8s-guide');
    expect(t.nodes.map((n) => [n.name, n.ipText, n.podCidr.text, n.mac])).toEqual([
      ['k8s-guide-control-plane', '172.18.0.3', '10.0.0.0/24', '02:42:ac:12:00:03'],
      ['k8s-guide-worker', '172.18.0.5', '10.0.1.0/24', '02:42:ac:12:00:05'],
      ['k8s-guide-worker2', '172.18.0.6', '10.0.2.0/24', '02:42:ac:12:00:06'],
    ]);
    expect(t.nodes[0]!.labels['node-role.kubernetes.io/control-plane']).toBe('');
    expect(t.nodes.every((n) => n.labels['kubernetes.io/hostname'] === n.name && n.identity === 6)).toBe(true);
    expect(t.endpoints.map((e) => [e.name, e.ipText, e.node])).toEqual([
      ['net-tshoot-5ngbc', '10.0.0.31', 'k8s-guide-control-plane'],
      ['net-tshoot-pcgf8', '10.0.1.209', 'k8s-guide-worker'],
      ['net-tshoot-gcj27', '10.0.2.14', 'k8s-guide-worker2'],
    ]);
    for (const e of t.endpoints) {
      expect(e.labels).toEqual({ name: 'net-tshoot', 'io.kubernetes.pod.namespace': 'default' });
      expect(e.identity).toBe(256); // one DaemonSet, one label set, one identity
      expect(e.ifName).toMatch(/^lxc[0-9a-f]{11}$/);
    }
    expect(t.externalHosts).toEqual([{ name: 'echo', ip: 0xac120007, ipText: '172.18.0.7', mac: '02:42:ac:12:00:07', ports: [80], behaviour: 'echo' }]);
    expect(t.clusterCidrs.map((c) => c.text)).toEqual(['10.0.0.0/8']);
    expect(t.nonMasqueradeCidrs).toEqual([]);
    expect([t.natPortMin, t.natPortMax]).toEqual([32768, 65535]);
    expect(t.tunnel).toEqual({ protocol: 'vxlan', port: 8472 });
    expect(t.mapSizes).toEqual({ egressPolicy: 16384, ctTcp: 524288, ctAny: 262144, nat: 524288 });
    expect(namespaceLabels(t, 'default')).toEqual({ 'kubernetes.io/metadata.name': 'default' });
  });
  it('equals examples/lab-topology.yaml loaded from disk (except file)', () => {
    const path = new URL('lab-topology.yaml', examples).pathname;
    const fromFile = loadTopology(path);
    expect(fromFile.file).toBe(path);
    expect({ ...fromFile, file: '' }).toEqual({ ...t, file: '' });
  });
});

describe('loadTopology defaults and options', () => {
  it('applies defaults and geneve port', () => {
    const f = tempYaml(`
tunnel: { protocol: geneve }
nodes:
  - { name: n1, ip: 192.168.1.10, podCIDR: 10.1.0.0/24 }
endpoints:
  - { name: p, namespace: team-a, ip: 10.1.0.5, node: n1, labels: { app: web } }
namespaces:
  - { name: team-a, labels: { env: prod } }
`);
    const t = loadTopology(f);
    expect(t.tunnel).toEqual({ protocol: 'geneve', port: 6081 });
    expect(t.clusterCidrs[0]!.text).toBe('10.0.0.0/8');
    expect(t.nodes[0]!.mac).toBe('02:42:c0:a8:01:0a');
    expect(t.nodes[0]!.labels).toEqual({ 'kubernetes.io/hostname': 'n1' });
    expect(t.endpoints[0]!.labels).toEqual({ app: 'web', 'io.kubernetes.pod.namespace': 'team-a' });
    expect(t.endpoints[0]!.mac).toMatch(/^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
    expect(namespaceLabels(t, 'team-a')).toEqual({ env: 'prod', 'kubernetes.io/metadata.name': 'team-a' });
    expect(t.externalHosts).toEqual([]);
  });
  it('takes clusterCIDR as a list and nonMasqueradeCIDRs', () => {
    const t = loadTopology(tempYaml('clusterCIDR: [10.0.0.0/16, 10.1.0.0/16]\nnonMasqueradeCIDRs: [192.168.0.0/16]\n'));
    expect(t.clusterCidrs.map((c) => c.text)).toEqual(['10.0.0.0/16', '10.1.0.0/16']);
    expect(t.nonMasqueradeCidrs.map((c) => c.text)).toEqual(['192.168.0.0/16']);
  });
});

describe('loadTopology errors name file, line and field', () => {
  const base = `nodes:
  - name: n1
    ip: 172.18.0.3
    podCIDR: 10.0.0.0/24
  - name: n2
    ip: 172.18.0.5
    podCIDR: 10.0.1.0/24
`;
  const cases: [string, string, number, string, RegExp][] = [
    ['unknown top-level key', base + 'clusterCidr: 10.0.0.0/8\n', 8, 'clusterCidr', /did you mean 'clusterCIDR'/],
    ['unknown node key', base.replace('    podCIDR: 10.0.1.0/24\n', '    podCIDR: 10.0.1.0/24\n    zone: a\n'), 8, 'nodes[1].zone', /unknown field/],
    ['bad node ip', base.replace('172.18.0.5', '172.18.0.500'), 6, 'nodes[1].ip', /not an IPv4 address/],
    ['bad pod CIDR', base.replace('10.0.1.0/24', '10.0.1.0/40'), 7, 'nodes[1].podCIDR', /prefix length/],
    ['duplicate node name', base.replace('name: n2', 'name: n1'), 5, 'nodes[1].name', /duplicate node/],
    ['duplicate node IP', base.replace('172.18.0.5', '172.18.0.3'), 6, 'nodes[1].ip', /already used by nodes\[0\]\.ip/],
    ['overlapping pod CIDRs', base.replace('10.0.1.0/24', '10.0.0.0/16'), 7, 'nodes[1].podCIDR', /overlaps/],
    [
      'pod outside its node pod CIDR',
      base + 'endpoints:\n  - name: p\n    ip: 10.0.1.7\n    node: n1\n',
      10, 'endpoints[0].ip', /outside node n1's pod CIDR 10\.0\.0\.0\/24/,
    ],
    ['endpoint on unknown node', base + 'endpoints:\n  - { name: p, ip: 10.0.0.7, node: n9 }\n', 9, 'endpoints[0].node', /unknown node 'n9'/],
    [
      'duplicate endpoint IP',
      base + 'endpoints:\n  - { name: p, ip: 10.0.0.7, node: n1 }\n  - { name: q, ip: 10.0.0.7, node: n1 }\n',
      10, 'endpoints[1].ip', /already used/,
    ],
    ['natPortRange min > max', base + 'natPortRange:\n  min: 40000\n  max: 30000\n', 8, 'natPortRange', /min 40000 is above max 30000/],
    ['bad port', base + 'externalHosts:\n  - name: echo\n    ip: 172.18.0.7\n    ports: [80, 70000]\n', 11, 'externalHosts[0].ports[1]', /1\.\.65535/],
    ['bad behaviour', base + 'externalHosts:\n  - name: echo\n    ip: 172.18.0.7\n    behaviour: mirror\n', 11, 'externalHosts[0].behaviour', /echo or sink/],
    ['bad tunnel', base + 'tunnel:\n  protocol: gre\n', 9, 'tunnel.protocol', /vxlan or geneve/],
    ['bad mac', base + 'routerMac: 02:42:zz:00:00:01\n', 8, 'routerMac', /MAC/],
    ['largeInsnLimit not a boolean', base + 'largeInsnLimit: "no"\n', 8, 'largeInsnLimit', /expected true or false, got "no"/],
    ['number label', base.replace('    podCIDR: 10.0.0.0/24\n', '    podCIDR: 10.0.0.0/24\n    labels:\n      rack: 7\n'), 6, 'nodes[0].labels.rack', /quote/],
  ];
  for (const [name, text, line, field, reason] of cases) {
    it(name, () => {
      const f = tempYaml(text);
      expectConfigError(() => loadTopology(f), f, line, field, reason);
    });
  }
  it('YAML syntax errors carry a line', () => {
    const f = tempYaml('nodes:\n  - name: n1\n   ip: [\n');
    expect(() => loadTopology(f)).toThrow(new RegExp(`^${f.replace(/[.]/g, '\\.')}:\\d+: YAML syntax`));
  });
  it('a missing file is a ConfigError', () => {
    expect(() => loadTopology('/nonexistent/topo.yaml')).toThrow(/\/nonexistent\/topo\.yaml: cannot read/);
  });
});
