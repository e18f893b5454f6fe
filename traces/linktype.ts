/**
 * @module traces/linktype
 * From a record's link-layer header to the start of its IP header.
 *
 * ```
 * EN10MB (1)      dst mac 6 | src mac 6 | ethertype 2 [| 802.1Q/802.1ad tag: TCI 2 | ethertype 2]* | IP
 * LINUX_SLL (113) pkttype 2 | arphrd 2 | addr len 2 | addr 8 | protocol 2 | IP          (16 bytes)
 * LINUX_SLL2(276) protocol 2 | reserved 2 | ifindex 4 | arphrd 2 | pkttype 1 | addr len 1 | addr 8 | IP (20)
 * NULL (0)        address family u32 in the capturing host's byte order | IP
 * LOOP (108)      address family u32 in network byte order (either accepted) | IP
 * RAW (101, 12, 14), IPV4 (228), IPV6 (229): IP from byte 0; the version nibble decides
 * ```
 * BSD address families for IPv6 differ per OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin).
 */
import type { CaptureRecord } from './record.ts';
import { ReaderRecord } from './reader-record.ts';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  LINKTYPE_RAW_ALIAS_12,
  LINKTYPE_RAW_ALIAS_14,
} from './record.ts';

export interface L3Location {
  /** Offset of the IPv4/IPv6 header in rec.data (decodeFrame: from its `start`). */
  l3Offset: number;
  /** 0x0800 or 0x86dd when decoded. */
  ethertype: number;
  /** Why not, when decodeLinkType returns false. */
  reason: string;
}

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard QinQ outer tag still seen in the wild. */
export const ETHERTYPE_QINQ_OLD = 0x9100;

/** Reasons are interned strings so counting them by reason allocates nothing per packet. */
export const REASON_TRUNCATED_L2 = 'not decoded: truncated link-layer header';
export const REASON_TRUNCATED_L3 = 'not decoded: no IP header';
export const REASON_8023 = 'not IP: 802.3 length field (LLC)';

const reasonCache = new Map<number, string>();
const etherReasonCache = new Map<number, string>();
const versionReasonCache = new Map<number, string>();
const afReasonCache = new Map<number, string>();

function linkReason(lt: number): string {
  let r = reasonCache.get(lt);
  if (r === undefined) {
    r = `not decoded: link type ${lt}`;
    reasonCache.set(lt, r);
  }
  return r;
}

function etherReason(et: number): string {
  let r = etherReasonCache.get(et);
  if (r === undefined) {
    r = `not IP: ethertype 0x${et.toString(16).padStart(4, '0')}`;
    etherReasonCache.set(et, r);
  }
  return r;
}

function versionReason(v: number): string {
  let r = versionReasonCache.get(v);
  if (r === undefined) {
    r = `not IP: version ${v}`;
    versionReasonCache.set(v, r);
  }
  return r;
}

function afReason(af: number): string {
  // Keyed on the raw word; bounded in practice, but do not let hostile files grow it forever.
  let r = afReasonCache.get(af);
  if (r === undefined) {
    r = `not IP: address family ${af}`;
    if (afReasonCache.size < 1024) afReasonCache.set(af, r);
  }
  return r;
}

// The helpers work on a frame at [base, end) of a larger buffer (a reader's window), so
// that decoding needs no view of the record; offsets given back are relative to `base`.

/** Locates the IP header after any VLAN tags, starting at the ethertype at `p`. */
function fromEthertype(d: Uint8Array, base: number, p: number, end: number, out: L3Location): boolean {
  for (;;) {
    if (p + 2 > end) {
      out.reason = REASON_TRUNCATED_L2;
      return false;
    }
    const et = d[p]! << 8 | d[p + 1]!;
    if (et === ETHERTYPE_VLAN || et === ETHERTYPE_QINQ || et === ETHERTYPE_QINQ_OLD) {
      p += 4;
      continue;
    }
    return ipAt(base, p + 2, end, et, out);
  }
}

function ipAt(base: number, l3: number, end: number, et: number, out: L3Location): boolean {
  if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_IPV6) {
    // Values up to 1500 are 802.3 lengths, not types: one reason for all of them.
    out.reason = et <= 1500 ? REASON_8023 : etherReason(et);
    return false;
  }
  if (l3 >= end) {
    out.reason = REASON_TRUNCATED_L3;
    return false;
  }
  out.l3Offset = l3 - base;
  out.ethertype = et;
  return true;
}

function byVersion(d: Uint8Array, base: number, end: number, out: L3Location): boolean {
  if (base >= end) {
    out.reason = REASON_TRUNCATED_L3;
    return false;
  }
  const v = d[base]! >> 4;
  if (v === 4) return ipAt(base, base, end, ETHERTYPE_IPV4, out);
  if (v === 6) return ipAt(base, base, end, ETHERTYPE_IPV6, out);
  out.reason = versionReason(v);
  return false;
}

