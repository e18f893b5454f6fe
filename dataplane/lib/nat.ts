/**
 * @module dataplane/lib/nat
 * Cilium's SNAT map `cilium_snat_v4_external` and the functions of `bpf/lib/nat.h` that
 * use it: `snat_v4_nat` (existing mapping or a new one), `snat_v4_new_mapping` (port
 * choice, retries, clamp, reverse-first insertion) and `snat_v4_rev_nat` (reply lookup).
 * Facts: `cilium-datapath.md` §5, §6, §9.
 *
 * The map uses natural packet orientation (unlike conntrack). An egress-gateway flow
 * owns two entries; the reverse one is the collision key, which is why a port is reused
 * freely towards different remote endpoints (5-tuple-dependent mapping):
 *
 * ```
 *  OUT {saddr=pod,  sport=podPort, daddr=ext,      dport=extPort, TUPLE_F_OUT} → XLATE_SRC egressIP:natPort
 *  IN  {saddr=ext,  sport=extPort, daddr=egressIP, dport=natPort, TUPLE_F_IN } → XLATE_DST pod:podPort
 * ```
 *
 * ICMP echo: the identifier plays the port. Egress requests are passed as sport=id,
 * dport=0; replies as sport=0, dport=id (so the reverse entry has sport 0).
 *
 * Our rule, following cilium#45569: ports in `reservedPorts` (the tunnel ports by default)
 * are never chosen; a reserved candidate counts as taken and the loop moves on.
 *
 * Hot path: no allocation, no strings. Values live in typed arrays indexed by the map slot.
 */

import type { Rng } from './rng.ts';
import { type Profile, profileConstants, DEFAULT_RESERVED_PORTS, NAT_PORT_MIN_DEFAULT, NAT_PORT_MAX_DEFAULT } from './profile.ts';
import { TupleHash, BPF_ANY, BPF_NOEXIST, KEY3_MASK, tupleWord2, tupleWord3, growU32, growI32 } from '../maps/tuple-hash.ts';
import type { RemotePortUsage, PortStrip } from '../../traces/stats.ts';

export type { Profile } from './profile.ts';

/** `struct ipv4_ct_tuple` flags. */
export const TUPLE_F_OUT = 0;
export const TUPLE_F_IN = 1;
export const TUPLE_F_RELATED = 2;
export const TUPLE_F_SERVICE = 4;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

export const NAT_OK = 0;
/** DROP_NAT_NO_MAPPING, "No mapping for NAT masquerade". */
export const DROP_NAT_NO_MAPPING = -167;

/** What one SNAT / rev-SNAT call found or made. The caller owns and reuses one instance. */
export interface SnatResult {
  toAddr: number;
  toPort: number;
  /** Failed candidates before the chosen one (on -167: every candidate tried). */
  retries: number;
  /** A new mapping was made by this call. */
  created: boolean;
  /** Candidate ports in the order tried; filled only when the table's `record` flag is on. */
  candidates: number[] | null;
  /** Retries exceeded SNAT_SIGNAL_THRES: Cilium sends SIGNAL_NAT_FILL_UP (the caller runs CT GC + orphan purge). */
  fillUp?: boolean;
  /** needs_ct (1.17) / host_local (1.10) of the entry found or made. */
  needsCt?: boolean;
  /** snatV4RevNat: the dport was inside the NAT range (false: pass-through, not a miss). */
  inRange?: boolean;
}

export function newSnatResult(): SnatResult {
  return { toAddr: 0, toPort: 0, retries: 0, created: false, candidates: null, fillUp: false, needsCt: false, inRange: false };
}

/** `struct ipv4_nat_target` as far as port choice needs it. */
export interface SnatTarget {
  /** The SNAT address (egress IP or node IP). */
  addr: number;
  minPort: number;
  maxPort: number;
  /** main: needs_ct (EGW traffic not from a local endpoint, host masquerade). */
  needsCt: boolean;
  /** The packet comes from a local endpoint (EGW sets it; affects only the low-port skip rule, which is the caller's). */
  fromEndpoint: boolean;
}

/** A source-port allocator: makes a new mapping when snat_v4_nat finds none. */
export interface PortAllocator {
  /** 'cilium-1.10' | 'cilium-1.17' | 'linux' | 'linux-random-fully' */
  readonly name: string;
  /** Returns NAT_OK with `out` filled, or DROP_NAT_NO_MAPPING. Must write both entries through `nat.createMapping`. */
  newMapping(nat: NatTable, proto: number, saddr: number, daddr: number, sport: number, dport: number,
    target: SnatTarget, now: number, rng: Rng, out: SnatResult): number;
}

