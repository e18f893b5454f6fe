/**
 * The comparison allocators (linux-nat.md) on the same NAT table as Cilium's.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../dataplane/lib/rng.ts';
import { createAllocator, LinuxAllocator, CiliumAllocator } from '../../../dataplane/lib/allocators.ts';
import { NatTable, newSnatResult, NAT_OK, DROP_NAT_NO_MAPPING, IPPROTO_TCP, IPPROTO_ICMP, type SnatTarget } from '../../../dataplane/lib/nat.ts';
import { UsageError } from '../../../traces/errors.ts';

const ip = (s: string): number => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
const CLIENT_IP = ip('192.168.0.1');
const CLIENT_IP_2 = ip('192.168.0.2');
const EXTERNAL_SVC_IP = ip('110.0.11.1');
const EXTERNAL_SVC_IP_2 = ip('110.0.11.2');
const EXTERNAL_SVC_PORT = 1234;
const EGRESS_IP = ip('1.2.3.4');
const NOW = 1000;
const TARGET: SnatTarget = { addr: EGRESS_IP, minPort: 32768, maxPort: 65535, needsCt: false, fromEndpoint: true };

class FixedRng extends Rng {
  constructor(private readonly v: number) {
    super(0);
  }
  override u32(): number {
    return this.v;
  }
}

describe('createAllocator', () => {
  it('resolves names, cilium per profile; unknown names are a usage error', () => {
    expect(createAllocator('cilium', '1.10').name).toBe('cilium-1.10');
    expect(createAllocator('cilium', '1.17').name).toBe('cilium-1.17');
    expect(createAllocator('linux', '1.17').name).toBe('linux');
    expect(createAllocator('linux-random-fully', '1.17').name).toBe('linux-random-fully');
    expect(() => createAllocator('bsd', '1.17')).toThrow(UsageError);
  });

  it('the cilium allocator object gives the same ports as the built-in path', () => {
    const ports = (nat: NatTable): number[] => {
      const rng = new Rng(77);
      const out = newSnatResult();
      const got: number[] = [];
      for (let i = 0; i < 30; i++) {
        nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, TARGET, NOW, rng, out);
        got.push(out.toPort);
      }
      return got;
    };
    expect(ports(new NatTable(1024, '1.17', { allocator: new CiliumAllocator('1.17') }))).toEqual(ports(new NatTable(1024, '1.17')));
    // And a 1.10 allocator on a 1.17 table walks +2 after the first random.
    const nat = new NatTable(1024, '1.17', { allocator: new CiliumAllocator('1.10'), record: true });
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, TARGET, NOW, new Rng(1), out);
    nat.createMapping(IPPROTO_TCP, ip('10.9.9.9'), EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, EGRESS_IP, 40002, TARGET, NOW);
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, TARGET, NOW, new FixedRng(7232), out);
    expect(out.candidates).toEqual([40000, 40000, 40002, 40004]);
  });
});

describe('linux (nf_nat default)', () => {
  it('keeps the original port when the reply tuple is free, also below 32768 and towards another remote', () => {
    const nat = new NatTable(1024, '1.17', { allocator: new LinuxAllocator() });
    const out = newSnatResult();
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 19362, EXTERNAL_SVC_PORT, TARGET, NOW, new Rng(1), out)).toBe(NAT_OK);
    expect(out).toMatchObject({ toPort: 19362, retries: 0 });
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP_2, 19362, EXTERNAL_SVC_PORT, TARGET, NOW, new Rng(1), out)).toBe(NAT_OK);
    expect(out).toMatchObject({ toPort: 19362, retries: 0 });
  });

  it('on collision walks upwards from a random offset in 1024-65535, skipping taken ports', () => {
    const nat = new NatTable(1024, '1.17', { allocator: new LinuxAllocator(), record: true });
    const out = newSnatResult();
    nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, TARGET, NOW, new Rng(1), out);
    for (let p = 40001; p <= 40004; p++) nat.createMapping(IPPROTO_TCP, ip('10.9.0.0') + p, EXTERNAL_SVC_IP, p, EXTERNAL_SVC_PORT, EGRESS_IP, p, TARGET, NOW);
    // offset 38976: 1024 + 38976 % 64512 = 40000.
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP_2, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, TARGET, NOW, new FixedRng(38976), out)).toBe(NAT_OK);
    expect(out.candidates).toEqual([40000, 40000, 40001, 40002, 40003, 40004, 40005]);
    expect(out).toMatchObject({ toPort: 40005, retries: 6 });
  });

  it('with the target range: an 8-port range is used up exactly, then 167 after one keep and one round', () => {
    const nat = new NatTable(1024, '1.17', { allocator: new LinuxAllocator({ range: 'target' }) });
    const t = { ...TARGET, minPort: 50000, maxPort: 50007 };
    const out = newSnatResult();
    const rng = new Rng(3);
    const ports: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(NAT_OK);
      ports.push(out.toPort);
    }
    expect(ports.sort()).toEqual([50000, 50001, 50002, 50003, 50004, 50005, 50006, 50007]);
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + 8, EXTERNAL_SVC_IP, 1000, EXTERNAL_SVC_PORT, t, NOW, rng, out)).toBe(DROP_NAT_NO_MAPPING);
    expect(out.retries).toBe(1 + 8);
  });

  it('rounds of 128, 64, 32, 16 and 8 attempts when a large range is taken', () => {
    const nat = new NatTable(4096, '1.17', { allocator: new LinuxAllocator({ range: 'target' }) });
    const t = { ...TARGET, minPort: 50000, maxPort: 50299 };
    for (let p = 50000; p <= 50299; p++) nat.createMapping(IPPROTO_TCP, ip('10.9.0.0') + p, EXTERNAL_SVC_IP, p, EXTERNAL_SVC_PORT, EGRESS_IP, p, t, NOW);
    const out = newSnatResult();
    expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP, EXTERNAL_SVC_IP, 50000, EXTERNAL_SVC_PORT, t, NOW, new Rng(1), out)).toBe(DROP_NAT_NO_MAPPING);
    expect(out.retries).toBe(1 + 128 + 64 + 32 + 16 + 8);
  });
});

describe('linux-random-fully', () => {
  it('never keeps the port, and the same seed gives the same ports (ICMP ids too)', () => {
    const run = (seed: number): number[] => {
      const nat = new NatTable(1024, '1.17', { allocator: createAllocator('linux-random-fully', '1.17'), record: true });
      const rng = new Rng(seed);
      const out = newSnatResult();
      const got: number[] = [];
      for (let i = 0; i < 10; i++) {
        expect(nat.snatV4Nat(IPPROTO_TCP, CLIENT_IP + i, EXTERNAL_SVC_IP, 40000, EXTERNAL_SVC_PORT, TARGET, NOW, rng, out)).toBe(NAT_OK);
        expect(out.candidates![0]).not.toBe(40000);
        expect(out.toPort).toBeGreaterThanOrEqual(1024);
        got.push(out.toPort);
      }
      nat.snatV4Nat(IPPROTO_ICMP, CLIENT_IP, EXTERNAL_SVC_IP, 7, 0, TARGET, NOW, rng, out);
      got.push(out.toPort);
      return got;
    };
    const a = run(5);
    expect(run(5)).toEqual(a);
    expect(run(6)).not.toEqual(a);
    expect(a.slice(0, 10).filter((p) => p === 40000)).toHaveLength(0);
  });
});
