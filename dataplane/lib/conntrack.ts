/**
 * @module dataplane/lib/conntrack
 * Cilium's global conntrack: `cilium_ct4_global` (TCP) and `cilium_ct_any4_global`
 * (everything else), both LRU hashes keyed by `struct ipv4_ct_tuple`, with the lookup,
 * create, timeout and close rules of `bpf/lib/conntrack.h` and the agent's GC
 * (`pkg/maps/ctmap`). Facts: `cilium-datapath.md` §7, §9.
 *
 * The key swaps the addresses relative to the packet (Cilium's "Workaround #5848") but
 * not the ports. A pod→ext egress packet is stored as:
 *
 * ```
 *  daddr=podIP  saddr=extIP  dport=extPort  sport=podPort  nexthdr  flags=TUPLE_F_OUT
 * ```
 *
 * Callers pass tuples in packet orientation; this module builds the key.
 *
 * Rules modelled:
 * - Lookup tries the reply orientation first (reversed key, flipped flag → CT_REPLY), then
 *   the forward one (CT_ESTABLISHED), as Cilium does, so REPLY wins over ESTABLISHED.
 * - The datapath never checks expiry: an expired entry matches until GC removes it.
 * - TCP: the SYN timeout until a non-SYN packet was seen, then the long lifetime; FIN/RST
 *   sets rx/tx closing for the direction seen; RST before both SYNs closes both; once both
 *   close, the close timeout applies and lifetimes stop being refreshed; a SYN on a closing
 *   entry re-opens it (1.10: CT_REOPENED; 1.17: CT_NEW, the caller re-creates).
 * - Counters per direction of the lookup (1.10 rx/tx packets+bytes; 1.17 one packets/bytes
 *   pair, kept in the tx arrays). Flags-seen and last-report as `__ct_update_timeout` does
 *   (report at most every CT_REPORT_INTERVAL=5 s unless new flags appear).
 * - Create failure → DROP_CT_CREATE_FAILED (-155) only for a non-LRU map that is full; the
 *   LRU maps evict their oldest entry silently.
 * Not modelled: TUPLE_F_RELATED ICMP-error entries, service (TUPLE_F_SERVICE) lookups,
 * rev_nat_index, ifindex, proxy/DSR/node-port flags (printed as 0).
 */

import v8 from 'node:v8';
import vm from 'node:vm';
import type { Profile } from './profile.ts';
import { Rng } from './rng.ts';
import { profileConstants, CT_MAP_SIZE_TCP_DEFAULT, CT_MAP_SIZE_ANY_DEFAULT } from './profile.ts';
import { TupleHash, BPF_ANY, KEY3_MASK, tupleWord2, tupleWord3 } from '../maps/tuple-hash.ts';
import { TUPLE_F_OUT, TUPLE_F_IN, TUPLE_F_RELATED, TUPLE_F_SERVICE, IPPROTO_TCP, protoName, ipText, NatTable, newSnatResult, type SnatTarget } from './nat.ts';
import type { ConntrackRow } from '../../traces/stats.ts';

export { TUPLE_F_OUT, TUPLE_F_IN, TUPLE_F_RELATED, TUPLE_F_SERVICE } from './nat.ts';

export const CT_NEW = 0;
export const CT_ESTABLISHED = 1;
export const CT_REPLY = 2;
export const CT_RELATED = 3;
export const CT_REOPENED = 4;

export const CT_EGRESS = 0;
export const CT_INGRESS = 1;

/** DROP_CT_CREATE_FAILED, "CT: Map insertion failed". */
export const DROP_CT_CREATE_FAILED = -155;

/** CT_REPORT_INTERVAL: flags-seen/last-report refresh period, seconds. */
export const CT_REPORT_INTERVAL = 5;

export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_ACK = 0x10;

/** ct_entry flag bits as the Go side names them (Flags=0x.. [ ... ]). */
export const CT_FLAG_RX_CLOSING = 1 << 0;
export const CT_FLAG_TX_CLOSING = 1 << 1;
export const CT_FLAG_SEEN_NON_SYN = 1 << 4;

