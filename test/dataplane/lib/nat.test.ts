/**
 * SNAT map and snat_v4_new_mapping, in the style of Cilium's bpf/tests (tc_egressgw_snat.c,
 * bpf_nat_tests.c): set up the map, run the function, check the mapping and the entries.
 * Tests in a describe share nothing; each builds its own table.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../dataplane/lib/rng.ts';
import {
  NatTable, newSnatResult, clampPortV110, clampPortV117, DROP_NAT_NO_MAPPING, NAT_OK, IPPROTO_TCP, IPPROTO_UDP,
  IPPROTO_ICMP, type SnatTarget, type Profile,
} from '../../../dataplane/lib/nat.ts';

const ip = (s: string): number => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);

// Fixture constants, named after bpf/tests/lib/egressgw.h.
const CLIENT_IP = ip('192.168.0.1');
const CLIENT_IP_2 = ip('192.168.0.2');
const CLIENT_IP_3 = ip('192.168.0.3');
const CLIENT_PORT = 40000;
const EXTERNAL_SVC_IP = ip('110.0.11.1');
const EXTERNAL_SVC_IP_2 = ip('110.0.11.2');
const EXTERNAL_SVC_PORT = 1234;
const EGRESS_IP = ip('1.2.3.4');
const EGRESS_IP2 = ip('1.2.3.5');
const NOW = 1000;

function target(over: Partial<SnatTarget> = {}): SnatTarget {
  return { addr: EGRESS_IP, minPort: 32768, maxPort: 65535, needsCt: true, fromEndpoint: false, ...over };
}

/** An Rng whose u32() returns fixed values in turn (then repeats the last). */
class FixedRng extends Rng {
  private i = 0;
  constructor(private readonly values: number[]) {
    super(0);
  }
  override u32(): number {
    const v = this.values[Math.min(this.i, this.values.length - 1)]!;
    this.i++;
    return v >>> 0;
  }
}

describe('snat_v4_nat: first packet and reuse', () => {
  for (const profile of ['1.10', '1.17'] as Profile[]) {
    it(`${profile}: keeps an in-range source port and writes both entries, reverse pointing back`, () => {
      const nat = new NatTable(1024, profile);
      const out = newSnatResult();
      const ret = nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
      expect(ret).toBe(NAT_OK);
      expect(out).toMatchObject({ toAddr: EGRESS_IP, toPort: CLIENT_PORT, retries: 0, created: true, fillUp: false });
      expect(nat.size()).toBe(2);
      const r = nat.findIn(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP, CLIENT_PORT);
      expect(r).toBeGreaterThanOrEqual(0);
      expect(nat.toAddrOf(r)).toBe(CLIENT_IP);
      expect(nat.toPortOf(r)).toBe(CLIENT_PORT);

      // Second packet of the flow: the mapping is reused, nothing new is made.
      const again = newSnatResult();
      expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW + 1, new Rng(2), again)).toBe(NAT_OK);
      expect(again).toMatchObject({ toAddr: EGRESS_IP, toPort: CLIENT_PORT, created: false, retries: 0 });
      expect(nat.size()).toBe(2);
      expect(nat.allocations).toBe(1);
    });
  }

  it('an out-of-range source port gets a random in-range port, the same for the same seed', () => {
    const ports = (seed: number): number[] => {
      const nat = new NatTable(1024, '1.17');
      const out = newSnatResult();
      const rng = new Rng(seed);
      const got: number[] = [];
      for (let i = 0; i < 20; i++) {
        expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, target(), NOW, rng, out)).toBe(NAT_OK);
        got.push(out.toPort);
      }
      return got;
    };
    const a = ports(7);
    expect(ports(7)).toEqual(a);
    expect(ports(8)).not.toEqual(a);
    for (const p of a) {
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThanOrEqual(65535);
      expect(p).not.toBe(1000);
    }
  });
});

