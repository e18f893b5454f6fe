/**
 * Scenario tests in the style of Cilium's bpf/tests (tc_egressgw_snat.c,
 * tc_egressgw_redirect_from_host.c, ..._from_overlay.c): build the packet, set up the
 * maps, run the program, check the verdict and the bytes.
 */
import { describe, expect, it } from 'vitest';
import { IDENTITY_HOST, IDENTITY_WORLD } from '../../../dataplane/cluster/identity.ts';
import { parseCidr } from '../../../dataplane/cluster/cidr.ts';
import { CT_EGRESS, CT_NEW } from '../../../dataplane/lib/conntrack.ts';
import {
  CTX_ACT_OK,
  CTX_ACT_REDIRECT,
  DROP_INVALID_IDENTITY,
  DROP_NAT_NO_MAPPING,
  DROP_NAT_UNSUPP_PROTO,
  DROP_NO_EGRESS_GATEWAY,
  DROP_NO_EGRESS_IP,
  dropInfo,
} from '../../../dataplane/lib/drop.ts';
import { EGRESS_GATEWAY_EXCLUDED_CIDR } from '../../../dataplane/lib/egress-gateway.ts';
import { MARK_EGW_DONE, NEXT_NETDEV, NEXT_STACK, NEXT_TUNNEL } from '../../../dataplane/node.ts';
import { fromContainer } from '../../../dataplane/programs/lxc.ts';
import { fromOverlay } from '../../../dataplane/programs/overlay.ts';
import { fromNetdev, toNetdev } from '../../../dataplane/programs/host.ts';
import { TCP_ACK, TCP_SYN } from '../../../dataplane/packet/tcp.ts';
import {
  cegp,
  cenp,
  CLIENT_IP,
  CLIENT_IP2,
  CLIENT_NODE_IP,
  CLIENT_PORT,
  EGRESS_IP,
  EXCLUDED_SVC_IP,
  EXTERNAL_SVC_IP,
  EXTERNAL_SVC_PORT,
  fixtureTopology,
  frameChecksumsOk,
  GATEWAY_NODE_IP,
  GATEWAY_POD_IP,
  makeEnv,
  pkt,
  skbOf,
  T0,
  u16,
  u32,
} from '../fixtures.ts';

const IP = 14;
const L4 = 34;

/** The request as it arrives at the gateway's eth0 after decap and from-overlay (SNAT input). */
function request(saddr = CLIENT_IP, sport = CLIENT_PORT, daddr = EXTERNAL_SVC_IP): Uint8Array {
  return pkt({ saddr, daddr, proto: 6, sport, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN, seq: 1000 });
}

