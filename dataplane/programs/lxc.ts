/**
 * @module dataplane/programs/lxc
 * `bpf_lxc.c`: the programs on a pod's host-side veth.
 *
 * - `fromContainer` (`cil_from_container` → `handle_ipv4_from_lxc`), cilium-datapath.md §3:
 *   fragments, CT lookup/create (CT_EGRESS), ipcache lookup of the destination, local
 *   delivery, then (profile 1.10 only) the egress-gateway lookup in `cilium_egress_v4` and
 *   `encap_and_redirect_lxc` to the gateway, then the tunnel to a remote pod's node, else
 *   the stack. 1.10 has no reply and no in-cluster skip, and encapsulates even when the
 *   gateway is this node. In 1.17 the EGW decision is in to-netdev (host.ts).
 * - `toContainer` (the endpoint's policy program after `ipv4_local_delivery`): CT lookup
 *   CT_INGRESS, where a reply of the pod's own connection matches as CT_REPLY.
 */

import { IDENTITY_WORLD } from '../cluster/identity.ts';
import { ipToString } from '../packet/addr.ts';
import { CT_EGRESS, CT_INGRESS, CT_NEW, CT_REOPENED, CT_REPLY, CT_RELATED } from '../lib/conntrack.ts';
import {
  CTX_ACT_OK,
  CTX_ACT_REDIRECT,
  DROP_FRAG_NOSUPPORT,
  DROP_INVALID,
  DROP_INVALID_SIP,
} from '../lib/drop.ts';
import { EGRESS_GATEWAY_EXCLUDED_CIDR, EGRESS_GATEWAY_NO_GATEWAY } from '../lib/egress-gateway.ts';
import type { Env, EndpointState, NodeState, Skb } from '../node.ts';
import { IPC_ENDPOINT, IPC_NODE, IPC_POD_CIDR, NEXT_LXC, NEXT_STACK, NEXT_TUNNEL } from '../node.ts';

const ICMP_ECHOREPLY = 0;
const ICMP_ECHO = 8;

/**
 * CT ports of the packet in the view, in packet orientation: TCP/UDP ports; ICMP echo →
 * (id, 0), echo reply → (0, id); anything else 0/0. Returned packed as `sport << 16 | dport`
 * so the caller needs no object.
 *
 * Why echo is (id, 0): Cilium loads a TCP/UDP packet's sport into `tuple->dport` and sets
 * `tuple->dport = id` for ECHO, so the identifier sits in the packet-sport slot. That is
 * also where the NAT tuple has it, which is what lets CT GC find a flow's NAT pair by
 * swapping the addresses only (DeleteMapping4).
 */
export function ctPorts(skb: Skb): number {
  const v = skb.view;
  if (v.proto === 6 || v.proto === 17) return ((v.sport << 16) | v.dport) >>> 0;
  if (v.proto === 1) {
    if (v.icmpType === ICMP_ECHO) return (v.sport << 16) >>> 0;
    if (v.icmpType === ICMP_ECHOREPLY) return v.sport & 0xffff;
  }
  return 0;
}

/** Human tuple of the current packet (observer path only). */
export function tupleText(skb: Skb): string {
  const v = skb.view;
  const p = v.proto === 6 ? 'TCP' : v.proto === 17 ? 'UDP' : v.proto === 1 ? 'ICMP' : `proto ${v.proto}`;
  if (v.proto === 6 || v.proto === 17) return `${ipToString(v.saddr)}:${v.sport} -> ${ipToString(v.daddr)}:${v.dport} ${p}`;
  if (v.proto === 1) return `${ipToString(v.saddr)} -> ${ipToString(v.daddr)} ICMP type ${v.icmpType} id ${v.sport}`;
  return `${ipToString(v.saddr)} -> ${ipToString(v.daddr)} ${p}`;
}

const CT_NAMES = ['NEW', 'ESTABLISHED', 'REPLY', 'RELATED', 'REOPENED'];
export function ctName(ct: number): string {
  return CT_NAMES[ct] ?? String(ct);
}

/**
 * `ipv4_local_delivery`: `ipv4_l3` (TTL-1, MACs: lxc → pod), then the endpoint's policy
 * program. The redirect target is left in the context for the engine.
 */
export function ipv4LocalDelivery(skb: Skb, ep: EndpointState): number {
  if (skb.jd) skb.jd.fn('ipv4_local_delivery');
  if (!skb.view.decTtl()) return DROP_INVALID;
  skb.setMacs(ep.mac, ep.lxcMac);
  skb.redirectEp = ep;
  skb.next = NEXT_LXC;
  if (skb.jr) skb.jr.note(`local delivery to ${ep.spec.namespace}/${ep.spec.name} (TTL ${skb.view.ttl})`);
  return CTX_ACT_REDIRECT;
}

