/**
 * @module traces/diff/types
 * Shapes of the semantic capture diff: its options, the dissector it is given, and the
 * report (`--json` prints `DiffReport` as is, so this file is the documented JSON shape).
 *
 * The dissector is a parameter, not an import: `traces/` may not import `dataplane/`, and
 * `tools/diff.ts` wires `dataplane/packet/dissect.ts` in. Any function with this shape works.
 */

/** One decoded header, as `dataplane/packet/dissect.ts` returns it (structurally). */
export interface DiffLayer {
  name: string;
  offset: number;
  length: number;
  fields: Record<string, string | number | boolean>;
  /** Tunnel nesting (0 outer, 1 inside the first VXLAN/Geneve); derived from the layer order when absent. */
  depth?: number;
}

/** `dissect(frame, linkType)`: never throws; malformed input ends in a 'payload' layer. */
export type Dissector = (frame: Uint8Array, linkType: number) => readonly DiffLayer[];

export interface DiffOptions {
  dissect: Dissector;
  /**
   * Fields not compared: `layer.field` (`ipv4.id`, any depth), `inner.layer.field` (only
   * inside a tunnel), a whole `layer`, or one of the packet fields `ts`, `comment`, `caplen`,
   * `origlen`, `linktype`. In folder mode also `summary.<json path>` (e.g. `summary.input`).
   */
  ignore?: readonly string[];
  /** Largest timestamp difference still equal, in nanoseconds (default 0). */
  tsToleranceNs?: number;
  /** Compare translated (client-side) ports up to a consistent one-to-one renaming. */
  canonPorts?: boolean;
  /** Packet differences kept in `packets` (counts in `summary` are always complete). Default 100. */
  maxReport?: number;
  /** Look-ahead, in packets per interface, for re-synchronising after insertions and deletions. Default 128. */
  window?: number;
}

export type FieldValue = string | number | boolean | null;

/** One differing field: `layer.field: expected -> actual`. */
export interface FieldDiff {
  /** `ipv4.src`, `inner.tcp.sport`, `vxlan.vni`, `ts`, `comment`, `caplen`, `origlen`, `payload.bytes`... */
  field: string;
  /** null: the field (or layer) is absent on that side. */
  expected: FieldValue;
  actual: FieldValue;
  /** Why, when the values alone do not say it (canon-ports inconsistency, first differing byte). */
  note?: string;
}

/** Where a packet sits in one of the two captures. */
export interface PacketRef {
  /** File that holds it (relative to the folder in folder mode). */
  file: string;
  /** Wireshark's frame number: 1-based record number in the file (all interfaces). */
  frame: number;
  /** 0-based position among the packets of its interface. */
  index: number;
  /** RFC 3339 UTC with nanoseconds. */
  time: string;
  /** Innermost IP flow, `10.0.1.209:40000 -> 172.18.0.7:80 TCP`, or `non-IP (...)`. */
  flow: string;
}

export type PacketDiffKind = 'changed' | 'missing' | 'extra' | 'moved';

export interface PacketDiff {
  /** Interface (unit) name, as in `interfaces[].name`. */
  interface: string;
  /**
   * changed: matched, some field differs; missing: in expected only; extra: in actual only;
   * moved: found again within the window at another position (fields lists any other change).
   */
  kind: PacketDiffKind;
  expected?: PacketRef;
  actual?: PacketRef;
  fields: FieldDiff[];
}

/** Per-interface counts. */
export interface InterfaceReport {
  /** `eth0`, `#0` (unnamed, capture mode), `kind-worker.pcapng:eth0` or `node/eth0.pcap` (folder mode). */
  name: string;
  /** compared: on both sides; missing: expected only; extra: actual only. */
  status: 'compared' | 'missing' | 'extra';
  expectedFile?: string;
  actualFile?: string;
  expectedPackets: number;
  actualPackets: number;
  /** Matched pairs with no difference. */
  identical: number;
  changed: number;
  missing: number;
  extra: number;
  moved: number;
  /** Link types differ between the sides (numbers), when they do. */
  linkType?: { expected: number; actual: number };
}

/** A difference in `summary.json`, as a JSON path: `summary.conservation.dropped: 0 -> 3`. */
export interface JsonDiff {
  path: string;
  /** JSON text of the value, or null when absent on that side. */
  expected: string | null;
  actual: string | null;
}

/** A port renaming that is not one-to-one (only with canonPorts). */
export interface CanonPortsIssue {
  /** `TCP 172.18.0.3 -> 172.18.0.7:80` (local address, remote endpoint). */
  key: string;
  /** The two expected ports sent to one actual port, or one expected port sent to two. */
  expectedPorts: number[];
  actualPorts: number[];
  message: string;
}

export interface DiffSummary {
  expectedPackets: number;
  actualPackets: number;
  identical: number;
  changed: number;
  missing: number;
  extra: number;
  moved: number;
  /** Differing field → number of packets where it differs. */
  byField: Record<string, number>;
  /** Flow (expected side's, else actual's) → counts. */
  byFlow: Record<string, { changed: number; missing: number; extra: number; moved: number }>;
  /** Port renamings learned (with canonPorts): distinct (key, expected port) pairs. */
  canonPortMappings: number;
  /** Packet differences not listed in `packets` because of maxReport. */
  unlisted: number;
}

export interface DiffReport {
  /** True when nothing differs (after ignores, tolerance and canon-ports). */
  same: boolean;
  mode: 'capture' | 'folder';
  expected: string;
  actual: string;
  options: { ignore: string[]; tsToleranceNs: number; canonPorts: boolean; window: number };
  interfaces: InterfaceReport[];
  /** The first maxReport packet differences, per interface in order of the expected capture. */
  packets: PacketDiff[];
  /** Folder mode: output files on one side only (on disk, or listed in summary.json `outputs`). */
  files: { missing: string[]; extra: string[] };
  /** Folder mode: `summary.json` differences (`outputs` is compared as files, above). */
  summaryJson: JsonDiff[];
  canonPorts: CanonPortsIssue[];
  summary: DiffSummary;
}
