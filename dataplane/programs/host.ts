/**
 * @module dataplane/programs/host
 * `bpf_host.c`, on the native device (eth0) and on cilium_host (cilium-datapath.md §3,
 * §5, §6).
 *
 * - `toNetdev` (`cil_to_netdev`): in 1.17 the egress-gateway block first (skip HOST
 *   sources, EGW-done, replies, in-cluster destinations; NO_GATEWAY → 194; EXCLUDED →
 *   go on; local gateway → SNAT here, or 204 without an egress IP; else redirect into the
 *   tunnel). Then `handle_nat_fwd`: `snat_v4_needed` (1.10) / `snat_v4_needs_masquerade`
 *   (1.17) pick the SNAT address (EGW match first, then the masquerade rules), and
 *   `snat_v4_nat` maps the flow (NatTable) and the headers are rewritten incrementally.
 *   1.17 also translates egressing ICMP errors (DEST_UNREACH, TIME_EXCEEDED) through the
 *   quoted packet (`snat_v4_nat_handle_icmp_error`); 1.10 drops non-echo ICMP with 168.
 * - `fromNetdev` (`cil_from_netdev`): rev-SNAT for dports in the NAT range; a miss is not a
 *   drop; 1.17 rev-SNATs ICMP errors quoting an SNATed flow the same way
 *   (`snat_v4_rev_nat_handle_icmp_error`). 1.17 then runs `egress_gw_reply_needs_redirect_hook` (ipv4_l3, tunnel with VNI
 *   WORLD); a local endpoint gets local delivery; the rest goes to the stack.
 * - `fromHost` (`cil_from_host`, on cilium_host): what the kernel routed to a pod CIDR:
 *   local delivery or `encap_and_redirect_with_nodeid` to the pod's node (1.10's reply leg).
 */

import { IDENTITY_HOST, IDENTITY_LOCAL_NODE, IDENTITY_WORLD } from '../cluster/identity.ts';
import { ipToString } from '../packet/addr.ts';
import { CT_EGRESS, CT_INGRESS, CT_NEW, CT_REOPENED, CT_REPLY } from '../lib/conntrack.ts';
import {
  CTX_ACT_OK,
  CTX_ACT_REDIRECT,
  DROP_FRAG_NOSUPPORT,
  DROP_INVALID,
  DROP_NAT_UNSUPP_PROTO,
  DROP_NO_EGRESS_GATEWAY,
  DROP_NO_EGRESS_IP,
  DROP_UNKNOWN_ICMP4_CODE,
  DROP_UNROUTABLE,
  DROP_UNKNOWN_L4,
} from '../lib/drop.ts';
import { EGRESS_GATEWAY_EXCLUDED_CIDR, EGRESS_GATEWAY_NO_GATEWAY } from '../lib/egress-gateway.ts';
import type { Env, NodeState, Skb } from '../node.ts';
import {
  identityIsCluster,
  IPC_ENDPOINT,
  IPC_NODE,
  IPC_POD_CIDR,
  MARK_EGW_DONE,
  MARK_SNAT_DONE,
  NEXT_STACK,
  NEXT_TUNNEL,
} from '../node.ts';
import { countPolicy, ctName, ipv4LocalDelivery, tupleText } from './lxc.ts';
import { newIcmpInner, parseIcmpErrorInner, rewriteIcmpErrorInner } from '../packet/icmp-error.ts';

const ICMP_ECHOREPLY = 0;
const ICMP_ECHO = 8;
const ICMP_DEST_UNREACH = 3;
const ICMP_TIME_EXCEEDED = 11;
/** Highest DEST_UNREACH code (linux/icmp.h NR_ICMP_UNREACH). */
const NR_ICMP_UNREACH = 15;
/** TIME_EXCEEDED codes ICMP_EXC_TTL (0) and ICMP_EXC_FRAGTIME (1). */
const ICMP_EXC_FRAGTIME = 1;
/** Embedded-packet offsets (inner IPv4 header / inner L4 header). */
const IPV4_SADDR_OFF = 12;
const IPV4_DADDR_OFF = 16;
const TCP_SPORT_OFF = 0;
const TCP_DPORT_OFF = 2;
const ICMP_ECHO_ID_OFF = 4;

