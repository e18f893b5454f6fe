/**
 * @module dataplane/lib/allocators
 * Source-port allocators behind one interface (`PortAllocator`), so the same capture can
 * be replayed with Cilium's `snat_v4_new_mapping` of either version or with Linux
 * netfilter's choice (`linux-nat.md`). All of them store into the same `NatTable`, so
 * collisions are judged on the same reverse tuples and dumps look alike.
 *
 * - `cilium` (the profile's), `cilium-1.10`, `cilium-1.17`: `NatTable.snatV4NewMapping`.
 * - `linux`: nf_nat default (SNAT/MASQUERADE without --random): keep the original port if
 *   it is in range and the reply tuple is free, else start at a random offset and walk
 *   upwards modulo the range; rounds of 128, 64, 32, 16, 8 attempts, each from a new
 *   random offset (`nf_nat_l4proto_unique_tuple`).
 * - `linux-random-fully`: no keep-first; random offset every time, same walk.
 *
 * Range: by default the Linux rule when the rule names no ports (originals ≥ 1024 map
 * into 1024-65535, 512-1023 into 600-1023, below 512 into 1-511; ICMP ids 0-65535; with no
 * ports named every original counts as in range for keep-first). With `range: 'target'`
 * the SnatTarget's min/max are used (`--to-ports`), and keep-first needs the port inside.
 *
 * Not modelled: the NF_NAT_HARDER_THRESH eviction of a colliding TIME_WAIT connection in
 * the last 32 attempts of a round (the NAT table has no TCP state); when every attempt
 * fails Linux keeps the last port and loses the conntrack insert, which we report as
 * DROP_NAT_NO_MAPPING like Cilium. Reserved ports are skipped as in the Cilium allocator.
 */

import type { Rng } from './rng.ts';
import type { Profile } from './profile.ts';
import { UsageError } from '../../traces/errors.ts';
import { type NatTable, type PortAllocator, type SnatResult, type SnatTarget, NAT_OK, DROP_NAT_NO_MAPPING, IPPROTO_ICMP } from './nat.ts';

export type { PortAllocator } from './nat.ts';

export const ALLOCATOR_NAMES = ['cilium', 'cilium-1.10', 'cilium-1.17', 'linux', 'linux-random-fully'] as const;
export type AllocatorName = (typeof ALLOCATOR_NAMES)[number];

/** NF_NAT_MAX_ATTEMPTS: the first round's length. */
export const NF_NAT_MAX_ATTEMPTS = 128;

export class CiliumAllocator implements PortAllocator {
  readonly name: 'cilium-1.10' | 'cilium-1.17';
  private readonly profile: Profile;
  constructor(profile: Profile) {
    this.profile = profile;
    this.name = profile === '1.10' ? 'cilium-1.10' : 'cilium-1.17';
  }
  newMapping(nat: NatTable, proto: number, saddr: number, daddr: number, sport: number, dport: number,
    target: SnatTarget, now: number, rng: Rng, out: SnatResult): number {
    return nat.snatV4NewMapping(proto, saddr, daddr, sport, dport, target, now, rng, out, this.profile);
  }
}

export interface LinuxAllocatorOptions {
  /** `--random-fully`: no keep-first, random offset always. */
  randomFully?: boolean;
  /** 'linux-default' (no ports in the rule) or 'target' (the SnatTarget's min/max). */
  range?: 'linux-default' | 'target';
}

export class LinuxAllocator implements PortAllocator {
  readonly name: 'linux' | 'linux-random-fully';
  readonly randomFully: boolean;
  readonly range: 'linux-default' | 'target';

  constructor(opts: LinuxAllocatorOptions = {}) {
    this.randomFully = opts.randomFully ?? false;
    this.range = opts.range ?? 'linux-default';
    this.name = this.randomFully ? 'linux-random-fully' : 'linux';
  }

  newMapping(nat: NatTable, proto: number, saddr: number, daddr: number, sport: number, dport: number,
    target: SnatTarget, now: number, rng: Rng, out: SnatResult): number {
    sport &= 0xffff;
    let min: number;
    let size: number;
    let keepInRange: boolean;
    if (this.range === 'target') {
      min = target.minPort;
      size = target.maxPort - target.minPort + 1;
      keepInRange = sport >= target.minPort && sport <= target.maxPort;
    } else {
      keepInRange = true;
      if (proto === IPPROTO_ICMP) {
        min = 0;
        size = 65536;
      } else if (sport < 512) {
        min = 1;
        size = 511;
      } else if (sport < 1024) {
        min = 600;
        size = 424;
      } else {
        min = 1024;
        size = 65535 - 1024 + 1;
      }
    }
    const cands = nat.startCandidates(out);
    const addr = target.addr >>> 0;
    let tries = 0;
    if (!this.randomFully) {
      if (cands !== null) cands.push(sport);
      if (keepInRange && this.tryPort(nat, proto, saddr, daddr, sport, dport, addr, sport, target, now)) {
        nat.finishAllocation(proto, addr, daddr, dport, 0, true, sport, nat.entryFlag(saddr, target), out);
        return NAT_OK;
      }
      tries++;
    }
    let attempts = Math.min(size, NF_NAT_MAX_ATTEMPTS);
    let off = rng.u32() & 0xffff; // get_random_u16
    for (;;) {
      for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
        const port = min + (off % size);
        if (cands !== null) cands.push(port);
        if (this.tryPort(nat, proto, saddr, daddr, sport, dport, addr, port, target, now)) {
          nat.finishAllocation(proto, addr, daddr, dport, tries, true, port, nat.entryFlag(saddr, target), out);
          return NAT_OK;
        }
        tries++;
      }
      if (attempts >= size || attempts < 16) break;
      attempts >>= 1;
      off = rng.u32() & 0xffff;
    }
    nat.finishAllocation(proto, addr, daddr, dport, tries, false, 0, nat.entryFlag(saddr, target), out);
    return DROP_NAT_NO_MAPPING;
  }

  private tryPort(nat: NatTable, proto: number, saddr: number, daddr: number, sport: number, dport: number,
    addr: number, port: number, target: SnatTarget, now: number): boolean {
    if (nat.isReserved(port) || nat.reverseTaken(proto, daddr, dport, addr, port)) return false;
    return nat.createMapping(proto, saddr, daddr, sport, dport, addr, port, target, now);
  }
}

/** The allocator for a name; 'cilium' means the profile's own. */
export function createAllocator(name: string, profile: Profile, opts: LinuxAllocatorOptions = {}): PortAllocator {
  switch (name) {
    case 'cilium': return new CiliumAllocator(profile);
    case 'cilium-1.10': return new CiliumAllocator('1.10');
    case 'cilium-1.17': return new CiliumAllocator('1.17');
    case 'linux': return new LinuxAllocator({ ...opts, randomFully: false });
    case 'linux-random-fully': return new LinuxAllocator({ ...opts, randomFully: true });
    default: throw new UsageError(`unknown allocator '${name}' (expected one of: ${ALLOCATOR_NAMES.join(', ')})`);
  }
}