function isAfInet6(af: number): boolean {
  return af === 24 || af === 28 || af === 30;
}

/**
 * Finds the IP header of `rec`. True: `out.l3Offset` (within `rec.data`) and `out.ethertype`
 * are set. False: `out.reason` says why ('not decoded: link type 127', 'not IP: ethertype
 * 0x0806', ...). Allocates nothing per call (reasons are cached strings); a reader's own
 * record is decoded in the reader's window, so its `data` view is not made.
 */
export function decodeLinkType(rec: CaptureRecord, out: L3Location): boolean {
  // Only the readers' own object: a copy (`{ ...rec, data }`) may carry a stale window.
  if (rec instanceof ReaderRecord) return decodeFrame(rec.linkType, rec.buf, rec.dataOffset, rec.dataOffset + rec.caplen, out);
  const d = rec.data;
  return decodeFrame(rec.linkType, d, 0, d.length, out);
}

/**
 * decodeLinkType for a frame at `buf[start, end)` (0 <= start <= end <= buf.length), e.g. a
 * reader's window: `out.l3Offset` is relative to `start`.
 */
export function decodeFrame(linkType: number, buf: Uint8Array, start: number, end: number, out: L3Location): boolean {
  // Untagged Ethernet carrying IP first: small enough to inline into a caller's loop.
  if (linkType === LINKTYPE_ETHERNET && start + 14 < end) {
    const et = buf[start + 12]! << 8 | buf[start + 13]!;
    if (et === ETHERTYPE_IPV4 || et === ETHERTYPE_IPV6) {
      out.l3Offset = 14;
      out.ethertype = et;
      return true;
    }
  }
  return decodeOther(linkType, buf, start, end, out);
}

function decodeOther(linkType: number, d: Uint8Array, s: number, end: number, out: L3Location): boolean {
  const len = end - s;
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return fromEthertype(d, s, s + 12, end, out);
    case LINKTYPE_LINUX_SLL:
      if (len < 16) break;
      return fromEthertype(d, s, s + 14, end, out);
    case LINKTYPE_LINUX_SLL2: {
      if (len < 20) break;
      const et = d[s]! << 8 | d[s + 1]!;
      if (et === ETHERTYPE_VLAN || et === ETHERTYPE_QINQ || et === ETHERTYPE_QINQ_OLD) return fromEthertype(d, s, s + 22, end, out);
      return ipAt(s, s + 20, end, et, out);
    }
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_ALIAS_12:
    case LINKTYPE_RAW_ALIAS_14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return byVersion(d, s, end, out);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (len < 4) break;
      const le = (d[s]! | d[s + 1]! << 8 | d[s + 2]! << 16 | d[s + 3]! << 24) >>> 0;
      const be = (d[s]! << 24 | d[s + 1]! << 16 | d[s + 2]! << 8 | d[s + 3]!) >>> 0;
      if (le === 2 || be === 2) return ipAt(s, s + 4, end, ETHERTYPE_IPV4, out);
      if (isAfInet6(le) || isAfInet6(be)) return ipAt(s, s + 4, end, ETHERTYPE_IPV6, out);
      out.reason = afReason(le < be ? le : be);
      return false;
    }
    default:
      out.reason = linkReason(linkType);
      return false;
  }
  out.reason = REASON_TRUNCATED_L2;
  return false;
}