/** Scratch for the quoted packet of an ICMP error (no allocation per packet). */
const icmpInner = newIcmpInner();

/** DEST_UNREACH with a known code, or TIME_EXCEEDED for TTL / fragment reassembly. */
function icmpErrorCodeKnown(type: number, code: number): boolean {
  return type === ICMP_DEST_UNREACH ? code <= NR_ICMP_UNREACH : code <= ICMP_EXC_FRAGTIME;
}

/** SNAT decision scratch (no allocation): 0 none, else the address is in `env.target`. */
const SNAT_NONE = 0;
const SNAT_EGW = 1;
const SNAT_MASQ = 2;

/** `contains` over the cluster CIDRs (their networks are masked, as `contains` expects). */
function inClusterCidr(env: Env, addr: number): boolean {
  const nets = env.clusterNets;
  const masks = env.clusterMasks;
  const a = addr | 0;
  for (let i = 0; i < nets.length; i++) if ((a & masks[i]!) === nets[i]) return true;
  return false;
}

/**
 * The 1.17 EGW block of `cil_to_netdev` (before handle_nat_fwd). Returns CTX_ACT_OK to go
 * on to NAT, CTX_ACT_REDIRECT into the tunnel, or a drop.
 */
function egressGwToNetdev(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if ((skb.mark & MARK_EGW_DONE) !== 0 || skb.srcIdentity === IDENTITY_HOST) return CTX_ACT_OK;
  if (v.proto !== 6 && v.proto !== 17 && v.proto !== 1) return CTX_ACT_OK; // unknown to CT: skip
  if (skb.ctState === CT_REPLY) {
    if (jr) jr.note('EGW skipped: reply of an inbound connection');
    return CTX_ACT_OK;
  }
  const dst = env.ipcache(v.daddr);
  if (identityIsCluster(dst.identity)) return CTX_ACT_OK;
  if (jd) jd.fn('egress_gw_request_needs_redirect_hook');
  const i = node.egress.lookup(v.saddr, v.daddr);
  if (jd) {
    jd.fn('lookup_ip4_egress_gw_policy');
    jd.lookup(
      node.egress.name,
      `${ipToString(v.saddr)} -> ${ipToString(v.daddr)}`,
      i < 0 ? 'miss' : `${node.egress.cidrText(i)} egress ${ipToString(node.egress.egressIp(i))} gateway ${ipToString(node.egress.gatewayIp(i))}`,
    );
  }
  if (i < 0) return CTX_ACT_OK;
  const gw = node.egress.gatewayIp(i);
  const len = v.totalLen;
  if (gw === EGRESS_GATEWAY_NO_GATEWAY) {
    countPolicy(node, i, skb.ctState, len, 2);
    if (jd) jd.policy = node.egress.policyName(i);
    return DROP_NO_EGRESS_GATEWAY;
  }
  if (gw === EGRESS_GATEWAY_EXCLUDED_CIDR) {
    countPolicy(node, i, skb.ctState, len, 1);
    if (jd) jd.policy = node.egress.policyName(i);
    if (jr) {
      jr.note(`${node.egress.policyName(i)}: ${ipToString(v.daddr)} is in excluded CIDR ${node.egress.cidrText(i)}: no egress gateway`);
    }
    return CTX_ACT_OK;
  }
  countPolicy(node, i, skb.ctState, len, 0);
  skb.policyIdx = i;
  if (jd) jd.policy = node.egress.policyName(i);
  if (gw === node.ip) {
    // The gateway is this node: no tunnel, SNAT right here.
    if (node.egress.egressIp(i) === 0) return DROP_NO_EGRESS_IP;
    if (jr) jr.note(`${node.egress.policyName(i)}: this node is the gateway, SNAT locally`);
    return CTX_ACT_OK;
  }
  if (jd) jd.fn('egress_gw_fib_lookup_and_redirect');
  if (jr) {
    jr.note(
      `${node.egress.policyName(i)}: ${ipToString(v.saddr)} -> ${ipToString(v.daddr)} matches ${node.egress.cidrText(i)}, via gateway ${ipToString(gw)} (VNI ${skb.srcIdentity})`,
    );
  }
  skb.tunnelEndpoint = gw;
  skb.vni = skb.srcIdentity;
  skb.next = NEXT_TUNNEL;
  return CTX_ACT_REDIRECT;
}