const FLAG_NAMES_V110: readonly [number, string][] = [
  [1 << 0, 'RxClosing'], [1 << 1, 'TxClosing'], [1 << 2, 'Nat64'], [1 << 3, 'LBLoopback'],
  [1 << 4, 'SeenNonSyn'], [1 << 5, 'NodePort'], [1 << 6, 'ProxyRedirect'], [1 << 7, 'DSR'],
];
const FLAG_NAMES_V117: readonly [number, string][] = [
  ...FLAG_NAMES_V110, [1 << 8, 'FromL7LB'], [1 << 10, 'FromTunnel'],
];

export interface CtOptions {
  /** `--bpf-ct-global-tcp-max` (524288). */
  maxTcp: number;
  /** `--bpf-ct-global-any-max` (262144). */
  maxAny: number;
  /** CT_CONNECTION_LIFETIME_TCP, s. */
  lifetimeTcp: number;
  /** CT_CONNECTION_LIFETIME_NONTCP, s. */
  lifetimeNonTcp: number;
  /** CT_SYN_TIMEOUT, s. */
  synTimeout: number;
  /** CT_CLOSE_TIMEOUT, s. */
  closeTimeout: number;
  /** Filled by ctOptionsFor; the constructor's `profile` argument wins. */
  profile?: Profile;
  /** LRU maps (Cilium's default). false: a full map refuses inserts (-155). */
  lru?: boolean;
  /** Slots allocated up front per map (they grow to max as needed). */
  initialCapacity?: number;
}

export function ctOptionsFor(profile: Profile, sizes: Partial<CtOptions> = {}): CtOptions {
  const k = profileConstants(profile);
  return {
    maxTcp: CT_MAP_SIZE_TCP_DEFAULT,
    maxAny: CT_MAP_SIZE_ANY_DEFAULT,
    lifetimeTcp: k.ctLifetimeTcp,
    lifetimeNonTcp: k.ctLifetimeNonTcp,
    synTimeout: k.ctSynTimeout,
    closeTimeout: k.ctCloseTimeout,
    ...sizes,
    profile,
  };
}

export interface CtGcResult {
  deleted: number;
  /** Original tuples (packet orientation) of deleted TUPLE_F_OUT entries; empty when `nat` was given to gc(). */
  natPairs: [proto: number, saddr: number, daddr: number, sport: number, dport: number][];
  /** NAT pairs deleted directly (gc(now, nat)). */
  natDeleted: number;
}

export type CtRow = Omit<ConntrackRow, 'node'>;

/** The flow id of a tuple in packet order (source, then destination), if it has one. */
export type FlowIdOf = (proto: number, saddr: number, sport: number, daddr: number, dport: number) => string | undefined;

/*
 * Value layout: the entry's fields sit in its TupleHash record right after the key (16
 * words, 64 bytes a slot), read through four views of the map's buffer. A lookup hit
 * touches the key and most fields; in one record that is one or two cache lines, where
 * separate arrays cost one miss per array with 60k+ live flows.
 *
 * ```
 *  u32 word  0-3 key (TupleHash)
 *            4 lifetime        5 flags (u16 @ byte 20) txFlagsSeen (u8 @ 22) rxFlagsSeen (u8 @ 23)
 *            6 txPackets       7 rxPackets       8 lastTxReport    9 lastRxReport
 *           10 srcSecId       11 lastUse        12-13 txBytes (f64) 14-15 rxBytes (f64)
 * ```
 *
 * lastUse: the Conntrack's use counter at the entry's last lookup hit or create (both maps
 * share the counter), so rows() can rank entries of the two maps by recency. Not a Cilium
 * field; the LRU lists cannot serve, as a hit only sets a reference bit (list order is
 * creation order plus second chances) and each map has its own list.
 */
const CT_VALUE_WORDS = 12;
const CT_REC_BYTES = 64; // (KEY_WORDS + CT_VALUE_WORDS) * 4, a power of two as TupleHash rounds
const SHIFT = 4; // log2 of the u32 words per record
const H = CT_REC_BYTES / 2; // u16 halves per record
const D = CT_REC_BYTES / 8; // f64 per record
const LIFETIME = 4;
const FLAGS = 10; // u16 index within the record
const TX_FLAGS_SEEN = 22; // byte index within the record
const RX_FLAGS_SEEN = 23;
const TX_PACKETS = 6;
const RX_PACKETS = 7;
const LAST_TX_REPORT = 8;
const LAST_RX_REPORT = 9;
const SRC_SEC_ID = 10;
const LAST_USE = 11;
const TX_BYTES = 6; // f64 index within the record
const RX_BYTES = 7;

