/**
 * Conntrack in the style of Cilium's bpf/tests: set up the maps, run lookup/create on a
 * fake capture clock, check the result, the lifetime and the dump.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../dataplane/lib/rng.ts';
import {
  Conntrack, ctOptionsFor, purgeOrphanNat, CT_NEW, CT_ESTABLISHED, CT_REPLY, CT_REOPENED, CT_EGRESS, CT_INGRESS,
  DROP_CT_CREATE_FAILED, TCP_FLAG_SYN, TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_RST, TUPLE_F_OUT,
} from '../../../dataplane/lib/conntrack.ts';
import { NatTable, newSnatResult, IPPROTO_TCP, IPPROTO_UDP, type Profile } from '../../../dataplane/lib/nat.ts';

const ip = (s: string): number => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
const CLIENT_IP = ip('10.0.0.31');
const CLIENT_PORT = 45678;
const EXTERNAL_SVC_IP = ip('1.2.3.4');
const EXTERNAL_SVC_PORT = 80;
const EGRESS_IP = ip('172.18.0.3');
const SEC_ID = 12345;
const T0 = 1000;

function ct(profile: Profile, sizes = {}): Conntrack {
  return new Conntrack(ctOptionsFor(profile, sizes), profile);
}
/** Request packet pod → ext, as the pod's egress sees it. */
function req(c: Conntrack, flags: number, now: number, len = 60): number {
  return c.lookup4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, CT_EGRESS, flags, len, now);
}
/** Reply packet ext → pod, as the pod's ingress sees it. */
function rep(c: Conntrack, flags: number, now: number, len = 60): number {
  return c.lookup4(IPPROTO_TCP, EXTERNAL_SVC_IP, CLIENT_IP, EXTERNAL_SVC_PORT, CLIENT_PORT, CT_INGRESS, flags, len, now);
}
function open(c: Conntrack, now = T0): void {
  expect(req(c, TCP_FLAG_SYN, now)).toBe(CT_NEW);
  expect(c.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, now, SEC_ID)).toBe(0);
}

describe('ctOptionsFor', () => {
  it('per-profile lifetimes and Cilium default sizes', () => {
    expect(ctOptionsFor('1.10')).toMatchObject({ maxTcp: 524288, maxAny: 262144, lifetimeTcp: 21600, lifetimeNonTcp: 60, synTimeout: 60, closeTimeout: 10 });
    expect(ctOptionsFor('1.17')).toMatchObject({ lifetimeTcp: 8000 });
    expect(ctOptionsFor('1.17', { maxTcp: 10 }).maxTcp).toBe(10);
  });
});

describe('keys and lookups', () => {
  it('stores the swapped-address key: the reply matches as CT_REPLY, the request as CT_ESTABLISHED, others are new', () => {
    const c = ct('1.17');
    open(c);
    expect(c.size()).toBe(1);
    // The stored key: daddr=pod, saddr=ext, dport=extPort, sport=podPort, OUT (has4 takes packet orientation
    // and swaps, so the entry is found under the pod→ext tuple and not under the literal swapped one).
    expect(c.has4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, TUPLE_F_OUT)).toBe(true);
    expect(c.has4(IPPROTO_TCP, EXTERNAL_SVC_IP, CLIENT_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, TUPLE_F_OUT)).toBe(false);
    expect(rep(c, TCP_FLAG_SYN | TCP_FLAG_ACK, T0)).toBe(CT_REPLY);
    expect(req(c, TCP_FLAG_ACK, T0)).toBe(CT_ESTABLISHED);
    expect(c.lookup4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT + 1, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0)).toBe(CT_NEW);
    // Same tuple but UDP lives in the other map.
    expect(c.lookup4(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, CT_EGRESS, 0, 60, T0)).toBe(CT_NEW);
  });

  it('prints the key un-swapped in cilium bpf ct list global (1.10 and 1.17 shapes)', () => {
    const a = ct('1.10');
    open(a);
    rep(a, TCP_FLAG_SYN | TCP_FLAG_ACK, T0 + 1, 74);
    req(a, TCP_FLAG_ACK, T0 + 1, 52);
    expect(a.format(T0 + 2)).toBe(
      'TCP OUT 10.0.0.31:45678 -> 1.2.3.4:80 expires=22601 RxPackets=1 RxBytes=74 RxFlagsSeen=0x12 LastRxReport=1001 '
      + 'TxPackets=2 TxBytes=112 TxFlagsSeen=0x12 LastTxReport=1001 Flags=0x0010 [ SeenNonSyn ] RevNAT=0 SourceSecurityID=12345 IfIndex=0\n');
    const b = ct('1.17');
    open(b);
    rep(b, TCP_FLAG_SYN | TCP_FLAG_ACK, T0 + 1, 74);
    expect(b.format(T0 + 2)).toBe(
      'TCP OUT 10.0.0.31:45678 -> 1.2.3.4:80 expires=1061 Packets=2 Bytes=134 RxFlagsSeen=0x12 LastRxReport=1001 '
      + 'TxFlagsSeen=0x02 LastTxReport=1000 Flags=0x0000 [ ] RevNAT=0 SourceSecurityID=12345 IfIndex=0 BackendID=0\n');
  });
});