/**
 * Which SNAT address, if any: `snat_v4_needed` (1.10) / `snat_v4_needs_masquerade` (1.17).
 * Fills env.target and returns SNAT_EGW / SNAT_MASQ / SNAT_NONE.
 */
function snatNeeded(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  const fromEp = node.endpointIps.get(v.saddr) >= 0;
  const t = env.target;
  t.minPort = env.natMin;
  t.maxPort = env.natMax;
  t.fromEndpoint = true;
  if (env.profile === '1.17' && fromEp && skb.ctState === CT_REPLY) {
    if (jr) jr.note('no SNAT: reply of an inbound connection');
    return SNAT_NONE;
  }
  // EGW first: it beats every exclusion below.
  const i = node.egress.lookup(v.saddr, v.daddr);
  if (i >= 0) {
    const gw = node.egress.gatewayIp(i);
    const egressIp = node.egress.egressIp(i);
    const usable =
      env.profile === '1.10' ||
      (gw !== EGRESS_GATEWAY_NO_GATEWAY && gw !== EGRESS_GATEWAY_EXCLUDED_CIDR && egressIp !== 0 && !identityIsCluster(env.ipcache(v.daddr).identity));
    if (usable && egressIp !== 0) {
      if (jd) jd.lookup(node.egress.name, `${ipToString(v.saddr)} -> ${ipToString(v.daddr)}`, `SNAT to ${ipToString(egressIp)}`);
      t.addr = egressIp;
      // main: needs_ct for EGW traffic that is not from a local endpoint (the gateway's own CT).
      t.needsCt = env.profile === '1.17' && !fromEp;
      if (skb.policyIdx < 0) skb.policyIdx = i;
      return SNAT_EGW;
    }
  }
  if (inClusterCidr(env, v.daddr)) {
    if (jr) jr.note(`no SNAT: ${ipToString(v.daddr)} is in the cluster CIDR (IPV4_SNAT_EXCLUSION_DST_CIDR)`);
    return SNAT_NONE;
  }
  if (!fromEp) {
    if (jr) jr.note('no SNAT: source is not a local endpoint');
    return SNAT_NONE;
  }
  const m = node.ipmasq.lookup(v.daddr);
  if (m >= 0) {
    if (jd) jd.lookup(node.ipmasq.name, `${ipToString(v.daddr)}/32`, node.ipmasq.cidrText(m));
    if (jr) {
      jr.note(`no SNAT: ${ipToString(v.daddr)} is in nonMasqueradeCIDR ${node.ipmasq.cidrText(m)}`);
    }
    return SNAT_NONE;
  }
  t.addr = node.ip;
  t.needsCt = false;
  return SNAT_MASQ;
}

/**
 * 1.17 `snat_v4_nat` for an egressing ICMP error (DEST_UNREACH codes 0..NR_ICMP_UNREACH,
 * TIME_EXCEEDED TTL/FRAGTIME; other codes DROP_UNKNOWN_ICMP4_CODE), then
 * `snat_v4_nat_handle_icmp_error`: the quoted packet is one the sender *received*, the
 * reverse of the flow, so the flow's original tuple is {inner daddr:dport -> inner
 * saddr:sport} (ICMP: an echo reply quoted, its id as sport, dport 0; a quoted echo request
 * is punted, other quoted ICMP types drop 143, other protocols DROP_UNKNOWN_L4). Its OUT
 * mapping rewrites the inner destination address and port (echo id) and the outer source
 * address. No mapping: the error leaves un-NATed. No new mapping, no gateway CT (the
 * error path returns before `snat_v4_nat_handle_mapping`). The SNAT target is not used:
 * the mapping's to_saddr is.
 */