/** One CT map; its values live in the map's records (layout above). */
class CtMap {
  readonly map: TupleHash;
  u32: Uint32Array;
  u16: Uint16Array;
  u8: Uint8Array;
  f64: Float64Array;

  constructor(max: number, lru: boolean, initial: number | undefined) {
    this.map = new TupleHash(max, { lru, initialCapacity: initial ?? 1024, valueWords: CT_VALUE_WORDS, onGrow: () => this.views() });
    if (this.map.shift !== SHIFT) throw new Error('conntrack: record layout out of step with TupleHash');
    const rec = this.map.rec;
    this.u32 = rec;
    this.u16 = new Uint16Array(rec.buffer);
    this.u8 = new Uint8Array(rec.buffer);
    this.f64 = new Float64Array(rec.buffer);
  }

  private views(): void {
    const rec = this.map.rec;
    this.u32 = rec;
    this.u16 = new Uint16Array(rec.buffer);
    this.u8 = new Uint8Array(rec.buffer);
    this.f64 = new Float64Array(rec.buffer);
  }

  byteSize(): number {
    return this.map.byteSize();
  }
}

export class Conntrack {
  readonly profile: Profile;
  readonly opts: CtOptions;
  /** `cilium_ct4_global`. */
  private readonly tcp: CtMap;
  /** `cilium_ct_any4_global`. */
  private readonly any: CtMap;
  /** Creates refused by a full non-LRU map (SIGNAL_CT_FILL_UP in Cilium). */
  createFailures = 0;
  /** Slot and map of the last successful lookup4/create4, for callers that want the entry (no allocation). */
  lastSlot = -1;
  lastIsTcp = false;
  /** Lookup hits and creates so far, both maps (u32, wraps); stamped into LAST_USE. */
  private useCount = 0;

  constructor(opts: CtOptions, profile?: Profile) {
    this.profile = profile ?? opts.profile ?? '1.17';
    this.opts = opts;
    const lru = opts.lru ?? true;
    this.tcp = new CtMap(opts.maxTcp, lru, opts.initialCapacity);
    this.any = new CtMap(opts.maxAny, lru, opts.initialCapacity);
  }

  size(): number {
    return this.tcp.map.size + this.any.map.size;
  }

  /** Entries evicted by LRU (both maps). */
  evictions(): number {
    return this.tcp.map.evictions + this.any.map.evictions;
  }

  /**
   * ct_lookup4. Tuple in packet orientation; dir CT_EGRESS/CT_INGRESS. Returns CT_NEW,
   * CT_ESTABLISHED, CT_REPLY or CT_REOPENED (1.10); updates counters, flags and lifetime
   * of a found entry. Never checks expiry.
   */
  lookup4(proto: number, saddr: number, daddr: number, sport: number, dport: number, dir: number,
    tcpFlags: number, pktLen: number, now: number): number {
    const isTcp = proto === IPPROTO_TCP;
    const m = isTcp ? this.tcp : this.any;
    const fwdFlag = dir === CT_INGRESS ? TUPLE_F_IN : TUPLE_F_OUT;
    // Reply orientation first (addresses and ports swapped back, flag flipped), then the forward one.
    const s = m.map.lookupPair(daddr >>> 0, saddr >>> 0, tupleWord2(sport, dport), tupleWord3(proto, fwdFlag ^ TUPLE_F_IN),
      saddr >>> 0, daddr >>> 0, tupleWord2(dport, sport), tupleWord3(proto, fwdFlag));
    if (s < 0) {
      this.lastSlot = -1;
      return CT_NEW;
    }
    const reply = !m.map.lastPairB;
    this.lastSlot = s;
    this.lastIsTcp = isTcp;
    m.u32[(s << SHIFT) + LAST_USE] = this.useCount = (this.useCount + 1) >>> 0;
    const ret = this.updateEntry(m, s, isTcp, dir, tcpFlags, pktLen, now);
    if (ret !== CT_ESTABLISHED) return ret;
    return reply ? CT_REPLY : CT_ESTABLISHED;
  }