describe('tuple collision (tc_egressgw_tuple_collision)', () => {
  for (const profile of ['1.10', '1.17'] as Profile[]) {
    it(`${profile}: two clients with the same source port to one ext ip:port get different ports; both reverse entries exist`, () => {
      const nat = new NatTable(1024, profile);
      const rng = new Rng(42);
      const o1 = newSnatResult();
      const o2 = newSnatResult();
      expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, o1)).toBe(NAT_OK);
      expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, o2)).toBe(NAT_OK);
      expect(o1.toPort).toBe(CLIENT_PORT);
      expect(o2.toPort).not.toBe(CLIENT_PORT);
      expect(o2.retries).toBeGreaterThanOrEqual(1);
      expect(nat.collisions).toBe(1);
      // Replies find their own client.
      const rev = newSnatResult();
      expect(nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT, o1.toPort, NOW, rev)).toBe(true);
      expect([rev.toAddr, rev.toPort]).toEqual([CLIENT_IP, CLIENT_PORT]);
      expect(nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT, o2.toPort, NOW, rev)).toBe(true);
      expect([rev.toAddr, rev.toPort]).toEqual([CLIENT_IP_2, CLIENT_PORT]);
      expect(nat.size()).toBe(4);
    });
  }

  it('the same port is reused towards a different remote endpoint (5-tuple-dependent)', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP_2, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    expect(out).toMatchObject({ toPort: CLIENT_PORT, retries: 0 });
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_3, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT + 1, target(), NOW, new Rng(1), out);
    expect(out).toMatchObject({ toPort: CLIENT_PORT, retries: 0 });
    expect(nat.collisions).toBe(0);
  });

  it('TCP and UDP flows with the same ports do not collide', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    nat.snatV4Nat(IPPROTO_UDP, CLIENT_IP_2, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    expect(out).toMatchObject({ toPort: CLIENT_PORT, retries: 0, created: true });
  });
});

describe('retry sequences (__snat_clamp_port_range)', () => {
  it('clamp formulas: v1.10 modulo, main multiply-shift', () => {
    expect(clampPortV110(32768, 65535, 40001)).toBe(40002);
    expect(clampPortV110(32768, 65535, 65534)).toBe(32768);
    expect(clampPortV110(32768, 65535, 65535)).toBe(32769);
    expect(clampPortV110(32768, 65535, 0)).toBe(32768);
    expect(clampPortV117(32768, 65535, 40001)).toBe(52768);
    expect(clampPortV117(32768, 65535, 0)).toBe(32768);
    expect(clampPortV117(32768, 65535, 65535)).toBe(65535);
    // Only the low 16 bits of the random value count.
    expect(clampPortV117(32768, 65535, 0x1_0000 + 40001)).toBe(52768);
  });

  /**
   * Kept port taken, then the first random candidate is forced to 40000 (FixedRng) and
   * taken too; the following candidates are clamp(p+1) and must be exactly the fact
   * sheet's sequence. The reverse tuples of the expected candidates are pre-occupied so
   * the loop walks through them.
   */
  function walk(profile: Profile, randomFor40000: number, expected: number[]): void {
    const nat = new NatTable(4096, profile, { record: true });
    const out = newSnatResult();
    const occupy = (port: number, client: number): void => {
      expect(nat.createMapping(IPPROTO_TCP, client, EXTERNAL_SVC_IP, port, EXTERNAL_SVC_PORT, EGRESS_IP, port, target(), NOW)).toBe(true);
    };
    occupy(CLIENT_PORT + 1, CLIENT_IP_3); // the kept port of the client below
    occupy(40000, ip('10.9.0.0'));
    expected.slice(0, -1).forEach((p, i) => occupy(p, ip('10.9.1.0') + i));
    const ret = nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT + 1, EXTERNAL_SVC_PORT, target(), NOW,
      new FixedRng([randomFor40000]), out);
    expect(ret).toBe(NAT_OK);
    expect(out.candidates).toEqual([CLIENT_PORT + 1, 40000, ...expected]);
    expect(out.toPort).toBe(expected[expected.length - 1]);
    expect(out.retries).toBe(expected.length + 1);
  }

  it('v1.10 from 40000: 40002, 40004, 40006, 40008, 40010', () => {
    walk('1.10', 7232, [40002, 40004, 40006, 40008, 40010]);
  });

  it('1.17 from 40000: 52768, 59152, 62344, 63940, 64738', () => {
    walk('1.17', 14464, [52768, 59152, 62344, 63940, 64738]);
  });

  it('v1.10 wraps near the top: 65533 → 32768 → 32770', () => {
    // clamp(65533 + 1) = 32768; random for 65533: 32768 + v % 32767 = 65533 → v = 32765.
    const nat = new NatTable(4096, '1.10', { record: true });
    nat.createMapping(IPPROTO_TCP, CLIENT_IP_3, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, EGRESS_IP, 40000, target(), NOW);
    nat.createMapping(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, 65533, EXTERNAL_SVC_PORT, EGRESS_IP, 65533, target(), NOW);
    nat.createMapping(IPPROTO_TCP, ip('10.9.0.1'), EXTERNAL_SVC_IP, 32768, EXTERNAL_SVC_PORT, EGRESS_IP, 32768, target(), NOW);
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, target(), NOW, new FixedRng([32765]), out);
    expect(out.candidates).toEqual([40000, 65533, 32768, 32770]);
    expect(out.toPort).toBe(32770);
  });
});

