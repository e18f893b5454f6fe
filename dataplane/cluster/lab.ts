/**
 * @module dataplane/cluster/lab
 * The built-in default: the kind lab of the seed (k8s-guide-lab.md), cluster `k8s-guide`,
 * and its CiliumEgressNATPolicy `egress-all`.
 *
 * Both are kept as the YAML a user would write (identical to `examples/lab-topology.yaml`
 * and `examples/policies/egress-all.yaml`, a test checks it) and go through the same
 * loader, so the default cannot drift from what a file would give. The comments in the
 * YAML say where each figure comes from and which are inferences:
 * - pod IPs are those the chapter's map dump decodes to (10.0.0.31, 10.0.1.209,
 *   10.0.2.14), not those of its pod listing, which came from another incarnation;
 * - the echo server's 172.18.0.7 is inferred (docker's next free address);
 * - MACs are docker's 02:42+IP; the bridge MAC (routerMac) is our choice;
 * - nonMasqueradeCIDRs is empty because the lab does not enable ip-masq-agent.
 */
import type { EgressPolicy } from './policy.ts';
import { policiesFromDocs } from './policy.ts';
import type { Topology } from './topology.ts';
import { topologyFromText } from './topology.ts';
import { parseYamlText } from './yaml-source.ts';

export const LAB_TOPOLOGY_FILE = '<built-in: k8s-guide lab>';
export const LAB_POLICY_FILE = '<built-in: egress-all>';

export const LAB_TOPOLOGY_YAML = `# The kind lab of "The Kubernetes Networking Guide", chapter Egress (Cilium 1.10.3 on kind).
# Same as the built-in default (dataplane/cluster/lab.ts); copy and edit.
# Sources and inferences: shared/design/k8s-guide-lab.md.
clusterName: k8s-guide
# Cilium 1.10 chart default IPAM: cluster-pool 10.0.0.0/8, a /24 per node.
clusterCIDR: 10.0.0.0/8
# ip-masq-agent is not enabled in the lab, so nothing besides the cluster CIDR is exempt
# from masquerade.
nonMasqueradeCIDRs: []
natPortRange: { min: 32768, max: 65535 }
tunnel: { protocol: vxlan, port: 8472 }
mapSizes: { egressPolicy: 16384, ctTcp: 524288, ctAny: 262144, nat: 524288 }
# The kind docker bridge (gateway 172.18.0.1). Its real MAC is random per host; this one
# follows docker's 02:42+IP pattern so captures are easy to read.
routerMac: 02:42:ac:12:00:01
nodes:
  # Node IPs as 'make node-ip-N' printed them in the egress run; MACs are docker's
  # (02:42 + the IP's four bytes).
  - name: k8s-guide-control-plane
    ip: 172.18.0.3
    mac: 02:42:ac:12:00:03
    podCIDR: 10.0.0.0/24
    labels:
      kubernetes.io/hostname: k8s-guide-control-plane
      kubernetes.io/os: linux
      node-role.kubernetes.io/control-plane: ""
  - name: k8s-guide-worker
    ip: 172.18.0.5
    mac: 02:42:ac:12:00:05
    podCIDR: 10.0.1.0/24
    labels:
      kubernetes.io/hostname: k8s-guide-worker
      kubernetes.io/os: linux
  - name: k8s-guide-worker2
    ip: 172.18.0.6
    mac: 02:42:ac:12:00:06
    podCIDR: 10.0.2.0/24
    labels:
      kubernetes.io/hostname: k8s-guide-worker2
      kubernetes.io/os: linux
endpoints:
  # The net-tshoot DaemonSet, one pod per node. The IPs are the ones the chapter's
  # 'bpftool map dump' decodes to (10.0.0.31, 10.0.1.209, 10.0.2.14), not the ones in its
  # 'get pod -owide' listing (10.0.0.174, 10.0.1.42, 10.0.2.86): the dump came from another
  # incarnation of the pods, and the dump is what the model must reproduce byte for byte.
  - name: net-tshoot-5ngbc
    namespace: default
    labels: { name: net-tshoot }
    ip: 10.0.0.31
    node: k8s-guide-control-plane
  - name: net-tshoot-pcgf8
    namespace: default
    labels: { name: net-tshoot }
    ip: 10.0.1.209
    node: k8s-guide-worker
  - name: net-tshoot-gcj27
    namespace: default
    labels: { name: net-tshoot }
    ip: 10.0.2.14
    node: k8s-guide-worker2
externalHosts:
  # mpolden/echoip started by 'make egress-prep' as a plain docker container on the kind
  # network, listening on TCP 80. The guide never shows its IP: docker gives the next free
  # address, and with the nodes on .3/.5/.6 that is most likely 172.18.0.7 (inference).
  - name: echo
    ip: 172.18.0.7
    mac: 02:42:ac:12:00:07
    ports: [80]
    behaviour: echo
`;

export const LAB_POLICY_YAML = `# The lab's policy (k8s-guide-lab.md §2), as 'make egress-setup' leaves it after the Flux
# substitution: every pod of namespace 'default' leaves as the control-plane node's IP.
# Cilium 1.10 semantics: egressSourceIP is both the SNAT address and the tunnel endpoint,
# so it must be an IP of the gateway node.
apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata:
  name: egress-all
  # Ignored: the CRD is cluster-scoped.
  namespace: default
spec:
  egress:
  - podSelector:
      matchLabels:
        # Not a namespaceSelector: the lab selects the namespace through the label Cilium
        # puts on every pod's identity.
        io.kubernetes.pod.namespace: default
  destinationCIDRs:
  - 172.18.0.0/16
  egressSourceIP: "172.18.0.3"
`;

/** The seed's lab: 3 kind nodes, one net-tshoot pod each, the echo server. */
export function labTopology(): Topology {
  return topologyFromText(LAB_TOPOLOGY_FILE, LAB_TOPOLOGY_YAML);
}

/** The lab's policy: egress-all, CENP, 172.18.0.0/16 -> 172.18.0.3. */
export function labPolicy(): EgressPolicy[] {
  return policiesFromDocs(parseYamlText(LAB_POLICY_FILE, LAB_POLICY_YAML));
}