function snatIcmpError(env: Env, node: NodeState, skb: Skb, kind: number): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (!icmpErrorCodeKnown(v.icmpType, v.icmpCode)) return DROP_UNKNOWN_ICMP4_CODE;
  // ICMP error packets are not supposed to be fragmented: snat_v4_nat drops ICMP fragments.
  if (v.isFragment) return DROP_INVALID;
  if (jd) jd.fn('snat_v4_nat_handle_icmp_error');
  const inner = icmpInner;
  const end = Math.min(v.l3Off + v.totalLen, v.end);
  if (parseIcmpErrorInner(v.buf, v.l4Off, end, inner) < 0) return DROP_INVALID;
  let sport: number;
  let dport: number;
  let portOff: number;
  if (inner.proto === 6 || inner.proto === 17) {
    if (inner.l4Len < 4) return DROP_INVALID;
    sport = inner.dport;
    dport = inner.sport;
    portOff = TCP_DPORT_OFF;
  } else if (inner.proto === 1) {
    if (inner.l4Len < 1) return DROP_INVALID;
    if (inner.icmpType === ICMP_ECHO) {
      if (jr) jr.note('no SNAT: ICMP error quoting an echo request (punted to the stack)');
      return CTX_ACT_OK;
    }
    if (inner.icmpType !== ICMP_ECHOREPLY) return DROP_UNKNOWN_ICMP4_CODE;
    if (inner.l4Len < 6) return DROP_INVALID;
    sport = inner.echoId;
    dport = 0;
    portOff = ICMP_ECHO_ID_OFF;
  } else {
    return DROP_UNKNOWN_L4;
  }
  const res = env.snat;
  const found = node.nat.snatV4LookupOut(inner.proto, inner.daddr, inner.saddr, sport, dport, res);
  if (jd) {
    jd.lookup(
      'cilium_snat_v4_external',
      `OUT ${ipToString(inner.daddr)}:${sport} -> ${ipToString(inner.saddr)}:${dport} (quoted in ICMP ${v.icmpType}/${v.icmpCode})`,
      found ? `XLATE_SRC ${ipToString(res.toAddr)}:${res.toPort}` : 'miss',
    );
  }
  if (!found) {
    if (jr) jr.note(`no SNAT: ICMP error quotes a flow without a NAT mapping (punted to the stack un-NATed)`);
    return CTX_ACT_OK;
  }
  const r = rewriteIcmpErrorInner(v.buf, v.l4Off, inner, IPV4_DADDR_OFF, res.toAddr, portOff, res.toPort);
  if (r < 0) return r;
  const oldSaddr = v.saddr;
  if (res.toAddr !== v.saddr) v.setSaddr(res.toAddr);
  skb.mark |= MARK_SNAT_DONE;
  skb.translated = true;
  skb.origSaddr = oldSaddr;
  if (jd) {
    jd.rewrite(`saddr ${ipToString(oldSaddr)} -> ${ipToString(res.toAddr)}`);
    jd.rewrite(`quoted daddr ${ipToString(inner.daddr)} -> ${ipToString(res.toAddr)}`);
    if (res.toPort !== sport) jd.rewrite(`quoted ${inner.proto === 1 ? 'echo id' : 'dport'} ${sport} -> ${res.toPort}`);
  }
  if (jr) {
    jr.note(
      `${kind === SNAT_EGW ? 'SNAT' : 'masquerade'} ICMP error ${v.icmpType}/${v.icmpCode}: ${ipToString(oldSaddr)} -> ${ipToString(res.toAddr)}, quoted ${ipToString(inner.daddr)}:${sport} -> ${ipToString(res.toAddr)}:${res.toPort}`,
    );
  }
  return CTX_ACT_OK;
}

