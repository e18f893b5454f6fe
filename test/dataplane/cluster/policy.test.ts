import { describe, expect, it } from 'vitest';
import { matchesSelector } from '../../../dataplane/cluster/labels.ts';
import { labTopology, loadTopology } from '../../../dataplane/cluster/topology.ts';
import {
  labPolicy, loadPolicies, policiesSelectingNothing, profileForPolicies, selectedEndpoints,
} from '../../../dataplane/cluster/policy.ts';
import { expectConfigError, tempYaml } from './helpers.ts';

const examples = new URL('../../../examples/policies/', import.meta.url);
const topo = labTopology();

describe('labPolicy', () => {
  it('is egress-all: CENP, 172.18.0.0/16 -> 172.18.0.3, selecting the 3 pods', () => {
    const [p, ...rest] = labPolicy();
    expect(rest).toEqual([]);
    expect(p!.name).toBe('egress-all');
    expect(p!.kind).toBe('CiliumEgressNATPolicy');
    expect(p!.destinationCidrs.map((c) => c.text)).toEqual(['172.18.0.0/16']);
    expect(p!.egressSourceIp).toBe(0xac120003);
    expect(p!.excludedCidrs).toEqual([]);
    expect(selectedEndpoints(topo, p!).map((e) => e.ipText)).toEqual(['10.0.0.31', '10.0.1.209', '10.0.2.14']);
    expect(profileForPolicies([p!])).toBe('1.10');
  });
  it('equals examples/policies/egress-all.yaml (except file)', () => {
    const fromFile = loadPolicies(new URL('egress-all.yaml', examples).pathname);
    expect(fromFile.map((p) => ({ ...p, file: '' }))).toEqual(labPolicy().map((p) => ({ ...p, file: '' })));
  });
});