describe('port exhaustion (DROP_NAT_NO_MAPPING)', () => {
  it('1.17, min == max: the first flow gets the port, the second is dropped with 167 after 128 retries and signals fill-up', () => {
    const nat = new NatTable(1024, '1.17');
    const t = target({ minPort: 32768, maxPort: 32768 });
    const out = newSnatResult();
    const rng = new Rng(3);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(NAT_OK);
    expect(out.toPort).toBe(32768);
    expect(nat.natFillUpSignals).toBe(0);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(DROP_NAT_NO_MAPPING);
    expect(out).toMatchObject({ retries: 128, created: false, fillUp: true });
    expect(nat.natFillUpSignals).toBe(1);
    expect(nat.allocFailures).toBe(1);
    expect(nat.size()).toBe(2);
    // Another remote still has the whole (one-port) range.
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP_2, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(NAT_OK);
  });

  it('v1.10, 8-port range starting at a multiple of 7: 7 flows succeed (min..min+6), the 8th gets 167 although max is free — it can only be kept', () => {
    // clamp(p+1) = min + (p+1) mod 7 steps by +1 only when min ≡ 0 (mod max-min); 49994 = 7 × 7142.
    const nat = new NatTable(1024, '1.10');
    const t = target({ minPort: 49994, maxPort: 50001 });
    const out = newSnatResult();
    const rng = new Rng(11);
    const ports: number[] = [];
    for (let i = 0; i < 7; i++) {
      expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(NAT_OK);
      ports.push(out.toPort);
    }
    expect(ports.sort()).toEqual([49994, 49995, 49996, 49997, 49998, 49999, 50000]);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + 7, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(DROP_NAT_NO_MAPPING);
    expect(out.retries).toBe(128);
    // A client whose own port is the top of the range keeps it.
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + 8, EXTERNAL_SVC_IP, 50001, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(NAT_OK);
    expect(out.toPort).toBe(50001);
  });

  it('v1.10 modulo clamp can get stuck: with min ≡ -1 (mod max-min) clamp(p+1) = p, so the walk repeats one port', () => {
    const nat = new NatTable(1024, '1.10', { record: true });
    const t = target({ minPort: 50000, maxPort: 50007 }); // 50001 ≡ 0 (mod 7)
    const out = newSnatResult();
    for (let p = 50000; p <= 50006; p++) nat.createMapping(IPPROTO_TCP, CLIENT_IP_3 + p, EXTERNAL_SVC_IP, p, EXTERNAL_SVC_PORT, EGRESS_IP, p, t, NOW);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, new Rng(4), out)).toBe(DROP_NAT_NO_MAPPING);
    const walk = out.candidates!.slice(2);
    expect(walk).toHaveLength(126);
    expect(new Set(walk).size).toBe(1);
    expect(walk[0]).toBe(out.candidates![1]);
  });

  it('v1.10 with smallInsnLimit: 32 retries and the fill-up signal above 16', () => {
    const nat = new NatTable(1024, '1.10', { smallInsnLimit: true });
    const t = target({ minPort: 50000, maxPort: 50000 });
    const out = newSnatResult();
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, new Rng(1), out)).toBe(NAT_OK);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, new Rng(1), out)).toBe(DROP_NAT_NO_MAPPING);
    expect(out.retries).toBe(32);
    expect(out.fillUp).toBe(true);
  });

  it('1.17 with a 64-port range gives up before the range is full (the bounded search, cilium#34088)', () => {
    const nat = new NatTable(4096, '1.17');
    const t = target({ minPort: 50000, maxPort: 50063 });
    const out = newSnatResult();
    const rng = new Rng(5);
    let ok = 0;
    let firstFail = -1;
    for (let i = 0; i < 64; i++) {
      const ret = nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out);
      if (ret === NAT_OK) ok++;
      else if (firstFail < 0) firstFail = i;
    }
    expect(firstFail).toBeGreaterThan(0);
    expect(ok).toBeLessThan(64);
    const usage = nat.remoteUsage()[0]!;
    expect(usage.inUse).toBe(ok);
    expect(usage.failures).toBe(64 - ok);
  });
});