describe('lifetimes and TCP state on the capture clock', () => {
  for (const [profile, tcpLife] of [['1.10', 21600], ['1.17', 8000]] as [Profile, number][]) {
    it(`${profile}: SYN timeout until a non-SYN is seen, then ${tcpLife} s; UDP 60 s`, () => {
      const c = ct(profile);
      open(c);
      expect(c.lastLifetime()).toBe(T0 + 60);
      rep(c, TCP_FLAG_SYN | TCP_FLAG_ACK, T0 + 1);
      expect(c.lastLifetime()).toBe(T0 + 1 + 60);
      req(c, TCP_FLAG_ACK, T0 + 2);
      expect(c.lastLifetime()).toBe(T0 + 2 + tcpLife);
      expect(c.rows(T0 + 2)[0]).toMatchObject({ state: 'ESTABLISHED', lifetimeLeft: tcpLife });
      c.create4(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, 5353, 53, CT_EGRESS, 0, 80, T0, SEC_ID);
      expect(c.lastLifetime()).toBe(T0 + 60);
    });
  }

  it('FIN in both directions moves to the close timeout, and later packets do not refresh it', () => {
    const c = ct('1.17');
    open(c);
    rep(c, TCP_FLAG_SYN | TCP_FLAG_ACK, T0);
    req(c, TCP_FLAG_ACK, T0);
    req(c, TCP_FLAG_FIN | TCP_FLAG_ACK, T0 + 5);
    expect(c.rows(T0 + 5)[0]!.state).toBe('CLOSING');
    expect(c.lastLifetime()).toBe(T0 + 5 + 8000);
    rep(c, TCP_FLAG_FIN | TCP_FLAG_ACK, T0 + 6);
    expect(c.lastLifetime()).toBe(T0 + 6 + 10);
    req(c, TCP_FLAG_ACK, T0 + 7);
    expect(c.lastLifetime()).toBe(T0 + 16);
  });

  it('RST before both SYNs closes both directions at once; after both SYNs only one', () => {
    const a = ct('1.17');
    open(a);
    rep(a, TCP_FLAG_RST | TCP_FLAG_ACK, T0 + 1);
    expect(a.lastLifetime()).toBe(T0 + 1 + 10);
    const b = ct('1.17');
    open(b);
    rep(b, TCP_FLAG_SYN | TCP_FLAG_ACK, T0);
    rep(b, TCP_FLAG_RST, T0 + 1);
    // The RST is a non-SYN packet, so the entry is on the long lifetime with one side closing.
    expect(b.lastLifetime()).toBe(T0 + 1 + 8000);
    expect(b.rows(T0 + 1)[0]!.state).toBe('CLOSING');
  });

  it('a SYN on a closing entry: 1.10 re-opens it (CT_REOPENED), 1.17 says CT_NEW and create4 starts afresh', () => {
    const a = ct('1.10');
    open(a);
    req(a, TCP_FLAG_FIN, T0 + 1);
    expect(req(a, TCP_FLAG_SYN, T0 + 2)).toBe(CT_REOPENED);
    expect(a.rows(T0 + 2)[0]!.state).toBe('SYN');
    const b = ct('1.17');
    open(b);
    req(b, TCP_FLAG_FIN, T0 + 1);
    expect(req(b, TCP_FLAG_SYN, T0 + 2)).toBe(CT_NEW);
    expect(b.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0 + 2, SEC_ID)).toBe(0);
    expect(b.size()).toBe(1);
    expect(b.rows(T0 + 2)[0]).toMatchObject({ state: 'SYN', txPackets: 1 });
  });

  it('lookup does not check expiry: an expired entry still matches until GC', () => {
    const c = ct('1.17');
    open(c);
    expect(req(c, TCP_FLAG_SYN, T0 + 500)).toBe(CT_ESTABLISHED);
  });

  it('1.10 counts per direction, 1.17 in one pair', () => {
    const a = ct('1.10');
    open(a);
    rep(a, TCP_FLAG_ACK, T0, 100);
    expect(a.rows(T0)[0]).toMatchObject({ txPackets: 1, txBytes: 60, rxPackets: 1, rxBytes: 100 });
    const b = ct('1.17');
    open(b);
    rep(b, TCP_FLAG_ACK, T0, 100);
    expect(b.rows(T0)[0]).toMatchObject({ txPackets: 2, txBytes: 160, rxPackets: 0 });
  });
});