/**
 * 1.17 `snat_v4_rev_nat` for an ICMP error from the world, then
 * `snat_v4_rev_nat_handle_icmp_error`: the quoted packet is one this node sent after SNAT,
 * so its reverse tuple {inner daddr:dport -> inner saddr:sport, IN} (ICMP: a quoted echo
 * request, {ext:0 -> addr:id}) finds the flow; the inner source address and port (echo id)
 * and the outer destination go back to the pod. Returns 1 when translated, 0 to go on
 * un-translated (unknown codes, a quoted echo reply, other protocols, no mapping: Cilium's
 * NAT_PUNT_TO_STACK), or a drop (143 for other quoted ICMP types, 134 short, 154 when the
 * quoted TCP checksum is cut off). No port-range check and no CT refresh on this path.
 */
function revSnatIcmpError(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (!icmpErrorCodeKnown(v.icmpType, v.icmpCode)) return 0;
  if (v.isFragment) return DROP_INVALID;
  if (jd) jd.fn('snat_v4_rev_nat_handle_icmp_error');
  const inner = icmpInner;
  const end = Math.min(v.l3Off + v.totalLen, v.end);
  if (parseIcmpErrorInner(v.buf, v.l4Off, end, inner) < 0) return DROP_INVALID;
  let sport: number;
  let dport: number;
  let portOff: number;
  if (inner.proto === 6 || inner.proto === 17) {
    if (inner.l4Len < 4) return DROP_INVALID;
    sport = inner.dport;
    dport = inner.sport;
    portOff = TCP_SPORT_OFF;
  } else if (inner.proto === 1) {
    if (inner.l4Len < 1) return DROP_INVALID;
    if (inner.icmpType === ICMP_ECHOREPLY) return 0;
    if (inner.icmpType !== ICMP_ECHO) return DROP_UNKNOWN_ICMP4_CODE;
    if (inner.l4Len < 6) return DROP_INVALID;
    sport = 0;
    dport = inner.echoId;
    portOff = ICMP_ECHO_ID_OFF;
  } else {
    return 0;
  }
  const res = env.snat;
  const found = node.nat.snatV4RevNat(inner.proto, inner.daddr, inner.saddr, sport, dport, skb.now, res, 0, 0xffff);
  if (jd) {
    jd.lookup(
      'cilium_snat_v4_external',
      `IN ${ipToString(inner.daddr)}:${sport} -> ${ipToString(inner.saddr)}:${dport} (quoted in ICMP ${v.icmpType}/${v.icmpCode})`,
      found ? `XLATE_DST ${ipToString(res.toAddr)}:${res.toPort}` : 'miss',
    );
  }
  if (!found) {
    if (jr) jr.note('ICMP error quotes a flow without a NAT mapping: passed on un-translated');
    return 0;
  }
  const r = rewriteIcmpErrorInner(v.buf, v.l4Off, inner, IPV4_SADDR_OFF, res.toAddr, portOff, res.toPort);
  if (r < 0) return r;
  const oldDaddr = v.daddr;
  if (res.toAddr !== v.daddr) v.setDaddr(res.toAddr);
  skb.mark |= MARK_SNAT_DONE;
  skb.translated = true;
  skb.isReply = true;
  if (jd) {
    jd.rewrite(`daddr ${ipToString(oldDaddr)} -> ${ipToString(res.toAddr)}`);
    jd.rewrite(`quoted saddr ${ipToString(inner.saddr)} -> ${ipToString(res.toAddr)}`);
    if (res.toPort !== dport) jd.rewrite(`quoted ${inner.proto === 1 ? 'echo id' : 'sport'} ${dport} -> ${res.toPort}`);
  }
  if (jr) {
    jr.note(
      `rev-SNAT ICMP error ${v.icmpType}/${v.icmpCode}: ${ipToString(oldDaddr)} -> ${ipToString(res.toAddr)}, quoted ${ipToString(inner.saddr)}:${dport} -> ${ipToString(res.toAddr)}:${res.toPort}`,
    );
  }
  return 1;
}