describe('reserved ports (our rule after cilium#45569)', () => {
  it('the tunnel port is never chosen, not even kept; the option turns the rule off', () => {
    const t = target({ minPort: 8472, maxPort: 8472 });
    const out = newSnatResult();
    const nat = new NatTable(1024, '1.17', { reservedPorts: [8472] });
    expect(nat.snatV4Nat(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, 8472, 53, t, NOW, new Rng(1), out)).toBe(DROP_NAT_NO_MAPPING);
    const off = new NatTable(1024, '1.17', { reservedPorts: [8472], skipReservedPorts: false });
    expect(off.snatV4Nat(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, 8472, 53, t, NOW, new Rng(1), out)).toBe(NAT_OK);
    expect(out.toPort).toBe(8472);
  });

  it('a reserved candidate counts as taken and the walk goes on (default: 8472 and 6081)', () => {
    const nat = new NatTable(1024, '1.17', { record: true });
    const t = target({ minPort: 8000, maxPort: 9000 });
    const out = newSnatResult();
    expect(nat.snatV4Nat(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP, 8472, 53, t, NOW, new Rng(9), out)).toBe(NAT_OK);
    expect(out.candidates![0]).toBe(8472);
    expect(out.toPort).not.toBe(8472);
    expect(out.retries).toBe(1);
  });
});

describe('ICMP echo: the identifier is the port', () => {
  it('egress echo (sport=id, dport=0) keeps the id, the reply (sport=0, dport=id) is rev-NATed', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    const ID = 45000;
    expect(nat.snatV4Nat(IPPROTO_ICMP, CLIENT_IP, EXTERNAL_SVC_IP, ID, 0, target(), NOW, new Rng(1), out)).toBe(NAT_OK);
    expect(out.toPort).toBe(ID);
    expect(nat.snatV4Nat(IPPROTO_ICMP, CLIENT_IP_2, EXTERNAL_SVC_IP, ID, 0, target(), NOW, new Rng(1), out)).toBe(NAT_OK);
    const id2 = out.toPort;
    expect(id2).not.toBe(ID);
    const rev = newSnatResult();
    expect(nat.snatV4RevNat(IPPROTO_ICMP, EXTERNAL_SVC_IP, EGRESS_IP, 0, id2, NOW, rev)).toBe(true);
    expect([rev.toAddr, rev.toPort]).toEqual([CLIENT_IP_2, ID]);
    expect(nat.format(NOW, '1.17')).toContain(`ICMP IN 110.0.11.1:0 -> 1.2.3.4:${id2} XLATE_DST 192.168.0.2:${ID}`);
  });
});

