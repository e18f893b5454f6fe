/**
 * @module dashboards/policies
 * Policy hits, one row per policy and destination CIDR: gateway, egress IP, flows, packets,
 * bytes. Excluded-CIDR and no-gateway entries are named as `cilium-dbg bpf egress list`
 * names them ("Excluded CIDR", "Not Found") and coloured, so they never read as a hit.
 */
import type { StatsSnapshot } from '../traces/stats.ts';
import { compact, headerRow, resolveColumns, row, type Column, type PaneContent } from './format.ts';

const COLS: Column[] = [
  { title: 'POLICY', width: 0 },
  { title: 'DEST CIDR', width: 18 },
  { title: 'KIND', width: 10 },
  { title: 'GATEWAY', width: 15 },
  { title: 'EGRESS IP', width: 15 },
  { title: 'FLOWS', width: 5, align: 'right' },
  { title: 'PKTS', width: 6, align: 'right' },
  { title: 'BYTES', width: 6, align: 'right' },
];

/** Below this inner width the policy and CIDR share a column and the kind is shown in place of the egress IP. */
const NARROW = 96;
const NARROW_COLS: Column[] = [
  { title: 'POLICY / DEST CIDR', width: 0 },
  { title: 'EGRESS IP', width: 15 },
  { title: 'FLOWS', width: 5, align: 'right' },
  { title: 'PKTS', width: 6, align: 'right' },
];

export function renderPolicies(s: StatsSnapshot, width: number): PaneContent {
  const cols = width < NARROW ? NARROW_COLS : COLS;
  const widths = resolveColumns(cols, width);
  const body: string[] = [];
  for (const p of s.policies) {
    const gateway = p.kind === 'excluded' ? 'Excluded CIDR' : p.kind === 'no-gateway' ? 'Not Found' : p.gateway;
    const values =
      cols === COLS
        ? [p.policy, p.cidr, p.kind, gateway, p.kind === 'hit' ? p.egressIp : '-', p.flows, compact(p.packets), compact(p.bytes)]
        : [`${p.policy} ${p.cidr}`, p.kind === 'hit' ? p.egressIp : gateway, p.flows, compact(p.packets)];
    const text = row(values, cols, widths, width);
    body.push(p.kind === 'hit' ? text : p.kind === 'excluded' ? `{cyan-fg}${text}{/cyan-fg}` : `{red-fg}${text}{/red-fg}`);
  }
  if (body.length === 0) body.push('{gray-fg}no egress policy matched yet (default local egress){/gray-fg}');
  const hits = s.policies.reduce((a, p) => a + (p.kind === 'hit' ? p.packets : 0), 0);
  return { title: `Policy hits (${hits} pkts redirected)`, fixed: [headerRow(cols, widths, width)], body };
}
