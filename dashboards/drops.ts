/**
 * @module dashboards/drops
 * Drops by reason: Cilium's code, monitor text and Hubble name, the count, and the last flow
 * dropped for that reason. Most frequent first.
 */
import type { StatsSnapshot } from '../traces/stats.ts';
import { compact, headerRow, resolveColumns, row, type Column, type PaneContent } from './format.ts';

const COLS: Column[] = [
  { title: 'CODE', width: 4, align: 'right' },
  { title: 'COUNT', width: 6, align: 'right' },
  { title: 'REASON / LAST FLOW', width: 0 },
];

/** Two lines per reason (code, count, text and Hubble name; then the last flow), so narrow panes keep the text. */
export function renderDrops(s: StatsSnapshot, width: number): PaneContent {
  const widths = resolveColumns(COLS, width);
  const rows = [...s.drops].sort((a, b) => b.count - a.count || a.code - b.code);
  const body: string[] = [];
  for (const d of rows) {
    body.push(`{red-fg}${row([d.code, compact(d.count), `${d.text} (${d.name})`], COLS, widths, width)}{/red-fg}`);
    body.push(row(['', '', `last ${d.lastFlow}`], COLS, widths, width));
  }
  if (body.length === 0) body.push('{gray-fg}no drops{/gray-fg}');
  const total = rows.reduce((a, d) => a + d.count, 0);
  return { title: `Drops (${total})`, fixed: [headerRow(COLS, widths, width)], body };
}