  /**
   * ct_create4: a fresh entry (BPF_ANY: it replaces a closing one in 1.17). Returns 0, or
   * DROP_CT_CREATE_FAILED when a non-LRU map is full.
   */
  create4(proto: number, saddr: number, daddr: number, sport: number, dport: number, dir: number,
    tcpFlags: number, pktLen: number, now: number, srcSecId: number): number {
    const isTcp = proto === IPPROTO_TCP;
    const m = isTcp ? this.tcp : this.any;
    const flag = dir === CT_INGRESS ? TUPLE_F_IN : TUPLE_F_OUT;
    const s = m.map.insert(saddr >>> 0, daddr >>> 0, tupleWord2(dport, sport), tupleWord3(proto, flag), BPF_ANY);
    if (s < 0) {
      this.createFailures++;
      this.lastSlot = -1;
      return DROP_CT_CREATE_FAILED;
    }
    const t = Math.floor(now) >>> 0;
    m.u16[s * H + FLAGS] = 0;
    m.u8[s * CT_REC_BYTES + TX_FLAGS_SEEN] = 0;
    m.u8[s * CT_REC_BYTES + RX_FLAGS_SEEN] = 0;
    m.u32[(s << SHIFT) + TX_PACKETS] = 0;
    m.u32[(s << SHIFT) + RX_PACKETS] = 0;
    m.f64[s * D + TX_BYTES] = 0;
    m.f64[s * D + RX_BYTES] = 0;
    m.u32[(s << SHIFT) + LAST_TX_REPORT] = 0;
    m.u32[(s << SHIFT) + LAST_RX_REPORT] = 0;
    m.u32[(s << SHIFT) + SRC_SEC_ID] = srcSecId >>> 0;
    m.u32[(s << SHIFT) + LAST_USE] = this.useCount = (this.useCount + 1) >>> 0;
    m.u32[(s << SHIFT) + LIFETIME] = t;
    this.countPacket(m, s, dir, pktLen);
    this.updateTimeout(m, s, isTcp, dir, tcpFlags, t);
    this.lastSlot = s;
    this.lastIsTcp = isTcp;
    return 0;
  }

  /**
   * GC as the agent runs it: delete entries whose lifetime is below `now`. For deleted
   * TUPLE_F_OUT entries the flow's NAT pair goes too: deleted directly when `nat` is
   * given, else returned in `natPairs` (original tuple) for the caller.
   */
  gc(now: number, nat?: NatTable): CtGcResult {
    const res: CtGcResult = { deleted: 0, natPairs: [], natDeleted: 0 };
    const t = Math.floor(now);
    for (const m of [this.tcp, this.any]) {
      let s = m.map.oldest();
      while (s >= 0) {
        const newer = m.map.newer(s);
        if (m.u32[(s << SHIFT) + LIFETIME]! < t) {
          const keys = m.u32;
          const o = s << SHIFT;
          const w3 = keys[o + 3]! & KEY3_MASK;
          if (((w3 >>> 8) & TUPLE_F_IN) === 0) {
            // Key daddr/saddr are swapped: the original source is the key's daddr.
            const proto = w3 & 0xff;
            const saddr = keys[o]!;
            const daddr = keys[o + 1]!;
            const dport = keys[o + 2]! >>> 16;
            const sport = keys[o + 2]! & 0xffff;
            if (nat) {
              if (nat.deleteMapping4(proto, saddr, daddr, sport, dport)) res.natDeleted++;
            } else {
              res.natPairs.push([proto, saddr, daddr, sport, dport]);
            }
          }
          m.map.deleteSlot(s);
          res.deleted++;
        }
        s = newer;
      }
    }
    return res;
  }

  /** Whether an entry with exactly this key exists (key in packet orientation, flags given). */
  has4(proto: number, saddr: number, daddr: number, sport: number, dport: number, flags: number): boolean {
    const m = proto === IPPROTO_TCP ? this.tcp : this.any;
    return m.map.peek(saddr >>> 0, daddr >>> 0, tupleWord2(dport, sport), tupleWord3(proto, flags)) >= 0;
  }

  /** Lifetime (absolute seconds) of the entry from the last successful lookup4/create4, or -1. */
  lastLifetime(): number {
    if (this.lastSlot < 0) return -1;
    return (this.lastIsTcp ? this.tcp : this.any).u32[(this.lastSlot << SHIFT) + LIFETIME]!;
  }

