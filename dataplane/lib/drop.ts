/**
 * @module dataplane/lib/drop
 * Program verdicts and Cilium's drop reasons, in one table: the BPF name, the monitor text
 * (`pkg/monitor/api/drop.go`, what `cilium monitor` prints) and the Hubble enum name
 * (`api/v1/flow/flow.proto`, what `hubble observe` prints). cilium-datapath.md §9.
 *
 * Programs return a verdict as a number, like a tc program does: `CTX_ACT_OK` (pass on:
 * to the stack or the next hop the engine wires), `CTX_ACT_REDIRECT` (the program chose the
 * next device, held in the packet context), or a negative `DROP_*` code. Per-packet
 * problems are never exceptions.
 */

/** TC_ACT_OK: continue (to the stack, or the next program the engine wires). */
export const CTX_ACT_OK = 0;
/** TC_ACT_SHOT: what a program finally returns after `send_drop_notify`. */
export const CTX_ACT_DROP = 2;
/** TC_ACT_REDIRECT: the program redirected the packet to another device. */
export const CTX_ACT_REDIRECT = 7;

export const DROP_INVALID_SIP = -132;
export const DROP_POLICY = -133;
export const DROP_INVALID = -134;
export const DROP_WRITE_ERROR = -141;
export const DROP_UNKNOWN_L4 = -142;
export const DROP_UNKNOWN_ICMP4_CODE = -143;
export const DROP_NO_TUNNEL_KEY = -147;
export const DROP_UNROUTABLE = -151;
export const DROP_CSUM_L3 = -153;
export const DROP_CSUM_L4 = -154;
export const DROP_CT_CREATE_FAILED = -155;
export const DROP_FRAG_NOSUPPORT = -157;
export const DROP_NO_TUNNEL_ENDPOINT = -160;
export const DROP_NAT_NO_MAPPING = -167;
export const DROP_NAT_UNSUPP_PROTO = -168;
export const DROP_NO_FIB = -169;
export const DROP_INVALID_IDENTITY = -171;
/** Used inside Cilium as NAT_PUNT_TO_STACK; never a real drop. */
export const DROP_NAT_NOT_NEEDED = -173;
export const NAT_PUNT_TO_STACK = DROP_NAT_NOT_NEEDED;
export const DROP_SNAT_NO_MAP_FOUND = -191;
export const DROP_NO_EGRESS_GATEWAY = -194;
export const DROP_NO_EGRESS_IP = -204;

export interface DropReasonInfo {
  /** Absolute code (monitor subtype, Hubble value). */
  code: number;
  /** BPF macro name. */
  bpf: string;
  /** Monitor text. */
  text: string;
  /** Hubble DropReason enum name. */
  name: string;
}

const TABLE: readonly DropReasonInfo[] = [
  { code: 132, bpf: 'DROP_INVALID_SIP', text: 'Invalid source ip', name: 'INVALID_SOURCE_IP' },
  { code: 133, bpf: 'DROP_POLICY', text: 'Policy denied', name: 'POLICY_DENIED' },
  { code: 134, bpf: 'DROP_INVALID', text: 'Invalid packet', name: 'INVALID_PACKET_DROPPED' },
  { code: 141, bpf: 'DROP_WRITE_ERROR', text: 'Error writing to packet', name: 'ERROR_WRITING_TO_PACKET' },
  { code: 142, bpf: 'DROP_UNKNOWN_L4', text: 'Unknown L4 protocol', name: 'UNKNOWN_L4_PROTOCOL' },
  { code: 143, bpf: 'DROP_UNKNOWN_ICMP4_CODE', text: 'Unknown ICMPv4 code', name: 'UNKNOWN_ICMPV4_CODE' },
  { code: 147, bpf: 'DROP_NO_TUNNEL_KEY', text: 'Error retrieving tunnel key', name: 'ERROR_RETRIEVING_TUNNEL_KEY' },
  { code: 151, bpf: 'DROP_UNROUTABLE', text: 'Stale or unroutable IP', name: 'STALE_OR_UNROUTABLE_IP' },
  { code: 153, bpf: 'DROP_CSUM_L3', text: 'Error while correcting L3 checksum', name: 'ERROR_WHILE_CORRECTING_L3_CHECKSUM' },
  { code: 154, bpf: 'DROP_CSUM_L4', text: 'Error while correcting L4 checksum', name: 'ERROR_WHILE_CORRECTING_L4_CHECKSUM' },
  { code: 155, bpf: 'DROP_CT_CREATE_FAILED', text: 'CT: Map insertion failed', name: 'CT_MAP_INSERTION_FAILED' },
  { code: 157, bpf: 'DROP_FRAG_NOSUPPORT', text: 'IP fragmentation not supported', name: 'IP_FRAGMENTATION_NOT_SUPPORTED' },
  {
    code: 160,
    bpf: 'DROP_NO_TUNNEL_ENDPOINT',
    text: 'No tunnel/encapsulation endpoint (datapath BUG!)',
    name: 'NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT',
  },
  { code: 167, bpf: 'DROP_NAT_NO_MAPPING', text: 'No mapping for NAT masquerade', name: 'NO_MAPPING_FOR_NAT_MASQUERADE' },
  {
    code: 168,
    bpf: 'DROP_NAT_UNSUPP_PROTO',
    text: 'Unsupported protocol for NAT masquerade',
    name: 'UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE',
  },
  { code: 169, bpf: 'DROP_NO_FIB', text: 'FIB lookup failed', name: 'FIB_LOOKUP_FAILED' },
  { code: 171, bpf: 'DROP_INVALID_IDENTITY', text: 'Invalid identity', name: 'INVALID_IDENTITY' },
  { code: 173, bpf: 'DROP_NAT_NOT_NEEDED', text: 'NAT not needed', name: 'NAT_NOT_NEEDED' },
  { code: 191, bpf: 'DROP_SNAT_NO_MAP_FOUND', text: 'No nat map found', name: 'SNAT_NO_MAP_FOUND' },
  { code: 194, bpf: 'DROP_NO_EGRESS_GATEWAY', text: 'No egress gateway found', name: 'NO_EGRESS_GATEWAY' },
  { code: 204, bpf: 'DROP_NO_EGRESS_IP', text: 'No Egress IP configured', name: 'DROP_NO_EGRESS_IP' },
];

const BY_CODE: ReadonlyMap<number, DropReasonInfo> = new Map(TABLE.map((d) => [d.code, d]));

/** Every drop reason the model can produce, ordered by code. */
export function dropReasons(): readonly DropReasonInfo[] {
  return TABLE;
}

/** The table row for a drop code (negative BPF value or absolute), if the model knows it. */
export function knownDrop(code: number): DropReasonInfo | undefined {
  return BY_CODE.get(Math.abs(code));
}

/** The table row for a drop code (negative BPF value or absolute); unknown codes get a generic row. */
export function dropInfo(code: number): DropReasonInfo {
  const abs = Math.abs(code);
  return BY_CODE.get(abs) ?? { code: abs, bpf: `DROP_${abs}`, text: `Unknown drop reason ${abs}`, name: 'DROP_REASON_UNKNOWN' };
}

/** True for a negative DROP_* verdict (NAT_PUNT_TO_STACK is not a drop). */
export function isDrop(verdict: number): boolean {
  return verdict < 0 && verdict !== NAT_PUNT_TO_STACK;
}
