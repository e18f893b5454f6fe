/**
 * @module dataplane/programs/overlay
 * `bpf_overlay.c`, on `cilium_vxlan` / `cilium_geneve` (cilium-datapath.md §4, §6).
 *
 * - `fromOverlay` (`cil_from_overlay` → `handle_ipv4`): the kernel has decapsulated; the
 *   source identity is the VNI (HOST is rejected with 171). 1.17 first runs
 *   `egress_gw_snat_needed_hook`: a policy match for an out-of-cluster destination either
 *   drops 204 (this node has no egress IP) or goes `ipv4_l3` (TTL-1) with EGW-done set and
 *   is redirected to the egress device (to-netdev SNATs it). Then a local endpoint gets
 *   `ipv4_local_delivery`; anything else "has to be going to the local host": `ipv4_l3`
 *   (TTL-1, MACs to cilium_host) and the stack.
 * - `toOverlay` (`cil_to_overlay`): nothing the model needs happens there (NodePort/
 *   bandwidth bits); it exists so the journey shows the program.
 */

import { IDENTITY_HOST } from '../cluster/identity.ts';
import { ipToString } from '../packet/addr.ts';
import { CTX_ACT_OK, CTX_ACT_REDIRECT, DROP_INVALID, DROP_INVALID_IDENTITY, DROP_NO_EGRESS_IP } from '../lib/drop.ts';
import { EGRESS_GATEWAY_EXCLUDED_CIDR, EGRESS_GATEWAY_NO_GATEWAY } from '../lib/egress-gateway.ts';
import type { Env, NodeState, Skb } from '../node.ts';
import { identityIsCluster, IPC_ENDPOINT, MARK_EGW_DONE, NEXT_NETDEV, NEXT_STACK } from '../node.ts';
import { ipv4LocalDelivery } from './lxc.ts';

/** `cil_from_overlay`; `skb.vni` holds the tunnel key's id. */
export function fromOverlay(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (jd) jd.fn('handle_ipv4');
  if (skb.vni === IDENTITY_HOST) return DROP_INVALID_IDENTITY;
  skb.srcIdentity = skb.vni;
  const dst = env.ipcache(v.daddr);

  if (env.profile === '1.17' && !identityIsCluster(dst.identity)) {
    if (jd) jd.fn('egress_gw_snat_needed_hook');
    const i = node.egress.lookup(v.saddr, v.daddr);
    if (jd) {
      jd.lookup(
        node.egress.name,
        `${ipToString(v.saddr)} -> ${ipToString(v.daddr)}`,
        i < 0 ? 'miss' : `${node.egress.cidrText(i)} egress ${ipToString(node.egress.egressIp(i))} gateway ${ipToString(node.egress.gatewayIp(i))}`,
      );
    }
    if (i >= 0) {
      const gw = node.egress.gatewayIp(i);
      if (gw !== EGRESS_GATEWAY_NO_GATEWAY && gw !== EGRESS_GATEWAY_EXCLUDED_CIDR) {
        if (node.egress.egressIp(i) === 0) return DROP_NO_EGRESS_IP;
        if (jd) {
          jd.policy = node.egress.policyName(i);
          jd.fn('ipv4_l3');
          jd.fn('egress_gw_fib_lookup_and_redirect');
        }
        if (!v.decTtl()) return DROP_INVALID;
        skb.mark |= MARK_EGW_DONE;
        skb.policyIdx = i;
        skb.next = NEXT_NETDEV;
        if (jr) jr.note(`${node.egress.policyName(i)}: gateway for ${ipToString(v.saddr)}, redirect to eth0 (TTL ${v.ttl})`);
        return CTX_ACT_REDIRECT;
      }
    }
  }

  if (dst.kind === IPC_ENDPOINT && dst.node === node && dst.ep) {
    return ipv4LocalDelivery(skb, dst.ep);
  }

  // "A packet entering the node from the tunnel and not going to a local endpoint has to
  // be going to the local host": ipv4_l3 towards cilium_host, then the kernel.
  if (jd) jd.fn('ipv4_l3');
  if (!v.decTtl()) return DROP_INVALID;
  skb.setMacs(node.hostMac, node.mac);
  skb.next = NEXT_STACK;
  if (jr) jr.note(`not a local endpoint: to the host stack (TTL ${v.ttl})`);
  return CTX_ACT_OK;
}

/** `cil_to_overlay`: passes the packet to the tunnel device. */
export function toOverlay(env: Env, node: NodeState, skb: Skb): number {
  if (skb.jd) skb.jd.fn('cil_to_overlay');
  void env;
  void node;
  return CTX_ACT_OK;
}