export interface NatOptions {
  /** v1.10 on kernels without HAVE_LARGE_INSN_LIMIT: 32 retries, fill-up signal above 16. */
  smallInsnLimit?: boolean;
  /** Ports never chosen. Default: the tunnel ports 8472 and 6081. */
  reservedPorts?: readonly number[];
  /** Skip reserved ports (our rule after cilium#45569). Default true. */
  skipReservedPorts?: boolean;
  /** The NAT range rev-SNAT applies to (NODEPORT_PORT_MIN_NAT..MAX). Default 32768..65535. */
  minPort?: number;
  maxPort?: number;
  /**
   * The ports rev-SNAT looks at, when not [minPort, maxPort]: Linux conntrack translates a
   * reply to whatever port nf_nat handed out (below 1024 too), Cilium only its NAT range.
   */
  revNatMinPort?: number;
  revNatMaxPort?: number;
  /** Allocator for new mappings; default: this table's profile's snat_v4_new_mapping. */
  allocator?: PortAllocator;
  /** Record candidate lists into SnatResult.candidates (explain mode). */
  record?: boolean;
  /** Slots allocated up front (the map grows to maxEntries as needed). */
  initialCapacity?: number;
  /** Bound of the per-remote usage table; remotes beyond it are not tracked. Default = maxEntries. */
  maxRemotes?: number;
  /**
   * Remotes kept one by one after their last port is released. Past this many a remote
   * whose in-use count falls to 0 is folded into its egress address's `retiredUsage()`
   * totals and forgotten, so a stream toward ever new destinations keeps the table at the
   * live remotes. Default 4096.
   */
  keepRemotes?: number;
}

/** Totals of the remotes one egress address no longer lists (released, see keepRemotes). */
export interface RetiredUsage {
  egressAddr: number;
  egressIp: string;
  /** Rows folded in: a remote used again after it was folded, and released again, counts twice. */
  remotes: number;
  allocations: number;
  collisions: number;
  failures: number;
  /** As RemotePortUsage.retries. */
  retries: number[];
}

/** Per {egress IP, proto, remote ip:port} port usage (raw numbers plus the dashboard's shape). */
export interface RemoteUsageRow extends RemotePortUsage {
  egressIp: string;
  egressAddr: number;
  proto: number;
  remoteAddr: number;
  remotePort: number;
}

/** Retry histogram buckets per remote: 0..RETRY_BUCKETS-2 exactly, the last one "that many or more". */
export const RETRY_BUCKETS = 33;

const FLAG_NEEDS_CT = 1;
/** Set when the slot's entry is removed (see `val`). */
const FLAG_DEAD = 2;
/**
 * An IN entry counted in its remote's in-use ports. One made while the usage table was full
 * is not, and its removal must not take a port off a row made for that remote later.
 */
const FLAG_COUNTED = 4;
/** Value words in the map's records, after the 4 key words (see NatTable.val). */
const NAT_VALUE_WORDS = 4;
const NS = 3; // log2 of the u32 words per record
const V_ADDR = 4;
const V_PORT_FLAGS = 5;
const V_CREATED = 6;
const V_REV = 7;
const W3_OUT_MASK = 0xff00;

/** Go's u8proto names, as `cilium bpf nat|ct list` print them. */
export function protoName(p: number): string {
  switch (p) {
    case 0: return 'ANY';
    case IPPROTO_ICMP: return 'ICMP';
    case IPPROTO_TCP: return 'TCP';
    case IPPROTO_UDP: return 'UDP';
    case 58: return 'ICMPv6';
    case IPPROTO_SCTP: return 'SCTP';
    default: return String(p);
  }
}