describe('existing mapping rules per profile', () => {
  it('v1.10 reuses an existing mapping as is, even after the egress IP changed', () => {
    const nat = new NatTable(1024, '1.10');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target({ addr: EGRESS_IP2 }), NOW, new Rng(1), out);
    expect(out).toMatchObject({ toAddr: EGRESS_IP, created: false });
  });

  it('1.17 replaces the pair when the egress IP changed (tuple_collision2)', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target({ addr: EGRESS_IP2 }), NOW, new Rng(1), out);
    expect(out).toMatchObject({ toAddr: EGRESS_IP2, toPort: CLIENT_PORT, created: true });
    expect(nat.size()).toBe(2);
    expect(nat.reverseTaken(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP, CLIENT_PORT)).toBe(false);
    expect(nat.reverseTaken(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP2, CLIENT_PORT)).toBe(true);
  });

  it('1.17 replaces the pair when needs_ct differs', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target({ needsCt: false }), NOW, new Rng(1), out);
    expect(out.needsCt).toBe(false);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target({ needsCt: true }), NOW, new Rng(1), out);
    expect(out).toMatchObject({ created: true, needsCt: true });
  });

  it('1.17 re-creates a missing reverse entry; v1.10 does not', () => {
    for (const profile of ['1.17', '1.10'] as Profile[]) {
      const nat = new NatTable(1024, profile);
      const out = newSnatResult();
      nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
      nat.deleteSlot(nat.findIn(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP, CLIENT_PORT));
      nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
      expect(out.created).toBe(false);
      expect(nat.reverseTaken(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP, CLIENT_PORT)).toBe(profile === '1.17');
    }
  });
});

describe('snat_v4_rev_nat', () => {
  it('passes through ports outside the NAT range, misses in range without dropping, finds mappings', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target({ needsCt: true }), NOW, new Rng(1), out);
    const rev = newSnatResult();
    expect(nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT, 22, NOW, rev)).toBe(false);
    expect(rev.inRange).toBe(false);
    expect(nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT, 40001, NOW, rev)).toBe(false);
    expect(rev.inRange).toBe(true);
    expect(nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT, CLIENT_PORT, NOW, rev)).toBe(true);
    expect(rev).toMatchObject({ toAddr: CLIENT_IP, toPort: CLIENT_PORT, needsCt: true });
    // A reply from another port of the same server is not this flow.
    expect(nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT + 1, CLIENT_PORT, NOW, rev)).toBe(false);
  });

  it('deleteMapping4 removes both entries of the flow', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, new Rng(1), out);
    expect(nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT)).toBe(true);
    expect(nat.size()).toBe(2);
    expect(nat.reverseTaken(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP, CLIENT_PORT)).toBe(false);
    expect(nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT)).toBe(false);
  });
});

describe('cilium bpf nat list', () => {
  it('prints both versions\' line shapes, sorted OUT before IN', () => {
    for (const profile of ['1.17', '1.10'] as Profile[]) {
      const nat = new NatTable(1024, profile);
      const out = newSnatResult();
      nat.snatV4Nat(IPPROTO_TCP, ip('10.0.0.31'), ip('1.2.3.4'), 45678, 80,
        target({ addr: ip('172.18.0.3'), needsCt: true }), 100, new Rng(1), out);
      const text = nat.format(112);
      if (profile === '1.17') {
        expect(text).toBe(
          'TCP OUT 10.0.0.31:45678 -> 1.2.3.4:80 XLATE_SRC 172.18.0.3:45678 Created=12sec ago NeedsCT=1\n'
          + 'TCP IN 1.2.3.4:80 -> 172.18.0.3:45678 XLATE_DST 10.0.0.31:45678 Created=12sec ago NeedsCT=1\n');
      } else {
        expect(text).toBe(
          'TCP OUT 10.0.0.31:45678 -> 1.2.3.4:80 XLATE_SRC 172.18.0.3:45678 Created=12sec HostLocal=0\n'
          + 'TCP IN 1.2.3.4:80 -> 172.18.0.3:45678 XLATE_DST 10.0.0.31:45678 Created=12sec HostLocal=0\n');
      }
    }
  });
});

