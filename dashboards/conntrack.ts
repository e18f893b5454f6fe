/**
 * @module dashboards/conntrack
 * The conntrack table: tuple (as `cilium bpf ct list` prints it), node, state, lifetime left
 * on the capture clock, packets and bytes each way, NAT mapping. The view state (sort
 * column, filter, selected row) lives in the dashboard; this module sorts, filters and draws.
 */
import type { ConntrackRow, StatsSnapshot } from '../traces/stats.ts';
import { compact, headerRow, resolveColumns, row, type Column, type PaneContent } from './format.ts';

/** Sort columns, in the order `s` cycles through them. */
export const SORT_KEYS = ['tuple', 'state', 'lifetime', 'tx', 'rx', 'nat'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface ConntrackView {
  sort: SortKey;
  /** Case-insensitive substring, matched against tuple, node, state and NAT mapping. */
  filter: string;
  /** Index of the selected row in the filtered, sorted list. */
  selected: number;
}

const STATE_ORDER: Record<ConntrackRow['state'], number> = { SYN: 0, ESTABLISHED: 1, CLOSING: 2, ANY: 3 };

/** The rows the table shows, in order: filtered by `view.filter`, sorted by `view.sort`. */
export function visibleConntrack(rows: readonly ConntrackRow[], view: Pick<ConntrackView, 'sort' | 'filter'>): ConntrackRow[] {
  const f = view.filter.toLowerCase();
  const out = f
    ? rows.filter((r) => `${r.tuple} ${r.node} ${r.state} ${r.nat}`.toLowerCase().includes(f))
    : rows.slice();
  const cmp: Record<SortKey, (a: ConntrackRow, b: ConntrackRow) => number> = {
    tuple: (a, b) => (a.tuple < b.tuple ? -1 : a.tuple > b.tuple ? 1 : 0),
    state: (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state],
    lifetime: (a, b) => a.lifetimeLeft - b.lifetimeLeft,
    tx: (a, b) => b.txPackets - a.txPackets || b.txBytes - a.txBytes,
    rx: (a, b) => b.rxPackets - a.rxPackets || b.rxBytes - a.rxBytes,
    nat: (a, b) => (a.nat < b.nat ? -1 : a.nat > b.nat ? 1 : 0),
  };
  const c = cmp[view.sort];
  // Ties keep the tuple order so the table does not jitter between refreshes.
  out.sort((a, b) => c(a, b) || cmp.tuple(a, b));
  return out;
}

const COLS: Column[] = [
  { title: 'TUPLE', width: 0 },
  { title: 'NODE', width: 23 },
  { title: 'STATE', width: 11 },
  { title: 'LIFETIME', width: 8, align: 'right' },
  { title: 'TX PKT/BYTES', width: 13, align: 'right' },
  { title: 'RX PKT/BYTES', width: 13, align: 'right' },
  { title: 'NAT', width: 21 },
];

const SORT_TITLE: Record<SortKey, string> = { tuple: 'TUPLE', state: 'STATE', lifetime: 'LIFETIME', tx: 'TX PKT/BYTES', rx: 'RX PKT/BYTES', nat: 'NAT' };

function lifetime(s: number): string {
  if (s < 0) return `exp ${Math.round(-s)}s`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.round(s)}s`;
}

/** Below this inner width: no node column, short state names, packets only. */
const NARROW = 120;
const NARROW_COLS: Column[] = [
  { title: 'TUPLE', width: 0 },
  { title: 'STATE', width: 5 },
  { title: 'LIFE', width: 6, align: 'right' },
  { title: 'TX/RX', width: 9, align: 'right' },
  { title: 'NAT', width: 21 },
];
const NARROW_SORT_TITLE: Record<SortKey, string> = { tuple: 'TUPLE', state: 'STATE', lifetime: 'LIFE', tx: 'TX/RX', rx: 'TX/RX', nat: 'NAT' };
const SHORT_STATE: Record<ConntrackRow['state'], string> = { SYN: 'SYN', ESTABLISHED: 'EST', CLOSING: 'CLOSE', ANY: 'ANY' };

/**
 * @param rows the already filtered and sorted rows ({@link visibleConntrack})
 * @param selected index of the highlighted row, or -1 when the pane has no focus
 */
export function renderConntrack(s: StatsSnapshot, rows: readonly ConntrackRow[], view: ConntrackView, width: number, selected: number): PaneContent {
  const narrow = width < NARROW;
  const sortTitle = (narrow ? NARROW_SORT_TITLE : SORT_TITLE)[view.sort];
  const cols = (narrow ? NARROW_COLS : COLS).map((c) => (c.title === sortTitle ? { ...c, title: `${c.title}▼` } : c));
  const widths = resolveColumns(cols, width);
  const body = rows.map((r, i) => {
    // A combined count is not a TX figure: it spans both columns' meaning, so it is shown
    // once, marked, with no RX beside it (a 0 there would claim no reply came back).
    const tx = r.combined ? `Σ${compact(r.txPackets)}` : compact(r.txPackets);
    const rx = r.combined ? '-' : compact(r.rxPackets);
    const values = narrow
      ? [r.tuple.replace(/^(\S+) OUT /, '$1 '), SHORT_STATE[r.state], lifetime(r.lifetimeLeft), r.combined ? tx : `${tx}/${rx}`, r.nat || '-']
      : [r.tuple, r.node, r.state, lifetime(r.lifetimeLeft), `${tx}/${compact(r.txBytes)}`, r.combined ? '-' : `${rx}/${compact(r.rxBytes)}`, r.nat || '-'];
    const text = row(values, cols, widths, width);
    if (i === selected) return `{inverse}${text}{/inverse}`;
    return r.lifetimeLeft < 0 ? `{gray-fg}${text}{/gray-fg}` : text;
  });
  if (body.length === 0) body.push(view.filter ? '{gray-fg}no entry matches the filter{/gray-fg}' : '{gray-fg}no conntrack entries{/gray-fg}');
  const shown = view.filter ? `${rows.length}/${s.conntrack.length}` : `${s.conntrack.length}`;
  // Live, the rows are the most recently used entries of each node, not the whole table.
  const total = s.conntrackTotal !== undefined && s.conntrackTotal > s.conntrack.length ? ` most recent of ${s.conntrackTotal}` : '';
  const combined = rows.some((r) => r.combined) ? ', Σ both directions' : '';
  return { title: `Conntrack (${shown}${total} entries, sort ${view.sort}${view.filter ? `, filter /${view.filter}` : ''}${combined})`, fixed: [headerRow(cols, widths, width)], body };
}
