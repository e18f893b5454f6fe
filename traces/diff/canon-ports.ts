/**
 * @module traces/diff/canon-ports
 * `--canon-ports`: translated ports are equal up to a consistent one-to-one renaming.
 *
 * Which port of a packet is the translated (client) one: the higher of the two in the
 * expected packet (servers listen on the lower port; NAT and ephemeral ranges are high),
 * source on a tie; for ICMP echo the identifier, as the source of a request and the
 * destination of a reply. The renaming is kept per key (protocol, local address, remote
 * address, remote port), all taken from the expected packet, so a request `egress IP:p ->
 * server:80` and its reply `server:80 -> egress IP:p` share one key, on every interface and
 * at every tunnel depth. Within a key, expected → actual must stay a bijection: two expected
 * ports onto one actual port, or one expected port onto two actual ports, is inconsistent
 * (two flows on one port) and reported; such ports compare as different.
 */
import type { CanonPortsIssue } from './types.ts';
import { type FrameWalk, ipv4Text, protoName } from './flow.ts';

interface PortMap {
  fwd: Map<number, number>;
  rev: Map<number, number>;
  label: string | undefined;
}

/** Result bits of `PortCanon.check` per port position. */
export const CANON_SPORT = 1;
export const CANON_DPORT = 2;

export class PortCanon {
  /** local address → (remote address, remote port, protocol) packed into 50 bits → map. */
  private readonly maps = new Map<number, Map<number, PortMap>>();
  private readonly issueKeys = new Set<string>();
  readonly issues: CanonPortsIssue[] = [];
  mappings = 0;

  private mapFor(local: number, remote: number, rport: number, proto: number): PortMap {
    let byLocal = this.maps.get(local);
    if (byLocal === undefined) {
      byLocal = new Map();
      this.maps.set(local, byLocal);
    }
    // 32 + 16 + 2 bits: exact in a double.
    const pk = proto === 6 ? 0 : proto === 17 ? 1 : 2;
    const k = remote * 262144 + rport * 4 + pk;
    let m = byLocal.get(k);
    if (m === undefined) {
      m = { fwd: new Map(), rev: new Map(), label: undefined };
      byLocal.set(k, m);
    }
    return m;
  }

  /**
   * Learns and checks the renaming for IP level `i` of a matched pair (walks of the expected
   * and actual frames). Returns which port positions differ but are equal under a consistent
   * renaming (CANON_SPORT / CANON_DPORT bits); `inconsistent` gets the same bits for ports
   * whose renaming broke the bijection (only then is an issue recorded).
   */
  check(e: FrameWalk, a: FrameWalk, i: number, inconsistent: { bits: number; note: string }): number {
    inconsistent.bits = 0;
    if (i >= e.levels || i >= a.levels) return 0;
    const proto = e.proto[i]!;
    const es = e.sport[i]!;
    const ed = e.dport[i]!;
    if (es < 0 || ed < 0 || a.sport[i]! < 0 || proto !== a.proto[i]) return 0;
    let srcSide: boolean;
    if (proto === 1 || proto === 58) {
      const t = e.icmpType[i]!;
      srcSide = t === 8 || t === 128;
    } else if (proto === 6 || proto === 17) {
      srcSide = es >= ed;
    } else return 0;
    const local = srcSide ? e.saddr[i]! : e.daddr[i]!;
    const remote = srcSide ? e.daddr[i]! : e.saddr[i]!;
    const icmp = proto === 1 || proto === 58;
    const rport = icmp ? 0 : srcSide ? ed : es;
    // The remote (server) port is not renamed: if it differs, this is not a renaming.
    if (!icmp && rport !== (srcSide ? a.dport[i]! : a.sport[i]!)) return 0;
    const ep = srcSide ? es : ed;
    const ap = srcSide ? a.sport[i]! : a.dport[i]!;
    const bit = icmp ? CANON_SPORT | CANON_DPORT : srcSide ? CANON_SPORT : CANON_DPORT;
    const m = this.mapFor(local, remote, rport, proto);
    const known = m.fwd.get(ep);
    if (known === undefined) {
      const back = m.rev.get(ap);
      if (back !== undefined) {
        inconsistent.bits = bit;
        inconsistent.note = this.issue(m, e, i, srcSide, rport, [back, ep], [ap], `expected ports ${back} and ${ep} both map to actual port ${ap}`);
        return 0;
      }
      m.fwd.set(ep, ap);
      m.rev.set(ap, ep);
      this.mappings++;
      return ep !== ap ? bit : 0;
    }
    if (known !== ap) {
      inconsistent.bits = bit;
      inconsistent.note = this.issue(m, e, i, srcSide, rport, [ep], [known, ap], `expected port ${ep} maps to actual ports ${known} and ${ap}`);
      return 0;
    }
    return ep !== ap ? bit : 0;
  }

  private issue(m: PortMap, e: FrameWalk, i: number, srcSide: boolean, rport: number, ep: number[], ap: number[], what: string): string {
    if (m.label === undefined) {
      const local = e.v6[i] ? 'IPv6' : ipv4Text(srcSide ? e.saddr[i]! : e.daddr[i]!);
      const remote = e.v6[i] ? 'IPv6' : ipv4Text(srcSide ? e.daddr[i]! : e.saddr[i]!);
      const p = e.proto[i]!;
      m.label = `${protoName(p)} ${local} -> ${remote}${p === 1 || p === 58 ? '' : `:${rport}`}`;
    }
    const message = `canon-ports: ${m.label}: ${what} (inconsistent)`;
    const dedupe = `${m.label}|${ep.join(',')}|${ap.join(',')}`;
    if (!this.issueKeys.has(dedupe)) {
      this.issueKeys.add(dedupe);
      this.issues.push({ key: m.label, expectedPorts: ep, actualPorts: ap, message });
    }
    return message;
  }
}