describe('LRU and per-remote usage', () => {
  it('a full map evicts the least recently used entries and the in-use count follows', () => {
    const nat = new NatTable(4, '1.17', { initialCapacity: 2 });
    const out = newSnatResult();
    const rng = new Rng(1);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, 40001, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    expect(nat.remoteUsage()[0]!.inUse).toBe(2);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_3, EXTERNAL_SVC_IP, 40002, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    expect(nat.size()).toBe(4);
    // Client 1's two entries were the oldest.
    expect(nat.findOut(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT)).toBe(-1);
    expect(nat.reverseTaken(IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT, EGRESS_IP, 40000)).toBe(false);
    const u = nat.remoteUsage()[0]!;
    expect(u).toMatchObject({ egressIp: '1.2.3.4', remote: 'TCP 110.0.11.1:1234', inUse: 2, allocations: 3, rangeSize: 32768 });
    expect(nat.portsInUse(EGRESS_IP, IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT)).toEqual([40001, 40002]);
  });

  it('counts collisions and the retries histogram per remote; port strips list ports sorted', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    const rng = new Rng(2);
    for (let i = 0; i < 5; i++) nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    nat.snatV4Nat(IPPROTO_UDP, CLIENT_IP, EXTERNAL_SVC_IP_2, CLIENT_PORT, 53, target(), NOW, rng, out);
    const rows = nat.remoteUsage();
    expect(rows.map((r) => r.remote)).toEqual(['TCP 110.0.11.1:1234', 'UDP 110.0.11.2:53']);
    expect(rows[0]).toMatchObject({ inUse: 5, allocations: 5, collisions: 4, failures: 0 });
    expect(rows[0]!.retries.reduce((a, b) => a + b, 0)).toBe(5);
    expect(rows[0]!.retries[0]).toBe(1);
    const strips = nat.portStrips(1);
    expect(strips).toHaveLength(1);
    expect(strips[0]!.ports).toHaveLength(5);
    expect(strips[0]!.ports).toEqual([...strips[0]!.ports].sort((a, b) => a - b));
    expect(strips[0]!.ports).toContain(CLIENT_PORT);
  });

  it('port strips of a busy gateway: every port in use per remote, sorted, the busiest remote first', () => {
    const nat = new NatTable(65536, '1.17');
    const out = newSnatResult();
    const rng = new Rng(4);
    // 3000 connections to one remote, 1000 to another: most ports are random picks above
    // 32767, so the strip must hold the whole u16 range.
    for (let i = 0; i < 3000; i++) nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + (i % 50), EXTERNAL_SVC_IP, 1024 + i, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    for (let i = 0; i < 1000; i++) nat.snatV4Nat(IPPROTO_UDP, CLIENT_IP + (i % 50), EXTERNAL_SVC_IP_2, 1024 + i, 53, target(), NOW, rng, out);
    const strips = nat.portStrips(4);
    expect(strips.map((s) => [s.remote, s.ports.length])).toEqual([['TCP 110.0.11.1:1234', 3000], ['UDP 110.0.11.2:53', 1000]]);
    expect(strips[0]!.ports).toEqual(nat.portsInUse(EGRESS_IP, IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT).sort((a, b) => a - b));
    expect(strips[1]!.ports).toEqual(nat.portsInUse(EGRESS_IP, IPPROTO_UDP, EXTERNAL_SVC_IP_2, 53).sort((a, b) => a - b));
    expect(strips[0]!.ports.some((p) => p > 32767)).toBe(true);
    for (const st of strips) for (let i = 1; i < st.ports.length; i++) expect(st.ports[i]!).toBeGreaterThan(st.ports[i - 1]!);
  });

  it('dumps and usage scans read the same after lookups touched the entries (LRU reference bits)', () => {
    const nat = new NatTable(1024, '1.17');
    const out = newSnatResult();
    const rng = new Rng(3);
    const send = () => {
      for (let i = 0; i < 5; i++) nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    };
    send();
    const dump = nat.format(NOW + 1);
    const ports = nat.portsInUse(EGRESS_IP, IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT);
    const strips = nat.portStrips(1);
    expect(ports).toHaveLength(5);
    // Second packets: OUT hits and IN touches set the reference bits of all ten entries.
    send();
    for (const p of ports) nat.snatV4RevNat(IPPROTO_TCP, EXTERNAL_SVC_IP, EGRESS_IP, EXTERNAL_SVC_PORT, p, NOW, out);
    expect(nat.format(NOW + 1)).toBe(dump);
    expect(nat.portsInUse(EGRESS_IP, IPPROTO_TCP, EXTERNAL_SVC_IP, EXTERNAL_SVC_PORT)).toEqual(ports);
    expect(nat.portStrips(1)).toEqual(strips);
    expect(nat.remoteUsage()[0]!.inUse).toBe(5);
  });
});