describe('tc_egressgw_snat: gateway to-netdev', () => {
  it('snat1 (1.17): first packet SNATed to the egress IP, port kept, gateway CT entry, checksums valid', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const skb = skbOf(request());
    skb.srcIdentity = f.clientEp.identity;
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    const b = skb.frame();
    expect(u32(b, IP + 12)).toBe(EGRESS_IP);
    expect(u16(b, L4)).toBe(CLIENT_PORT);
    expect(frameChecksumsOk(b)).toBe(true);
    const s = f.gateway.nat.findOut(6, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT);
    expect(s).toBeGreaterThanOrEqual(0);
    expect(f.gateway.nat.toAddrOf(s)).toBe(EGRESS_IP);
    expect(f.gateway.nat.toPortOf(s)).toBe(CLIENT_PORT);
    // needs_ct: the gateway tracks the remote endpoint's flow (1.17 only).
    expect(f.gateway.ct.has4(6, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, 0)).toBe(true);
  });

  it('snat1 (1.10): SNAT to egressSourceIP, and no gateway CT entry', () => {
    const f = makeEnv('1.10', fixtureTopology(), cenp());
    const skb = skbOf(request());
    skb.srcIdentity = f.clientEp.identity;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    const b = skb.frame();
    expect(u32(b, IP + 12)).toBe(GATEWAY_NODE_IP);
    expect(u16(b, L4)).toBe(CLIENT_PORT);
    expect(frameChecksumsOk(b)).toBe(true);
    expect(f.gateway.ct.size()).toBe(0);
  });

  it('snat1_2_reply (1.17): rev-SNAT on from-netdev, then tunnel back with VNI 2 (CTX_ACT_REDIRECT)', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const req = skbOf(request());
    req.srcIdentity = f.clientEp.identity;
    req.mark = MARK_EGW_DONE;
    toNetdev(f.env, f.gateway, req);
    const reply = skbOf(pkt({ saddr: EXTERNAL_SVC_IP, daddr: EGRESS_IP, proto: 6, sport: EXTERNAL_SVC_PORT, dport: CLIENT_PORT, tcpFlags: TCP_SYN | TCP_ACK, ttl: 64 }));
    expect(fromNetdev(f.env, f.gateway, reply)).toBe(CTX_ACT_REDIRECT);
    expect(reply.next).toBe(NEXT_TUNNEL);
    expect(reply.vni).toBe(IDENTITY_WORLD);
    expect(reply.tunnelEndpoint).toBe(CLIENT_NODE_IP);
    const b = reply.frame();
    expect(u32(b, IP + 16)).toBe(CLIENT_IP);
    expect(u16(b, L4 + 2)).toBe(CLIENT_PORT);
    expect(b[IP + 8]).toBe(63); // ipv4_l3 in the reply hook
    expect(frameChecksumsOk(b)).toBe(true);
  });

  it('snat1_2_reply (1.10): rev-SNAT, then to the stack (from-host tunnels it later)', () => {
    const f = makeEnv('1.10', fixtureTopology(), cenp());
    const req = skbOf(request());
    toNetdev(f.env, f.gateway, req);
    const reply = skbOf(pkt({ saddr: EXTERNAL_SVC_IP, daddr: GATEWAY_NODE_IP, proto: 6, sport: EXTERNAL_SVC_PORT, dport: CLIENT_PORT, tcpFlags: TCP_SYN | TCP_ACK }));
    expect(fromNetdev(f.env, f.gateway, reply)).toBe(CTX_ACT_OK);
    expect(reply.next).toBe(NEXT_STACK);
    expect(u32(reply.frame(), IP + 16)).toBe(CLIENT_IP);
    expect(frameChecksumsOk(reply.frame())).toBe(true);
  });

  for (const profile of ['1.10', '1.17'] as const) {
    it(`tuple_collision (${profile}): a second pod with the same source port gets another port`, () => {
      const f = makeEnv(profile, fixtureTopology(), profile === '1.10' ? cenp() : cegp());
      const a = skbOf(request(CLIENT_IP));
      a.mark = MARK_EGW_DONE;
      expect(toNetdev(f.env, f.gateway, a)).toBe(CTX_ACT_OK);
      const b = skbOf(request(CLIENT_IP2));
      b.mark = MARK_EGW_DONE;
      expect(toNetdev(f.env, f.gateway, b)).toBe(CTX_ACT_OK);
      const pa = u16(a.frame(), L4);
      const pb = u16(b.frame(), L4);
      expect(pa).toBe(CLIENT_PORT);
      expect(pb).not.toBe(CLIENT_PORT);
      expect(pb).toBeGreaterThanOrEqual(32768);
      expect(f.env.snat.retries).toBe(1);
      expect(frameChecksumsOk(b.frame())).toBe(true);
      expect(f.gateway.nat.findIn(6, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, u32(b.frame(), IP + 12), pb)).toBeGreaterThanOrEqual(0);
    });
  }

  it('skip_excluded_cidr_snat (1.17): the packet leaves untouched with a valid L3 checksum', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const before = request(CLIENT_IP, CLIENT_PORT, EXCLUDED_SVC_IP);
    const skb = skbOf(before);
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    expect(Array.from(skb.frame())).toEqual(Array.from(before));
    expect(frameChecksumsOk(skb.frame())).toBe(true);
  });

  it('port range exhaustion: DROP 167 once every port for the remote tuple is taken', () => {
    const f = makeEnv('1.17', fixtureTopology({ natPortRange: [60000, 60001] }), cegp());
    const verdicts: number[] = [];
    for (const sport of [1000, 1001, 1002]) {
      const skb = skbOf(request(CLIENT_IP, sport));
      skb.mark = MARK_EGW_DONE;
      verdicts.push(toNetdev(f.env, f.gateway, skb));
    }
    expect(verdicts).toEqual([CTX_ACT_OK, CTX_ACT_OK, DROP_NAT_NO_MAPPING]);
    expect(dropInfo(DROP_NAT_NO_MAPPING)).toMatchObject({ code: 167, text: 'No mapping for NAT masquerade', name: 'NO_MAPPING_FOR_NAT_MASQUERADE' });
  });

  it('UDP zero checksum stays zero after SNAT', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const skb = skbOf(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 17, sport: 5000, dport: 53, payload: new Uint8Array([1, 2, 3]), udpZeroChecksum: true }));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    const b = skb.frame();
    expect(u32(b, IP + 12)).toBe(EGRESS_IP);
    expect(u16(b, L4)).not.toBe(5000); // 5000 is outside the NAT range: a random port
    expect(u16(b, L4 + 6)).toBe(0);
    expect(frameChecksumsOk(b)).toBe(true);
  });

  it('ICMP echo: the identifier plays the port (kept, then changed on collision), reply translated back', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const echo = (saddr: number) => {
      const s = skbOf(pkt({ saddr, daddr: EXTERNAL_SVC_IP, proto: 1, icmpType: 8, icmpId: 40000, icmpSeq: 1, payload: new Uint8Array(8) }));
      s.mark = MARK_EGW_DONE;
      return s;
    };
    const a = echo(CLIENT_IP);
    expect(toNetdev(f.env, f.gateway, a)).toBe(CTX_ACT_OK);
    expect(u16(a.frame(), L4 + 4)).toBe(40000);
    const b = echo(CLIENT_IP2);
    expect(toNetdev(f.env, f.gateway, b)).toBe(CTX_ACT_OK);
    const id2 = u16(b.frame(), L4 + 4);
    expect(id2).not.toBe(40000);
    expect(frameChecksumsOk(a.frame()) && frameChecksumsOk(b.frame())).toBe(true);
    const r = skbOf(pkt({ saddr: EXTERNAL_SVC_IP, daddr: EGRESS_IP, proto: 1, icmpType: 0, icmpId: id2, icmpSeq: 1, payload: new Uint8Array(8) }));
    expect(fromNetdev(f.env, f.gateway, r)).toBe(CTX_ACT_REDIRECT);
    expect(u32(r.frame(), IP + 16)).toBe(CLIENT_IP2);
    expect(u16(r.frame(), L4 + 4)).toBe(40000);
    expect(frameChecksumsOk(r.frame())).toBe(true);
  });

  it('ICMP other than echo on egress (1.10): DROP 168', () => {
    const f = makeEnv('1.10', fixtureTopology(), cenp());
    const skb = skbOf(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 1, icmpType: 3, icmpCode: 3, payload: new Uint8Array(28) }));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_NAT_UNSUPP_PROTO);
  });

  it('ICMP error quoting an unknown L4 protocol on egress (1.17): DROP 142 (1.17 translates ICMP errors; icmp-error.test.ts)', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    // 28 zero bytes quote an IPv4 header with protocol 0.
    const skb = skbOf(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 1, icmpType: 3, icmpCode: 3, payload: new Uint8Array(28) }));
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(-142);
  });
});