const NAMES: Record<number, string> = {
  0: 'NULL', 1: 'EN10MB', 2: 'EN3MB', 3: 'AX25', 4: 'PRONET', 5: 'CHAOS', 6: 'IEEE802', 7: 'ARCNET_BSD',
  8: 'SLIP', 9: 'PPP', 10: 'FDDI', 12: 'RAW', 14: 'RAW', 50: 'PPP_HDLC', 51: 'PPP_ETHER',
  100: 'ATM_RFC1483', 101: 'RAW', 104: 'C_HDLC', 105: 'IEEE802_11', 107: 'FRELAY', 108: 'LOOP',
  113: 'LINUX_SLL', 114: 'LTALK', 117: 'PFLOG', 119: 'PRISM_HEADER', 122: 'IP_OVER_FC', 123: 'SUNATM',
  127: 'IEEE802_11_RADIO', 129: 'ARCNET_LINUX', 138: 'APPLE_IP_OVER_IEEE1394', 139: 'MTP2_WITH_PHDR',
  140: 'MTP2', 141: 'MTP3', 142: 'SCCP', 143: 'DOCSIS', 144: 'LINUX_IRDA',
  147: 'USER0', 148: 'USER1', 149: 'USER2', 150: 'USER3', 151: 'USER4', 152: 'USER5', 153: 'USER6', 154: 'USER7',
  155: 'USER8', 156: 'USER9', 157: 'USER10', 158: 'USER11', 159: 'USER12', 160: 'USER13', 161: 'USER14', 162: 'USER15',
  163: 'IEEE802_11_RADIO_AVS', 165: 'BACNET_MS_TP', 166: 'PPP_PPPD', 169: 'GPRS_LLC', 170: 'GPF_T', 171: 'GPF_F',
  177: 'LINUX_LAPD', 186: 'USB_FREEBSD', 187: 'BLUETOOTH_HCI_H4', 189: 'USB_LINUX', 190: 'CAN20B',
  191: 'IEEE802_15_4_LINUX', 192: 'PPI', 195: 'IEEE802_15_4_WITHFCS', 196: 'SITA', 197: 'ERF',
  201: 'BLUETOOTH_HCI_H4_WITH_PHDR', 202: 'AX25_KISS', 203: 'LAPD', 204: 'PPP_WITH_DIR', 205: 'C_HDLC_WITH_DIR',
  206: 'FRELAY_WITH_DIR', 207: 'LAPB_WITH_DIR', 209: 'IPMB_LINUX', 210: 'FLEXRAY', 211: 'MOST', 212: 'LIN',
  215: 'IEEE802_15_4_NONASK_PHY', 216: 'LINUX_EVDEV', 217: 'GSMTAP_UM', 218: 'GSMTAP_ABIS', 219: 'MPLS',
  220: 'USB_LINUX_MMAPPED', 221: 'DECT', 222: 'AOS', 223: 'WIHART', 224: 'FC_2', 225: 'FC_2_WITH_FRAME_DELIMS',
  226: 'IPNET', 227: 'CAN_SOCKETCAN', 228: 'IPV4', 229: 'IPV6', 230: 'IEEE802_15_4_NOFCS', 231: 'DBUS',
  235: 'DVB_CI', 236: 'MUX27010', 237: 'STANAG_5066_D_PDU', 239: 'NFLOG', 240: 'NETANALYZER',
  241: 'NETANALYZER_TRANSPARENT', 242: 'IPOIB', 243: 'MPEG_2_TS', 244: 'NG40', 245: 'NFC_LLCP', 246: 'PFSYNC',
  247: 'INFINIBAND', 248: 'SCTP', 249: 'USBPCAP', 250: 'RTAC_SERIAL', 251: 'BLUETOOTH_LE_LL',
  252: 'WIRESHARK_UPPER_PDU', 253: 'NETLINK', 254: 'BLUETOOTH_LINUX_MONITOR', 255: 'BLUETOOTH_BREDR_BB',
  256: 'BLUETOOTH_LE_LL_WITH_PHDR', 257: 'PROFIBUS_DL', 258: 'PKTAP', 259: 'EPON', 260: 'IPMI_HPM_2',
  261: 'ZWAVE_R1_R2', 262: 'ZWAVE_R3', 263: 'WATTSTOPPER_DLM', 264: 'ISO_14443', 265: 'RDS', 266: 'USB_DARWIN',
  268: 'SDLC', 270: 'LORATAP', 271: 'VSOCK', 272: 'NORDIC_BLE', 273: 'DOCSIS31_XRA31', 274: 'ETHERNET_MPACKET',
  275: 'DISPLAYPORT_AUX', 276: 'LINUX_SLL2', 278: 'OPENVIZSLA', 279: 'EBHSCR', 280: 'VPP_DISPATCH',
  281: 'DSA_TAG_BRCM', 282: 'DSA_TAG_BRCM_PREPEND', 283: 'IEEE802_15_4_TAP', 284: 'DSA_TAG_DSA',
  285: 'DSA_TAG_EDSA', 286: 'ELEE', 287: 'Z_WAVE_SERIAL', 288: 'USB_2_0', 289: 'ATSC_ALP', 290: 'ETW',
  292: 'ZBOSS_NCP', 293: 'USB_2_0_LOW_SPEED', 294: 'USB_2_0_FULL_SPEED', 295: 'USB_2_0_HIGH_SPEED',
  296: 'AUERSWALD_LOG', 297: 'ZWAVE_TAP', 298: 'SILABS_DEBUG_CHANNEL', 299: 'FIRA_UCI', 300: 'MDB', 301: 'DECT_NR',
};

/** Short LINKTYPE_ name without the prefix ('EN10MB', 'LINUX_SLL'...), or 'LINKTYPE_<n>' if unknown. */
export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}