describe('per-remote usage over a long stream', () => {
  // A stream toward ever new destinations must not keep a row per remote for ever.
  it('past keepRemotes, a remote whose last port is released is folded into its egress address\'s totals', () => {
    const nat = new NatTable(1024, '1.17', { keepRemotes: 2 });
    const rng = new Rng(1);
    const out = newSnatResult();
    const remote = (i: number) => (EXTERNAL_SVC_IP + i) >>> 0;
    // Five remotes, one mapping each; remote 0 also gets a second flow from the same port,
    // which must collide (one retry).
    for (let i = 0; i < 5; i++) expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, remote(i), CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, out)).toBe(NAT_OK);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, remote(0), CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, out)).toBe(NAT_OK);
    expect(out.retries).toBe(1);
    expect(nat.remoteUsage()).toHaveLength(5);
    expect(nat.retiredUsage()).toEqual([]);
    // Remote 0 released: with five rows (> 2) it goes, its counters kept in the totals.
    nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP, remote(0), CLIENT_PORT, EXTERNAL_SVC_PORT);
    expect(nat.remoteUsage().map((r) => r.remoteAddr - EXTERNAL_SVC_IP)).toEqual([0, 1, 2, 3, 4]);
    nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP_2, remote(0), CLIENT_PORT, EXTERNAL_SVC_PORT);
    for (const i of [1, 2, 3]) nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP, remote(i), CLIENT_PORT, EXTERNAL_SVC_PORT);
    // 0, 1 and 2 retired (5, 4, 3 rows left > 2); at 2 rows remote 3 is kept though idle.
    expect(nat.remoteUsage().map((r) => [r.remoteAddr - EXTERNAL_SVC_IP, r.inUse])).toEqual([[3, 0], [4, 1]]);
    const retries = new Array<number>(33).fill(0);
    retries[0] = 3;
    retries[1] = 1;
    expect(nat.retiredUsage()).toEqual([
      { egressAddr: EGRESS_IP, egressIp: '1.2.3.4', remotes: 3, allocations: 4, collisions: 1, failures: 0, retries },
    ]);
    // The freed histogram block is reused, zeroed: a new remote's first collision counts once.
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, remote(9), CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, remote(9), CLIENT_PORT, EXTERNAL_SVC_PORT, target(), NOW, rng, out);
    const r9 = nat.remoteUsage().find((r) => r.remoteAddr === remote(9))!;
    expect([r9.allocations, r9.collisions, r9.retries[0], r9.retries[1]]).toEqual([2, 1, 1, 1]);
  });
});

describe('per-remote usage with a full usage table', () => {
  it('a reverse entry made while the table was full does not take a port off a row made later', () => {
    const nat = new NatTable(1024, '1.17', { keepRemotes: 1, maxRemotes: 2 });
    const rng = new Rng(1);
    const out = newSnatResult();
    const X = ip('110.0.0.1');
    const Y = ip('110.0.0.2');
    const Z = ip('110.0.0.3');
    const map = (dst: number, sport: number) => nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, dst, sport, 80, target(), NOW, rng, out);
    map(X, 40001);
    map(Y, 40002);
    map(Z, 40003); // the usage table is full: Z is not tracked
    expect(nat.untrackedRemoteAllocations).toBe(1);
    nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP, X, 40001, 80); // X released and folded: a row is free
    map(Z, 40004); // Z tracked now, one port in use
    nat.deleteMapping4(IPPROTO_TCP, CLIENT_IP, Z, 40003, 80); // the untracked entry goes
    expect(nat.portsInUse(EGRESS_IP, IPPROTO_TCP, Z, 80)).toHaveLength(1);
    expect(nat.remoteUsage().find((r) => r.remoteAddr === Z)?.inUse).toBe(1);
  });
});