/** `cil_to_netdev` on eth0. */
export function toNetdev(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (jd) jd.fn('cil_to_netdev');
  if (env.profile === '1.17') {
    const r = egressGwToNetdev(env, node, skb);
    if (r !== CTX_ACT_OK) return r;
  }
  if ((skb.mark & MARK_SNAT_DONE) !== 0) return CTX_ACT_OK;
  if (jd) {
    jd.fn('handle_nat_fwd');
    jd.fn('tail_handle_nat_fwd_ipv4');
    if (env.profile === '1.10') jd.fn('nodeport_nat_ipv4_fwd');
    else {
      jd.fn('tail_handle_snat_fwd_ipv4');
      jd.fn('nodeport_snat_fwd_ipv4');
    }
  }
  const kind = snatNeeded(env, node, skb);
  if (kind === SNAT_NONE) return CTX_ACT_OK;

  // snat_v4_prepare_state / can_skip: which protocols NAT can carry.
  let sport: number;
  let dport: number;
  if (v.l4Off < 0) return DROP_FRAG_NOSUPPORT;
  if (v.proto === 6 || v.proto === 17) {
    sport = v.sport;
    dport = v.dport;
  } else if (v.proto === 1) {
    if (v.icmpType === ICMP_ECHOREPLY) {
      if (jr) jr.note('no SNAT: ICMP echo reply');
      return CTX_ACT_OK;
    }
    if (env.profile === '1.17' && (v.icmpType === ICMP_DEST_UNREACH || v.icmpType === ICMP_TIME_EXCEEDED)) {
      return snatIcmpError(env, node, skb, kind);
    }
    if (v.icmpType !== ICMP_ECHO) return DROP_NAT_UNSUPP_PROTO;
    sport = v.sport; // the echo identifier plays the source port
    dport = 0;
  } else {
    if (jr) jr.note(`no SNAT: protocol ${v.proto} is punted to the stack un-NATed`);
    return CTX_ACT_OK;
  }

  const t = env.target;
  const res = env.snat;
  if (jd) jd.fn(env.profile === '1.10' ? 'snat_v4_process' : 'snat_v4_nat');
  const oldSaddr = v.saddr;
  const ret = node.nat.snatV4Nat(v.proto, v.saddr, v.daddr, sport, dport, t, skb.now, env.rng, res);
  if (res.fillUp) env.fillUp = node;
  if (jd) {
    const tuple = `${ipToString(v.saddr)}:${sport} -> ${ipToString(v.daddr)}:${dport}`;
    if (res.created || ret < 0) {
      jd.fn('snat_v4_new_mapping');
      jd.snat = { candidates: res.candidates ? res.candidates.slice() : [], retries: res.retries, allocator: env.allocatorName };
      if (ret >= 0) jd.snat.chosen = res.toPort;
      if (res.fillUp) jd.snat.signal = 'SIGNAL_NAT_FILL_UP';
    }
    jd.lookup('cilium_snat_v4_external', `OUT ${tuple}`, ret < 0 ? 'no free port' : `XLATE_SRC ${ipToString(res.toAddr)}:${res.toPort}${res.created ? ' (new)' : ''}`);
  }
  if (ret < 0) return ret;

  if (t.needsCt) {
    // 1.17 gateway conntrack for flows of remote endpoints (needs_ct). The NAT tuple's
    // ports are the CT ports too (an echo request is (id, 0) in both, see ctPorts).
    const ct = node.ct.lookup4(v.proto, v.saddr, v.daddr, sport, dport, CT_EGRESS, v.tcpFlags, v.totalLen, skb.now);
    if (ct === CT_NEW || ct === CT_REOPENED) {
      const r = node.ct.create4(v.proto, v.saddr, v.daddr, sport, dport, CT_EGRESS, v.tcpFlags, v.totalLen, skb.now, skb.srcIdentity);
      if (r < 0) return r;
    }
    if (jd) jd.lookup('cilium_ct4_global', `gateway ${tupleText(skb)}`, ctName(ct));
  }

  if (jd) jd.fn('snat_v4_rewrite_egress');
  if (res.toAddr !== v.saddr) v.setSaddr(res.toAddr);
  if (res.toPort !== sport) v.setSport(res.toPort);
  skb.mark |= MARK_SNAT_DONE;
  skb.translated = true;
  skb.origSaddr = oldSaddr;
  if (jd) {
    jd.rewrite(`saddr ${ipToString(oldSaddr)} -> ${ipToString(res.toAddr)}`);
    if (res.toPort !== sport) jd.rewrite(`sport ${sport} -> ${res.toPort}`);
  }
  if (jr) {
    const how = res.created ? `${res.toPort === sport ? 'kept' : 'new port'}, ${res.retries} retries${res.fillUp ? ', SIGNAL_NAT_FILL_UP' : ''}` : 'existing mapping';
    jr.note(
      `${kind === SNAT_EGW ? 'SNAT' : 'masquerade'} ${ipToString(oldSaddr)}:${sport} -> ${ipToString(res.toAddr)}:${res.toPort} (${how})`,
    );
  }
  return CTX_ACT_OK;
}