  /**
   * Dashboard rows: the `limit` most recently used entries (last lookup hit or create) of
   * both maps together, most recent first, so old TCP entries do not push recent UDP ones
   * out. One pass over both maps keeping the best `limit` (no allocation per entry). The
   * dashboard re-sorts what it shows; this order decides which entries make the cut.
   * `flowIdOf` names the flow of a row from its packet-order tuple (the replay's flow ids,
   * for the journey view); rows it returns undefined for have none.
   */
  rows(now: number, limit = 50, nat?: NatTable | readonly NatTable[], flowIdOf?: FlowIdOf): CtRow[] {
    // The NAT column: the node's own table first, then the others given (a pod's flow is
    // SNATed on the gateway, not where its CT entry is).
    const nats = nat === undefined ? [] : Array.isArray(nat) ? (nat as readonly NatTable[]) : [nat as NatTable];
    // The best `limit` so far, ascending by age (use counter minus the entry's stamp, which
    // stays right across the u32 wrap), as parallel arrays: age, map (0 TCP, 1 other), slot.
    const maps = [this.tcp, this.any];
    const ages: number[] = [];
    const which: number[] = [];
    const slots: number[] = [];
    if (limit > 0) {
      for (let w = 0; w < 2; w++) {
        const m = maps[w]!;
        for (let s = m.map.newest(); s >= 0; s = m.map.older(s)) {
          const age = (this.useCount - m.u32[(s << SHIFT) + LAST_USE]!) >>> 0;
          if (ages.length === limit && age >= ages[limit - 1]!) continue;
          let i = ages.length === limit ? limit - 1 : ages.length;
          for (; i > 0 && ages[i - 1]! > age; i--) {
            ages[i] = ages[i - 1]!;
            which[i] = which[i - 1]!;
            slots[i] = slots[i - 1]!;
          }
          ages[i] = age;
          which[i] = w;
          slots[i] = s;
        }
      }
    }
    const rows: CtRow[] = [];
    for (let i = 0; i < slots.length; i++) {
      const isTcp = which[i] === 0;
      const m = maps[which[i]!]!;
      const s = slots[i]!;
      const keys = m.u32;
      const o = s << SHIFT;
      const f = m.u16[s * H + FLAGS]!;
      const state: CtRow['state'] = !isTcp ? 'ANY'
        : (f & (CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING)) !== 0 ? 'CLOSING'
          : (f & CT_FLAG_SEEN_NON_SYN) !== 0 ? 'ESTABLISHED' : 'SYN';
      let natText = '';
      const w3 = keys[o + 3]! & KEY3_MASK;
      if (((w3 >>> 8) & TUPLE_F_IN) === 0) {
        for (const t of nats) {
          const n = t.findOut(w3 & 0xff, keys[o]!, keys[o + 1]!, keys[o + 2]! & 0xffff, keys[o + 2]! >>> 16);
          if (n >= 0) {
            natText = `${ipText(t.toAddrOf(n))}:${t.toPortOf(n)}`;
            break;
          }
        }
      }
      // Packet order, as keyText prints it: the stored daddr field holds the source.
      const flowId = flowIdOf?.(w3 & 0xff, keys[o]!, keys[o + 2]! & 0xffff, keys[o + 1]!, keys[o + 2]! >>> 16);
      rows.push({
        ...(flowId !== undefined ? { flowId } : {}),
        tuple: keyText(keys, o).trimEnd(),
        state,
        lifetimeLeft: m.u32[(s << SHIFT) + LIFETIME]! - Math.floor(now),
        txPackets: m.u32[(s << SHIFT) + TX_PACKETS]!,
        txBytes: m.f64[s * D + TX_BYTES]!,
        rxPackets: m.u32[(s << SHIFT) + RX_PACKETS]!,
        rxBytes: m.f64[s * D + RX_BYTES]!,
        nat: natText,
        // Cilium after 1.10 keeps one Packets/Bytes pair for both directions (countPacket).
        ...(this.profile === '1.10' ? {} : { combined: true }),
      });
    }
    return rows;
  }