describe('example CEGPs', () => {
  it('excludedCIDRs example parses and selects the pods', () => {
    const [p] = loadPolicies(new URL('cegp-excluded.yaml', examples).pathname);
    expect(p!.kind).toBe('CiliumEgressGatewayPolicy');
    expect(p!.excludedCidrs.map((c) => c.text)).toEqual(['172.18.0.7/32']);
    expect(p!.gateway!.egressIp).toBe(0xac120003);
    expect(p!.gateway!.nodeSelector.matchExpressions).toEqual([{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', values: [] }]);
    expect(selectedEndpoints(topo, p!)).toHaveLength(3);
    expect(profileForPolicies([...labPolicy(), p!])).toBe('1.17');
  });
  it('no-gateway example parses', () => {
    const [p] = loadPolicies(new URL('cegp-no-gateway.yaml', examples).pathname);
    expect(p!.gateway!.nodeSelector.matchLabels).toEqual({ 'egress-gateway': 'true' });
    expect(p!.gateway!.egressIp).toBeUndefined();
  });
});

describe('selectors', () => {
  it('matchExpressions In, NotIn, Exists, DoesNotExist', () => {
    const labels = { app: 'web', tier: 'front' };
    const sel = (op: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', key: string, values: string[] = []) => ({
      matchLabels: {}, matchExpressions: [{ key, operator: op, values }],
    });
    expect(matchesSelector(sel('In', 'app', ['web', 'db']), labels)).toBe(true);
    expect(matchesSelector(sel('In', 'app', ['db']), labels)).toBe(false);
    expect(matchesSelector(sel('In', 'nope', ['web']), labels)).toBe(false);
    expect(matchesSelector(sel('NotIn', 'app', ['db']), labels)).toBe(true);
    expect(matchesSelector(sel('NotIn', 'app', ['web']), labels)).toBe(false);
    expect(matchesSelector(sel('NotIn', 'nope', ['web']), labels)).toBe(true);
    expect(matchesSelector(sel('Exists', 'tier'), labels)).toBe(true);
    expect(matchesSelector(sel('Exists', 'nope'), labels)).toBe(false);
    expect(matchesSelector(sel('DoesNotExist', 'nope'), labels)).toBe(true);
    expect(matchesSelector(sel('DoesNotExist', 'app'), labels)).toBe(false);
    expect(matchesSelector({ matchLabels: {}, matchExpressions: [] }, labels)).toBe(true);
  });

  it('podSelector, namespaceSelector and nodeSelector as kubectl prints a CEGP', () => {
    const t = loadTopology(tempYaml(`
namespaces:
  - { name: prod, labels: { env: prod } }
nodes:
  - { name: a, ip: 172.18.0.3, podCIDR: 10.0.0.0/24, labels: { zone: z1 } }
  - { name: b, ip: 172.18.0.5, podCIDR: 10.0.1.0/24, labels: { zone: z2 } }
endpoints:
  - { name: p1, namespace: prod, ip: 10.0.0.10, node: a, labels: { app: web } }
  - { name: p2, namespace: prod, ip: 10.0.1.10, node: b, labels: { app: web } }
  - { name: p3, namespace: dev, ip: 10.0.1.11, node: b, labels: { app: web } }
  - { name: p4, namespace: prod, ip: 10.0.1.12, node: b, labels: { app: db } }
`));
    const f = tempYaml(`apiVersion: cilium.io/v2
kind: CiliumEgressGatewayPolicy
metadata:
  creationTimestamp: "2025-01-15T10:00:00Z"
  generation: 1
  name: web-z2
  resourceVersion: "12345"
  uid: 0b7f9d1e-1111-2222-3333-444455556666
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{}'
spec:
  selectors:
  - podSelector:
      matchExpressions:
      - key: app
        operator: In
        values: [web, api]
    namespaceSelector:
      matchLabels:
        env: prod
    nodeSelector:
      matchLabels:
        zone: z2
  destinationCIDRs: [0.0.0.0/0]
  egressGateway:
    nodeSelector:
      matchLabels: { zone: z1 }
    interface: eth0
status:
  groupStatuses: []
`);
    const [p] = loadPolicies(f);
    expect(p!.gateway).toEqual({ nodeSelector: { matchLabels: { zone: 'z1' }, matchExpressions: [] }, interface: 'eth0' });
    expect(selectedEndpoints(t, p!).map((e) => e.name)).toEqual(['p2']);
    expect(p!.line).toBe(1);
  });

  it('namespaceSelector defaults to kubernetes.io/metadata.name', () => {
    const f = tempYaml(`apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata: { name: ns }
spec:
  egress:
  - namespaceSelector:
      matchLabels: { kubernetes.io/metadata.name: default }
  destinationCIDRs: [172.18.0.0/16]
  egressSourceIP: 172.18.0.3
`);
    expect(selectedEndpoints(topo, loadPolicies(f)[0]!)).toHaveLength(3);
  });
});

describe('files', () => {
  const cenp = (name: string, ns: string): string => `apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata:
  name: ${name}
spec:
  egress:
  - podSelector:
      matchLabels:
        io.kubernetes.pod.namespace: ${ns}
  destinationCIDRs:
  - 172.18.0.0/16
  egressSourceIP: 172.18.0.3
`;
  it('multi-document files', () => {
    const f = tempYaml(`---\n${cenp('a', 'default')}---\n${cenp('b', 'default')}---\n`);
    const ps = loadPolicies(f);
    expect(ps.map((p) => [p.name, p.line])).toEqual([['a', 2], ['b', 15]]);
  });
  it('kind: List with items, as kubectl get -o yaml prints several objects', () => {
    const indent = (s: string): string => s.trimEnd().split('\n').map((l, i) => (i === 0 ? `- ${l}` : `  ${l}`)).join('\n');
    const f = tempYaml(`apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
${indent(cenp('a', 'default'))}
${indent(cenp('b', 'kube-system'))}
`);
    const ps = loadPolicies(f);
    expect(ps.map((p) => [p.name, p.line])).toEqual([['a', 6], ['b', 18]]);
    expect(policiesSelectingNothing(topo, ps)).toEqual(['b']);
  });
  it('reports a policy that selects nothing', () => {
    const f = tempYaml(cenp('typo', 'defualt'));
    expect(policiesSelectingNothing(topo, [...labPolicy(), ...loadPolicies(f)])).toEqual(['typo']);
    expect(policiesSelectingNothing(topo, labPolicy())).toEqual([]);
  });
  it('an empty file has no policies', () => {
    expect(loadPolicies(tempYaml('# nothing\n'))).toEqual([]);
  });
});

describe('invalid policies name file, line and field', () => {
  const cegp = `apiVersion: cilium.io/v2
kind: CiliumEgressGatewayPolicy
metadata:
  name: p
spec:
  selectors:
  - podSelector:
      matchLabels:
        app: web
  destinationCIDRs:
  - 0.0.0.0/0
  egressGateway:
    nodeSelector:
      matchLabels:
        egress: "true"
    egressIP: 172.18.0.100
`;
  const cenp = `apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata:
  name: egress-all
spec:
  egress:
  - podSelector:
      matchLabels:
        io.kubernetes.pod.namespace: default
  destinationCIDRs:
  - 172.18.0.0/16
  egressSourceIP: "172.18.0.3"
`;
  const cases: [string, string, number, string, RegExp][] = [
    ['both interface and egressIP', cegp + '    interface: eth1\n', 16, 'spec.egressGateway.egressIP', /mutually exclusive/],
    ['a rule with neither selector', cegp.replace('  - podSelector:\n      matchLabels:\n        app: web\n', '  - nodeSelector:\n      matchLabels:\n        a: b\n'), 7, 'spec.selectors[0]', /podSelector or a namespaceSelector/],
    ['missing destinationCIDRs', cegp.replace('  destinationCIDRs:\n  - 0.0.0.0/0\n', ''), 5, 'spec.destinationCIDRs', /missing/],
    ['bad CIDR', cegp.replace('0.0.0.0/0', '10.0.0.300/8'), 11, 'spec.destinationCIDRs[0]', /not an IPv4 CIDR/],
    ['CIDR without prefix', cegp.replace('0.0.0.0/0', '10.0.0.0'), 11, 'spec.destinationCIDRs[0]', /missing \/prefix/],
    ['bad egressIP', cegp.replace('172.18.0.100', '172.18.0'), 16, 'spec.egressGateway.egressIP', /not an IPv4 address/],
    ['missing gateway nodeSelector', cegp.replace('    nodeSelector:\n      matchLabels:\n        egress: "true"\n', ''), 12, 'spec.egressGateway.nodeSelector', /missing/],
    ['bad operator', cegp.replace('      matchLabels:\n        app: web\n', '      matchExpressions:\n      - key: app\n        operator: Equals\n        values: [web]\n'), 10, 'spec.selectors[0].podSelector.matchExpressions[0].operator', /unknown operator 'Equals'/],
    ['In without values', cegp.replace('      matchLabels:\n        app: web\n', '      matchExpressions:\n      - key: app\n        operator: In\n'), 9, 'spec.selectors[0].podSelector.matchExpressions[0].values', /non-empty values/],
    ['unknown spec field', cegp + '  egressGateways: []\n', 17, 'spec.egressGateways', /did you mean 'egressGateway/],
    ['v1.10 example spelling destinationCidrs', cenp.replace('destinationCIDRs', 'destinationCidrs'), 10, 'spec.destinationCidrs', /did you mean 'destinationCIDRs'/],
    ['v1.10 example spelling egressSourceIp', cenp.replace('egressSourceIP', 'egressSourceIp'), 12, 'spec.egressSourceIp', /did you mean 'egressSourceIP'/],
    ['CENP missing egressSourceIP', cenp.replace('  egressSourceIP: "172.18.0.3"\n', ''), 5, 'spec.egressSourceIP', /missing/],
    ['CENP with CEGP field', cenp.replace('  egress:', '  selectors:'), 6, 'spec.selectors', /did you mean 'egress/],
    ['wrong apiVersion', cenp.replace('cilium.io/v2alpha1', 'cilium.io/v2'), 1, 'apiVersion', /served as cilium.io\/v2alpha1/],
    ['unknown kind', cenp.replace('CiliumEgressNATPolicy', 'CiliumNetworkPolicy'), 2, 'kind', /expected CiliumEgressNATPolicy or CiliumEgressGatewayPolicy/],
    ['a ConfigMap among the policies: the kind, not its fields', `${cenp}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n`, 15, 'kind', /expected CiliumEgressNATPolicy or CiliumEgressGatewayPolicy, got 'ConfigMap'/],
    ['missing name', cenp.replace('  name: egress-all\n', '  labels: {}\n'), 3, 'metadata.name', /non-empty string/],
    ['empty egress list', cenp.replace(/  egress:\n[\s\S]*?  destinationCIDRs/, '  egress: []\n  destinationCIDRs'), 6, 'spec.egress', /at least one rule/],
    ['numeric label value', cenp.replace('io.kubernetes.pod.namespace: default', 'version: 2'), 9, 'spec.egress[0].podSelector.matchLabels.version', /quote/],
    ['duplicate name', `${cenp}---\n${cenp}`, 17, 'metadata.name', /duplicate policy name 'egress-all'/],
  ];
  for (const [name, text, line, field, reason] of cases) {
    it(name, () => {
      const f = tempYaml(text);
      expectConfigError(() => loadPolicies(f), f, line, field, reason);
    });
  }
  it('errors inside a kind: List name the item', () => {
    const f = tempYaml(`apiVersion: v1
kind: List
items:
- apiVersion: cilium.io/v2alpha1
  kind: CiliumEgressNATPolicy
  metadata:
    name: x
  spec:
    egress:
    - podSelector: {}
    destinationCIDRs: [172.18.0.0/33]
    egressSourceIP: 172.18.0.3
`);
    expectConfigError(() => loadPolicies(f), f, 11, 'items[0].spec.destinationCIDRs[0]', /prefix length/);
  });

  it('rejects an object name the API server would not admit (control characters, upper case)', () => {
    for (const name of ['"evil\\e[2J\\a"', 'Egress-All']) {
      const f = tempYaml(`apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata:
  name: ${name}
spec:
  egress:
  - podSelector: {}
  destinationCIDRs: [172.18.0.0/16]
  egressSourceIP: 172.18.0.3
`);
      expectConfigError(() => loadPolicies(f), f, 4, 'metadata.name', /not a valid object name/);
    }
  });
});