/** Dotted quad of a u32 address (local so this module does not depend on the packet layer). */
export function ipText(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** __snat_clamp_port_range, v1.10: start + (val mod (end − start)) on u16 values. */
export function clampPortV110(start: number, end: number, val: number): number {
  const span = (end - start) & 0xffff;
  // end == start would be a modulo by zero in C; we take it as 0 so a one-port range stays in range.
  if (span === 0) return start & 0xffff;
  return (start + ((val & 0xffff) % span)) & 0xffff;
}

/** __snat_clamp_port_range, main: start + ((val × (end − start + 1)) >> 16), the closed interval. */
export function clampPortV117(start: number, end: number, val: number): number {
  return (start + (((val & 0xffff) * (end - start + 1)) >>> 16)) & 0xffff;
}

export function clampPort(profile: Profile, start: number, end: number, val: number): number {
  return profile === '1.10' ? clampPortV110(start, end, val) : clampPortV117(start, end, val);
}

export class NatTable {
  readonly profile: Profile;
  readonly maxEntries: number;
  /** Record candidate lists (explain mode). */
  record: boolean;
  readonly smallInsnLimit: boolean;
  readonly skipReservedPorts: boolean;
  readonly minPort: number;
  readonly maxPort: number;
  private readonly revNatMinPort: number;
  private readonly revNatMaxPort: number;
  readonly allocator: PortAllocator | null;

  /** SIGNAL_NAT_FILL_UP sent (retries > SNAT_SIGNAL_THRES). */
  natFillUpSignals = 0;
  /** New-mapping attempts, those needing ≥ 1 retry, and those that failed (167). */
  allocations = 0;
  collisions = 0;
  allocFailures = 0;

  /** The map; read-only for dumps and the orphan purge. */
  readonly map: TupleHash;
  /**
   * The map's records (`map.rec`, re-read when it grows): the key, then the value words, so
   * a hit reads key and value from one cache line: [V_ADDR] to address, [V_PORT_FLAGS] to port | flags << 16,
   * [V_CREATED] creation second, [V_REV] (OUT entries) 1 + the slot where the flow's IN
   * entry was last seen, 0 for none: a hint that saves 1.17's per-packet reverse lookup
   * when it still holds that key (checked, so a stale hint only costs the lookup).
   */
  private val: Uint32Array;
  private readonly reserved = new Uint8Array(8192);

  private readonly remotes: TupleHash;
  private rInUse: Uint32Array;
  private rAlloc: Uint32Array;
  private rColl: Uint32Array;
  private rFail: Uint32Array;
  private rHist: Int32Array;
  private histPool = new Uint32Array(0);
  private histUsed = 0;
  /** Histogram blocks of retired remotes, for reuse (index + 1, as rHist). */
  private readonly histFree: number[] = [];
  private readonly keepRemotes: number;
  private readonly retired = new Map<number, RetiredUsage>();
  /** Allocations towards remotes the bounded usage table could not take. */
  untrackedRemoteAllocations = 0;

  constructor(maxEntries: number, profile: Profile, opts: NatOptions = {}) {
    this.profile = profile;
    this.maxEntries = maxEntries;
    this.record = opts.record ?? false;
    this.smallInsnLimit = opts.smallInsnLimit ?? false;
    this.skipReservedPorts = opts.skipReservedPorts ?? true;
    this.minPort = opts.minPort ?? NAT_PORT_MIN_DEFAULT;
    this.maxPort = opts.maxPort ?? NAT_PORT_MAX_DEFAULT;
    this.revNatMinPort = opts.revNatMinPort ?? this.minPort;
    this.revNatMaxPort = opts.revNatMaxPort ?? this.maxPort;
    this.allocator = opts.allocator ?? null;
    this.keepRemotes = opts.keepRemotes ?? 4096;
    for (const p of opts.reservedPorts ?? DEFAULT_RESERVED_PORTS) {
      if (Number.isInteger(p) && p >= 0 && p <= 0xffff) this.reserved[p >>> 3]! |= 1 << (p & 7);
    }
    const initial = opts.initialCapacity ?? 1024;
    this.map = new TupleHash(maxEntries, {
      lru: true,
      initialCapacity: initial,
      valueWords: NAT_VALUE_WORDS,
      onGrow: () => this.rebindRecords(),
      onEvict: (slot) => this.onRemove(slot),
    });
    if (this.map.shift !== NS) throw new Error('nat: record layout out of step with TupleHash');
    this.val = this.map.rec;
    this.remotes = new TupleHash(opts.maxRemotes ?? maxEntries, {
      lru: false,
      initialCapacity: Math.min(initial, 256),
      onGrow: (c) => this.growRemotes(c),
    });
    const rc = this.remotes.capacity;
    this.rInUse = new Uint32Array(rc);
    this.rAlloc = new Uint32Array(rc);
    this.rColl = new Uint32Array(rc);
    this.rFail = new Uint32Array(rc);
    this.rHist = new Int32Array(rc);
  }

  size(): number {
    return this.map.size;
  }

  /** Whether `port` is reserved and skipping is on. */
  isReserved(port: number): boolean {
    return this.skipReservedPorts && (this.reserved[port >>> 3]! & (1 << (port & 7))) !== 0;
  }

  /**
   * snat_v4_nat for an egress packet: reuse the flow's mapping or make one.
   * Returns NAT_OK (out.toAddr/toPort hold the translation) or DROP_NAT_NO_MAPPING.
   * - 1.10: an existing OUT entry is reused as is.
   * - 1.17: reused only if to_saddr is the target address and needs_ct matches; a missing
   *   reverse entry is re-created; on a mismatch both entries go and a new mapping is made.
   */
  snatV4Nat(proto: number, saddr: number, daddr: number, sport: number, dport: number,
    target: SnatTarget, now: number, rng: Rng, out: SnatResult): number {
    out.created = false;
    out.retries = 0;
    out.fillUp = false;
    out.inRange = true;
    if (!this.record) out.candidates = null;
    saddr >>>= 0;
    daddr >>>= 0;
    const w2 = tupleWord2(dport, sport);
    const s = this.map.lookup(daddr, saddr, w2, tupleWord3(proto, TUPLE_F_OUT));
    if (s >= 0) {
      const val = this.val;
      const toAddr = val[(s << NS) + V_ADDR]!;
      const toPort = val[(s << NS) + V_PORT_FLAGS]! & 0xffff;
      const needsCt = ((val[(s << NS) + V_PORT_FLAGS]! >>> 16) & FLAG_NEEDS_CT) !== 0;
      if (this.profile === '1.10') {
        out.toAddr = toAddr;
        out.toPort = toPort;
        out.needsCt = needsCt;
        return NAT_OK;
      }
      if (toAddr === (target.addr >>> 0) && needsCt === target.needsCt) {
        const rk2 = tupleWord2(toPort, dport);
        const rk3 = tupleWord3(proto, TUPLE_F_IN);
        // Same result and LRU touch as map.lookup(), without the probe when the hint holds.
        let r = val[(s << NS) + V_REV]! - 1;
        if (r >= 0 && ((val[(r << NS) + V_PORT_FLAGS]! >>> 16) & FLAG_DEAD) === 0 && this.map.keyAt(r, toAddr, daddr, rk2, rk3)) {
          this.map.touch(r);
        } else {
          r = this.map.lookup(toAddr, daddr, rk2, rk3);
        }
        if (r < 0 || this.val[(r << NS) + V_ADDR] !== saddr || (this.val[(r << NS) + V_PORT_FLAGS]! & 0xffff) !== (sport & 0xffff)) {
          // The reverse entry was evicted (or taken over): re-create it so replies find the flow.
          r = this.putReverse(proto, daddr, dport, toAddr, toPort, saddr, sport, needsCt, now, BPF_ANY);
        }
        this.val[(s << NS) + V_REV] = r >= 0 ? r + 1 : 0;
        out.toAddr = toAddr;
        out.toPort = toPort;
        out.needsCt = needsCt;
        return NAT_OK;
      }
      // The egress IP (or needs_ct) changed under the flow: drop the stale pair first.
      this.deleteMapping4(proto, saddr, daddr, sport, dport);
    }
    if (this.allocator !== null) return this.allocator.newMapping(this, proto, saddr, daddr, sport, dport, target, now, rng, out);
    return this.snatV4NewMapping(proto, saddr, daddr, sport, dport, target, now, rng, out);
  }

  /**
   * snat_v4_new_mapping. Candidates: the original port if in [min,max], else a random
   * one; after the first failure a new random port; then clamp(port+1) on the raw u16.
   * The collision test is the reverse tuple {proto, ext ip:port → addr:candidate, IN}.
   * - 1.10: look the reverse tuple up; if free insert it, then the original, both NOEXIST
   *   (an original-insert failure removes the reverse entry and the loop goes on).
   * - 1.17: insert the reverse tuple NOEXIST inside the loop; then the original NOEXIST,
   *   and if that fails roll back and return DROP_NAT_NO_MAPPING without retrying.
   * `clampProfile` picks the clamp/retry constants (default: the table's profile).
   */
  snatV4NewMapping(proto: number, saddr: number, daddr: number, sport: number, dport: number,
    target: SnatTarget, now: number, rng: Rng, out: SnatResult, clampProfile: Profile = this.profile): number {
    saddr >>>= 0;
    daddr >>>= 0;
    sport &= 0xffff;
    dport &= 0xffff;
    const addr = target.addr >>> 0;
    const min = target.minPort;
    const max = target.maxPort;
    const v110 = clampProfile === '1.10';
    const k = profileConstants(clampProfile);
    const small = this.smallInsnLimit && v110;
    const maxRetries = small ? k.snatCollisionRetriesSmall : k.snatCollisionRetries;
    const thres = small ? k.snatSignalThresSmall : k.snatSignalThres;
    const flag = this.entryFlag(saddr, target);
    const cands = this.startCandidates(out);

    const rk3 = tupleWord3(proto, TUPLE_F_IN);
    const ok3 = tupleWord3(proto, TUPLE_F_OUT);
    const ow2 = tupleWord2(dport, sport);
    // __snat_try_keep_port
    let port = sport >= min && sport <= max ? sport : clampPort(clampProfile, min, max, rng.u32());
    let retries = 0;
    let ok = false;
    let code = NAT_OK;
    for (; retries < maxRetries; retries++) {
      if (cands !== null) cands.push(port);
      if (!this.isReserved(port)) {
        const rk2 = tupleWord2(port, dport);
        if (v110) {
          if (this.map.lookup(addr, daddr, rk2, rk3) < 0) {
            const r = this.putReverse(proto, daddr, dport, addr, port, saddr, sport, flag, now, BPF_NOEXIST);
            if (r >= 0) {
              const o = this.map.insert(daddr, saddr, ow2, ok3, BPF_NOEXIST);
              if (o >= 0) {
                this.writeValue(o, addr, port, now, flag);
                this.val[(o << NS) + V_REV] = r + 1;
                ok = true;
                break;
              }
              this.deleteSlot(r);
            }
          }
        } else {
          const r = this.putReverse(proto, daddr, dport, addr, port, saddr, sport, flag, now, BPF_NOEXIST);
          if (r >= 0) {
            const o = this.map.insert(daddr, saddr, ow2, ok3, BPF_NOEXIST);
            if (o >= 0) {
              this.writeValue(o, addr, port, now, flag);
              this.val[(o << NS) + V_REV] = r + 1;
              ok = true;
            } else {
              this.deleteSlot(r);
              code = DROP_NAT_NO_MAPPING;
            }
            break;
          }
        }
      }
      port = clampPort(clampProfile, min, max, retries === 0 ? rng.u32() : (port + 1) & 0xffff);
    }
    if (!ok && code === NAT_OK) code = DROP_NAT_NO_MAPPING;
    // The check runs after the loop, so a success after many retries also signals.
    if (retries > thres) {
      this.natFillUpSignals++;
      out.fillUp = true;
    }
    this.finishAllocation(proto, addr, daddr, dport, retries, ok, port, flag, out);
    return code;
  }

  /**
   * snat_v4_rev_nat lookup for an ingress packet (saddr=ext, daddr=SNAT address,
   * dport=NAT port). Only dports in the rev-NAT range (the NAT range unless the options
   * widen it) are looked at (out.inRange=false: pass-through). A miss returns false; the
   * caller does not drop (Cilium recirculates). out.needsCt tells the caller to refresh the
   * gateway's CT entry (1.17).
   */
  snatV4RevNat(proto: number, saddr: number, daddr: number, sport: number, dport: number, now: number, out: SnatResult,
    minPort: number = this.revNatMinPort, maxPort: number = this.revNatMaxPort): boolean {
    out.created = false;
    out.retries = 0;
    out.fillUp = false;
    if (dport < minPort || dport > maxPort) {
      out.inRange = false;
      return false;
    }
    out.inRange = true;
    const r = this.map.lookup(daddr >>> 0, saddr >>> 0, tupleWord2(dport, sport), tupleWord3(proto, TUPLE_F_IN));
    if (r < 0) return false;
    out.toAddr = this.val[(r << NS) + V_ADDR]!;
    out.toPort = this.val[(r << NS) + V_PORT_FLAGS]! & 0xffff;
    out.needsCt = ((this.val[(r << NS) + V_PORT_FLAGS]! >>> 16) & FLAG_NEEDS_CT) !== 0;
    return true;
  }

  /**
   * `snat_v4_lookup` of an original (OUT) tuple, as `snat_v4_nat_handle_icmp_error` does
   * for the flow an egressing ICMP error quotes: a plain map lookup (LRU touch), no new
   * mapping, no reverse-entry repair. Fills out.toAddr/toPort/needsCt; false on a miss.
   */
  snatV4LookupOut(proto: number, saddr: number, daddr: number, sport: number, dport: number, out: SnatResult): boolean {
    out.created = false;
    out.retries = 0;
    out.fillUp = false;
    out.inRange = true;
    const s = this.map.lookup(daddr >>> 0, saddr >>> 0, tupleWord2(dport, sport), tupleWord3(proto, TUPLE_F_OUT));
    if (s < 0) return false;
    out.toAddr = this.val[(s << NS) + V_ADDR]!;
    out.toPort = this.val[(s << NS) + V_PORT_FLAGS]! & 0xffff;
    out.needsCt = ((this.val[(s << NS) + V_PORT_FLAGS]! >>> 16) & FLAG_NEEDS_CT) !== 0;
    return true;
  }

  /**
   * Deletes a flow's pair, given the original tuple (as DeleteMapping4 does after CT GC):
   * the OUT entry, and the IN entry built from its value. Returns whether the OUT entry existed.
   */
  deleteMapping4(proto: number, saddr: number, daddr: number, sport: number, dport: number): boolean {
    saddr >>>= 0;
    daddr >>>= 0;
    const o = this.map.peek(daddr, saddr, tupleWord2(dport, sport), tupleWord3(proto, TUPLE_F_OUT));
    if (o < 0) return false;
    const toAddr = this.toAddrOf(o);
    const toPort = this.toPortOf(o);
    this.deleteSlot(o);
    const r = this.map.peek(toAddr, daddr, tupleWord2(toPort, dport), tupleWord3(proto, TUPLE_F_IN));
    if (r >= 0) this.deleteSlot(r);
    return true;
  }

  /** Slot of the OUT entry for an original tuple, or -1 (no LRU touch; for dumps and rows). */
  findOut(proto: number, saddr: number, daddr: number, sport: number, dport: number): number {
    return this.map.peek(daddr >>> 0, saddr >>> 0, tupleWord2(dport, sport), tupleWord3(proto, TUPLE_F_OUT));
  }

  /** Slot of an IN entry, or -1 (no LRU touch). */
  findIn(proto: number, extAddr: number, extPort: number, addr: number, port: number): number {
    return this.map.peek(addr >>> 0, extAddr >>> 0, tupleWord2(port, extPort), tupleWord3(proto, TUPLE_F_IN));
  }

  /** For allocators: is the reverse tuple {proto, ext → addr:port, IN} in use? (nf_nat_used_tuple / the rtuple lookup) */
  reverseTaken(proto: number, extAddr: number, extPort: number, addr: number, port: number): boolean {
    return this.findIn(proto, extAddr, extPort, addr, port) >= 0;
  }

  /** For allocators: writes the reverse entry, then the original, both NOEXIST; rolls back on failure. */
  createMapping(proto: number, saddr: number, daddr: number, sport: number, dport: number,
    toAddr: number, toPort: number, target: SnatTarget, now: number): boolean {
    saddr >>>= 0;
    daddr >>>= 0;
    const flag = this.entryFlag(saddr, target);
    const r = this.putReverse(proto, daddr, dport, toAddr >>> 0, toPort, saddr, sport, flag, now, BPF_NOEXIST);
    if (r < 0) return false;
    const o = this.map.insert(daddr, saddr, tupleWord2(dport, sport), tupleWord3(proto, TUPLE_F_OUT), BPF_NOEXIST);
    if (o < 0) {
      this.deleteSlot(r);
      return false;
    }
    this.writeValue(o, toAddr >>> 0, toPort, now, flag);
    this.val[(o << NS) + V_REV] = r + 1;
    return true;
  }

  /** For allocators: the candidate list to push to when recording, else null. */
  startCandidates(out: SnatResult): number[] | null {
    if (!this.record) {
      out.candidates = null;
      return null;
    }
    if (out.candidates === null) out.candidates = [];
    else out.candidates.length = 0;
    return out.candidates;
  }

  /** For allocators: fills `out` and the counters once a new-mapping attempt is over. */
  finishAllocation(proto: number, addr: number, extAddr: number, extPort: number, retries: number, ok: boolean,
    port: number, needsCt: boolean, out: SnatResult): void {
    this.allocations++;
    if (retries > 0) this.collisions++;
    if (!ok) this.allocFailures++;
    out.retries = retries;
    out.created = ok;
    out.toAddr = addr >>> 0;
    out.toPort = ok ? port : 0;
    out.needsCt = needsCt;
    const g = this.remoteSlot(addr >>> 0, proto, extAddr >>> 0, extPort);
    if (g < 0) {
      this.untrackedRemoteAllocations++;
      return;
    }
    this.rAlloc[g]!++;
    if (!ok) this.rFail[g]!++;
    if (retries > 0) {
      this.rColl[g]!++;
      let h = this.rHist[g]!;
      if (h === 0) {
        h = this.newHistogram();
        this.rHist[g] = h;
      }
      // retries[0] is derived (allocations minus the rest), so only collisions touch the pool.
      this.histPool[h - 1 + Math.min(retries, RETRY_BUCKETS - 1)]!++;
    }
  }

  /** Deletes a live slot (keeps the per-remote in-use counters right). */
  deleteSlot(slot: number): void {
    this.onRemove(slot);
    this.map.deleteSlot(slot);
  }

  /** Value accessors by slot, for dumps and the orphan purge. */
  toAddrOf(slot: number): number {
    return this.val[(slot << NS) + V_ADDR]!;
  }
  toPortOf(slot: number): number {
    return this.val[(slot << NS) + V_PORT_FLAGS]! & 0xffff;
  }
  createdOf(slot: number): number {
    return this.val[(slot << NS) + V_CREATED]!;
  }
  needsCtOf(slot: number): boolean {
    return ((this.val[(slot << NS) + V_PORT_FLAGS]! >>> 16) & FLAG_NEEDS_CT) !== 0;
  }

  /**
   * `cilium bpf nat list`, one line per entry, sorted (proto, OUT before IN, saddr, sport,
   * daddr, dport) so dumps diff cleanly; Cilium itself prints in hash order.
   * main: `TCP OUT 10.0.0.31:45678 -> 1.2.3.4:80 XLATE_SRC 172.18.0.3:45678 Created=12sec ago NeedsCT=1`
   * v1.10: `... Created=12sec HostLocal=0`.
   */
  format(now: number, profile: Profile = this.profile): string {
    const keys = this.val;
    const slots = Array.from(this.map.slots());
    slots.sort((a, b) => compareNatKeys(keys, a, b));
    const nowSec = Math.floor(now);
    let text = '';
    for (const s of slots) {
      const o = s << NS;
      const daddr = keys[o]!;
      const saddr = keys[o + 1]!;
      const dport = keys[o + 2]! >>> 16;
      const sport = keys[o + 2]! & 0xffff;
      const w3 = keys[o + 3]! & KEY3_MASK;
      const proto = w3 & 0xff;
      const isIn = ((w3 >>> 8) & TUPLE_F_IN) !== 0;
      const age = Math.max(0, nowSec - this.createdOf(s));
      const flag = this.needsCtOf(s) ? 1 : 0;
      text += `${protoName(proto)} ${isIn ? 'IN' : 'OUT'} ${ipText(saddr)}:${sport} -> ${ipText(daddr)}:${dport} `
        + `XLATE_${isIn ? 'DST' : 'SRC'} ${ipText(this.toAddrOf(s))}:${this.toPortOf(s)} `
        + (profile === '1.10' ? `Created=${age}sec HostLocal=${flag}` : `Created=${age}sec ago NeedsCT=${flag}`)
        + '\n';
    }
    return text;
  }

  /** Port usage per {egress IP, proto, remote ip:port}, sorted; counters are kept incrementally. */
  remoteUsage(): RemoteUsageRow[] {
    const rows: RemoteUsageRow[] = [];
    const keys = this.remotes.rec;
    const shift = this.remotes.shift;
    const rangeSize = this.maxPort - this.minPort + 1;
    for (const g of this.remotes.slots()) {
      const o = g << shift;
      const egressAddr = keys[o]!;
      const remoteAddr = keys[o + 1]!;
      const proto = keys[o + 2]! >>> 16;
      const remotePort = keys[o + 2]! & 0xffff;
      const retries = new Array<number>(RETRY_BUCKETS).fill(0);
      const h = this.rHist[g]!;
      let withRetries = 0;
      if (h !== 0) {
        for (let i = 1; i < RETRY_BUCKETS; i++) {
          retries[i] = this.histPool[h - 1 + i]!;
          withRetries += retries[i]!;
        }
      }
      retries[0] = this.rAlloc[g]! - withRetries;
      rows.push({
        egressIp: ipText(egressAddr), egressAddr, proto, remoteAddr, remotePort,
        remote: remoteText(proto, remoteAddr, remotePort),
        inUse: this.rInUse[g]!, rangeSize, allocations: this.rAlloc[g]!, collisions: this.rColl[g]!,
        failures: this.rFail[g]!, retries,
      });
    }
    rows.sort((a, b) => a.egressAddr - b.egressAddr || a.proto - b.proto || a.remoteAddr - b.remoteAddr || a.remotePort - b.remotePort);
    return rows;
  }

  /** Ports in use now towards one remote from one SNAT address (sorted). Scans the map: call at dashboard rate, not per packet. */
  portsInUse(egressAddr: number, proto: number, remoteAddr: number, remotePort: number): number[] {
    const keys = this.val;
    const k3 = tupleWord3(proto, TUPLE_F_IN);
    const ports: number[] = [];
    egressAddr >>>= 0;
    remoteAddr >>>= 0;
    for (let s = this.map.newest(); s >= 0; s = this.map.older(s)) {
      const o = s << NS;
      if ((keys[o + 3]! & KEY3_MASK) === k3 && keys[o] === egressAddr && keys[o + 1] === remoteAddr && (keys[o + 2]! & 0xffff) === remotePort) {
        ports.push(keys[o + 2]! >>> 16);
      }
    }
    return ports.sort((a, b) => a - b);
  }

  /** Port strips for the `limit` busiest remotes (by ports in use), one map scan. */
  portStrips(limit = 4): PortStrip[] {
    const top = this.remoteUsage().filter((r) => r.inUse > 0).sort((a, b) => b.inUse - a.inUse || a.egressAddr - b.egressAddr
      || a.remoteAddr - b.remoteAddr || a.remotePort - b.remotePort || a.proto - b.proto).slice(0, limit);
    if (top.length === 0) return [];
    // Ports are gathered into typed arrays sized by the usage counts and sorted natively: a
    // number[] with a comparator made most of the cost of a strip scan on a gateway with
    // tens of thousands of mappings (the dashboard asks once a second).
    const found = top.map((r) => new Uint16Array(Math.max(1, r.inUse)));
    const count = top.map(() => 0);
    const keys = this.val;
    for (let s = this.map.newest(); s >= 0; s = this.map.older(s)) {
      const o = s << NS;
      const w3 = keys[o + 3]! & KEY3_MASK;
      if ((w3 >>> 8) !== TUPLE_F_IN) continue;
      for (let i = 0; i < top.length; i++) {
        const r = top[i]!;
        if (keys[o] === r.egressAddr && keys[o + 1] === r.remoteAddr && (w3 & 0xff) === r.proto && (keys[o + 2]! & 0xffff) === r.remotePort) {
          let a = found[i]!;
          const n = count[i]!;
          if (n === a.length) {
            // More mappings than counted in use: grow rather than lose one.
            const b = new Uint16Array(a.length * 2);
            b.set(a);
            found[i] = a = b;
          }
          a[n] = keys[o + 2]! >>> 16;
          count[i] = n + 1;
          break;
        }
      }
    }
    return top.map((r, i) => ({
      egressIp: r.egressIp,
      remote: r.remote,
      min: this.minPort,
      max: this.maxPort,
      ports: Array.from(found[i]!.subarray(0, count[i]).sort()),
    }));
  }

  /** Bytes held by this table's typed arrays (map, values, usage table). */
  byteSize(): number {
    return this.map.byteSize()
      + this.reserved.byteLength + this.remotes.byteSize() + this.rInUse.byteLength * 4 + this.rHist.byteLength + this.histPool.byteLength;
  }

  /** The stored needs_ct (1.17) / host_local (1.10) bit for a new entry. */
  entryFlag(saddr: number, target: SnatTarget): boolean {
    return this.profile === '1.10' ? saddr >>> 0 === target.addr >>> 0 : target.needsCt;
  }

  private putReverse(proto: number, extAddr: number, extPort: number, addr: number, port: number,
    origAddr: number, origPort: number, flag: boolean, now: number, mode: number): number {
    const r = this.map.insert(addr, extAddr, tupleWord2(port, extPort), tupleWord3(proto, TUPLE_F_IN), mode);
    if (r < 0) return r;
    let counted: boolean;
    if (this.map.lastInsertNew) {
      const g = this.remoteSlot(addr, proto, extAddr, extPort);
      counted = g >= 0;
      if (counted) this.rInUse[g]!++;
    } else {
      counted = ((this.val[(r << NS) + V_PORT_FLAGS]! >>> 16) & FLAG_COUNTED) !== 0;
    }
    this.writeValue(r, origAddr, origPort, now, flag);
    if (counted) this.val[(r << NS) + V_PORT_FLAGS]! |= FLAG_COUNTED << 16;
    return r;
  }

  private writeValue(s: number, addr: number, port: number, now: number, flag: boolean): void {
    const o = s << NS;
    this.val[o + V_ADDR] = addr;
    this.val[o + V_PORT_FLAGS] = (port & 0xffff) | ((flag ? FLAG_NEEDS_CT : 0) << 16);
    this.val[o + V_CREATED] = Math.floor(now);
    this.val[o + V_REV] = 0;
  }

  /** Before a slot goes (delete or LRU eviction): keep in-use counts per remote right. */
  private onRemove(slot: number): void {
    // A freed slot keeps its key bytes: the mark stops a V_REV hint from matching it.
    this.val[(slot << NS) + V_PORT_FLAGS]! |= FLAG_DEAD << 16;
    const keys = this.val;
    const o = slot << NS;
    const w3 = keys[o + 3]! & KEY3_MASK;
    if (((w3 & W3_OUT_MASK) >>> 8) !== TUPLE_F_IN || ((keys[o + V_PORT_FLAGS]! >>> 16) & FLAG_COUNTED) === 0) return;
    const g = this.remotes.peek(keys[o]!, keys[o + 1]!, (((w3 & 0xff) << 16) | (keys[o + 2]! & 0xffff)) >>> 0, 0);
    if (g < 0 || this.rInUse[g]! === 0) return;
    if (--this.rInUse[g]! === 0 && this.remotes.size > this.keepRemotes) this.retireRemote(g);
  }

  /** Folds a remote with no port in use into its egress address's totals and frees its row. */
  private retireRemote(g: number): void {
    const o = g << this.remotes.shift;
    const addr = this.remotes.rec[o]!;
    let t = this.retired.get(addr);
    if (!t) {
      t = { egressAddr: addr, egressIp: ipText(addr), remotes: 0, allocations: 0, collisions: 0, failures: 0, retries: new Array<number>(RETRY_BUCKETS).fill(0) };
      this.retired.set(addr, t);
    }
    t.remotes++;
    t.allocations += this.rAlloc[g]!;
    t.collisions += this.rColl[g]!;
    t.failures += this.rFail[g]!;
    let withRetries = 0;
    const h = this.rHist[g]!;
    if (h !== 0) {
      for (let i = 1; i < RETRY_BUCKETS; i++) {
        const n = this.histPool[h - 1 + i]!;
        t.retries[i]! += n;
        withRetries += n;
      }
      this.histFree.push(h);
    }
    t.retries[0]! += this.rAlloc[g]! - withRetries;
    this.remotes.deleteSlot(g);
  }

  /** Per egress address, the totals of the remotes it no longer lists (sorted by address). */
  retiredUsage(): RetiredUsage[] {
    return [...this.retired.values()].sort((a, b) => a.egressAddr - b.egressAddr).map((t) => ({ ...t, retries: t.retries.slice() }));
  }

  private remoteSlot(addr: number, proto: number, extAddr: number, extPort: number): number {
    const w2 = (((proto & 0xff) << 16) | (extPort & 0xffff)) >>> 0;
    const g = this.remotes.peek(addr, extAddr, w2, 0);
    if (g >= 0) return g;
    const n = this.remotes.insert(addr, extAddr, w2, 0, BPF_NOEXIST);
    if (n < 0) return -1;
    this.rInUse[n] = 0;
    this.rAlloc[n] = 0;
    this.rColl[n] = 0;
    this.rFail[n] = 0;
    this.rHist[n] = 0;
    return n;
  }

  /** A histogram block in the pool; returns its index + 1 (0 means none). */
  private newHistogram(): number {
    const free = this.histFree.pop();
    if (free !== undefined) {
      this.histPool.fill(0, free - 1, free - 1 + RETRY_BUCKETS);
      return free;
    }
    if (this.histUsed + RETRY_BUCKETS > this.histPool.length) {
      const next = new Uint32Array(Math.max(RETRY_BUCKETS * 16, this.histPool.length * 2));
      next.set(this.histPool);
      this.histPool = next;
    }
    const h = this.histUsed;
    this.histUsed += RETRY_BUCKETS;
    return h + 1;
  }

  private rebindRecords(): void {
    this.val = this.map.rec;
  }

  private growRemotes(cap: number): void {
    this.rInUse = growU32(this.rInUse, cap);
    this.rAlloc = growU32(this.rAlloc, cap);
    this.rColl = growU32(this.rColl, cap);
    this.rFail = growU32(this.rFail, cap);
    this.rHist = growI32(this.rHist, cap);
  }
}

/** `TCP 172.18.0.7:80` (ICMP: no port). */
export function remoteText(proto: number, addr: number, port: number): string {
  return proto === IPPROTO_ICMP ? `${protoName(proto)} ${ipText(addr)}` : `${protoName(proto)} ${ipText(addr)}:${port}`;
}

function compareNatKeys(keys: Uint32Array, a: number, b: number): number {
  const oa = a << NS;
  const ob = b << NS;
  return (keys[oa + 3]! & 0xff) - (keys[ob + 3]! & 0xff)
    || ((keys[oa + 3]! & KEY3_MASK) >>> 8) - ((keys[ob + 3]! & KEY3_MASK) >>> 8)
    || keys[oa + 1]! - keys[ob + 1]!
    || (keys[oa + 2]! & 0xffff) - (keys[ob + 2]! & 0xffff)
    || keys[oa]! - keys[ob]!
    || (keys[oa + 2]! >>> 16) - (keys[ob + 2]! >>> 16);
}