  /**
   * `cilium bpf ct list global`, one line per entry, sorted by key (proto, flags, source,
   * destination) for diffable dumps. Spacing follows the Go format strings: fields
   * separated by one space; Go leaves a trailing space before the newline, we do not. `expires` is the absolute capture-clock
   * second; 1.17 prints `Packets/Bytes` instead of the four counters and ends with
   * `BackendID=0` (our choice of position, after the fact sheet).
   */
  format(now: number, profile: Profile = this.profile): string {
    void now;
    const lines: { k: Uint32Array; o: number; text: string }[] = [];
    for (const m of [this.tcp, this.any]) {
      const keys = m.u32;
      for (const s of m.map.slots()) {
        const o = s << SHIFT;
        lines.push({ k: keys, o, text: keyText(keys, o) + valueText(m, s, profile) });
      }
    }
    lines.sort((a, b) => compareCtKeys(a.k, a.o, b.k, b.o));
    let out = '';
    for (const l of lines) out += l.text + '\n';
    return out;
  }

  /** Bytes held by both maps' typed arrays. */
  byteSize(): number {
    return this.tcp.byteSize() + this.any.byteSize();
  }

  private countPacket(m: CtMap, s: number, dir: number, pktLen: number): void {
    if (this.profile === '1.10' && dir === CT_INGRESS) {
      m.u32[(s << SHIFT) + RX_PACKETS]!++;
      m.f64[s * D + RX_BYTES]! += pktLen;
    } else {
      m.u32[(s << SHIFT) + TX_PACKETS]!++;
      m.f64[s * D + TX_BYTES]! += pktLen;
    }
  }

  /** __ct_lookup on a found entry: timeout, counters, TCP close/reopen actions. */
  private updateEntry(m: CtMap, s: number, isTcp: boolean, dir: number, tcpFlags: number, pktLen: number, now: number): number {
    const t = Math.floor(now) >>> 0;
    let f = m.u16[s * H + FLAGS]!;
    const closing = (f & (CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING)) !== 0;
    const alive = (f & (CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING)) !== (CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING);
    if (alive) this.updateTimeout(m, s, isTcp, dir, tcpFlags, t);
    this.countPacket(m, s, dir, pktLen);
    if (!isTcp) return CT_ESTABLISHED;
    if ((tcpFlags & (TCP_FLAG_RST | TCP_FLAG_FIN)) !== 0) {
      const bothSyns = (m.u8[s * CT_REC_BYTES + RX_FLAGS_SEEN]! & TCP_FLAG_SYN) !== 0 && (m.u8[s * CT_REC_BYTES + TX_FLAGS_SEEN]! & TCP_FLAG_SYN) !== 0;
      if (!bothSyns && (tcpFlags & TCP_FLAG_RST) !== 0) f |= CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING;
      else f |= dir === CT_INGRESS ? CT_FLAG_RX_CLOSING : CT_FLAG_TX_CLOSING;
      m.u16[s * H + FLAGS] = f;
      if ((f & (CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING)) === (CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING)) {
        m.u32[(s << SHIFT) + LIFETIME] = (t + this.opts.closeTimeout) >>> 0;
      }
      return CT_ESTABLISHED;
    }
    if ((tcpFlags & TCP_FLAG_SYN) !== 0 && closing) {
      if (this.profile === '1.10') {
        m.u16[s * H + FLAGS] = f & ~(CT_FLAG_RX_CLOSING | CT_FLAG_TX_CLOSING);
        this.updateTimeout(m, s, isTcp, dir, tcpFlags, t);
        return CT_REOPENED;
      }
      // main: report CT_NEW; the caller's ct_create4 overwrites the entry.
      return CT_NEW;
    }
    return CT_ESTABLISHED;
  }

  /** ct_update_timeout + the flags-seen/report bookkeeping of __ct_update_timeout. */
  private updateTimeout(m: CtMap, s: number, isTcp: boolean, dir: number, tcpFlags: number, t: number): void {
    let lifetime: number;
    if (isTcp) {
      if ((tcpFlags & TCP_FLAG_SYN) === 0) m.u16[s * H + FLAGS] = m.u16[s * H + FLAGS]! | CT_FLAG_SEEN_NON_SYN;
      lifetime = (m.u16[s * H + FLAGS]! & CT_FLAG_SEEN_NON_SYN) !== 0 ? this.opts.lifetimeTcp : this.opts.synTimeout;
    } else {
      lifetime = this.opts.lifetimeNonTcp;
    }
    m.u32[(s << SHIFT) + LIFETIME] = (t + lifetime) >>> 0;
    const seen = tcpFlags & 0xff;
    if (dir === CT_INGRESS) {
      const acc = m.u8[s * CT_REC_BYTES + RX_FLAGS_SEEN]!;
      if ((acc | seen) !== acc || m.u32[(s << SHIFT) + LAST_RX_REPORT]! + CT_REPORT_INTERVAL < t) {
        m.u8[s * CT_REC_BYTES + RX_FLAGS_SEEN] = acc | seen;
        m.u32[(s << SHIFT) + LAST_RX_REPORT] = t;
      }
    } else {
      const acc = m.u8[s * CT_REC_BYTES + TX_FLAGS_SEEN]!;
      if ((acc | seen) !== acc || m.u32[(s << SHIFT) + LAST_TX_REPORT]! + CT_REPORT_INTERVAL < t) {
        m.u8[s * CT_REC_BYTES + TX_FLAGS_SEEN] = acc | seen;
        m.u32[(s << SHIFT) + LAST_TX_REPORT] = t;
      }
    }
  }
}

