/**
 * @module dataplane/lib/profile
 * Datapath profiles and the per-version constants that the conntrack and NAT mechanisms
 * read. `1.10` is the seed's Cilium (v1.10 branch point, chart 1.10.3); `1.17` is current
 * Cilium (main as of 2025-01). Values come from `cilium-datapath.md` §5 and §7.
 */

export type Profile = '1.10' | '1.17';

export const PROFILES: readonly Profile[] = ['1.10', '1.17'];

/** NODEPORT_PORT_MIN_NAT / NODEPORT_PORT_MAX_NAT (NodePort range 30000-32767, so NAT starts above it). */
export const NAT_PORT_MIN_DEFAULT = 32768;
export const NAT_PORT_MAX_DEFAULT = 65535;

/** `--bpf-ct-global-tcp-max`, `--bpf-ct-global-any-max`, `--bpf-nat-global-max` defaults. */
export const CT_MAP_SIZE_TCP_DEFAULT = 524288;
export const CT_MAP_SIZE_ANY_DEFAULT = 262144;
export const NAT_MAP_SIZE_DEFAULT = 524288;

/** The tunnel ports a SNAT port must never be (cilium#45569): VXLAN 8472, Geneve 6081. */
export const DEFAULT_RESERVED_PORTS: readonly number[] = [8472, 6081];

export interface ProfileConstants {
  /** CT_CONNECTION_LIFETIME_TCP, seconds (1.15 changed 21600 → 8000). */
  ctLifetimeTcp: number;
  /** CT_CONNECTION_LIFETIME_NONTCP. */
  ctLifetimeNonTcp: number;
  /** CT_SYN_TIMEOUT. */
  ctSynTimeout: number;
  /** CT_CLOSE_TIMEOUT. */
  ctCloseTimeout: number;
  /** SNAT_COLLISION_RETRIES with the large instruction limit (1.10) / unconditionally (main). */
  snatCollisionRetries: number;
  /** SNAT_COLLISION_RETRIES for 1.10 on kernels without HAVE_LARGE_INSN_LIMIT. */
  snatCollisionRetriesSmall: number;
  /** SNAT_SIGNAL_THRES (send SIGNAL_NAT_FILL_UP when retries exceed it). */
  snatSignalThres: number;
  snatSignalThresSmall: number;
}

const V110: ProfileConstants = {
  ctLifetimeTcp: 21600,
  ctLifetimeNonTcp: 60,
  ctSynTimeout: 60,
  ctCloseTimeout: 10,
  snatCollisionRetries: 128,
  snatCollisionRetriesSmall: 32,
  snatSignalThres: 64,
  snatSignalThresSmall: 16,
};

const V117: ProfileConstants = {
  ctLifetimeTcp: 8000,
  ctLifetimeNonTcp: 60,
  ctSynTimeout: 60,
  ctCloseTimeout: 10,
  // main has no small-insn variant; the same values keep the option harmless there.
  snatCollisionRetries: 128,
  snatCollisionRetriesSmall: 128,
  snatSignalThres: 64,
  snatSignalThresSmall: 64,
};

export function profileConstants(profile: Profile): ProfileConstants {
  return profile === '1.10' ? V110 : V117;
}

export function isProfile(s: string): s is Profile {
  return s === '1.10' || s === '1.17';
}