/** `cil_from_netdev` on eth0 for a packet from the world. */
export function fromNetdev(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (jd) {
    jd.fn('cil_from_netdev');
    jd.fn('nodeport_lb4');
    jd.fn(env.profile === '1.10' ? 'tail_nodeport_nat_ipv4' : 'tail_nodeport_nat_ingress_ipv4');
  }
  skb.srcIdentity = IDENTITY_WORLD;
  if (v.l4Off < 0) return DROP_FRAG_NOSUPPORT;
  let sport = -1;
  let dport = -1;
  if (v.proto === 6 || v.proto === 17) {
    sport = v.sport;
    dport = v.dport;
  } else if (v.proto === 1 && v.icmpType === ICMP_ECHOREPLY) {
    sport = 0;
    dport = v.sport;
  }
  let revNatted = false;
  if (env.profile === '1.17' && v.proto === 1 && (v.icmpType === ICMP_DEST_UNREACH || v.icmpType === ICMP_TIME_EXCEEDED)) {
    if (jd) jd.fn('snat_v4_rev_nat');
    const r = revSnatIcmpError(env, node, skb);
    if (r < 0) return r;
    revNatted = r > 0;
  }
  if (sport >= 0) {
    const res = env.snat;
    if (jd) jd.fn(env.profile === '1.10' ? 'snat_v4_process' : 'snat_v4_rev_nat');
    const found = node.nat.snatV4RevNat(v.proto, v.saddr, v.daddr, sport, dport, skb.now, res);
    if (jd) {
      jd.lookup(
        'cilium_snat_v4_external',
        `IN ${ipToString(v.saddr)}:${sport} -> ${ipToString(v.daddr)}:${dport}`,
        !res.inRange ? `not looked up: port ${dport} outside ${node.nat.minPort}-${node.nat.maxPort}` : found ? `XLATE_DST ${ipToString(res.toAddr)}:${res.toPort}` : 'miss',
      );
    }
    if (found) {
      const oldDaddr = v.daddr;
      if (jd) jd.fn('snat_v4_rewrite_ingress');
      if (res.toAddr !== v.daddr) v.setDaddr(res.toAddr);
      if (res.toPort !== dport) v.setDport(res.toPort);
      skb.mark |= MARK_SNAT_DONE;
      skb.translated = true;
      skb.isReply = true;
      revNatted = true;
      if (jd) {
        jd.rewrite(`daddr ${ipToString(oldDaddr)} -> ${ipToString(res.toAddr)}`);
        if (res.toPort !== dport) jd.rewrite(`dport ${dport} -> ${res.toPort}`);
      }
      if (jr) {
        jr.note(`rev-SNAT ${ipToString(oldDaddr)}:${dport} -> ${ipToString(res.toAddr)}:${res.toPort}`);
      }
      if (res.needsCt) {
        // CT ports: an echo reply is (0, id), the mirror of the request's (id, 0) (ctPorts).
        node.ct.lookup4(v.proto, v.saddr, v.daddr, v.proto === 1 ? 0 : v.sport, v.dport, CT_INGRESS, v.tcpFlags, v.totalLen, skb.now);
      }
    } else if (res.inRange && jr) {
      jr.note(`no NAT mapping on ingress for ${ipToString(v.daddr)}:${dport}: passed on un-translated`);
    }
  }

  const dst = env.ipcache(v.daddr);
  if (env.profile === '1.17' && revNatted) {
    if (jd) jd.fn('egress_gw_reply_needs_redirect_hook');
    const i = node.egress.lookup(v.daddr, v.saddr);
    if (i >= 0) {
      const gw = node.egress.gatewayIp(i);
      if (gw !== EGRESS_GATEWAY_NO_GATEWAY && gw !== EGRESS_GATEWAY_EXCLUDED_CIDR && dst.node !== null && dst.node !== node && dst.kind === IPC_ENDPOINT) {
        if (jd) {
          jd.fn('ipv4_l3');
          jd.fn('nodeport_add_tunnel_encap');
        }
        if (!v.decTtl()) return DROP_INVALID;
        skb.tunnelEndpoint = dst.node.ip;
        skb.vni = IDENTITY_WORLD;
        skb.next = NEXT_TUNNEL;
        skb.ctState = CT_REPLY;
        if (jr) jr.note(`egress-gateway reply to ${ipToString(v.daddr)}: tunnel to ${dst.node.name} ${ipToString(dst.node.ip)} (VNI ${IDENTITY_WORLD}, TTL ${v.ttl})`);
        return CTX_ACT_REDIRECT;
      }
    }
  }

  if (dst.kind === IPC_ENDPOINT && dst.node === node && dst.ep) {
    return ipv4LocalDelivery(skb, dst.ep);
  }
  skb.next = NEXT_STACK;
  if (jr) jr.note('to the host stack');
  return CTX_ACT_OK;
}