describe('tc_egressgw_redirect_from_host: client node to-netdev (1.17)', () => {
  it('redirect: a matching packet goes into the tunnel to the gateway, VNI = source identity', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const skb = skbOf(request());
    skb.srcIdentity = f.clientEp.identity;
    expect(toNetdev(f.env, f.client, skb)).toBe(CTX_ACT_REDIRECT);
    expect(skb.next).toBe(NEXT_TUNNEL);
    expect(skb.tunnelEndpoint).toBe(GATEWAY_NODE_IP);
    expect(skb.vni).toBe(f.clientEp.identity);
  });

  it('skip_excluded_cidr_redirect: excluded → CTX_ACT_OK and masqueraded to the node IP instead', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const skb = skbOf(request(CLIENT_IP, CLIENT_PORT, EXCLUDED_SVC_IP));
    expect(toNetdev(f.env, f.client, skb)).toBe(CTX_ACT_OK);
    expect(skb.next).not.toBe(NEXT_TUNNEL);
    expect(u32(skb.frame(), IP + 12)).toBe(CLIENT_NODE_IP);
  });

  it('skip_no_gateway_redirect: no node matches the selector → DROP 194, counted once', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp({ nodeSelector: 'nobody: "here"' }));
    const skb = skbOf(request());
    expect(toNetdev(f.env, f.client, skb)).toBe(DROP_NO_EGRESS_GATEWAY);
    expect(dropInfo(DROP_NO_EGRESS_GATEWAY)).toMatchObject({ code: 194, text: 'No egress gateway found', name: 'NO_EGRESS_GATEWAY' });
    expect(f.client.policyHits[1]).toBe(1);
  });

  it('drop_no_egress_ip: the gateway is local and has egress IP 0 → DROP 204', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    // SETUP: the gateway's own copy of the map with egress_ip 0.0.0.0 for its pod.
    f.gateway.egress.update(GATEWAY_POD_IP, parseCidr('0.0.0.0/0'), 0, GATEWAY_NODE_IP, 'egress-sample');
    const skb = skbOf(request(GATEWAY_POD_IP));
    skb.srcIdentity = f.gatewayEp.identity;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(DROP_NO_EGRESS_IP);
    expect(dropInfo(DROP_NO_EGRESS_IP)).toMatchObject({ code: 204, text: 'No Egress IP configured', name: 'DROP_NO_EGRESS_IP' });
  });

  it('skips replies of inbound connections (1.17) but not in 1.10', () => {
    for (const profile of ['1.10', '1.17'] as const) {
      const f = makeEnv(profile, fixtureTopology(), profile === '1.10' ? cenp() : cegp());
      // The world opened a connection to the pod: the pod's CT holds it as CT_INGRESS.
      f.client.ct.create4(6, EXTERNAL_SVC_IP, CLIENT_IP, EXTERNAL_SVC_PORT, 8080, 1, TCP_SYN, 60, T0, 2);
      const skb = skbOf(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 6, sport: 8080, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN | TCP_ACK }));
      const v = fromContainer(f.env, f.client, f.clientEp, skb);
      if (profile === '1.10') {
        expect(v).toBe(CTX_ACT_REDIRECT); // no reply skip: tunnelled to the gateway
        expect(skb.next).toBe(NEXT_TUNNEL);
      } else {
        expect(v).toBe(CTX_ACT_OK);
        expect(toNetdev(f.env, f.client, skb)).toBe(CTX_ACT_OK);
        expect(skb.next).not.toBe(NEXT_TUNNEL);
        expect(u32(skb.frame(), IP + 12)).toBe(CLIENT_IP); // not masqueraded either
      }
    }
  });
});

