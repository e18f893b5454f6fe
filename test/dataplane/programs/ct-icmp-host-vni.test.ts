/**
 * Review fixes (dataplane reviewer):
 * - ICMP echo conntrack keys: Cilium's CT tuple puts the echo identifier where the packet's
 *   source port goes for TCP/UDP (ct_extract_ports: tuple->dport = id on ECHO, the slot
 *   that holds the packet sport), so the stored egress key is {pod:id -> ext:0} and the
 *   GC's "swap the addresses, delete the otuple" finds the NAT pair {pod:id -> ext:0 OUT}.
 * - encap: a HOST_ID source is sent as LOCAL_NODE_ID (6), never as VNI 1, which the
 *   receiving from-overlay would drop with 171.
 */
import { describe, expect, it } from 'vitest';
import { IDENTITY_HOST, IDENTITY_REMOTE_NODE } from '../../../dataplane/cluster/identity.ts';
import { CTX_ACT_OK, CTX_ACT_REDIRECT } from '../../../dataplane/lib/drop.ts';
import { MARK_EGW_DONE, NEXT_TUNNEL } from '../../../dataplane/node.ts';
import { fromContainer } from '../../../dataplane/programs/lxc.ts';
import { fromHost, toNetdev } from '../../../dataplane/programs/host.ts';
import {
  cegp,
  CLIENT_IP,
  EXTERNAL_SVC_IP,
  fixtureTopology,
  GATEWAY_NODE_IP,
  GATEWAY_POD_IP,
  makeEnv,
  pkt,
  skbOf,
  T0,
} from '../fixtures.ts';

function echo(saddr: number, id: number) {
  return pkt({ saddr, daddr: EXTERNAL_SVC_IP, proto: 1, icmpType: 8, icmpId: id, icmpSeq: 1, payload: new Uint8Array(8) });
}

describe('ICMP echo conntrack key orientation', () => {
  it('from-container stores the echo as {pod:id -> ext:0 OUT} (the identifier in the source-port slot)', () => {
    const f = makeEnv('1.10', fixtureTopology(), []);
    const skb = skbOf(echo(CLIENT_IP, 4242));
    fromContainer(f.env, f.client, f.clientEp, skb);
    expect(f.client.ct.has4(1, CLIENT_IP, EXTERNAL_SVC_IP, 4242, 0, 0)).toBe(true);
    expect(f.client.ct.has4(1, CLIENT_IP, EXTERNAL_SVC_IP, 0, 4242, 0)).toBe(false);
  });

  it('1.17 gateway: CT GC of the needs_ct entry deletes the ICMP NAT pair', () => {
    const f = makeEnv('1.17', fixtureTopology(), cegp());
    const skb = skbOf(echo(CLIENT_IP, 40000));
    skb.srcIdentity = f.clientEp.identity;
    skb.mark = MARK_EGW_DONE;
    expect(toNetdev(f.env, f.gateway, skb)).toBe(CTX_ACT_OK);
    expect(f.gateway.nat.findOut(1, CLIENT_IP, EXTERNAL_SVC_IP, 40000, 0)).toBeGreaterThanOrEqual(0);
    expect(f.gateway.ct.has4(1, CLIENT_IP, EXTERNAL_SVC_IP, 40000, 0, 0)).toBe(true);
    const res = f.gateway.ct.gc(T0 + 1000, f.gateway.nat);
    expect(res.deleted).toBe(1);
    expect(res.natDeleted).toBe(1);
    expect(f.gateway.nat.size()).toBe(0);
  });
});

describe('encap: HOST_ID becomes LOCAL_NODE_ID', () => {
  it('from-host: a packet from the node IP to a remote pod is tunnelled with VNI 6, not 1', () => {
    const f = makeEnv('1.10', fixtureTopology(), []);
    const skb = skbOf(pkt({ saddr: GATEWAY_NODE_IP, daddr: CLIENT_IP, proto: 6, sport: 50000, dport: 80, tcpFlags: 2, seq: 1 }));
    expect(fromHost(f.env, f.gateway, skb)).toBe(CTX_ACT_REDIRECT);
    expect(skb.next).toBe(NEXT_TUNNEL);
    expect(skb.srcIdentity).toBe(IDENTITY_HOST);
    expect(skb.vni).toBe(IDENTITY_REMOTE_NODE);
    void GATEWAY_POD_IP;
  });
});