/**
 * PurgeOrphanNATEntries: NAT entries without a CT entry go. An IN entry is kept while the
 * egress CT entry of its flow exists; an OUT entry while the flow's egress or ingress CT
 * entry exists. Cilium runs it only on GC triggered by SIGNAL_NAT_FILL_UP. Returns the
 * number of NAT entries deleted.
 */
export function purgeOrphanNat(nat: NatTable, ct: Conntrack): number {
  const keys = nat.map.rec;
  const shift = nat.map.shift;
  let deleted = 0;
  for (const s of nat.map.slots()) {
    const o = s << shift;
    const w3 = keys[o + 3]! & KEY3_MASK;
    const proto = w3 & 0xff;
    const isIn = ((w3 >>> 8) & TUPLE_F_IN) !== 0;
    const daddr = keys[o]!;
    const saddr = keys[o + 1]!;
    const dport = keys[o + 2]! >>> 16;
    const sport = keys[o + 2]! & 0xffff;
    let keep: boolean;
    if (isIn) {
      // Reverse entry {ext → snat:natPort}: the flow's original is {orig → ext}.
      keep = ct.has4(proto, nat.toAddrOf(s), saddr, nat.toPortOf(s), sport, TUPLE_F_OUT);
    } else {
      keep = ct.has4(proto, saddr, daddr, sport, dport, TUPLE_F_OUT) || ct.has4(proto, daddr, saddr, dport, sport, TUPLE_F_IN);
    }
    if (!keep) {
      nat.deleteSlot(s);
      deleted++;
    }
  }
  return deleted;
}

/** The un-swapped tuple as the CLI prints it (with the trailing space Go leaves). */
function keyText(keys: Uint32Array, o: number): string {
  const w3 = keys[o + 3]! & KEY3_MASK;
  const flags = w3 >>> 8;
  // Stored daddr field = packet source (swap), ports as stored.
  const src = ipText(keys[o]!);
  const dst = ipText(keys[o + 1]!);
  const dport = keys[o + 2]! >>> 16;
  const sport = keys[o + 2]! & 0xffff;
  let t = `${protoName(w3 & 0xff)} ${(flags & TUPLE_F_IN) !== 0 ? 'IN' : 'OUT'} ${src}:${sport} -> ${dst}:${dport} `;
  if ((flags & TUPLE_F_RELATED) !== 0) t += 'related ';
  if ((flags & TUPLE_F_SERVICE) !== 0) t += 'service ';
  return t;
}

/** Go's %#02x / %#04x: 0x prefix, zero-padded to the width. */
function hexPad(v: number, width: number): string {
  return '0x' + v.toString(16).padStart(width, '0');
}

