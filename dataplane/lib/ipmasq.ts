/**
 * @module dataplane/lib/ipmasq
 * ip-masq-agent's `nonMasqueradeCIDRs` as Cilium holds them: the LPM trie
 * `cilium_ipmasq_v4` (16384 entries, `pkg/maps/ipmasq/ipmasq.go`), looked up with the
 * packet's destination as a /32. A hit means "leave this flow un-NATed"
 * (cilium-datapath.md §5, "Which flows are NOT masqueraded").
 *
 * The map's key is {prefixlen, 4-byte address}; it is held in the 64-bit `LpmTrie` with
 * the high word fixed at 0 and 32 added to the prefix length, which gives the same
 * longest-prefix answers without a second trie implementation.
 */

import type { Cidr } from '../cluster/cidr.ts';
import { LpmTrie } from '../maps/lpm.ts';

export const IPMASQ_MAP_NAME = 'cilium_ipmasq_v4';
export const IPMASQ_MAP_SIZE = 16384;

export class IpMasqMap {
  readonly name = IPMASQ_MAP_NAME;
  private readonly trie = new LpmTrie(IPMASQ_MAP_SIZE);
  private readonly cidrs: Cidr[] = [];

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) {
      if (this.trie.update(32 + c.bits, 0, c.addr >>> 0, this.cidrs.length)) this.cidrs.push(c);
    }
  }

  /** Whether ip-masq-agent is configured at all (an empty map never matches). */
  get enabled(): boolean {
    return this.cidrs.length > 0;
  }

  /** Index of the matching CIDR for `daddr` (/32 lookup), or -1. No allocation. */
  lookup(daddr: number): number {
    if (this.cidrs.length === 0) return -1;
    return this.trie.lookup(0, daddr >>> 0);
  }

  cidrText(i: number): string {
    return this.cidrs[i]?.text ?? '';
  }
}