describe('tc_egressgw_redirect_from_overlay: gateway from-overlay', () => {
  it('1.17: a match is ipv4_l3 (TTL-1) and redirected to the egress device with EGW done', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const skb = skbOf(request());
    skb.vni = f.clientEp.identity;
    expect(fromOverlay(f.env, f.gateway, skb)).toBe(CTX_ACT_REDIRECT);
    expect(skb.next).toBe(NEXT_NETDEV);
    expect(skb.mark & MARK_EGW_DONE).toBeTruthy();
    expect(skb.frame()[IP + 8]).toBe(63);
    expect(frameChecksumsOk(skb.frame())).toBe(true);
  });

  it('1.17: egress IP 0 on the gateway → DROP 204', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    f.gateway.egress.update(CLIENT_IP, parseCidr('0.0.0.0/0'), 0, GATEWAY_NODE_IP, 'egress-sample');
    const skb = skbOf(request());
    skb.vni = f.clientEp.identity;
    expect(fromOverlay(f.env, f.gateway, skb)).toBe(DROP_NO_EGRESS_IP);
  });

  it('1.17: excluded → to the stack, untouched addresses', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    expect(f.gateway.egress.gatewayIp(f.gateway.egress.lookup(CLIENT_IP, EXCLUDED_SVC_IP))).toBe(EGRESS_GATEWAY_EXCLUDED_CIDR);
    const skb = skbOf(request(CLIENT_IP, CLIENT_PORT, EXCLUDED_SVC_IP));
    skb.vni = f.clientEp.identity;
    expect(fromOverlay(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    expect(skb.next).toBe(NEXT_STACK);
    expect(u32(skb.frame(), IP + 12)).toBe(CLIENT_IP);
  });

  it('1.10: not for a local endpoint → ipv4_l3 and the host stack', () => {
    const f = makeEnv('1.10', fixtureTopology(), cenp());
    const skb = skbOf(request());
    skb.vni = f.clientEp.identity;
    expect(fromOverlay(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    expect(skb.next).toBe(NEXT_STACK);
    expect(skb.frame()[IP + 8]).toBe(63);
  });

  it('rejects the HOST identity with DROP 171', () => {
    const f = makeEnv('1.10', fixtureTopology(), cenp());
    const skb = skbOf(request());
    skb.vni = IDENTITY_HOST;
    expect(fromOverlay(f.env, f.gateway, skb)).toBe(DROP_INVALID_IDENTITY);
  });
});

describe('from-container: where the decision is made', () => {
  it('1.10 decides in from-container (VNI = identity); 1.17 sends to the stack', () => {
    const a = makeEnv('1.10', fixtureTopology(), cenp());
    const s1 = skbOf(request());
    expect(fromContainer(a.env, a.client, a.clientEp, s1)).toBe(CTX_ACT_REDIRECT);
    expect(s1.tunnelEndpoint).toBe(GATEWAY_NODE_IP);
    expect(s1.vni).toBe(a.clientEp.identity);
    expect(s1.frame()[IP + 8]).toBe(64); // not decremented before encap (1.10)
    const b = makeEnv('1.17', fixtureTopology(), cegp());
    const s2 = skbOf(request());
    expect(fromContainer(b.env, b.client, b.clientEp, s2)).toBe(CTX_ACT_OK);
    expect(s2.next).toBe(NEXT_STACK);
    expect(b.client.ct.lookup4(6, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_ACK, 40, T0)).not.toBe(CT_NEW);
  });
});