function valueText(m: CtMap, s: number, profile: Profile): string {
  const f = m.u16[s * H + FLAGS]!;
  let flagText = `Flags=${hexPad(f, 4)} [ `;
  for (const [bit, name] of profile === '1.10' ? FLAG_NAMES_V110 : FLAG_NAMES_V117) if ((f & bit) !== 0) flagText += name + ' ';
  flagText += ']';
  const common = `RxFlagsSeen=${hexPad(m.u8[s * CT_REC_BYTES + RX_FLAGS_SEEN]!, 2)} LastRxReport=${m.u32[(s << SHIFT) + LAST_RX_REPORT]!} `;
  const tx = `TxFlagsSeen=${hexPad(m.u8[s * CT_REC_BYTES + TX_FLAGS_SEEN]!, 2)} LastTxReport=${m.u32[(s << SHIFT) + LAST_TX_REPORT]!} `;
  const tail = `${flagText} RevNAT=0 SourceSecurityID=${m.u32[(s << SHIFT) + SRC_SEC_ID]!} IfIndex=0`;
  if (profile === '1.10') {
    return `expires=${m.u32[(s << SHIFT) + LIFETIME]!} RxPackets=${m.u32[(s << SHIFT) + RX_PACKETS]!} RxBytes=${m.f64[s * D + RX_BYTES]!} ${common}`
      + `TxPackets=${m.u32[(s << SHIFT) + TX_PACKETS]!} TxBytes=${m.f64[s * D + TX_BYTES]!} ${tx}${tail}`;
  }
  return `expires=${m.u32[(s << SHIFT) + LIFETIME]!} Packets=${m.u32[(s << SHIFT) + TX_PACKETS]! + m.u32[(s << SHIFT) + RX_PACKETS]!} Bytes=${m.f64[s * D + TX_BYTES]! + m.f64[s * D + RX_BYTES]!} `
    + `${common}${tx}${tail} BackendID=0`;
}

function compareCtKeys(ka: Uint32Array, oa: number, kb: Uint32Array, ob: number): number {
  return (ka[oa + 3]! & 0xff) - (kb[ob + 3]! & 0xff)
    || ((ka[oa + 3]! & KEY3_MASK) >>> 8) - ((kb[ob + 3]! & KEY3_MASK) >>> 8)
    || ka[oa]! - kb[ob]!
    || (ka[oa + 2]! & 0xffff) - (kb[ob + 2]! & 0xffff)
    || ka[oa + 1]! - kb[ob + 1]!
    || (ka[oa + 2]! >>> 16) - (kb[ob + 2]! >>> 16);
}

/** What `stateBytesPerFlow` measured. */
export interface StateMemory {
  flows: number;
  profile: Profile;
  /** Bytes of the CT and NAT typed arrays (exact), per flow. */
  typedArrayBytesPerFlow: number;
  /** process.memoryUsage() heapUsed + arrayBuffers delta after a forced GC, per flow. */
  measuredBytesPerFlow: number;
  /** New flows per second while filling (CT create + SNAT with both NAT entries). */
  flowsPerSecond: number;
}

/**
 * Fills one Conntrack and one NatTable with `flows` egress-gateway flows (CT entry + OUT
 * and IN NAT entries each; 4096 remotes, no collisions) and reports the memory per flow.
 * Maps are sized to hold every flow (CT TCP max = flows, NAT max = 2 × flows).
 */
export function stateBytesPerFlow(flows = 1_000_000, profile: Profile = '1.17'): StateMemory {
  const gc = forceGc();
  gc();
  const before = process.memoryUsage();
  const ct = new Conntrack(ctOptionsFor(profile, { maxTcp: flows, maxAny: 1024 }), profile);
  const nat = new NatTable(2 * flows, profile);
  const rng = new Rng(1);
  const out = newSnatResult();
  const egressIp = 0xac120003; // 172.18.0.3
  const target: SnatTarget = { addr: egressIp, minPort: 32768, maxPort: 65535, needsCt: true, fromEndpoint: false };
  const t0 = performance.now();
  for (let i = 0; i < flows; i++) {
    const saddr = (0x0a000000 + (i & 0xffff)) >>> 0;
    const daddr = (0x68000000 + (i & 0xfff)) >>> 0;
    const sport = 32768 + (i >>> 12);
    ct.create4(IPPROTO_TCP, saddr, daddr, sport, 80, CT_EGRESS, TCP_FLAG_SYN, 60, 1000, 256);
    nat.snatV4Nat(IPPROTO_TCP, saddr, daddr, sport, 80, target, 1000, rng, out);
  }
  const ms = performance.now() - t0;
  gc();
  const after = process.memoryUsage();
  const measured = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  const res: StateMemory = {
    flows,
    profile,
    typedArrayBytesPerFlow: (ct.byteSize() + nat.byteSize()) / flows,
    measuredBytesPerFlow: measured / flows,
    flowsPerSecond: Math.round(flows / (ms / 1000)),
  };
  // Keep both alive until measured.
  if (ct.size() + nat.size() < 0) throw new Error('unreachable');
  return res;
}

function forceGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return () => {};
  }
}