describe('GC and NAT pairs', () => {
  function natFor(c: Conntrack, nat: NatTable, sport: number): void {
    c.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, sport, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0, SEC_ID);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, sport, EXTERNAL_SVC_PORT,
      { addr: EGRESS_IP, minPort: 32768, maxPort: 65535, needsCt: true, fromEndpoint: false }, T0, new Rng(1), newSnatResult());
  }

  it('removes expired entries and returns their NAT pairs; live ones stay', () => {
    const c = ct('1.17');
    const nat = new NatTable(1024, '1.17');
    natFor(c, nat, 40000);
    natFor(c, nat, 40001);
    c.lookup4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40001, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_ACK, 60, T0 + 30);
    expect(c.gc(T0 + 60).deleted).toBe(0);
    const res = c.gc(T0 + 61);
    expect(res.deleted).toBe(1);
    expect(res.natPairs).toEqual([[IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT]]);
    for (const [p, s, d, sp, dp] of res.natPairs) nat.deleteMapping4(p, s, d, sp, dp);
    expect(nat.size()).toBe(2);
    expect(nat.findOut(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40001, EXTERNAL_SVC_PORT)).toBeGreaterThanOrEqual(0);
    expect(c.size()).toBe(1);
  });

  it('gc(now, nat) deletes the pairs directly', () => {
    const c = ct('1.17');
    const nat = new NatTable(1024, '1.17');
    natFor(c, nat, 40000);
    const res = c.gc(T0 + 1000, nat);
    expect(res).toMatchObject({ deleted: 1, natDeleted: 1, natPairs: [] });
    expect(nat.size()).toBe(0);
    expect(nat.remoteUsage()[0]!.inUse).toBe(0);
  });

  it('purgeOrphanNat deletes NAT entries whose flow has no CT entry (v1.10 gateway: all of them)', () => {
    const c = ct('1.17');
    const nat = new NatTable(1024, '1.17');
    natFor(c, nat, 40000);
    nat.snatV4Nat(IPPROTO_TCP, ip('10.0.1.209'), EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT,
      { addr: EGRESS_IP, minPort: 32768, maxPort: 65535, needsCt: true, fromEndpoint: false }, T0, new Rng(1), newSnatResult());
    expect(nat.size()).toBe(4);
    expect(purgeOrphanNat(nat, c)).toBe(2);
    expect(nat.size()).toBe(2);
    expect(nat.findOut(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT)).toBeGreaterThanOrEqual(0);
    expect(purgeOrphanNat(nat, ct('1.10'))).toBe(2);
  });
});