/** `cil_from_host` on cilium_host: the kernel routed the packet to a pod CIDR. */
export function fromHost(env: Env, node: NodeState, skb: Skb): number {
  const v = skb.view;
  const jr = skb.jr;
  const jd = skb.jd;
  if (jd) jd.fn('handle_ipv4 (from-host)');
  const dst = env.ipcache(v.daddr);
  if (jd) jd.lookup('cilium_ipcache', ipToString(v.daddr), `identity ${dst.identity}${dst.node ? ` tunnelendpoint ${ipToString(dst.node.ip)}` : ''}`);
  if (dst.kind === IPC_ENDPOINT && dst.node === node && dst.ep) return ipv4LocalDelivery(skb, dst.ep);
  if ((dst.kind === IPC_ENDPOINT || dst.kind === IPC_POD_CIDR || dst.kind === IPC_NODE) && dst.node !== null && dst.node !== node) {
    // resolve_srcid_ipv4: a world source is WORLD, which becomes the VNI.
    const src = env.ipcache(v.saddr);
    skb.srcIdentity = v.saddr === node.ip ? IDENTITY_HOST : src.identity;
    // __encap_with_nodeid: the peer sees a host source as a node (LOCAL_NODE_ID); VNI 1
    // would be dropped there as DROP_INVALID_IDENTITY.
    const vni = skb.srcIdentity === IDENTITY_HOST ? IDENTITY_LOCAL_NODE : skb.srcIdentity;
    if (jd) jd.fn('encap_and_redirect_with_nodeid');
    if (jr) {
      jr.note(`to ${ipToString(v.daddr)} via tunnel to ${dst.node.name} ${ipToString(dst.node.ip)} (VNI ${vni})`);
    }
    skb.tunnelEndpoint = dst.node.ip;
    skb.vni = vni;
    skb.next = NEXT_TUNNEL;
    return CTX_ACT_REDIRECT;
  }
  return DROP_UNROUTABLE;
}