/** `cil_from_container` → `handle_ipv4_from_lxc`. */
export function fromContainer(env: Env, node: NodeState, ep: EndpointState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (jd) jd.fn('handle_ipv4_from_lxc');
  skb.srcIdentity = ep.identity;
  // Non-first fragments carry no ports; without the fragment map Cilium cannot track them.
  if (v.l4Off < 0) return DROP_FRAG_NOSUPPORT;
  if (v.saddr !== ep.ip) return DROP_INVALID_SIP;

  const ports = ctPorts(skb);
  const sport = ports >>> 16;
  const dport = ports & 0xffff;
  const len = v.totalLen;
  if (jd) jd.fn('ct_lookup4');
  let ct = node.ct.lookup4(v.proto, v.saddr, v.daddr, sport, dport, CT_EGRESS, v.tcpFlags, len, skb.now);
  // Recorded as ct_lookup4 returned it, under that function (REOPENED stays visible).
  if (jd) jd.lookup('cilium_ct4_global', tupleText(skb), ctName(ct));
  if (ct === CT_NEW || ct === CT_REOPENED) {
    if (jd) jd.fn('ct_create4');
    const r = node.ct.create4(v.proto, v.saddr, v.daddr, sport, dport, CT_EGRESS, v.tcpFlags, len, skb.now, ep.identity);
    if (r < 0) return r;
    ct = CT_NEW;
  }
  skb.ctState = ct;
  skb.isReply = ct === CT_REPLY;

  const dst = env.ipcache(v.daddr);
  if (jd) {
    jd.fn('lookup_ip4_remote_endpoint');
    jd.lookup('cilium_ipcache', ipToString(v.daddr), `identity ${dst.identity}${dst.node ? ` tunnelendpoint ${ipToString(dst.node.ip)}` : ''}`);
  }

  // Local delivery comes before the egress gateway (bpf_lxc.c order).
  if (dst.kind === IPC_ENDPOINT && dst.node === node && dst.ep) {
    return ipv4LocalDelivery(skb, dst.ep);
  }

  if (env.profile === '1.10') {
    if (jd) jd.fn('lookup_ip4_egress_endpoint');
    const i = node.egress.lookup(v.saddr, v.daddr);
    if (jd) {
      jd.lookup(
        node.egress.name,
        `${ipToString(v.saddr)} -> ${ipToString(v.daddr)}`,
        i < 0 ? 'miss' : `${node.egress.cidrText(i)} egress ${ipToString(node.egress.egressIp(i))} tunnel ${ipToString(node.egress.gatewayIp(i))}`,
      );
    }
    if (i >= 0) {
      const gw = node.egress.gatewayIp(i);
      // 1.10 has no special gateway values and compileEgressPolicyMap never writes them for
      // 1.10; the guard only keeps a hand-built map from tunnelling to 0.0.0.0 / 0.0.0.1
      // (it then takes the path without EGW, a model choice, not 1.10 behaviour).
      if (gw !== EGRESS_GATEWAY_NO_GATEWAY && gw !== EGRESS_GATEWAY_EXCLUDED_CIDR) {
        countPolicy(node, i, ct, len, 0);
        skb.policyIdx = i;
        if (jd) {
          jd.policy = node.egress.policyName(i);
          jd.fn('encap_and_redirect_lxc');
        }
        if (jr) {
          jr.note(
            `${node.egress.policyName(i)}: ${ipToString(v.saddr)} -> ${ipToString(v.daddr)} matches ${node.egress.cidrText(i)}, ` +
              `via gateway ${ipToString(gw)} (VNI ${ep.identity})${gw === node.ip ? ', encapsulated to this node itself' : ''}`,
          );
        }
        skb.tunnelEndpoint = gw;
        skb.vni = ep.identity;
        skb.next = NEXT_TUNNEL;
        return CTX_ACT_REDIRECT;
      }
    }
  }

  // Tunnel to the node owning the destination (remote pod, its pod CIDR, or the node itself).
  if ((dst.kind === IPC_ENDPOINT || dst.kind === IPC_POD_CIDR || dst.kind === IPC_NODE) && dst.node !== null && dst.node !== node) {
    if (jd) jd.fn('encap_and_redirect_lxc');
    if (jr) {
      jr.note(`to ${ipToString(v.daddr)} via tunnel to ${dst.node.name} ${ipToString(dst.node.ip)} (VNI ${ep.identity})`);
    }
    skb.tunnelEndpoint = dst.node.ip;
    skb.vni = ep.identity;
    skb.next = NEXT_TUNNEL;
    return CTX_ACT_REDIRECT;
  }

  if (jr) jr.note(`to stack (${ctName(ct)})`);
  skb.next = NEXT_STACK;
  return CTX_ACT_OK;
}

/** Counts one packet (and a flow on CT_NEW) for egress map entry `i` on `node`. kind: 0 hit, 1 excluded, 2 no-gateway. */
export function countPolicy(node: NodeState, i: number, ct: number, bytes: number, kind: number): void {
  if (i * 3 + 2 >= node.policyHits.length) return;
  if (ct === CT_NEW) node.policyHits[i * 3]! += 1;
  node.policyHits[i * 3 + 1]! += 1;
  node.policyHits[i * 3 + 2]! += bytes;
  node.policyKind[i] = kind;
}

/** The endpoint's ingress side after local delivery: CT_INGRESS lookup (replies match as CT_REPLY). */
export function toContainer(env: Env, node: NodeState, ep: EndpointState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (jd) jd.fn('tail_ipv4_policy');
  if (v.l4Off < 0) return DROP_FRAG_NOSUPPORT;
  const ports = ctPorts(skb);
  const sport = ports >>> 16;
  const dport = ports & 0xffff;
  let ct = node.ct.lookup4(v.proto, v.saddr, v.daddr, sport, dport, CT_INGRESS, v.tcpFlags, v.totalLen, skb.now);
  if (ct === CT_NEW || ct === CT_REOPENED) {
    const src = skb.srcIdentity !== 0 ? skb.srcIdentity : IDENTITY_WORLD;
    const r = node.ct.create4(v.proto, v.saddr, v.daddr, sport, dport, CT_INGRESS, v.tcpFlags, v.totalLen, skb.now, src);
    if (r < 0) return r;
    ct = CT_NEW;
  }
  skb.isReply = ct === CT_REPLY || ct === CT_RELATED;
  if (jd) jd.lookup('cilium_ct4_global', tupleText(skb), ctName(ct));
  if (jr) {
    jr.note(`delivered to ${ep.spec.namespace}/${ep.spec.name} (${ctName(ct)})`);
  }
  void env;
  return CTX_ACT_OK;
}