describe('map bounds', () => {
  it('LRU: a full map evicts the least recently used entry silently', () => {
    const c = ct('1.17', { maxTcp: 2 });
    open(c);
    c.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 2, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0, SEC_ID);
    req(c, TCP_FLAG_ACK, T0 + 1); // touches the first flow
    expect(c.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 3, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0, SEC_ID)).toBe(0);
    expect(c.size()).toBe(2);
    expect(c.evictions()).toBe(1);
    expect(req(c, TCP_FLAG_ACK, T0 + 2)).toBe(CT_ESTABLISHED);
    expect(c.lookup4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 2, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_ACK, 60, T0 + 2)).toBe(CT_NEW);
  });

  it('a full non-LRU map refuses the create with DROP_CT_CREATE_FAILED (-155)', () => {
    const c = ct('1.17', { maxTcp: 1, lru: false });
    open(c);
    expect(c.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 2, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0, SEC_ID)).toBe(DROP_CT_CREATE_FAILED);
    expect(c.createFailures).toBe(1);
  });
});

describe('rows for the dashboard', () => {
  it('most recently used first, with the NAT translation when a table is given', () => {
    const c = ct('1.17');
    const nat = new NatTable(1024, '1.17');
    open(c);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT,
      { addr: EGRESS_IP, minPort: 32768, maxPort: 65535, needsCt: true, fromEndpoint: false }, T0, new Rng(1), newSnatResult());
    c.create4(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, 5353, 53, CT_EGRESS, 0, 80, T0 + 1, SEC_ID);
    const rows = c.rows(T0 + 1, 10, nat);
    // The UDP entry was used last: it comes first although it lives in the other map.
    expect(rows[0]).toMatchObject({ tuple: 'UDP OUT 10.0.0.31:5353 -> 1.2.3.4:53', state: 'ANY', nat: '', lifetimeLeft: 60 });
    expect(rows[1]).toMatchObject({ tuple: 'TCP OUT 10.0.0.31:45678 -> 1.2.3.4:80', state: 'SYN', nat: '172.18.0.3:45678' });
    expect(c.rows(T0, 1)).toHaveLength(1);
    // A packet of the TCP flow makes it the most recently used again.
    req(c, TCP_FLAG_ACK, T0 + 2);
    expect(c.rows(T0 + 2, 10).map((r) => r.tuple.slice(0, 3))).toEqual(['TCP', 'UDP']);
    expect(c.rows(T0 + 2, 0)).toEqual([]);
  });

  it('the row limit keeps the most recently used entries of both maps, not the whole TCP map first', () => {
    const c = ct('1.17');
    // Ten old TCP flows, then three recent UDP flows, then one of the old TCP flows is used again.
    for (let p = 0; p < 10; p++) c.create4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000 + p, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_SYN, 60, T0, SEC_ID);
    for (let p = 0; p < 3; p++) c.create4(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, 5000 + p, 53, CT_EGRESS, 0, 80, T0 + 10, SEC_ID);
    expect(c.lookup4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40003, EXTERNAL_SVC_PORT, CT_EGRESS, TCP_FLAG_ACK, 60, T0 + 20)).toBe(CT_ESTABLISHED);
    const tuples = c.rows(T0 + 20, 5).map((r) => r.tuple);
    expect(tuples).toEqual([
      'TCP OUT 10.0.0.31:40003 -> 1.2.3.4:80',
      'UDP OUT 10.0.0.31:5002 -> 1.2.3.4:53',
      'UDP OUT 10.0.0.31:5001 -> 1.2.3.4:53',
      'UDP OUT 10.0.0.31:5000 -> 1.2.3.4:53',
      'TCP OUT 10.0.0.31:40009 -> 1.2.3.4:80',
    ]);
    // Without a binding limit, every entry once, most recent first.
    const all = c.rows(T0 + 20, 100);
    expect(all).toHaveLength(13);
    expect(new Set(all.map((r) => r.tuple)).size).toBe(13);
    expect(all.at(-1)!.tuple).toBe('TCP OUT 10.0.0.31:40000 -> 1.2.3.4:80');
  });
});
