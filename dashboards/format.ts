/**
 * @module dashboards/format
 * Small helpers shared by the panes: what a pane renderer returns, compact numbers, table
 * rows cut to the pane's width, bars and sparklines. Pane renderers are pure functions of a
 * StatsSnapshot (plus view state) and the pane's inner size, so they are testable without
 * a terminal; the dashboard only places their lines into blessed boxes.
 */
import { cell, fit, safe, sanitize } from './sanitize.ts';

/** What a pane renderer returns: a title, lines that stay at the top, and scrollable lines (blessed-tagged). */
export interface PaneContent {
  title: string;
  fixed: string[];
  body: string[];
}

/** 1234 → '1234', 123456 → '123k', 12345678 → '12.3M'; negative means unknown (offline bytes): 'n/a'. */
export function compact(n: number): string {
  if (!Number.isFinite(n) || n < 0) return 'n/a';
  if (n < 100_000) return String(Math.round(n));
  if (n < 10_000_000) return `${Math.round(n / 1000)}k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e9).toFixed(1)}G`;
}

export interface Column {
  title: string;
  /** Fixed width, or 0 for "take the rest" (at most one such column). */
  width: number;
  align?: 'left' | 'right';
}

/** Resolves flexible columns (width 0) against the pane width (one space between columns). */
export function resolveColumns(cols: Column[], width: number): number[] {
  const fixed = cols.reduce((a, c) => a + c.width, 0) + (cols.length - 1);
  const flex = cols.filter((c) => c.width === 0).length;
  const rest = Math.max(12, width - fixed);
  return cols.map((c) => (c.width === 0 ? Math.floor(rest / Math.max(1, flex)) : c.width));
}

/** One table row: each value sanitized, cut to its column, tags escaped; then cut to the pane width. */
export function row(values: (string | number)[], cols: Column[], widths: number[], width: number): string {
  let plainLen = 0;
  const parts: string[] = [];
  for (let i = 0; i < cols.length; i++) {
    const w = widths[i] ?? 0;
    if (plainLen >= width) break;
    const room = Math.min(w, width - plainLen);
    parts.push(cell(values[i] ?? '', room, cols[i]?.align ?? 'left'));
    plainLen += room + 1;
  }
  return parts.join(' ');
}

/** The header line of a table, in bold. */
export function headerRow(cols: Column[], widths: number[], width: number): string {
  return `{bold}${row(
    cols.map((c) => c.title),
    cols,
    widths,
    width,
  )}{/bold}`;
}

/** `[#####.....]` of `inner` columns; ratio is clamped to 0..1. */
export function bar(ratio: number, inner: number, full = '#', empty = '.'): string {
  const r = Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 0;
  const n = Math.round(r * inner);
  return `[${full.repeat(n)}${empty.repeat(Math.max(0, inner - n))}]`;
}

const SPARK = '▁▂▃▄▅▆▇█';

/** A sparkline of the last `width` values, scaled to their max (0 → lowest bar, shown as space). */
export function sparkline(values: number[], width: number): string {
  const v = values.slice(-width);
  const max = Math.max(1, ...v);
  return v.map((x) => (x <= 0 ? ' ' : SPARK[Math.min(7, Math.max(0, Math.ceil((x / max) * 8) - 1))])).join('');
}

/** One plain text line, sanitized, cut to width, tags escaped. */
export function line(s: string, width: number): string {
  return safe(fit(sanitize(s), width).trimEnd());
}

export { safe, sanitize, cell, fit };
